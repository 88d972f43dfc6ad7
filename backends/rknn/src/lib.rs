//! # edgeflow-backend-rknn
//!
//! Rockchip's NPU (RK3588's three cores, RK3566/68, RK3576) through `librknnrt`'s C API, loaded
//! at run time with `libloading`: the crate builds on any machine, and a board without the
//! runtime or the NPU gets an error naming the library, where it was looked for, and the board
//! profile that provides it.
//!
//! A `.rknn` model takes RGB bytes (`[1, H, W, 3]` u8, NHWC): the runtime applies the mean and
//! scale baked in at conversion and quantizes on the NPU. Outputs come back in the model's own
//! type, int8 with its zero point and scale, for the family decoders to read. With
//! [`RknnOptions::zero_copy`] the input and outputs live in NPU memory (`rknn_create_mem`,
//! `rknn_set_io_mem`): one copy into it per frame instead of the runtime's conversion copies.
#![deny(missing_docs)]

pub mod ffi;

use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use edgeflow_backend::{
    Backend, BackendError, DType, Layout, Quantization, Tensor, TensorData, TensorSpec,
};

use ffi::{InputOutputNum, RknnContext, TensorAttr};

/// The runtime library's file name.
pub const LIBRARY: &str = "librknnrt.so";

/// Where Rockchip's images and the `rknpu2` runtime install the library.
pub const SYSTEM_PATHS: [&str; 3] = [
    "/usr/lib/librknnrt.so",
    "/usr/lib/aarch64-linux-gnu/librknnrt.so",
    "/usr/local/lib/librknnrt.so",
];

/// The board profile (`cross/profiles/`) whose boards carry the runtime and the NPU.
pub const PROFILE: &str = "rk3588";

/// Environment variable naming the library (after the stage's `library` option).
pub const LIBRARY_ENV: &str = "EDGEFLOW_RKNN_LIBRARY";

/// Which NPU cores run the model (`rknn_set_core_mask`; multi-core chips only).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CoreMask {
    /// The runtime picks a core (the default).
    #[default]
    Auto,
    /// These cores (bit 0: core 0, bit 1: core 1, bit 2: core 2).
    Cores(u8),
    /// Every core the chip has.
    All,
}

impl CoreMask {
    /// The `rknn_core_mask` value.
    pub fn raw(self) -> u32 {
        match self {
            CoreMask::Auto => ffi::RKNN_NPU_CORE_AUTO,
            CoreMask::Cores(bits) => u32::from(bits),
            CoreMask::All => ffi::RKNN_NPU_CORE_ALL,
        }
    }
}

/// Options of a model on the NPU.
#[derive(Clone, Debug, Default)]
pub struct RknnOptions {
    /// An explicit path to `librknnrt.so`.
    pub library: Option<PathBuf>,
    /// Which cores run it.
    pub core_mask: CoreMask,
    /// Input and outputs in NPU memory (`rknn_create_mem` + `rknn_set_io_mem`) where the
    /// runtime has them; the copying API otherwise.
    pub zero_copy: bool,
}

/// The places searched for the library, in order: the stage's path, [`LIBRARY_ENV`], then
/// [`SYSTEM_PATHS`], then the dynamic loader's own search (`librknnrt.so` by name).
pub fn library_candidates(explicit: Option<&Path>) -> Vec<PathBuf> {
    let mut c: Vec<PathBuf> = explicit.map(Path::to_path_buf).into_iter().collect();
    if let Some(p) = std::env::var_os(LIBRARY_ENV) {
        c.push(PathBuf::from(p));
    }
    c.extend(SYSTEM_PATHS.iter().map(PathBuf::from));
    c.push(PathBuf::from(LIBRARY));
    c.dedup();
    c
}

fn runtime_help() -> String {
    format!(
        "install Rockchip's RKNN runtime (librknnrt.so 2.x, from rknn-toolkit2's rknpu2/runtime/Linux/librknn_api/aarch64/) \
         in /usr/lib, as the `{PROFILE}` board profile's images carry it; or set `rknn = {{ library = \"/path/to/librknnrt.so\" }}` \
         on the stage, or {LIBRARY_ENV}"
    )
}

/// The runtime's functions, with the library they come from kept loaded.
pub struct Api {
    init: ffi::InitFn,
    destroy: ffi::DestroyFn,
    query: ffi::QueryFn,
    inputs_set: ffi::InputsSetFn,
    run: ffi::RunFn,
    outputs_get: ffi::OutputsGetFn,
    outputs_release: ffi::OutputsReleaseFn,
    set_core_mask: Option<ffi::SetCoreMaskFn>,
    zero_copy: Option<(ffi::CreateMemFn, ffi::DestroyMemFn, ffi::SetIoMemFn)>,
    /// Where it was loaded from.
    pub path: PathBuf,
    _lib: libloading::Library,
}

impl Api {
    /// Load the runtime from the first candidate that has every symbol this backend calls.
    pub fn load(explicit: Option<&Path>) -> Result<Arc<Api>, BackendError> {
        match edgeflow_backend::library::first_that_loads(library_candidates(explicit), Api::open) {
            Ok((api, path)) => {
                tracing::info!(library = %path.display(), "RKNN runtime loaded");
                Ok(Arc::new(api))
            }
            Err(tried) => Err(BackendError::Runtime {
                message: format!("cannot load the RKNN runtime ({LIBRARY}); tried: {tried}"),
                help: runtime_help(),
            }),
        }
    }

    fn open(path: &Path) -> Result<Api, String> {
        // SAFETY: loading a library runs its initialisers; librknnrt's are the vendor's.
        let lib = unsafe { libloading::Library::new(path) }.map_err(|e| e.to_string())?;
        macro_rules! sym {
            ($name:literal) => {
                // SAFETY: the type is the header's signature of the symbol.
                *unsafe { lib.get(concat!($name, "\0").as_bytes()) }
                    .map_err(|e| format!("no `{}`: {e}", $name))?
            };
        }
        macro_rules! optional {
            ($name:literal) => {
                // SAFETY: as above; older runtimes lack these.
                unsafe { lib.get(concat!($name, "\0").as_bytes()) }
                    .ok()
                    .map(|s| *s)
            };
        }
        let create: Option<ffi::CreateMemFn> = optional!("rknn_create_mem");
        let destroy_mem: Option<ffi::DestroyMemFn> = optional!("rknn_destroy_mem");
        let set_io: Option<ffi::SetIoMemFn> = optional!("rknn_set_io_mem");
        Ok(Api {
            init: sym!("rknn_init"),
            destroy: sym!("rknn_destroy"),
            query: sym!("rknn_query"),
            inputs_set: sym!("rknn_inputs_set"),
            run: sym!("rknn_run"),
            outputs_get: sym!("rknn_outputs_get"),
            outputs_release: sym!("rknn_outputs_release"),
            set_core_mask: optional!("rknn_set_core_mask"),
            zero_copy: create
                .zip(destroy_mem)
                .zip(set_io)
                .map(|((c, d), s)| (c, d, s)),
            path: path.to_path_buf(),
            _lib: lib,
        })
    }
}

/// Whether this machine has a Rockchip NPU: the kernel driver's node, or a Rockchip SoC with
/// an NPU in the device tree, under `root` (`/` on a board; a folder in tests).
pub fn npu_present(root: &Path) -> Result<String, String> {
    for node in [
        "dev/rknpu",
        "sys/kernel/debug/rknpu",
        "sys/class/misc/rknpu",
    ] {
        if root.join(node).exists() {
            return Ok(format!("Rockchip NPU at /{node}"));
        }
    }
    let compatible = std::fs::read(root.join("proc/device-tree/compatible")).unwrap_or_default();
    let text = String::from_utf8_lossy(&compatible);
    for chip in ["rk3588", "rk3576", "rk3568", "rk3566", "rk3562"] {
        if text.contains(&format!("rockchip,{chip}")) {
            return Ok(format!("{} NPU", chip.to_uppercase()));
        }
    }
    Err("no Rockchip NPU on this machine (no /dev/rknpu, no RK35xx in /proc/device-tree/compatible)".into())
}

/// Whether the runtime loads and the NPU is there (for `backend = "auto"` and
/// `edgeflow list-backends`).
pub fn probe(explicit: Option<&Path>) -> Result<String, String> {
    let api = Api::load(explicit).map_err(|e| e.to_string())?;
    let npu = npu_present(Path::new("/"))?;
    Ok(format!("{npu}, runtime {}", api.path.display()))
}

fn check(code: i32, what: &str) -> Result<(), String> {
    if code == ffi::RKNN_SUCC {
        Ok(())
    } else {
        Err(format!("{what}: {} ({code})", ffi::error_name(code)))
    }
}

/// Memory the NPU reads or writes, from `rknn_create_mem`.
struct Mem(*mut ffi::TensorMem);

/// A model on the NPU.
pub struct RknnBackend {
    api: Arc<Api>,
    ctx: RknnContext,
    inputs: Vec<TensorSpec>,
    outputs: Vec<TensorSpec>,
    /// (height, width, row stride in pixels) of the input.
    input_rows: (usize, usize, usize),
    /// Bytes of each output as the runtime writes it, and whether it is f32 from the runtime.
    output_bytes: Vec<(usize, bool)>,
    /// Input and output memories in zero-copy mode.
    mems: Option<(Mem, Vec<Mem>)>,
    /// The runtime's API and driver versions.
    pub versions: String,
}

// SAFETY: the context is an integer handle and the memories are owned by this value alone;
// RKNN contexts may be used from any one thread at a time.
unsafe impl Send for RknnBackend {}

fn c_string(chars: &[std::ffi::c_char]) -> String {
    let bytes: Vec<u8> = chars
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn dtype_of(attr: &TensorAttr) -> Option<DType> {
    match attr.type_ {
        ffi::RKNN_TENSOR_FLOAT32 => Some(DType::F32),
        ffi::RKNN_TENSOR_FLOAT16 => Some(DType::F16),
        ffi::RKNN_TENSOR_INT8 => Some(DType::I8),
        ffi::RKNN_TENSOR_UINT8 => Some(DType::U8),
        _ => None,
    }
}

fn elem_bytes(d: DType) -> usize {
    match d {
        DType::F32 => 4,
        DType::F16 => 2,
        _ => 1,
    }
}

impl RknnBackend {
    /// Load `model` (an `.rknn` file) on the NPU with `options`.
    pub fn load(model: &Path, options: &RknnOptions) -> Result<Self, BackendError> {
        let api = Api::load(options.library.as_deref())?;
        let err = |message: String| BackendError::Model {
            path: model.to_path_buf(),
            message,
        };
        let mut bytes = std::fs::read(model).map_err(|e| err(e.to_string()))?;
        let size = u32::try_from(bytes.len()).map_err(|_| err("larger than 4 GiB".into()))?;
        if size == 0 {
            return Err(err("an empty file".into()));
        }
        let mut ctx: RknnContext = 0;
        // SAFETY: `bytes` is the whole model and outlives the call (the runtime copies it).
        let code = unsafe {
            (api.init)(
                &mut ctx,
                bytes.as_mut_ptr().cast::<c_void>(),
                size,
                0,
                std::ptr::null_mut(),
            )
        };
        check(code, "rknn_init")
            .map_err(|e| err(format!("not a model this runtime loads: {e}")))?;
        let mut backend = RknnBackend {
            api,
            ctx,
            inputs: Vec::new(),
            outputs: Vec::new(),
            input_rows: (0, 0, 0),
            output_bytes: Vec::new(),
            mems: None,
            versions: String::new(),
        };
        backend.describe(options.zero_copy).map_err(err)?;
        if options.core_mask != CoreMask::Auto {
            let set = backend
                .api
                .set_core_mask
                .ok_or_else(|| BackendError::Runtime {
                    message: format!(
                        "{} has no rknn_set_core_mask, so `core_mask` cannot be set",
                        backend.api.path.display()
                    ),
                    help: "update the RKNN runtime to 2.x, or leave `core_mask` out".into(),
                })?;
            // SAFETY: a live context and a mask value of the header's enum.
            let code = unsafe { set(backend.ctx, options.core_mask.raw()) };
            check(code, "rknn_set_core_mask").map_err(|e| BackendError::Runtime {
                message: format!("{e}: the NPU does not take core mask {:#x}", options.core_mask.raw()),
                help: "only RK3588 and RK3576 have several cores: use `core_mask = \"auto\"` on single-core chips".into(),
            })?;
        }
        Ok(backend)
    }

    fn query<T>(&self, cmd: u32, info: &mut T) -> Result<(), String> {
        let size = std::mem::size_of::<T>() as u32;
        // SAFETY: `info` is the struct the command fills, of its exact size.
        let code = unsafe { (self.api.query)(self.ctx, cmd, (info as *mut T).cast(), size) };
        check(code, "rknn_query")
    }

    fn attr(&self, cmd: u32, index: u32) -> Result<TensorAttr, String> {
        let mut attr = TensorAttr {
            index,
            ..TensorAttr::default()
        };
        self.query(cmd, &mut attr)?;
        Ok(attr)
    }

    /// Query the model's tensors, and set up zero-copy memory if asked.
    fn describe(&mut self, zero_copy: bool) -> Result<(), String> {
        let mut version = ffi::SdkVersion {
            api_version: [0; 256],
            drv_version: [0; 256],
        };
        if self
            .query(ffi::RKNN_QUERY_SDK_VERSION, &mut version)
            .is_ok()
        {
            self.versions = format!(
                "API {}, driver {}",
                c_string(&version.api_version),
                c_string(&version.drv_version)
            );
        }
        let mut n = InputOutputNum::default();
        self.query(ffi::RKNN_QUERY_IN_OUT_NUM, &mut n)?;
        if n.n_input != 1 {
            return Err(format!(
                "{} inputs; a detector has one image input",
                n.n_input
            ));
        }
        let input = self.attr(ffi::RKNN_QUERY_INPUT_ATTR, 0)?;
        let (h, w, c) = match (input.fmt, input.dims()) {
            (ffi::RKNN_TENSOR_NHWC, [_, h, w, c]) => (*h, *w, *c),
            (ffi::RKNN_TENSOR_NCHW, [_, c, h, w]) => (*h, *w, *c),
            (fmt, dims) => {
                return Err(format!(
                    "input `{}` is {dims:?} in format {fmt}; an image input is NHWC or NCHW of rank 4",
                    input.name()
                ));
            }
        };
        if c != 3 {
            return Err(format!(
                "input `{}` has {c} channels, not RGB's 3",
                input.name()
            ));
        }
        let (h, w) = (h as usize, w as usize);
        let stride = if input.w_stride == 0 {
            w
        } else {
            input.w_stride as usize
        };
        self.input_rows = (h, w, stride);
        let mut spec = TensorSpec::new(
            input.name(),
            vec![Some(1), Some(h), Some(w), Some(3)],
            DType::U8,
        );
        spec.layout = Some(Layout::Nhwc);
        self.inputs = vec![spec];
        let mut out_attrs = Vec::new();
        for i in 0..n.n_output {
            let attr = self.attr(ffi::RKNN_QUERY_OUTPUT_ATTR, i)?;
            let shape = attr.dims().iter().map(|d| Some(*d as usize)).collect();
            // Other types are asked of the runtime as f32.
            let dtype = dtype_of(&attr).unwrap_or(DType::F32);
            let as_f32 = dtype_of(&attr).is_none() || zero_copy;
            let dtype = if as_f32 { DType::F32 } else { dtype };
            let mut spec = TensorSpec::new(attr.name(), shape, dtype);
            if matches!(dtype, DType::I8 | DType::U8)
                && attr.qnt_type == ffi::RKNN_TENSOR_QNT_AFFINE_ASYMMETRIC
            {
                spec = spec.quantized(Quantization {
                    scale: attr.scale,
                    zero_point: attr.zp,
                });
            }
            self.output_bytes
                .push((attr.n_elems as usize * elem_bytes(dtype), as_f32));
            self.outputs.push(spec);
            out_attrs.push(attr);
        }
        if zero_copy {
            match self.api.zero_copy {
                Some(fns) => self.bind_memory(fns, input, out_attrs)?,
                None => tracing::info!(
                    library = %self.api.path.display(),
                    "this RKNN runtime has no zero-copy API: the copying one is used"
                ),
            }
        }
        Ok(())
    }

    fn bind_memory(
        &mut self,
        (create, destroy, set_io): (ffi::CreateMemFn, ffi::DestroyMemFn, ffi::SetIoMemFn),
        mut input: TensorAttr,
        outputs: Vec<TensorAttr>,
    ) -> Result<(), String> {
        let ctx = self.ctx;
        let alloc = |bytes: u32| -> Result<Mem, String> {
            // SAFETY: a live context; the runtime allocates.
            let m = unsafe { create(ctx, bytes) };
            if m.is_null() {
                Err(format!("rknn_create_mem of {bytes} bytes failed"))
            } else {
                Ok(Mem(m))
            }
        };
        let free = |mems: &[&Mem]| {
            for m in mems {
                // SAFETY: memories from `create` on this context, freed once.
                unsafe { destroy(ctx, m.0) };
            }
        };
        input.type_ = ffi::RKNN_TENSOR_UINT8;
        input.fmt = ffi::RKNN_TENSOR_NHWC;
        input.pass_through = 0;
        let (h, _, stride) = self.input_rows;
        let bytes = (input.size_with_stride as usize).max(h * stride * 3) as u32;
        let in_mem = alloc(bytes)?;
        // SAFETY: memory of this context, the attribute it is for.
        let code = unsafe { set_io(ctx, in_mem.0, &mut input) };
        if let Err(e) = check(code, "rknn_set_io_mem (input)") {
            free(&[&in_mem]);
            return Err(e);
        }
        let mut out_mems: Vec<Mem> = Vec::new();
        for mut attr in outputs {
            attr.type_ = ffi::RKNN_TENSOR_FLOAT32;
            let m = match alloc(attr.n_elems * 4) {
                Ok(m) => m,
                Err(e) => {
                    free(
                        &std::iter::once(&in_mem)
                            .chain(&out_mems)
                            .collect::<Vec<_>>(),
                    );
                    return Err(e);
                }
            };
            // SAFETY: as above.
            let code = unsafe { set_io(ctx, m.0, &mut attr) };
            out_mems.push(m);
            if let Err(e) = check(code, "rknn_set_io_mem (output)") {
                free(
                    &std::iter::once(&in_mem)
                        .chain(&out_mems)
                        .collect::<Vec<_>>(),
                );
                return Err(e);
            }
        }
        self.mems = Some((in_mem, out_mems));
        Ok(())
    }

    /// Whether the model runs with its input and outputs in NPU memory.
    pub fn zero_copy(&self) -> bool {
        self.mems.is_some()
    }

    fn read_outputs(&self, raw: Vec<Vec<u8>>) -> Vec<Tensor> {
        raw.into_iter()
            .zip(&self.outputs)
            .map(|(bytes, spec)| {
                let shape: Vec<usize> = spec.shape.iter().map(|d| d.unwrap_or(0)).collect();
                let data = match spec.dtype {
                    DType::F32 => TensorData::F32(
                        bytes
                            .chunks_exact(4)
                            .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                            .collect(),
                    ),
                    DType::F16 => TensorData::F16(
                        bytes
                            .chunks_exact(2)
                            .map(|b| half_from(u16::from_ne_bytes([b[0], b[1]])))
                            .collect(),
                    ),
                    DType::I8 => TensorData::I8(bytes.iter().map(|b| *b as i8).collect()),
                    _ => TensorData::U8(bytes),
                };
                Tensor {
                    shape,
                    data,
                    layout: spec.layout,
                    quantization: spec.quantization,
                }
            })
            .collect()
    }

    fn run_copying(&mut self, pixels: &[u8]) -> Result<Vec<Vec<u8>>, String> {
        let mut input = ffi::Input {
            index: 0,
            buf: pixels.as_ptr().cast_mut().cast(),
            size: pixels.len() as u32,
            pass_through: 0,
            type_: ffi::RKNN_TENSOR_UINT8,
            fmt: ffi::RKNN_TENSOR_NHWC,
        };
        // SAFETY: one input description whose buffer outlives the call (the runtime reads it).
        check(
            unsafe { (self.api.inputs_set)(self.ctx, 1, &mut input) },
            "rknn_inputs_set",
        )?;
        // SAFETY: a live context; no extension.
        check(
            unsafe { (self.api.run)(self.ctx, std::ptr::null_mut()) },
            "rknn_run",
        )?;
        let mut bufs: Vec<Vec<u8>> = self.output_bytes.iter().map(|(n, _)| vec![0; *n]).collect();
        let mut outs: Vec<ffi::Output> = bufs
            .iter_mut()
            .zip(&self.output_bytes)
            .enumerate()
            .map(|(i, (b, (_, as_f32)))| ffi::Output {
                want_float: u8::from(*as_f32),
                is_prealloc: 1,
                index: i as u32,
                buf: b.as_mut_ptr().cast(),
                size: b.len() as u32,
            })
            .collect();
        let n = outs.len() as u32;
        // SAFETY: preallocated buffers of the sizes the attributes give.
        let got =
            unsafe { (self.api.outputs_get)(self.ctx, n, outs.as_mut_ptr(), std::ptr::null_mut()) };
        check(got, "rknn_outputs_get")?;
        // SAFETY: the outputs just got; preallocated buffers stay ours.
        let released = unsafe { (self.api.outputs_release)(self.ctx, n, outs.as_mut_ptr()) };
        check(released, "rknn_outputs_release")?;
        Ok(bufs)
    }

    fn run_zero_copy(&mut self, pixels: &[u8]) -> Result<Vec<Vec<u8>>, String> {
        let Some((input, outputs)) = &self.mems else {
            return Err("no NPU memory bound".into());
        };
        let (h, w, stride) = self.input_rows;
        // SAFETY: the input memory holds `h` rows of `stride` RGB pixels (checked at bind).
        let dst = unsafe {
            let m = &*input.0;
            std::slice::from_raw_parts_mut(m.virt_addr.cast::<u8>(), m.size as usize)
        };
        let row = w * 3;
        for (y, src) in pixels.chunks_exact(row).take(h).enumerate() {
            dst[y * stride * 3..y * stride * 3 + row].copy_from_slice(src);
        }
        // SAFETY: a live context with its memories bound.
        check(
            unsafe { (self.api.run)(self.ctx, std::ptr::null_mut()) },
            "rknn_run",
        )?;
        Ok(outputs
            .iter()
            .zip(&self.output_bytes)
            .map(|(m, (n, _))| {
                // SAFETY: the runtime wrote `n` bytes of f32 into the output memory.
                unsafe {
                    let m = &*m.0;
                    std::slice::from_raw_parts(m.virt_addr.cast::<u8>(), (*n).min(m.size as usize))
                        .to_vec()
                }
            })
            .collect())
    }
}

fn half_from(bits: u16) -> edgeflow_backend::f16 {
    edgeflow_backend::f16::from_bits(bits)
}

impl Backend for RknnBackend {
    fn inputs(&self) -> &[TensorSpec] {
        &self.inputs
    }

    fn outputs(&self) -> &[TensorSpec] {
        &self.outputs
    }

    fn run(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>, BackendError> {
        let pixels = edgeflow_backend::rgb_bytes(inputs, &self.inputs[0], "the NPU")?;
        let raw = if self.mems.is_some() {
            self.run_zero_copy(pixels)
        } else {
            self.run_copying(pixels)
        }
        .map_err(BackendError::Run)?;
        Ok(self.read_outputs(raw))
    }
}

impl Drop for RknnBackend {
    fn drop(&mut self) {
        if let (Some((input, outputs)), Some((_, destroy, _))) =
            (self.mems.take(), self.api.zero_copy)
        {
            for m in std::iter::once(input).chain(outputs) {
                // SAFETY: memories of this context, freed once, before the context.
                unsafe { destroy(self.ctx, m.0) };
            }
        }
        // SAFETY: the context from rknn_init, destroyed once.
        unsafe { (self.api.destroy)(self.ctx) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_npu_is_found_by_its_node_or_the_device_tree() {
        let root = tempfile::tempdir().unwrap();
        let e = npu_present(root.path()).unwrap_err();
        assert!(e.contains("no Rockchip NPU"), "{e}");
        std::fs::create_dir_all(root.path().join("proc/device-tree")).unwrap();
        std::fs::write(
            root.path().join("proc/device-tree/compatible"),
            b"radxa,rock-5b\0rockchip,rk3588\0",
        )
        .unwrap();
        assert_eq!(npu_present(root.path()).unwrap(), "RK3588 NPU");
        std::fs::create_dir_all(root.path().join("dev")).unwrap();
        std::fs::write(root.path().join("dev/rknpu"), b"").unwrap();
        assert_eq!(
            npu_present(root.path()).unwrap(),
            "Rockchip NPU at /dev/rknpu"
        );
    }

    #[test]
    fn a_missing_runtime_names_every_place_and_the_profile() {
        let Err(BackendError::Runtime { message, help }) =
            Api::load(Some(Path::new("/nonexistent/librknnrt.so")))
        else {
            // A machine with the real runtime installed finds it on the system paths.
            return;
        };
        assert!(
            message.contains("/nonexistent/librknnrt.so (not found)"),
            "{message}"
        );
        assert!(message.contains("/usr/lib/librknnrt.so"), "{message}");
        assert!(help.contains("`rk3588` board profile"), "{help}");
        assert!(help.contains("rknn = { library"), "{help}");
    }

    #[test]
    fn core_masks_are_the_header_values() {
        assert_eq!(CoreMask::Auto.raw(), 0);
        assert_eq!(CoreMask::Cores(0b111).raw(), 7);
        assert_eq!(CoreMask::All.raw(), 0xffff);
    }
}
