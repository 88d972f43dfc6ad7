//! Tensors and their specs: element types (f32, f16, u8, i8 with quantization), layouts.

use std::borrow::Cow;
use std::fmt;

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

/// What an output tensor holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TensorRole {
    /// The model's own output, for the family's decoder (default).
    #[default]
    Raw,
    /// Detections decoded (and suppressed) by the runtime, as runtimes that run NMS on the
    /// chip give them (HailoRT, end-to-end ONNX exports): `[batch, max, 6]` f32 rows of
    /// `x1, y1, x2, y2, score, class` in input pixels, best first; rows with a negative class
    /// are padding.
    Detections,
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
    /// What the tensor holds (outputs): raw for the family's decoder, or decoded detections.
    pub role: TensorRole,
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
            role: TensorRole::Raw,
        }
    }

    /// The same spec with its quantization noted.
    pub fn quantized(mut self, q: Quantization) -> Self {
        self.quantization = Some(q);
        self
    }

    /// The same spec marked as decoded detections ([`TensorRole::Detections`]).
    pub fn detections(mut self) -> Self {
        self.role = TensorRole::Detections;
        self
    }
}

impl fmt::Display for TensorSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dims: Vec<String> = self
            .shape
            .iter()
            .map(|d| d.map_or_else(|| "?".to_string(), |d| d.to_string()))
            .collect();
        write!(f, "{} [{}] {:?}", self.name, dims.join(", "), self.dtype)?;
        if let Some(q) = self.quantization {
            write!(f, " (scale {}, zero point {})", q.scale, q.zero_point)?;
        }
        if self.role == TensorRole::Detections {
            f.write_str(" detections")?;
        }
        Ok(())
    }
}

/// The elements of a tensor, in its own type.
#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    /// 32-bit floats.
    F32(Vec<f32>),
    /// 16-bit floats.
    F16(Vec<half::f16>),
    /// Unsigned bytes (quantized or raw pixels).
    U8(Vec<u8>),
    /// Signed bytes (quantized).
    I8(Vec<i8>),
}

impl TensorData {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            TensorData::F32(v) => v.len(),
            TensorData::F16(v) => v.len(),
            TensorData::U8(v) => v.len(),
            TensorData::I8(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `len` zeros of `dtype`; `None` for types a tensor cannot hold here (i32, i64, other).
    pub fn zeros(dtype: DType, len: usize) -> Option<Self> {
        Some(match dtype {
            DType::F32 => TensorData::F32(vec![0.0; len]),
            DType::F16 => TensorData::F16(vec![half::f16::ZERO; len]),
            DType::U8 => TensorData::U8(vec![0; len]),
            DType::I8 => TensorData::I8(vec![0; len]),
            DType::I32 | DType::I64 | DType::Other(_) => return None,
        })
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        match self {
            TensorData::F32(_) => DType::F32,
            TensorData::F16(_) => DType::F16,
            TensorData::U8(_) => DType::U8,
            TensorData::I8(_) => DType::I8,
        }
    }
}

/// A dense tensor in the model's own element type and layout (inputs and outputs of
/// detectors): an NPU that wants NHWC u8 input and gives int8 outputs with a scale and zero
/// point gets exactly that, and the family decoders read real values through
/// [`Tensor::to_f32`].
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Elements in row-major order.
    pub data: TensorData,
    /// Layout, for rank-4 image tensors.
    pub layout: Option<Layout>,
    /// How quantized elements map to real values.
    pub quantization: Option<Quantization>,
}

impl Tensor {
    /// A tensor of `data` with `shape`, no layout or quantization noted.
    pub fn new(shape: Vec<usize>, data: TensorData) -> Self {
        Tensor {
            shape,
            data,
            layout: None,
            quantization: None,
        }
    }

    /// An f32 tensor.
    pub fn f32(shape: Vec<usize>, data: Vec<f32>) -> Self {
        Tensor::new(shape, TensorData::F32(data))
    }

    /// Note the layout.
    pub fn with_layout(mut self, layout: Layout) -> Self {
        self.layout = Some(layout);
        self
    }

    /// Note the quantization.
    pub fn with_quantization(mut self, q: Quantization) -> Self {
        self.quantization = Some(q);
        self
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    /// The f32 elements, when the tensor holds f32.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.data {
            TensorData::F32(v) => Some(v),
            _ => None,
        }
    }

    /// Real values: f32 as they are, f16 widened, u8 and i8 through the quantization
    /// (`scale * (q - zero_point)`; plain values without one).
    pub fn to_f32(&self) -> Cow<'_, [f32]> {
        let q = self.quantization.unwrap_or(Quantization {
            scale: 1.0,
            zero_point: 0,
        });
        let real = |v: i32| q.scale * (v - q.zero_point) as f32;
        match &self.data {
            TensorData::F32(v) => Cow::Borrowed(v),
            TensorData::F16(v) => Cow::Owned(v.iter().map(|x| x.to_f32()).collect()),
            TensorData::U8(v) => Cow::Owned(v.iter().map(|x| real(i32::from(*x))).collect()),
            TensorData::I8(v) => Cow::Owned(v.iter().map(|x| real(i32::from(*x))).collect()),
        }
    }

    /// Item `i` of `n` along the first (batch) dimension, with the batch dimension set to 1.
    /// `None` when the tensor does not split into `n` equal items.
    pub fn batch_item(&self, i: usize, n: usize) -> Option<Tensor> {
        let len = self.data.len();
        if n == 0 || i >= n || !len.is_multiple_of(n) {
            return None;
        }
        let per = len / n;
        let range = i * per..(i + 1) * per;
        let data = match &self.data {
            TensorData::F32(v) => TensorData::F32(v[range].to_vec()),
            TensorData::F16(v) => TensorData::F16(v[range].to_vec()),
            TensorData::U8(v) => TensorData::U8(v[range].to_vec()),
            TensorData::I8(v) => TensorData::I8(v[range].to_vec()),
        };
        let mut shape = self.shape.clone();
        if let Some(first) = shape.first_mut() {
            *first = 1;
        }
        Some(Tensor {
            shape,
            data,
            layout: self.layout,
            quantization: self.quantization,
        })
    }

    /// Whether the shape and the element count agree, and the tensor fits `spec` (its type,
    /// and every fixed dimension); the error says what differs.
    pub fn check_against(&self, spec: &TensorSpec) -> Result<(), String> {
        let count: usize = self.shape.iter().product();
        if count != self.data.len() {
            return Err(format!(
                "`{}`: shape {:?} has {count} elements, the data {}",
                spec.name,
                self.shape,
                self.data.len()
            ));
        }
        if self.dtype() != spec.dtype {
            return Err(format!(
                "`{}` takes {:?}, got {:?}",
                spec.name,
                spec.dtype,
                self.dtype()
            ));
        }
        let fits = self.shape.len() == spec.shape.len()
            && self
                .shape
                .iter()
                .zip(&spec.shape)
                .all(|(d, s)| s.is_none_or(|s| s == *d));
        if !fits {
            return Err(format!("`{spec}` does not take shape {:?}", self.shape));
        }
        Ok(())
    }
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

    #[test]
    fn quantized_tensors_read_as_real_values() {
        let q = Tensor::new(vec![3], TensorData::U8(vec![0, 128, 255])).with_quantization(
            Quantization {
                scale: 0.5,
                zero_point: 128,
            },
        );
        assert_eq!(&*q.to_f32(), &[-64.0, 0.0, 63.5]);
        let i = Tensor::new(vec![2], TensorData::I8(vec![-128, 127]));
        assert_eq!(&*i.to_f32(), &[-128.0, 127.0]);
        let h = Tensor::new(
            vec![2],
            TensorData::F16(vec![half::f16::from_f32(0.5), half::f16::from_f32(-2.0)]),
        );
        assert_eq!(&*h.to_f32(), &[0.5, -2.0]);
        let f = Tensor::f32(vec![1], vec![0.25]);
        assert!(matches!(f.to_f32(), Cow::Borrowed(_)));
    }

    #[test]
    fn a_batch_splits_into_items() {
        let b = Tensor::new(vec![2, 3], TensorData::U8(vec![1, 2, 3, 4, 5, 6]));
        let second = b.batch_item(1, 2).unwrap();
        assert_eq!(second.shape, [1, 3]);
        assert_eq!(second.data, TensorData::U8(vec![4, 5, 6]));
        assert!(b.batch_item(2, 2).is_none() && b.batch_item(0, 4).is_none());
    }

    #[test]
    fn tensors_are_checked_against_their_spec() {
        let spec = TensorSpec::new("x", vec![None, Some(3), Some(2), Some(2)], DType::F32);
        assert!(
            Tensor::f32(vec![2, 3, 2, 2], vec![0.0; 24])
                .check_against(&spec)
                .is_ok()
        );
        let short = Tensor::f32(vec![1, 3, 2, 2], vec![0.0; 5]);
        assert!(
            short
                .check_against(&spec)
                .unwrap_err()
                .contains("12 elements")
        );
        let wrong = Tensor::f32(vec![1, 1, 2, 2], vec![0.0; 4]);
        assert!(
            wrong
                .check_against(&spec)
                .unwrap_err()
                .contains("does not take")
        );
        let typed = Tensor::new(vec![1, 3, 2, 2], TensorData::U8(vec![0; 12]));
        assert!(
            typed
                .check_against(&spec)
                .unwrap_err()
                .contains("takes F32, got U8")
        );
    }
}
