//! # edgeflow-backend
//!
//! The inference backend API: a backend loads a model, reports its input and output tensor
//! specs, and runs it. Each backend (ONNX Runtime, TensorRT, HailoRT, RKNN) is a crate under
//! `backends/` behind a cargo feature of the root; the detect stage only sees this trait.
#![deny(missing_docs)]

pub mod conformance;
pub mod fake;
pub mod library;
mod tensor;

use std::path::PathBuf;

/// Half-precision floats, as [`TensorData::F16`] holds them.
pub use half::f16;
pub use tensor::{DType, Layout, Quantization, Tensor, TensorData, TensorRole, TensorSpec};

/// Why a backend could not load or run a model.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The vendor runtime library could not be loaded.
    #[error("{message}")]
    Runtime {
        /// What happened, including where it looked.
        message: String,
        /// How to fix it.
        help: String,
    },
    /// The model file could not be loaded.
    #[error("cannot load model {path}: {message}")]
    Model {
        /// The model file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A run failed.
    #[error("inference failed: {0}")]
    Run(String),
}

/// A loaded model, ready to run.
pub trait Backend: Send {
    /// The model's inputs.
    fn inputs(&self) -> &[TensorSpec];
    /// The model's outputs: raw tensors for the family's decoder, or one tensor of decoded
    /// detections ([`TensorRole::Detections`]) when the runtime decodes and suppresses them.
    fn outputs(&self) -> &[TensorSpec];
    /// Class labels the model itself carries, in class order (`None`: the config's labels
    /// file names them).
    fn labels(&self) -> Option<&[String]> {
        None
    }
    /// Run the model on one tensor per input, in model order, each in the input's own type and
    /// layout; outputs in model order, in their own types (quantized ones with their
    /// quantization). A tensor that does not fit its input is a [`BackendError::Run`], never a
    /// panic.
    fn run(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>, BackendError>;
}

/// Whether a backend's runtime library loads on this machine, and from where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeStatus {
    /// The backend's name (`ort`, `hailo`, …).
    pub backend: &'static str,
    /// Where the library was loaded from, or why it was not.
    pub library: Result<PathBuf, String>,
}

/// The one input of an image model that takes RGB bytes (NPUs: Hailo, RKNN): `inputs` must
/// be one u8 tensor fitting `spec`; `Err` says what is wrong (`device` names the hardware).
pub fn rgb_bytes<'a>(
    inputs: &'a [Tensor],
    spec: &TensorSpec,
    device: &str,
) -> Result<&'a [u8], BackendError> {
    let [input] = inputs else {
        return Err(BackendError::Run(format!(
            "the model takes 1 input tensor, got {}",
            inputs.len()
        )));
    };
    input.check_against(spec).map_err(BackendError::Run)?;
    match &input.data {
        TensorData::U8(pixels) => Ok(pixels),
        _ => Err(BackendError::Run(format!("{device} takes RGB bytes"))),
    }
}
