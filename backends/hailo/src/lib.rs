//! # edgeflow-backend-hailo
//!
//! Hailo-8 (the Raspberry Pi 5 AI Kit and HAT, M.2 and PCIe cards) through HailoRT's C API,
//! loaded at run time with `libloading`: the crate builds on any machine, and a machine
//! without the library or the device gets an error naming the library, where it was looked
//! for, and the board profile that provides it.
//!
//! A `.hef` is configured on a virtual device with HailoRT's scheduler (no manual
//! activation). The input takes RGB bytes (`[1, H, W, 3]` u8, NHWC; HailoRT quantizes on the
//! device). An output with the on-chip NMS (HailoRT's NMS-by-class buffer: per class a float
//! count, then that many `y_min, x_min, y_max, x_max, score` boxes normalized to the input) is
//! returned as decoded detections ([`TensorRole::Detections`](edgeflow_backend::TensorRole));
//! other outputs come back raw, u8 with their zero point and scale, or dequantized here from
//! u16.
#![deny(missing_docs)]

pub mod ffi;
pub mod nms;

use std::ffi::{CStr, CString, c_void};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use edgeflow_backend::{
    Backend, BackendError, DType, Layout, Quantization, Tensor, TensorData, TensorSpec,
};

use ffi::{Handle, Status, VstreamInfo, VstreamInfoLayout, VstreamParamsByName};

/// The library's file name (installed as `libhailort.so.<version>` with this link).
pub const LIBRARY: &str = "libhailort.so";

/// Folders searched for `libhailort.so` and `libhailort.so.4.*`.
pub const SYSTEM_DIRS: [&str; 3] = ["/usr/lib", "/usr/lib/aarch64-linux-gnu", "/usr/local/lib"];

/// The board profile (`cross/profiles/`) whose boards carry HailoRT and the device.
pub const PROFILE: &str = "rpi5-hailo";

/// Environment variable naming the library (after the stage's `library` option).
pub const LIBRARY_ENV: &str = "EDGEFLOW_HAILO_LIBRARY";

/// Options of a model on the device.
#[derive(Clone, Debug)]
pub struct HailoOptions {
    /// An explicit path to `libhailort.so`.
    pub library: Option<PathBuf>,
    /// How long a read or write may wait for the device, in milliseconds.
    pub timeout_ms: u32,
}

impl Default for HailoOptions {
    fn default() -> Self {
        HailoOptions {
            library: None,
            timeout_ms: 10_000,
        }
    }
}

/// The places searched for the library, in order: the stage's path, [`LIBRARY_ENV`], then in
/// each of [`SYSTEM_DIRS`] `libhailort.so` and the versioned files (newest first), then the
/// dynamic loader's own search by name.
pub fn library_candidates(explicit: Option<&Path>) -> Vec<PathBuf> {
    let mut c: Vec<PathBuf> = explicit.map(Path::to_path_buf).into_iter().collect();
    if let Some(p) = std::env::var_os(LIBRARY_ENV) {
        c.push(PathBuf::from(p));
    }
    for dir in SYSTEM_DIRS {
        c.push(Path::new(dir).join(LIBRARY));
        let mut versioned: Vec<PathBuf> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("libhailort.so."))
            })
            .collect();
        versioned.sort();
        c.extend(versioned.into_iter().rev());
    }
    c.push(PathBuf::from(LIBRARY));
    c.dedup();
    c
}

fn runtime_help() -> String {
    format!(
        "install HailoRT 4.x and its PCIe driver (on a Raspberry Pi 5: `apt install hailo-all`), as the `{PROFILE}` \
         board profile's images carry it; or set `hailo = {{ library = \"/path/to/libhailort.so\" }}` on the stage, or {LIBRARY_ENV}"
    )
}

/// HailoRT's functions, with the library they come from kept loaded.
pub struct Api {
    get_status_message: Option<ffi::GetStatusMessageFn>,
    scan_devices: ffi::ScanDevicesFn,
    create_vdevice: ffi::CreateVdeviceFn,
    release_vdevice: ffi::ReleaseFn,
    create_hef_file: ffi::CreateHefFileFn,
    release_hef: ffi::ReleaseFn,
    configure_vdevice: ffi::ConfigureVdeviceFn,
    make_input_params: ffi::MakeVstreamParamsFn,
    make_output_params: ffi::MakeVstreamParamsFn,
    create_inputs: ffi::CreateVstreamsFn,
    create_outputs: ffi::CreateVstreamsFn,
    release_inputs: ffi::ReleaseVstreamsFn,
    release_outputs: ffi::ReleaseVstreamsFn,
    input_info: ffi::GetVstreamInfoFn,
    output_info: ffi::GetVstreamInfoFn,
    output_user_format: ffi::GetUserFormatFn,
    input_frame_size: ffi::FrameSizeFn,
    output_frame_size: ffi::FrameSizeFn,
    write: ffi::WriteFn,
    read: ffi::ReadFn,
    /// The library's version.
    pub version: ffi::Version,
    /// Where it was loaded from.
    pub path: PathBuf,
    _lib: libloading::Library,
}

impl Api {
    /// Load HailoRT from the first candidate that has every symbol this backend calls.
    pub fn load(explicit: Option<&Path>) -> Result<Arc<Api>, BackendError> {
        match edgeflow_backend::library::first_that_loads(library_candidates(explicit), Api::open) {
            Ok((api, path)) => {
                tracing::info!(library = %path.display(), version = %api.version_text(), "HailoRT loaded");
                Ok(Arc::new(api))
            }
            Err(tried) => Err(BackendError::Runtime {
                message: format!("cannot load HailoRT ({LIBRARY}); tried: {tried}"),
                help: runtime_help(),
            }),
        }
    }

    fn open(path: &Path) -> Result<Api, String> {
        // SAFETY: loading a library runs its initialisers; HailoRT's are the vendor's.
        let lib = unsafe { libloading::Library::new(path) }.map_err(|e| e.to_string())?;
        macro_rules! sym {
            ($name:literal) => {
                // SAFETY: the type is the header's signature of the symbol.
                *unsafe { lib.get(concat!($name, "\0").as_bytes()) }
                    .map_err(|e| format!("no `{}`: {e}", $name))?
            };
        }
        let get_version: ffi::GetLibraryVersionFn = sym!("hailo_get_library_version");
        let mut version = ffi::Version::default();
        // SAFETY: a hailo_version_t to fill.
        let code = unsafe { get_version(&mut version) };
        if code != ffi::HAILO_SUCCESS {
            return Err(format!("hailo_get_library_version failed ({code})"));
        }
        if version.major != 4 {
            return Err(format!(
                "HailoRT {}.{}.{}: edgeflow's Hailo-8 backend takes HailoRT 4.x (5.x is for Hailo-10 and Hailo-15)",
                version.major, version.minor, version.revision
            ));
        }
        Ok(Api {
            // SAFETY: as in `sym!`; optional in old releases.
            get_status_message: unsafe { lib.get(b"hailo_get_status_message\0") }
                .ok()
                .map(|s| *s),
            scan_devices: sym!("hailo_scan_devices"),
            create_vdevice: sym!("hailo_create_vdevice"),
            release_vdevice: sym!("hailo_release_vdevice"),
            create_hef_file: sym!("hailo_create_hef_file"),
            release_hef: sym!("hailo_release_hef"),
            configure_vdevice: sym!("hailo_configure_vdevice"),
            make_input_params: sym!("hailo_make_input_vstream_params"),
            make_output_params: sym!("hailo_make_output_vstream_params"),
            create_inputs: sym!("hailo_create_input_vstreams"),
            create_outputs: sym!("hailo_create_output_vstreams"),
            release_inputs: sym!("hailo_release_input_vstreams"),
            release_outputs: sym!("hailo_release_output_vstreams"),
            input_info: sym!("hailo_get_input_vstream_info"),
            output_info: sym!("hailo_get_output_vstream_info"),
            output_user_format: sym!("hailo_get_output_vstream_user_format"),
            input_frame_size: sym!("hailo_get_input_vstream_frame_size"),
            output_frame_size: sym!("hailo_get_output_vstream_frame_size"),
            write: sym!("hailo_vstream_write_raw_buffer"),
            read: sym!("hailo_vstream_read_raw_buffer"),
            version,
            path: path.to_path_buf(),
            _lib: lib,
        })
    }

    /// `4.23.0`.
    pub fn version_text(&self) -> String {
        let v = self.version;
        format!("{}.{}.{}", v.major, v.minor, v.revision)
    }

    /// `what: HAILO_… (code)`, or `Ok` for success.
    fn check(&self, code: Status, what: &str) -> Result<(), String> {
        if code == ffi::HAILO_SUCCESS {
            return Ok(());
        }
        let name = self
            .get_status_message
            // SAFETY: returns a static string or NULL.
            .map(|f| unsafe { f(code) })
            .filter(|p| !p.is_null())
            // SAFETY: a NUL-terminated static string from the library.
            .map(|p| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
            .unwrap_or_else(|| "an unknown HailoRT status".into());
        Err(format!("{what}: {name} ({code})"))
    }

    /// The PCIe addresses of the Hailo devices on this machine.
    pub fn devices(&self) -> Result<Vec<String>, String> {
        let mut ids = [ffi::DeviceId { id: [0; 32] }; 8];
        let mut n = ids.len();
        // SAFETY: NULL params (the only ones allowed) and a buffer of `n` ids.
        let code = unsafe { (self.scan_devices)(std::ptr::null_mut(), ids.as_mut_ptr(), &mut n) };
        self.check(code, "hailo_scan_devices")?;
        Ok(ids[..n.min(ids.len())]
            .iter()
            .map(|d| {
                let bytes: Vec<u8> =
                    d.id.iter()
                        .take_while(|c| **c != 0)
                        .map(|c| *c as u8)
                        .collect();
                String::from_utf8_lossy(&bytes).into_owned()
            })
            .collect())
    }
}

/// Whether HailoRT loads and finds a device (for `backend = "auto"` and
/// `edgeflow list-backends`).
pub fn probe(explicit: Option<&Path>) -> Result<String, String> {
    let api = Api::load(explicit).map_err(|e| e.to_string())?;
    let devices = api.devices()?;
    match devices.first() {
        Some(first) => Ok(format!(
            "Hailo device {first}{}, HailoRT {} from {}",
            if devices.len() > 1 {
                format!(" (and {} more)", devices.len() - 1)
            } else {
                String::new()
            },
            api.version_text(),
            api.path.display()
        )),
        None => Err(format!(
            "HailoRT {} loads from {} but finds no Hailo device (is the hailo_pci driver loaded? `hailortcli scan`)",
            api.version_text(),
            api.path.display()
        )),
    }
}

/// One output vstream: its handle, frame size and how its bytes become a tensor.
struct OutputStream {
    handle: Handle,
    frame_bytes: usize,
    kind: OutputKind,
}

enum OutputKind {
    /// NMS by class: classes, max boxes per class; rows out.
    Nms {
        classes: usize,
        max_per_class: usize,
    },
    /// u8 with its quantization.
    U8,
    /// u16, dequantized here with (zero point, scale).
    U16(f32, f32),
    /// f32.
    F32,
}

/// A model on a Hailo device.
pub struct HailoBackend {
    api: Arc<Api>,
    vdevice: Handle,
    hef: Handle,
    inputs_h: Vec<Handle>,
    outputs_h: Vec<Handle>,
    input_bytes: usize,
    input_size: (usize, usize),
    outputs_meta: Vec<OutputStream>,
    inputs: Vec<TensorSpec>,
    outputs: Vec<TensorSpec>,
}

// SAFETY: HailoRT's handles may be used from any thread; this value owns them alone and is
// used from one thread at a time.
unsafe impl Send for HailoBackend {}

fn name_of(p: &VstreamParamsByName) -> String {
    let bytes: Vec<u8> = p
        .name
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

impl HailoBackend {
    /// Load `hef` on the first free Hailo device with `options`.
    pub fn load(hef: &Path, options: &HailoOptions) -> Result<Self, BackendError> {
        let api = Api::load(options.library.as_deref())?;
        let model_err = |message: String| BackendError::Model {
            path: hef.to_path_buf(),
            message,
        };
        let path = CString::new(hef.as_os_str().as_encoded_bytes())
            .map_err(|_| model_err("a path with a NUL byte".into()))?;
        if !hef.is_file() {
            return Err(model_err("no such file".into()));
        }
        let mut vdevice: Handle = std::ptr::null_mut();
        // SAFETY: NULL params (defaults, with the scheduler); a handle to fill.
        let code = unsafe { (api.create_vdevice)(std::ptr::null_mut(), &mut vdevice) };
        if code == ffi::HAILO_OUT_OF_PHYSICAL_DEVICES {
            return Err(BackendError::Runtime {
                message: format!(
                    "HailoRT {} ({}) finds no free Hailo device (HAILO_OUT_OF_PHYSICAL_DEVICES)",
                    api.version_text(),
                    api.path.display()
                ),
                help: "check `hailortcli scan` and that the hailo_pci driver is loaded; another process may hold the device".into(),
            });
        }
        api.check(code, "hailo_create_vdevice")
            .map_err(|message| BackendError::Runtime {
                message,
                help: runtime_help(),
            })?;
        let mut backend = HailoBackend {
            api,
            vdevice,
            hef: std::ptr::null_mut(),
            inputs_h: Vec::new(),
            outputs_h: Vec::new(),
            input_bytes: 0,
            input_size: (0, 0),
            outputs_meta: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
        };
        backend
            .configure(&path, options.timeout_ms)
            .map_err(model_err)?;
        Ok(backend)
    }

    fn configure(&mut self, path: &CStr, timeout_ms: u32) -> Result<(), String> {
        let api = Arc::clone(&self.api);
        // SAFETY: a handle to fill and a NUL-terminated path.
        api.check(
            unsafe { (api.create_hef_file)(&mut self.hef, path.as_ptr()) },
            "not a HEF HailoRT loads (hailo_create_hef_file)",
        )?;
        let mut group: Handle = std::ptr::null_mut();
        let mut groups = 1usize;
        // SAFETY: NULL params (the HEF's defaults); room for one network group.
        api.check(
            unsafe {
                (api.configure_vdevice)(
                    self.vdevice,
                    self.hef,
                    std::ptr::null_mut(),
                    &mut group,
                    &mut groups,
                )
            },
            "hailo_configure_vdevice (a HEF with one network group is supported)",
        )?;
        let make =
            |f: ffi::MakeVstreamParamsFn, ty: u32| -> Result<Vec<VstreamParamsByName>, String> {
                let mut params = vec![VstreamParamsByName::default(); 16];
                let mut n = params.len();
                // SAFETY: room for `n` params.
                api.check(
                    unsafe { f(group, false, ty, params.as_mut_ptr(), &mut n) },
                    "hailo_make_vstream_params",
                )?;
                params.truncate(n);
                for p in &mut params {
                    p.params.timeout_ms = timeout_ms;
                }
                Ok(params)
            };
        let in_params = make(api.make_input_params, ffi::FORMAT_TYPE_UINT8)?;
        let out_params = make(api.make_output_params, ffi::FORMAT_TYPE_AUTO)?;
        if in_params.len() != 1 {
            return Err(format!(
                "{} inputs ({}); a detector has one image input",
                in_params.len(),
                in_params.iter().map(name_of).collect::<Vec<_>>().join(", ")
            ));
        }
        self.inputs_h = vec![std::ptr::null_mut(); in_params.len()];
        // SAFETY: params from make_*, room for one handle each.
        api.check(
            unsafe {
                (api.create_inputs)(
                    group,
                    in_params.as_ptr(),
                    in_params.len(),
                    self.inputs_h.as_mut_ptr(),
                )
            },
            "hailo_create_input_vstreams",
        )?;
        let mut outputs = vec![std::ptr::null_mut(); out_params.len()];
        // SAFETY: as above.
        let code = unsafe {
            (api.create_outputs)(
                group,
                out_params.as_ptr(),
                out_params.len(),
                outputs.as_mut_ptr(),
            )
        };
        api.check(code, "hailo_create_output_vstreams")?;
        self.outputs_h = outputs;
        let layout = VstreamInfoLayout::of(api.version);
        let info = |f: ffi::GetVstreamInfoFn, h: Handle| -> Result<VstreamInfo, String> {
            let mut bytes = vec![0u8; VstreamInfoLayout::V4_20.size.max(layout.size) + 16];
            // SAFETY: a buffer larger than this version's hailo_vstream_info_t.
            api.check(
                unsafe { f(h, bytes.as_mut_ptr().cast()) },
                "hailo_get_vstream_info",
            )?;
            VstreamInfo::parse(&bytes, layout).ok_or_else(|| "a short vstream info".to_string())
        };
        let input = info(api.input_info, self.inputs_h[0])?;
        let [h, w, c] = input.shape;
        if c != 3 {
            return Err(format!(
                "input `{}` is {h}×{w}×{c}; an image input has 3 channels",
                input.name
            ));
        }
        let mut frame = 0usize;
        // SAFETY: a size to fill.
        api.check(
            unsafe { (api.input_frame_size)(self.inputs_h[0], &mut frame) },
            "hailo_get_input_vstream_frame_size",
        )?;
        let (h, w) = (h as usize, w as usize);
        if frame != h * w * 3 {
            return Err(format!(
                "input `{}` takes {frame} bytes per frame, not {h}×{w}×3 RGB bytes",
                input.name
            ));
        }
        self.input_bytes = frame;
        self.input_size = (w, h);
        let mut spec = TensorSpec::new(
            &input.name,
            vec![Some(1), Some(h), Some(w), Some(3)],
            DType::U8,
        );
        spec.layout = Some(Layout::Nhwc);
        self.inputs = vec![spec];
        for &handle in &self.outputs_h {
            let info = info(api.output_info, handle)?;
            let mut user = ffi::Format::default();
            // SAFETY: a format to fill.
            api.check(
                unsafe { (api.output_user_format)(handle, &mut user) },
                "hailo_get_output_vstream_user_format",
            )?;
            let mut bytes = 0usize;
            // SAFETY: a size to fill.
            api.check(
                unsafe { (api.output_frame_size)(handle, &mut bytes) },
                "hailo_get_output_vstream_frame_size",
            )?;
            let [a, b, f] = info.shape;
            let (a, b, f) = (a as usize, b as usize, f as usize);
            let (kind, spec) =
                if info.is_nms() || user.order == ffi::FORMAT_ORDER_HAILO_NMS_BY_CLASS {
                    if user.type_ != ffi::FORMAT_TYPE_FLOAT32 {
                        return Err(format!("NMS output `{}` is not float32", info.name));
                    }
                    let rows = a * b;
                    (
                        OutputKind::Nms {
                            classes: a,
                            max_per_class: b,
                        },
                        TensorSpec::new(&info.name, vec![Some(1), Some(rows), Some(6)], DType::F32)
                            .detections(),
                    )
                } else {
                    let shape = vec![Some(1), Some(a), Some(b), Some(f)];
                    let (zp, scale) = info.quant;
                    match user.type_ {
                        ffi::FORMAT_TYPE_UINT8 => (
                            OutputKind::U8,
                            TensorSpec::new(&info.name, shape, DType::U8).quantized(Quantization {
                                scale,
                                zero_point: zp.round() as i32,
                            }),
                        ),
                        ffi::FORMAT_TYPE_UINT16 => (
                            OutputKind::U16(zp, scale),
                            TensorSpec::new(&info.name, shape, DType::F32),
                        ),
                        ffi::FORMAT_TYPE_FLOAT32 => (
                            OutputKind::F32,
                            TensorSpec::new(&info.name, shape, DType::F32),
                        ),
                        t => return Err(format!("output `{}` has format type {t}", info.name)),
                    }
                };
            let elem = match kind {
                OutputKind::U8 => 1,
                OutputKind::U16(..) => 2,
                _ => 4,
            };
            let expected = match kind {
                OutputKind::Nms {
                    classes,
                    max_per_class,
                } => classes * (1 + 5 * max_per_class) * 4,
                _ => a * b * f * elem,
            };
            if bytes != expected {
                return Err(format!(
                    "output `{}` gives {bytes} bytes per frame, its shape says {expected}",
                    info.name
                ));
            }
            self.outputs_meta.push(OutputStream {
                handle,
                frame_bytes: bytes,
                kind,
            });
            self.outputs.push(spec);
        }
        if self
            .outputs_meta
            .iter()
            .filter(|o| matches!(o.kind, OutputKind::Nms { .. }))
            .count()
            > 1
        {
            return Err("more than one NMS output".into());
        }
        Ok(())
    }
}

impl HailoBackend {
    /// HailoRT's version (`4.23.0`).
    pub fn library_version(&self) -> String {
        self.api.version_text()
    }

    /// Where HailoRT was loaded from.
    pub fn library_path(&self) -> &Path {
        &self.api.path
    }
}

impl Backend for HailoBackend {
    fn inputs(&self) -> &[TensorSpec] {
        &self.inputs
    }

    fn outputs(&self) -> &[TensorSpec] {
        &self.outputs
    }

    fn run(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>, BackendError> {
        let pixels = edgeflow_backend::rgb_bytes(inputs, &self.inputs[0], "the device")?;
        let api = &self.api;
        // SAFETY: a whole frame of the input's size.
        let code = unsafe {
            (api.write)(
                self.inputs_h[0],
                pixels.as_ptr().cast::<c_void>(),
                self.input_bytes,
            )
        };
        api.check(code, "hailo_vstream_write_raw_buffer")
            .map_err(BackendError::Run)?;
        let mut out = Vec::with_capacity(self.outputs_meta.len());
        for (o, spec) in self.outputs_meta.iter().zip(&self.outputs) {
            let mut buf = vec![0u8; o.frame_bytes];
            // SAFETY: a buffer of the output's frame size.
            let code =
                unsafe { (api.read)(o.handle, buf.as_mut_ptr().cast::<c_void>(), buf.len()) };
            api.check(code, "hailo_vstream_read_raw_buffer")
                .map_err(BackendError::Run)?;
            let shape: Vec<usize> = spec.shape.iter().map(|d| d.unwrap_or(0)).collect();
            let floats = |b: &[u8]| -> Vec<f32> {
                b.chunks_exact(4)
                    .map(|c| f32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
                    .collect()
            };
            let tensor = match o.kind {
                OutputKind::Nms {
                    classes,
                    max_per_class,
                } => {
                    let rows =
                        nms::by_class(&floats(&buf), classes, max_per_class, self.input_size)
                            .map_err(BackendError::Run)?;
                    Tensor::f32(shape, rows)
                }
                OutputKind::U8 => {
                    let mut t = Tensor::new(shape, TensorData::U8(buf));
                    t.quantization = spec.quantization;
                    t
                }
                OutputKind::U16(zp, scale) => Tensor::f32(
                    shape,
                    buf.chunks_exact(2)
                        .map(|c| (f32::from(u16::from_ne_bytes([c[0], c[1]])) - zp) * scale)
                        .collect(),
                ),
                OutputKind::F32 => Tensor::f32(shape, floats(&buf)),
            };
            out.push(Tensor {
                layout: spec.layout,
                ..tensor
            });
        }
        Ok(out)
    }
}

impl Drop for HailoBackend {
    fn drop(&mut self) {
        let api = &self.api;
        // SAFETY: handles created by this value, released once, vstreams before the device.
        unsafe {
            if !self.outputs_h.is_empty() {
                (api.release_outputs)(self.outputs_h.as_ptr(), self.outputs_h.len());
            }
            if !self.inputs_h.is_empty() && !self.inputs_h[0].is_null() {
                (api.release_inputs)(self.inputs_h.as_ptr(), self.inputs_h.len());
            }
            if !self.hef.is_null() {
                (api.release_hef)(self.hef);
            }
            if !self.vdevice.is_null() {
                (api.release_vdevice)(self.vdevice);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_library_names_every_place_and_the_profile() {
        let Err(BackendError::Runtime { message, help }) =
            Api::load(Some(Path::new("/nonexistent/libhailort.so")))
        else {
            // A machine with HailoRT installed finds it on the system paths.
            return;
        };
        assert!(
            message.contains("/nonexistent/libhailort.so (not found)"),
            "{message}"
        );
        assert!(message.contains("/usr/lib/libhailort.so"), "{message}");
        assert!(help.contains("`rpi5-hailo` board profile"), "{help}");
        assert!(help.contains("hailo-all"), "{help}");
    }
}
