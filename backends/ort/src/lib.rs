//! # edgeflow-backend-ort
//!
//! ONNX Runtime through the `ort` crate, with the runtime library loaded at run time
//! (`load-dynamic`): builds need no download, and a missing library is an error that says
//! where edgeflow looked and how to fix it.
//!
//! The library is searched, in order: the `library` option of the stage; `ORT_DYLIB_PATH`;
//! `libonnxruntime.so*` next to the executable; `assets/ort/libonnxruntime.so.1.31.1` (for
//! aarch64 builds `assets/ort/aarch64/`) under the working directory (where
//! `scripts/setup.sh` puts it).
#![deny(missing_docs)]

pub mod cache;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};

use edgeflow_backend::{
    Backend, BackendError, DType, RuntimeStatus, Tensor, TensorData, TensorSpec,
};
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::{TensorElementType, TensorRef, ValueType};

/// The ONNX Runtime version the project pins.
pub const ORT_VERSION: &str = "1.31.1";

/// Where `scripts/setup.sh` puts the library for this binary's architecture, relative to the
/// project root (`assets/ort/` for x86-64, `assets/ort/aarch64/` for aarch64 builds).
pub const PROJECT_LIBRARY: &str = if cfg!(target_arch = "aarch64") {
    "assets/ort/aarch64/libonnxruntime.so.1.31.1"
} else {
    "assets/ort/libonnxruntime.so.1.31.1"
};

/// Graph optimization level.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Optimization {
    /// No optimization.
    Disable,
    /// Basic (constant folding, redundant nodes).
    Basic,
    /// Extended (fusions).
    Extended,
    /// Everything, including layout optimizations (the default).
    #[default]
    All,
}

/// Session options.
#[derive(Clone, Debug)]
pub struct OrtOptions {
    /// An explicit path to `libonnxruntime.so`.
    pub library: Option<PathBuf>,
    /// Threads inside one operator (0: ONNX Runtime decides).
    pub intra_threads: usize,
    /// Threads across operators (0: ONNX Runtime decides).
    pub inter_threads: usize,
    /// Graph optimization level.
    pub optimization: Optimization,
    /// Let the intra-op threads spin between operators and runs instead of sleeping (`None`:
    /// ONNX Runtime's default, spinning).
    pub spinning: Option<bool>,
    /// The CPU memory arena (ONNX Runtime's default: on). Off, every run allocates and frees
    /// its tensors: less resident memory, a little slower.
    pub memory_arena: bool,
    /// Plan the run's memory once (ONNX Runtime's default: on).
    pub memory_pattern: bool,
    /// Where optimised models are kept: the first load optimises the model and saves it
    /// there; later loads take the saved one with optimisation off, which needs far less
    /// memory and time to load (`None`: optimise at every load).
    pub optimized_cache: Option<PathBuf>,
}

impl Default for OrtOptions {
    fn default() -> Self {
        OrtOptions {
            library: None,
            intra_threads: 0,
            inter_threads: 0,
            optimization: Optimization::All,
            spinning: None,
            memory_arena: true,
            memory_pattern: true,
            optimized_cache: None,
        }
    }
}

/// Where an installed binary's library lives (`make install`-style layouts and the Debian
/// package's), after the places next to the binary.
pub const SYSTEM_DIRS: [&str; 3] = [
    "/usr/local/lib/edgeflow",
    "/usr/lib/edgeflow",
    "/opt/edgeflow/lib",
];

/// The places searched for the library, in order, given the stage's explicit path (if any):
/// that path, `ORT_DYLIB_PATH`, next to the executable, the `assets/ort/` of the checkout the
/// executable was built in (found by walking up from it: `target/debug/edgeflow` finds the
/// project's), `assets/ort/` under the working directory, then [`SYSTEM_DIRS`]. So a binary
/// works from any folder after `scripts/setup.sh`, and an installed one finds its library.
pub fn library_candidates(explicit: Option<&Path>) -> Vec<PathBuf> {
    let mut c = Vec::new();
    if let Some(p) = explicit {
        c.push(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        c.push(PathBuf::from(p));
    }
    let versioned = format!("libonnxruntime.so.{ORT_VERSION}");
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.canonicalize().ok())
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        c.push(dir.join(&versioned));
        c.push(dir.join("libonnxruntime.so"));
        // A checkout: the binary is under `<project>/target/<profile>/` (or deeper).
        for up in dir.ancestors().skip(1).take(4) {
            let lib = up.join(PROJECT_LIBRARY);
            if lib.exists() {
                c.push(lib);
                break;
            }
        }
    }
    c.push(PathBuf::from(PROJECT_LIBRARY));
    for d in SYSTEM_DIRS {
        c.push(Path::new(d).join(&versioned));
    }
    c.dedup();
    c
}

/// The process-wide ONNX Runtime: loaded once, from the first path that works.
static RUNTIME: OnceLock<Result<PathBuf, String>> = OnceLock::new();
static ENV: Mutex<Option<ort::environment::Environment>> = Mutex::new(None);

fn runtime_help() -> String {
    format!(
        "run scripts/setup.sh (it puts libonnxruntime.so.{ORT_VERSION} in assets/ort/), put the \
         library next to the edgeflow binary or in /usr/local/lib/edgeflow, or set \
         `ort = {{ library = \"/path/to/libonnxruntime.so\" }}` on the stage, or ORT_DYLIB_PATH"
    )
}

/// Load ONNX Runtime (once per process). `Err` says every place tried.
pub fn init(explicit: Option<&Path>) -> Result<PathBuf, BackendError> {
    let r = RUNTIME.get_or_init(|| {
        let mut tried = Vec::new();
        for path in library_candidates(explicit) {
            if !path.exists() {
                tried.push(format!("{} (not found)", path.display()));
                continue;
            }
            match ort::init_from(&path) {
                Ok(builder) => match builder.with_name("edgeflow").build() {
                    Ok(env) => {
                        *ENV.lock().unwrap_or_else(PoisonError::into_inner) = Some(env);
                        tracing::info!(library = %path.display(), "ONNX Runtime loaded");
                        return Ok(path);
                    }
                    Err(e) => tried.push(format!("{} ({e})", path.display())),
                },
                Err(e) => tried.push(format!("{} ({e})", path.display())),
            }
        }
        Err(tried.join("; "))
    });
    r.clone().map_err(|tried| BackendError::Runtime {
        message: format!("cannot load the ONNX Runtime library; tried: {tried}"),
        help: runtime_help(),
    })
}

/// Whether the library loads here, and from where (for `edgeflow list-backends`).
pub fn status() -> RuntimeStatus {
    RuntimeStatus {
        backend: "ort",
        library: init(None).map_err(|e| e.to_string()),
    }
}

fn dtype(t: TensorElementType) -> DType {
    match t {
        TensorElementType::Float32 => DType::F32,
        TensorElementType::Float16 => DType::F16,
        TensorElementType::Uint8 => DType::U8,
        TensorElementType::Int8 => DType::I8,
        TensorElementType::Int32 => DType::I32,
        TensorElementType::Int64 => DType::I64,
        _ => DType::Other("other"),
    }
}

fn spec(name: &str, ty: &ValueType) -> TensorSpec {
    let shape = ty
        .tensor_shape()
        .map(|s| s.iter().map(|d| usize::try_from(*d).ok()).collect())
        .unwrap_or_default();
    let dt = ty.tensor_type().map_or(DType::Other("not a tensor"), dtype);
    TensorSpec::new(name, shape, dt)
}

/// A model loaded in ONNX Runtime.
pub struct OrtBackend {
    session: Session,
    inputs: Vec<TensorSpec>,
    outputs: Vec<TensorSpec>,
}

impl OrtBackend {
    /// Load `model` with `options` (loads the runtime library first if needed), on the CPU.
    pub fn load(model: &Path, options: &OrtOptions) -> Result<Self, BackendError> {
        Self::load_with_providers(model, options, Vec::new()).map(|(b, _)| b)
    }

    /// Load `model` with execution providers tried in order (TensorRT, then CUDA, …): each
    /// that registers is used, in that order, for the nodes it takes; the CPU runs the rest.
    /// [`Providers`] says which registered and why the others did not, so a fallback is
    /// never silent.
    pub fn load_with_providers(
        model: &Path,
        options: &OrtOptions,
        providers: Vec<ort::ep::ExecutionProviderDispatch>,
    ) -> Result<(Self, Providers), BackendError> {
        init(options.library.as_deref())?;
        let err = |message: String| BackendError::Model {
            path: model.to_path_buf(),
            message,
        };
        if !model.is_file() {
            return Err(err("no such file".into()));
        }
        // The optimised-model cache is for the CPU alone: other providers take nodes of their
        // own at load, which a saved graph must not fix.
        let cached = options
            .optimized_cache
            .as_deref()
            .filter(|_| providers.is_empty())
            .and_then(|dir| match cache::entry(dir, model, options.optimization) {
                Ok(e) => Some(e),
                Err(e) => {
                    tracing::warn!(model = %model.display(), "no optimised-model cache: {e}");
                    None
                }
            });
        if let Some(entry) = &cached
            && entry.path.is_file()
        {
            let saved = OrtOptions {
                optimization: Optimization::Disable,
                optimized_cache: None,
                ..options.clone()
            };
            match Self::load_with_providers(&entry.path, &saved, Vec::new()) {
                Ok(loaded) => {
                    tracing::info!(model = %model.display(), optimised = %entry.path.display(), "ONNX Runtime: the optimised model from the cache");
                    return Ok(loaded);
                }
                Err(e) => {
                    tracing::warn!(optimised = %entry.path.display(), "the cached optimised model does not load ({e}); optimising again");
                    let _ = std::fs::remove_file(&entry.path);
                }
            }
        }
        let level = match options.optimization {
            Optimization::Disable => GraphOptimizationLevel::Disable,
            Optimization::Basic => GraphOptimizationLevel::Level1,
            Optimization::Extended => GraphOptimizationLevel::Level2,
            Optimization::All => GraphOptimizationLevel::All,
        };
        let env = ENV.lock().unwrap_or_else(PoisonError::into_inner);
        let env = env.as_ref().ok_or_else(|| BackendError::Runtime {
            message: "the ONNX Runtime environment is not initialised".into(),
            help: runtime_help(),
        })?;
        let mut builder = Session::builder(env)
            .map_err(|e| err(e.to_string()))?
            .with_optimization_level(level)
            .map_err(|e| err(e.to_string()))?;
        let saving = cached.filter(|e| {
            e.path
                .parent()
                .is_some_and(|d| std::fs::create_dir_all(d).is_ok())
        });
        if let Some(entry) = &saving {
            builder = builder
                .with_optimized_model_path(&entry.partial)
                .map_err(|e| err(e.to_string()))?;
        }
        if options.intra_threads > 0 {
            builder = builder
                .with_intra_threads(options.intra_threads)
                .map_err(|e| err(e.to_string()))?;
        }
        if options.inter_threads > 0 {
            builder = builder
                .with_inter_threads(options.inter_threads)
                .map_err(|e| err(e.to_string()))?;
        }
        if let Some(spin) = options.spinning {
            builder = builder
                .with_intra_op_spinning(spin)
                .map_err(|e| err(e.to_string()))?
                .with_inter_op_spinning(spin)
                .map_err(|e| err(e.to_string()))?;
        }
        if !options.memory_pattern {
            builder = builder
                .with_memory_pattern(false)
                .map_err(|e| err(e.to_string()))?;
        }
        let mut report = Providers::default();
        let mut providers = providers;
        if !options.memory_arena {
            providers.push(ort::ep::CPU::default().with_arena_allocator(false).build());
        }
        for ep in providers {
            let name = ep.name().to_string();
            match builder.with_execution_providers([ep.error_on_failure()]) {
                Ok(b) => {
                    builder = b;
                    if name != "CPUExecutionProvider" {
                        report.registered.push(name);
                    }
                }
                Err(e) => {
                    report.skipped.push((name, e.to_string()));
                    builder = e.recover();
                }
            }
        }
        let session = builder
            .commit_from_file(model)
            .map_err(|e| err(format!("not a model ONNX Runtime can load: {e}")))?;
        if let Some(entry) = &saving {
            match std::fs::rename(&entry.partial, &entry.path) {
                Ok(()) => {
                    tracing::info!(model = %model.display(), optimised = %entry.path.display(), "ONNX Runtime: optimised the model and saved it for the next load")
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&entry.partial);
                    tracing::warn!(optimised = %entry.path.display(), "cannot save the optimised model: {e}");
                }
            }
        }
        let inputs = session
            .inputs()
            .iter()
            .map(|o| spec(o.name(), o.dtype()))
            .collect();
        let outputs = session
            .outputs()
            .iter()
            .map(|o| spec(o.name(), o.dtype()))
            .collect();
        Ok((
            OrtBackend {
                session,
                inputs,
                outputs,
            },
            report,
        ))
    }
}

/// Which execution providers a session registered, in order, and why the others did not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Providers {
    /// Registered, in order of preference (empty: the CPU alone).
    pub registered: Vec<String>,
    /// (provider, why it did not register).
    pub skipped: Vec<(String, String)>,
}

impl Providers {
    /// The provider that runs the model's nodes first: the first registered, else the CPU.
    pub fn used(&self) -> &str {
        self.registered
            .first()
            .map_or("CPUExecutionProvider", String::as_str)
    }
}

impl Backend for OrtBackend {
    fn inputs(&self) -> &[TensorSpec] {
        &self.inputs
    }

    fn outputs(&self) -> &[TensorSpec] {
        &self.outputs
    }

    fn run(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>, BackendError> {
        if inputs.len() != self.inputs.len() {
            return Err(BackendError::Run(format!(
                "the model takes {} input tensors, got {}",
                self.inputs.len(),
                inputs.len()
            )));
        }
        let mut values: Vec<(String, ort::session::SessionInputValue<'_>)> = Vec::new();
        for (t, spec) in inputs.iter().zip(&self.inputs) {
            t.check_against(spec).map_err(BackendError::Run)?;
            let shape: Vec<i64> = t.shape.iter().map(|d| *d as i64).collect();
            let run_err = |e: ort::Error| BackendError::Run(format!("input `{}`: {e}", spec.name));
            let value: ort::session::SessionInputValue<'_> = match &t.data {
                TensorData::F32(v) => TensorRef::from_array_view((shape, v.as_slice()))
                    .map_err(run_err)?
                    .into(),
                TensorData::U8(v) => TensorRef::from_array_view((shape, v.as_slice()))
                    .map_err(run_err)?
                    .into(),
                TensorData::I8(v) => TensorRef::from_array_view((shape, v.as_slice()))
                    .map_err(run_err)?
                    .into(),
                TensorData::F16(_) => {
                    return Err(BackendError::Run(format!(
                        "input `{}`: f16 tensors are not built into this ONNX Runtime backend",
                        spec.name
                    )));
                }
            };
            values.push((spec.name.clone(), value));
        }
        let outputs = self
            .session
            .run(values)
            .map_err(|e| BackendError::Run(e.to_string()))?;
        let mut result = Vec::with_capacity(self.outputs.len());
        for spec in &self.outputs {
            let value = &outputs[spec.name.as_str()];
            let out_err = |e: ort::Error| BackendError::Run(format!("output {}: {e}", spec.name));
            let dims = |shape: &ort::value::Shape| -> Vec<usize> {
                shape
                    .iter()
                    .map(|d| usize::try_from(*d).unwrap_or(0))
                    .collect()
            };
            let tensor = match spec.dtype {
                DType::U8 => {
                    let (shape, data) = value.try_extract_tensor::<u8>().map_err(out_err)?;
                    Tensor::new(dims(shape), TensorData::U8(data.to_vec()))
                }
                DType::I8 => {
                    let (shape, data) = value.try_extract_tensor::<i8>().map_err(out_err)?;
                    Tensor::new(dims(shape), TensorData::I8(data.to_vec()))
                }
                _ => {
                    let (shape, data) = value.try_extract_tensor::<f32>().map_err(out_err)?;
                    Tensor::f32(dims(shape), data.to_vec())
                }
            };
            result.push(Tensor {
                quantization: spec.quantization,
                layout: spec.layout,
                ..tensor
            });
        }
        Ok(result)
    }
}
