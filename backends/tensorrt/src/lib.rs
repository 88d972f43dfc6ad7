//! # edgeflow-backend-tensorrt
//!
//! NVIDIA GPUs (Jetson Orin, desktop and data-centre cards) through ONNX Runtime's TensorRT
//! execution provider, with the CUDA provider as the fallback and the CPU for what neither
//! takes, not the unmaintained `tensorrt-rs` bindings. It needs an ONNX Runtime built with
//! those providers (JetPack's, or the `onnxruntime-gpu` wheel's libraries).
//!
//! TensorRT builds an engine for the model on first use, which takes minutes on an Orin
//! Nano: engines are cached in a folder keyed by the model's hash, the TensorRT version, the
//! GPU and the precision ([`CacheKey`]), so a board builds each once and a changed model,
//! library or GPU never loads a stale one. Which provider actually runs, and why the ones
//! before it did not, is returned with the model ([`Loaded::providers`]): a fallback is never
//! silent.
#![deny(missing_docs)]

pub mod cuda;

use std::path::{Path, PathBuf};

use edgeflow_backend::BackendError;
use edgeflow_backend_ort::{OrtBackend, OrtOptions, Providers};

/// The board profile (`cross/profiles/`) whose boards carry TensorRT.
pub const PROFILE: &str = "jetson-orin";

/// The TensorRT provider's name in ONNX Runtime.
pub const TENSORRT_PROVIDER: &str = "TensorrtExecutionProvider";
/// The CUDA provider's name in ONNX Runtime.
pub const CUDA_PROVIDER: &str = "CUDAExecutionProvider";

/// Numeric precision TensorRT may use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    /// f32 only.
    Fp32,
    /// f16 where faster (the default: every Orin and recent GPU has fast f16).
    #[default]
    Fp16,
    /// int8 with the user's calibration table (and f16 where int8 does not apply).
    Int8,
}

impl Precision {
    /// The name in cache keys and messages.
    pub fn name(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Fp16 => "fp16",
            Precision::Int8 => "int8",
        }
    }
}

/// Options of a model on TensorRT.
#[derive(Clone, Debug, Default)]
pub struct TensorrtOptions {
    /// ONNX Runtime's own options (library, threads for the CPU part).
    pub ort: OrtOptions,
    /// The GPU (CUDA device ordinal).
    pub device_id: u32,
    /// The precision.
    pub precision: Precision,
    /// The int8 calibration cache (TensorRT's calibration table), required with int8.
    pub int8_calibration_table: Option<PathBuf>,
    /// TensorRT's workspace limit in bytes (`None`: TensorRT's default).
    pub workspace_bytes: Option<usize>,
    /// Where engines are cached (`None`: no cache, an engine is built at every start).
    pub engine_cache: Option<PathBuf>,
    /// Allow the CUDA provider when TensorRT does not register (else that is an error).
    pub cuda_fallback: bool,
}

/// What identifies an engine: a different model, TensorRT, GPU or precision is another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheKey {
    /// The model file's SHA-256, hex.
    pub model_sha256: String,
    /// TensorRT's version (`10.3.0`).
    pub tensorrt: String,
    /// The GPU's name and compute capability (`Orin (nvgpu) sm87`).
    pub gpu: String,
    /// The precision.
    pub precision: Precision,
}

impl CacheKey {
    /// The folder name: `<first 16 hex of the model hash>-trt<version>-<gpu>-<precision>`,
    /// with anything but letters, digits, `.` and `-` as `_`.
    pub fn folder(&self) -> String {
        let raw = format!(
            "{}-trt{}-{}-{}",
            &self.model_sha256[..16.min(self.model_sha256.len())],
            self.tensorrt,
            self.gpu,
            self.precision.name()
        );
        raw.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }
}

pub use edgeflow_backend_ort::cache::file_sha256;

/// TensorRT's provider options, as ONNX Runtime names them (`trt_fp16_enable`, …), for
/// `options` with the engine cache in `cache_dir` and the calibration table, if any, under
/// the name it has there. Unit-tested: the mapping is what a board gets.
pub fn provider_options(
    options: &TensorrtOptions,
    cache_dir: Option<&Path>,
) -> Vec<(&'static str, String)> {
    let on = |b: bool| if b { "1" } else { "0" }.to_string();
    let mut o = vec![("device_id", options.device_id.to_string())];
    o.push((
        "trt_fp16_enable",
        on(matches!(
            options.precision,
            Precision::Fp16 | Precision::Int8
        )),
    ));
    o.push(("trt_int8_enable", on(options.precision == Precision::Int8)));
    if options.precision == Precision::Int8
        && let Some(name) = options
            .int8_calibration_table
            .as_ref()
            .and_then(|t| t.file_name())
    {
        o.push((
            "trt_int8_calibration_table_name",
            name.to_string_lossy().into_owned(),
        ));
    }
    if let Some(bytes) = options.workspace_bytes {
        o.push(("trt_max_workspace_size", bytes.to_string()));
    }
    match cache_dir {
        Some(dir) => {
            let d = dir.display().to_string();
            o.push(("trt_engine_cache_enable", on(true)));
            o.push(("trt_engine_cache_path", d.clone()));
            o.push(("trt_timing_cache_enable", on(true)));
            o.push(("trt_timing_cache_path", d));
        }
        None => o.push(("trt_engine_cache_enable", on(false))),
    }
    o
}

fn tensorrt_provider(opts: &[(&'static str, String)]) -> ort::ep::TensorRT {
    let mut ep = ort::ep::TensorRT::default();
    for (key, value) in opts {
        let flag = value == "1";
        ep = match *key {
            "device_id" => ep.with_device_id(value.parse().unwrap_or(0)),
            "trt_fp16_enable" => ep.with_fp16(flag),
            "trt_int8_enable" => ep.with_int8(flag),
            "trt_int8_calibration_table_name" => ep.with_int8_calibration_table_name(value),
            "trt_max_workspace_size" => ep.with_max_workspace_size(value.parse().unwrap_or(0)),
            "trt_engine_cache_enable" => ep.with_engine_cache(flag),
            "trt_engine_cache_path" => ep.with_engine_cache_path(value),
            "trt_timing_cache_enable" => ep.with_timing_cache(flag),
            "trt_timing_cache_path" => ep.with_timing_cache_path(value),
            _ => ep,
        };
    }
    ep
}

/// A model loaded on the GPU, with what ran it.
pub struct Loaded {
    /// The session.
    pub backend: OrtBackend,
    /// The providers that registered and the ones that did not, with why.
    pub providers: Providers,
    /// The engine cache folder used, if any.
    pub cache: Option<PathBuf>,
}

impl Loaded {
    /// A sentence for the log and `validate --deep` ([`summary`]).
    pub fn summary(&self) -> String {
        summary(&self.providers, self.cache.as_deref())
    }
}

/// The provider that runs the model and, when it is not TensorRT, that this is a fallback
/// and why TensorRT did not load; the engine cache folder.
pub fn summary(providers: &Providers, cache: Option<&Path>) -> String {
    let used = providers.used();
    let mut s = format!("execution provider {used}");
    if used != TENSORRT_PROVIDER {
        let why: Vec<String> = providers
            .skipped
            .iter()
            .map(|(p, e)| format!("{p}: {e}"))
            .collect();
        s.push_str(&format!(
            " (a fallback: TensorRT did not load{})",
            if why.is_empty() {
                String::new()
            } else {
                format!("; {}", why.join("; "))
            }
        ));
    }
    if let Some(c) = cache {
        s.push_str(&format!(", engine cache {}", c.display()));
    }
    s
}

/// Whether this ONNX Runtime has the TensorRT or CUDA provider and a GPU is there (for
/// `backend = "auto"` and `edgeflow list-backends`).
pub fn probe(options: &TensorrtOptions) -> Result<String, String> {
    let lib =
        edgeflow_backend_ort::init(options.ort.library.as_deref()).map_err(|e| e.to_string())?;
    let has = |name: &str| available_providers().iter().any(|p| p == name);
    if !has(TENSORRT_PROVIDER) && !has(CUDA_PROVIDER) {
        return Err(format!(
            "the ONNX Runtime at {} has neither the TensorRT nor the CUDA provider (a GPU build is needed: JetPack's, or the onnxruntime-gpu wheel's libraries)",
            lib.display()
        ));
    }
    let gpu = cuda::gpu(options.device_id)?;
    Ok(format!(
        "GPU {gpu}, ONNX Runtime GPU build at {}",
        lib.display()
    ))
}

/// The execution providers this ONNX Runtime was built with.
pub fn available_providers() -> Vec<String> {
    use ort::ep::ExecutionProvider;
    let mut v = Vec::new();
    if ort::ep::TensorRT::is_available().unwrap_or(false) {
        v.push(TENSORRT_PROVIDER.to_string());
    }
    if ort::ep::CUDA::is_available().unwrap_or(false) {
        v.push(CUDA_PROVIDER.to_string());
    }
    v
}

/// The options' problems that need no GPU to see: int8 without a calibration table (or one
/// that is not a file). `Err` names the option and the fix.
pub fn check_options(options: &TensorrtOptions) -> Result<(), (&'static str, String, String)> {
    match (&options.precision, &options.int8_calibration_table) {
        (Precision::Int8, None) => Err((
            "int8_calibration_table",
            "int8 needs a calibration table".into(),
            "give TensorRT's calibration cache for this model (`int8_calibration_table = \"model.calib\"`, made with TensorRT's calibrator on sample frames), or use `precision = \"fp16\"`".into(),
        )),
        (Precision::Int8, Some(t)) if !t.is_file() => Err((
            "int8_calibration_table",
            format!("no such calibration table: {}", t.display()),
            "check the path (relative paths are relative to the directory edgeflow runs in)".into(),
        )),
        _ => Ok(()),
    }
}

/// Load `model` on the GPU: TensorRT first, CUDA next (when allowed), the CPU for the rest.
pub fn load(model: &Path, options: &TensorrtOptions) -> Result<Loaded, BackendError> {
    if let Err((field, message, help)) = check_options(options) {
        return Err(BackendError::Runtime {
            message: format!("`{field}`: {message}"),
            help,
        });
    }
    edgeflow_backend_ort::init(options.ort.library.as_deref())?;
    let model_err = |message: String| BackendError::Model {
        path: model.to_path_buf(),
        message,
    };
    let cache = match &options.engine_cache {
        Some(base) => {
            let key = CacheKey {
                model_sha256: file_sha256(model).map_err(|e| model_err(e.to_string()))?,
                tensorrt: cuda::tensorrt_version().unwrap_or_else(|_| "unknown".into()),
                gpu: cuda::gpu(options.device_id).unwrap_or_else(|_| "unknown-gpu".into()),
                precision: options.precision,
            };
            let dir = base.join(key.folder());
            std::fs::create_dir_all(&dir).map_err(|e| BackendError::Runtime {
                message: format!("cannot create the engine cache {}: {e}", dir.display()),
                help: "point `engine_cache` at a writable folder".into(),
            })?;
            if let (Precision::Int8, Some(table)) =
                (options.precision, &options.int8_calibration_table)
                && let Some(name) = table.file_name()
            {
                // TensorRT's provider reads the table from the cache folder by name.
                std::fs::copy(table, dir.join(name)).map_err(|e| BackendError::Runtime {
                    message: format!(
                        "cannot copy {} into {}: {e}",
                        table.display(),
                        dir.display()
                    ),
                    help: "check `int8_calibration_table`".into(),
                })?;
            }
            Some(dir)
        }
        None => None,
    };
    let opts = provider_options(options, cache.as_deref());
    let mut providers = vec![tensorrt_provider(&opts).build()];
    if options.cuda_fallback {
        providers.push(
            ort::ep::CUDA::default()
                .with_device_id(options.device_id as i32)
                .build(),
        );
    }
    let (backend, providers) = OrtBackend::load_with_providers(model, &options.ort, providers)?;
    if !options.cuda_fallback && providers.used() != TENSORRT_PROVIDER {
        return Err(BackendError::Runtime {
            message: format!(
                "TensorRT did not load: {}",
                providers
                    .skipped
                    .iter()
                    .map(|(p, e)| format!("{p}: {e}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            help: format!(
                "install TensorRT (JetPack on the `{PROFILE}` profile's boards has it; elsewhere libnvinfer 10 next to ONNX Runtime), or allow `cuda_fallback = true`"
            ),
        });
    }
    let loaded = Loaded {
        backend,
        providers,
        cache,
    };
    tracing::info!("{}", loaded.summary());
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> CacheKey {
        CacheKey {
            model_sha256: "ab12cd34ef56ab12cd34ef56".into(),
            tensorrt: "10.3.0".into(),
            gpu: "Orin (nvgpu) sm87".into(),
            precision: Precision::Fp16,
        }
    }

    #[test]
    fn the_cache_folder_changes_with_model_library_gpu_and_precision() {
        let k = key();
        assert_eq!(
            k.folder(),
            "ab12cd34ef56ab12-trt10.3.0-Orin__nvgpu__sm87-fp16"
        );
        for other in [
            CacheKey {
                model_sha256: "ff12cd34ef56ab12cd".into(),
                ..key()
            },
            CacheKey {
                tensorrt: "8.6.2".into(),
                ..key()
            },
            CacheKey {
                gpu: "NVIDIA H200 sm90".into(),
                ..key()
            },
            CacheKey {
                precision: Precision::Int8,
                ..key()
            },
        ] {
            assert_ne!(other.folder(), k.folder());
        }
        // Nothing in a GPU name escapes the folder.
        let odd = CacheKey {
            gpu: "../../etc".into(),
            ..key()
        };
        assert!(!odd.folder().contains('/'), "{}", odd.folder());
    }

    #[test]
    fn model_hashes_are_sha256() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.onnx");
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(
            file_sha256(&p).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn options_map_to_the_providers_keys() {
        let o = TensorrtOptions {
            device_id: 1,
            precision: Precision::Int8,
            int8_calibration_table: Some(PathBuf::from("/data/yolo.calib")),
            workspace_bytes: Some(1 << 30),
            ..TensorrtOptions::default()
        };
        let m = provider_options(&o, Some(Path::new("/cache/k")));
        let get = |k: &str| m.iter().find(|(key, _)| *key == k).map(|(_, v)| v.as_str());
        assert_eq!(get("device_id"), Some("1"));
        assert_eq!(get("trt_fp16_enable"), Some("1"));
        assert_eq!(get("trt_int8_enable"), Some("1"));
        assert_eq!(get("trt_int8_calibration_table_name"), Some("yolo.calib"));
        assert_eq!(get("trt_max_workspace_size"), Some("1073741824"));
        assert_eq!(get("trt_engine_cache_enable"), Some("1"));
        assert_eq!(get("trt_engine_cache_path"), Some("/cache/k"));
        assert_eq!(get("trt_timing_cache_path"), Some("/cache/k"));
        let plain = provider_options(
            &TensorrtOptions {
                precision: Precision::Fp32,
                ..TensorrtOptions::default()
            },
            None,
        );
        let get = |k: &str| {
            plain
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("trt_fp16_enable"), Some("0"));
        assert_eq!(get("trt_int8_enable"), Some("0"));
        assert_eq!(get("trt_engine_cache_enable"), Some("0"));
        assert_eq!(get("trt_max_workspace_size"), None);
    }

    #[test]
    fn int8_needs_a_calibration_table_that_is_there() {
        let o = TensorrtOptions {
            precision: Precision::Int8,
            ..TensorrtOptions::default()
        };
        let (field, message, help) = check_options(&o).unwrap_err();
        assert_eq!(field, "int8_calibration_table");
        assert!(message.contains("needs a calibration table"));
        assert!(help.contains("fp16"));
        let missing = TensorrtOptions {
            int8_calibration_table: Some(PathBuf::from("/nonexistent.calib")),
            ..o.clone()
        };
        assert!(
            check_options(&missing)
                .unwrap_err()
                .1
                .contains("/nonexistent.calib")
        );
        assert!(check_options(&TensorrtOptions::default()).is_ok());
    }

    #[test]
    fn a_fallback_is_named_with_its_reason() {
        let providers = Providers {
            registered: vec![CUDA_PROVIDER.into()],
            skipped: vec![(
                TENSORRT_PROVIDER.into(),
                "libnvinfer.so.10: cannot open shared object file".into(),
            )],
        };
        assert_eq!(
            summary(&providers, Some(Path::new("/c"))),
            "execution provider CUDAExecutionProvider (a fallback: TensorRT did not load; \
             TensorrtExecutionProvider: libnvinfer.so.10: cannot open shared object file), engine cache /c"
        );
        let cpu = Providers::default();
        assert!(
            summary(&cpu, None).starts_with("execution provider CPUExecutionProvider (a fallback")
        );
        let trt = Providers {
            registered: vec![TENSORRT_PROVIDER.into(), CUDA_PROVIDER.into()],
            skipped: vec![],
        };
        assert_eq!(
            summary(&trt, None),
            "execution provider TensorrtExecutionProvider"
        );
    }
}
