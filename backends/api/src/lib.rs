//! # edgeflow-backend
//!
//! The inference backend API: a backend loads a model, reports its input and output tensor
//! specs, and runs it. Each backend (ONNX Runtime, TensorRT, HailoRT, RKNN) is a crate under
//! `backends/` behind a cargo feature of the root; the detect stage only sees this trait.
#![deny(missing_docs)]

use std::fmt;
use std::path::PathBuf;

/// Element type of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    /// 32-bit float.
    F32,
    /// 16-bit float.
    F16,
    /// Unsigned 8-bit (quantized models).
    U8,
    /// Signed 8-bit (quantized models).
    I8,
    /// Signed 32-bit.
    I32,
    /// Signed 64-bit.
    I64,
    /// Anything else, by the backend's name for it.
    Other(&'static str),
}

/// Memory layout of an image tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Batch, channels, height, width.
    Nchw,
    /// Batch, height, width, channels.
    Nhwc,
}

/// Affine quantization of a tensor: `real = scale * (q - zero_point)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quantization {
    /// Scale.
    pub scale: f32,
    /// Zero point.
    pub zero_point: i32,
}

/// Name, shape and type of one model input or output.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorSpec {
    /// The tensor's name in the model.
    pub name: String,
    /// Dimensions; `None` where the model leaves a dimension dynamic.
    pub shape: Vec<Option<usize>>,
    /// Element type.
    pub dtype: DType,
    /// Layout, for rank-4 image tensors whose channel dimension is 1 or 3.
    pub layout: Option<Layout>,
    /// Quantization parameters, for quantized tensors.
    pub quantization: Option<Quantization>,
}

impl TensorSpec {
    /// A spec, with the layout guessed from where a dimension of 3 (or 1) sits.
    pub fn new(name: impl Into<String>, shape: Vec<Option<usize>>, dtype: DType) -> Self {
        let layout = match shape.as_slice() {
            [_, Some(1 | 3), _, _] => Some(Layout::Nchw),
            [_, _, _, Some(1 | 3)] => Some(Layout::Nhwc),
            _ => None,
        };
        TensorSpec {
            name: name.into(),
            shape,
            dtype,
            layout,
            quantization: None,
        }
    }
}

impl fmt::Display for TensorSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dims: Vec<String> = self
            .shape
            .iter()
            .map(|d| d.map_or_else(|| "?".to_string(), |d| d.to_string()))
            .collect();
        write!(f, "{} [{}] {:?}", self.name, dims.join(", "), self.dtype)
    }
}

/// A dense f32 tensor (inputs and outputs of detectors).
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Elements in row-major order.
    pub data: Vec<f32>,
}

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
    /// The model's outputs.
    fn outputs(&self) -> &[TensorSpec];
    /// Run the model on one f32 input tensor (the first input); outputs in model order.
    fn run(&mut self, input: &Tensor) -> Result<Vec<Tensor>, BackendError>;
}

/// Whether a backend's runtime library loads on this machine, and from where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeStatus {
    /// The backend's name (`ort`, `hailo`, …).
    pub backend: &'static str,
    /// Where the library was loaded from, or why it was not.
    pub library: Result<PathBuf, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_guessed_from_the_channel_dimension() {
        let nchw = TensorSpec::new(
            "x",
            vec![Some(1), Some(3), Some(416), Some(416)],
            DType::F32,
        );
        assert_eq!(nchw.layout, Some(Layout::Nchw));
        let nhwc = TensorSpec::new(
            "x",
            vec![Some(1), Some(128), Some(128), Some(3)],
            DType::F32,
        );
        assert_eq!(nhwc.layout, Some(Layout::Nhwc));
        let flat = TensorSpec::new("y", vec![None, Some(2535), Some(85)], DType::F32);
        assert_eq!(flat.layout, None);
        assert_eq!(flat.to_string(), "y [?, 2535, 85] F32");
    }
}
