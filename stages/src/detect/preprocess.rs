//! Frames into model input tensors: colour conversion, letterbox or stretch resize
//! (`fast_image_resize`), then one pass into the model's own element type (f32, f16, u8,
//! quantized u8/i8) and layout (NCHW, NHWC). No resize when the frame already has the size.

use std::borrow::Cow;

use edgeflow_backend::{DType, Layout, Quantization, Tensor, TensorData};
use edgeflow_core::{Frame, PixelFormat};
use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use serde::Deserialize;

/// How a frame is fitted into the model input.
#[derive(
    Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Resize {
    /// Keep the aspect ratio and pad (Darknet, MediaPipe).
    #[default]
    Letterbox,
    /// Stretch to the input size.
    Stretch,
}

/// How pixel values become tensor values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Normalize {
    /// `value * scale + offset` for each 0..255 channel value.
    pub scale: f32,
    /// See `scale`.
    pub offset: f32,
    /// Padding colour (0..255, per channel) for letterboxing.
    pub pad: u8,
    /// Letterbox the image centred (Darknet) or in the top-left corner (MediaPipe).
    pub centred: bool,
}

/// Where the frame landed in the input: to map boxes back.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Placement {
    /// Input pixels per frame pixel, horizontally.
    pub sx: f32,
    /// Input pixels per frame pixel, vertically.
    pub sy: f32,
    /// Left padding in input pixels.
    pub dx: f32,
    /// Top padding in input pixels.
    pub dy: f32,
}

impl Placement {
    /// A point in input pixels as a point in frame pixels.
    pub fn to_frame(&self, x: f32, y: f32) -> (f32, f32) {
        ((x - self.dx) / self.sx, (y - self.dy) / self.sy)
    }
}

/// The frame as packed RGB (converted from BGR, gray, NV12 or I420; padding rows removed).
/// Borrows the frame's own pixels when they already are packed RGB.
pub fn packed_rgb(frame: &Frame) -> Result<Cow<'_, [u8]>, String> {
    let (w, h) = (frame.width as usize, frame.height as usize);
    let row = |p: usize, y: usize| {
        frame
            .row(p, y)
            .ok_or_else(|| format!("frame plane {p} row {y} is missing"))
    };
    match frame.format {
        PixelFormat::Rgb if frame.planes()[0].stride == w * 3 => {
            let off = frame.planes()[0].offset;
            Ok(Cow::Borrowed(&frame.data()[off..off + w * h * 3]))
        }
        PixelFormat::Rgb | PixelFormat::Bgr | PixelFormat::Gray => {
            let mut out = Vec::with_capacity(w * h * 3);
            for y in 0..h {
                let r = row(0, y)?;
                match frame.format {
                    PixelFormat::Rgb => out.extend_from_slice(r),
                    PixelFormat::Bgr => r
                        .chunks_exact(3)
                        .for_each(|p| out.extend([p[2], p[1], p[0]])),
                    _ => r.iter().for_each(|&v| out.extend([v, v, v])),
                }
            }
            Ok(Cow::Owned(out))
        }
        PixelFormat::Nv12 | PixelFormat::I420 => {
            let mut out = Vec::with_capacity(w * h * 3);
            for y in 0..h {
                let luma = row(0, y)?;
                let (u_row, v_row) = match frame.format {
                    PixelFormat::I420 => (row(1, y / 2)?, row(2, y / 2)?),
                    _ => (row(1, y / 2)?, row(1, y / 2)?),
                };
                for (x, &yy) in luma.iter().enumerate() {
                    let (u, v) = match frame.format {
                        PixelFormat::I420 => (u_row[x / 2], v_row[x / 2]),
                        _ => (u_row[(x / 2) * 2], u_row[(x / 2) * 2 + 1]),
                    };
                    out.extend(yuv_to_rgb(yy, u, v));
                }
            }
            Ok(Cow::Owned(out))
        }
    }
}

/// Bilinear with the filter widened to the downscale (antialiased, like PIL's): what the
/// reference detections were computed with. (Plain 2×2 interpolation, OpenCV's
/// `INTER_LINEAR`, is twice as fast at 1080p but moves YOLO's scores by up to 0.12.)
fn bilinear() -> ResizeOptions {
    ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear))
}

/// Plane `p` of `frame` with its rows packed (borrowed when the stride has no padding).
fn packed_plane(frame: &Frame, p: usize) -> Result<Cow<'_, [u8]>, String> {
    let (row, rows) = frame.format.plane_size(p, frame.width, frame.height);
    let plane = frame
        .planes()
        .get(p)
        .ok_or_else(|| format!("frame plane {p} is missing"))?;
    if plane.stride == row {
        return frame
            .data()
            .get(plane.offset..plane.offset + row * rows)
            .map(Cow::Borrowed)
            .ok_or_else(|| format!("frame plane {p} is cut short"));
    }
    let mut out = Vec::with_capacity(row * rows);
    for y in 0..rows {
        out.extend_from_slice(
            frame
                .row(p, y)
                .ok_or_else(|| format!("frame plane {p} row {y} is missing"))?,
        );
    }
    Ok(Cow::Owned(out))
}

/// An NV12 or I420 frame resized to `nw` × `nh` as packed RGB: the luma plane to that size,
/// the chroma plane(s) to half of it (rounded up), then one conversion per output pixel.
fn scaled_yuv_to_rgb(
    frame: &Frame,
    nw: u32,
    nh: u32,
    resizer: &mut Resizer,
) -> Result<Vec<u8>, String> {
    let (cw, ch) = (frame.width.div_ceil(2), frame.height.div_ceil(2));
    let (ncw, nch) = (nw.div_ceil(2), nh.div_ceil(2));
    let mut resize = |p: usize, w: u32, h: u32, to: (u32, u32), pixel: PixelType| {
        let plane = packed_plane(frame, p)?;
        let src = ImageRef::new(w, h, &plane, pixel).map_err(|e| e.to_string())?;
        let mut out = Image::new(to.0, to.1, pixel);
        resizer
            .resize(&src, &mut out, &bilinear())
            .map_err(|e| e.to_string())?;
        Ok::<Vec<u8>, String>(out.into_vec())
    };
    let luma = resize(0, frame.width, frame.height, (nw, nh), PixelType::U8)?;
    let (nw, ncw) = (nw as usize, ncw as usize);
    let mut out = vec![0u8; luma.len() * 3];
    // Per output row: its luma, and the chroma row it shares with its neighbour.
    let rows = luma.chunks_exact(nw).zip(out.chunks_exact_mut(nw * 3));
    match frame.format {
        PixelFormat::I420 => {
            let u = resize(1, cw, ch, (ncw as u32, nch), PixelType::U8)?;
            let v = resize(2, cw, ch, (ncw as u32, nch), PixelType::U8)?;
            for (y, (lr, or)) in rows.enumerate() {
                let c = (y / 2) * ncw;
                let (ur, vr) = (&u[c..c + ncw], &v[c..c + ncw]);
                for (x, (&l, px)) in lr.iter().zip(or.chunks_exact_mut(3)).enumerate() {
                    px.copy_from_slice(&yuv_to_rgb(l, ur[x / 2], vr[x / 2]));
                }
            }
        }
        _ => {
            let uv = resize(1, cw, ch, (ncw as u32, nch), PixelType::U8x2)?;
            for (y, (lr, or)) in rows.enumerate() {
                let c = (y / 2) * ncw * 2;
                let r = &uv[c..c + ncw * 2];
                for (x, (&l, px)) in lr.iter().zip(or.chunks_exact_mut(3)).enumerate() {
                    let i = (x / 2) * 2;
                    px.copy_from_slice(&yuv_to_rgb(l, r[i], r[i + 1]));
                }
            }
        }
    }
    Ok(out)
}

/// BT.601 limited range, as GStreamer's `videoconvert` does for SD and most camera streams.
#[inline]
fn yuv_to_rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    let c = (i32::from(y) - 16) * 298;
    let d = i32::from(u) - 128;
    let e = i32::from(v) - 128;
    let clip = |x: i32| ((x + 128) >> 8).clamp(0, 255) as u8;
    [
        clip(c + 409 * e),
        clip(c - 100 * d - 208 * e),
        clip(c + 516 * d),
    ]
}

/// The model input a frame is written into: size, layout, element type, and how pixel
/// values become elements.
#[derive(Clone, Debug, PartialEq)]
pub struct InputFormat {
    /// Width × height, or `None` for a model that takes frames at their own size (no resize,
    /// no colour conversion beyond the channel order: rgb and bgr frames only).
    pub size: Option<(u32, u32)>,
    /// NCHW or NHWC.
    pub layout: Layout,
    /// Element type: f32 and f16 get `pixel * scale + offset`; u8 gets the pixel itself (the
    /// model normalises inside, as NPU builds do) unless quantized; quantized u8 and i8 get
    /// the normalised value quantized.
    pub dtype: DType,
    /// The input's quantization, for quantized u8 and i8 inputs.
    pub quantization: Option<Quantization>,
    /// Pixel scaling and padding.
    pub norm: Normalize,
}

/// One element per pixel value 0..=255: every conversion is a table lookup.
fn lut<T: Copy + Default>(f: impl Fn(u8) -> T) -> [T; 256] {
    let mut t = [T::default(); 256];
    for (v, slot) in t.iter_mut().enumerate() {
        *slot = f(v as u8);
    }
    t
}

impl InputFormat {
    /// Elements per frame for a `frame_w` × `frame_h` frame.
    pub fn item_len(&self, frame_w: u32, frame_h: u32) -> usize {
        let (w, h) = self.size.unwrap_or((frame_w, frame_h));
        w as usize * h as usize * 3
    }

    /// The input's shape for `n` frames of `frame_w` × `frame_h`.
    pub fn shape(&self, n: usize, frame_w: u32, frame_h: u32) -> Vec<usize> {
        let (w, h) = self.size.unwrap_or((frame_w, frame_h));
        let (w, h) = (w as usize, h as usize);
        match self.layout {
            Layout::Nchw => vec![n, 3, h, w],
            Layout::Nhwc => vec![n, h, w, 3],
        }
    }

    fn quantize(&self, v: f32, lo: f32, hi: f32) -> f32 {
        let q = self.quantization.unwrap_or(Quantization {
            scale: 1.0,
            zero_point: 0,
        });
        (v / q.scale + q.zero_point as f32).round().clamp(lo, hi)
    }

    fn normalised(&self, p: u8) -> f32 {
        p as f32 * self.norm.scale + self.norm.offset
    }
}

/// Write `frame` as item `item` of `dst` (a batch in `input`'s type and layout): colour
/// conversion, letterbox or stretch resize, and the element conversion in one pass over
/// the scaled pixels. Returns where the frame landed, to map boxes back.
pub fn prepare_into(
    frame: &Frame,
    input: &InputFormat,
    resize: Resize,
    resizer: &mut Resizer,
    dst: &mut TensorData,
    item: usize,
) -> Result<Placement, String> {
    if input.size.is_none() && !matches!(frame.format, PixelFormat::Rgb | PixelFormat::Bgr) {
        return Err(format!(
            "a model that takes frames at their own size reads rgb or bgr frames, got {:?}",
            frame.format
        ));
    }
    let (fw, fh) = (frame.width as f32, frame.height as f32);
    let (width, height) = input.size.unwrap_or((frame.width, frame.height));
    let norm = input.norm;
    let (nw, nh, dx, dy) = match (input.size, resize) {
        (None, _) | (_, Resize::Stretch) => (width, height, 0u32, 0u32),
        (Some(_), Resize::Letterbox) => {
            let r = (width as f32 / fw).min(height as f32 / fh);
            let nw = ((fw * r).round() as u32).clamp(1, width);
            let nh = ((fh * r).round() as u32).clamp(1, height);
            if norm.centred {
                (nw, nh, (width - nw) / 2, (height - nh) / 2)
            } else {
                (nw, nh, 0, 0)
            }
        }
    };
    // NV12 and I420 frames are resized plane by plane and converted to RGB at the model's
    // size, in the pass that writes the input: no full-size RGB frame in between.
    let yuv = matches!(frame.format, PixelFormat::Nv12 | PixelFormat::I420)
        && (nw, nh) != (frame.width, frame.height);
    let rgb = if yuv {
        Cow::Owned(scaled_yuv_to_rgb(frame, nw, nh, resizer)?)
    } else {
        packed_rgb(frame)?
    };
    let scaled;
    let pixels: &[u8] = if yuv || (nw, nh) == (frame.width, frame.height) {
        &rgb
    } else {
        let src = ImageRef::new(frame.width, frame.height, &rgb, PixelType::U8x3)
            .map_err(|e| e.to_string())?;
        let mut out = Image::new(nw, nh, PixelType::U8x3);
        resizer
            .resize(&src, &mut out, &bilinear())
            .map_err(|e| e.to_string())?;
        scaled = out;
        scaled.buffer()
    };
    let geometry = Geometry {
        w: width as usize,
        h: height as usize,
        nw: nw as usize,
        nh: nh as usize,
        dx: dx as usize,
        dy: dy as usize,
        layout: input.layout,
    };
    let len = geometry.w * geometry.h * 3;
    let range = item * len..(item + 1) * len;
    let have = dst.len();
    let short = || {
        format!(
            "the input holds {have} elements, item {item} needs {}",
            range.end
        )
    };
    match dst {
        TensorData::F32(v) => {
            let t = lut(|p| input.normalised(p));
            geometry.write(
                v.get_mut(range.clone()).ok_or_else(short)?,
                pixels,
                &t,
                norm.pad,
            );
        }
        TensorData::F16(v) => {
            let t = lut(|p| half::f16::from_f32(input.normalised(p)));
            geometry.write(
                v.get_mut(range.clone()).ok_or_else(short)?,
                pixels,
                &t,
                norm.pad,
            );
        }
        TensorData::U8(v) => {
            let t = match input.quantization {
                None => lut(|p| p),
                Some(_) => lut(|p| input.quantize(input.normalised(p), 0.0, 255.0) as u8),
            };
            geometry.write(
                v.get_mut(range.clone()).ok_or_else(short)?,
                pixels,
                &t,
                norm.pad,
            );
        }
        TensorData::I8(v) => {
            if input.quantization.is_none() {
                return Err("an i8 input needs quantization parameters".into());
            }
            let t = lut(|p| input.quantize(input.normalised(p), -128.0, 127.0) as i8);
            geometry.write(
                v.get_mut(range.clone()).ok_or_else(short)?,
                pixels,
                &t,
                norm.pad,
            );
        }
    }
    Ok(Placement {
        sx: nw as f32 / fw,
        sy: nh as f32 / fh,
        dx: dx as f32,
        dy: dy as f32,
    })
}

/// Where the scaled image sits in one input item.
struct Geometry {
    w: usize,
    h: usize,
    nw: usize,
    nh: usize,
    dx: usize,
    dy: usize,
    layout: Layout,
}

impl Geometry {
    /// Pad the item, then write the `nw` × `nh` packed RGB `pixels` through `table`.
    fn write<T: Copy>(&self, item: &mut [T], pixels: &[u8], table: &[T; 256], pad: u8) {
        let (w, h) = (self.w, self.h);
        if (self.nw, self.nh) != (w, h) {
            item.fill(table[usize::from(pad)]);
        }
        for y in 0..self.nh {
            let row = &pixels[y * self.nw * 3..(y + 1) * self.nw * 3];
            let ty = y + self.dy;
            match self.layout {
                Layout::Nhwc => {
                    let start = (ty * w + self.dx) * 3;
                    for (d, &p) in item[start..start + self.nw * 3].iter_mut().zip(row) {
                        *d = table[usize::from(p)];
                    }
                }
                Layout::Nchw => {
                    for (x, p) in row.chunks_exact(3).enumerate() {
                        let at = ty * w + self.dx + x;
                        for (c, &value) in p.iter().enumerate() {
                            item[c * w * h + at] = table[usize::from(value)];
                        }
                    }
                }
            }
        }
    }
}

/// Resize `frame` into a one-frame f32 tensor of `input`'s size and layout (tests and
/// tools; the detect stage writes batches with [`prepare_into`]).
pub fn prepare(
    frame: &Frame,
    input: &InputFormat,
    resize: Resize,
    resizer: &mut Resizer,
) -> Result<(Tensor, Placement), String> {
    let mut data = TensorData::zeros(input.dtype, input.item_len(frame.width, frame.height))
        .ok_or_else(|| format!("a {:?} input cannot be written", input.dtype))?;
    let place = prepare_into(frame, input, resize, resizer, &mut data, 0)?;
    let mut t =
        Tensor::new(input.shape(1, frame.width, frame.height), data).with_layout(input.layout);
    t.quantization = input.quantization;
    Ok((t, place))
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeflow_core::Meta;

    fn frame(w: u32, h: u32, format: PixelFormat, data: Vec<u8>) -> Frame {
        Frame::packed(Meta::now("s".into(), 0, 0), w, h, format, data.into()).unwrap()
    }

    fn input(
        size: Option<(u32, u32)>,
        layout: Layout,
        dtype: DType,
        norm: Normalize,
    ) -> InputFormat {
        InputFormat {
            size,
            layout,
            dtype,
            quantization: None,
            norm,
        }
    }

    const UNIT: Normalize = Normalize {
        scale: 1.0 / 255.0,
        offset: 0.0,
        pad: 128,
        centred: true,
    };

    #[test]
    fn letterbox_centres_and_pads() {
        // 4x2 white frame into 4x4: scaled to 4x2, 1 row of padding above and below.
        let f = frame(4, 2, PixelFormat::Rgb, vec![255; 4 * 2 * 3]);
        let fmt = input(Some((4, 4)), Layout::Nchw, DType::F32, UNIT);
        let (t, p) = prepare(&f, &fmt, Resize::Letterbox, &mut Resizer::new()).unwrap();
        assert_eq!(t.shape, [1, 3, 4, 4]);
        assert_eq!((p.dx, p.dy, p.sx, p.sy), (0.0, 1.0, 1.0, 1.0));
        assert!(
            (t.to_f32()[0] - 128.0 / 255.0).abs() < 1e-6,
            "top row is padding"
        );
        assert!(
            (t.to_f32()[4] - 1.0).abs() < 1e-6,
            "second row is the image"
        );
        assert_eq!(p.to_frame(2.0, 2.0), (2.0, 1.0));
    }

    #[test]
    fn top_left_letterbox_pads_after_the_image() {
        let f = frame(4, 2, PixelFormat::Rgb, vec![255; 4 * 2 * 3]);
        let norm = Normalize {
            scale: 1.0,
            offset: 0.0,
            pad: 0,
            centred: false,
        };
        let fmt = input(Some((4, 4)), Layout::Nhwc, DType::F32, norm);
        let (t, p) = prepare(&f, &fmt, Resize::Letterbox, &mut Resizer::new()).unwrap();
        assert_eq!((p.dx, p.dy), (0.0, 0.0));
        assert_eq!(t.to_f32()[0], 255.0);
        assert_eq!(t.to_f32()[(2 * 4) * 3], 0.0, "row 2 is padding");
    }

    #[test]
    fn nhwc_and_bgr() {
        let f = frame(1, 1, PixelFormat::Bgr, vec![0, 0, 255]); // red in BGR
        let norm = Normalize {
            scale: 1.0 / 127.5,
            offset: -1.0,
            pad: 0,
            centred: false,
        };
        let fmt = input(Some((1, 1)), Layout::Nhwc, DType::F32, norm);
        let (t, _) = prepare(&f, &fmt, Resize::Stretch, &mut Resizer::new()).unwrap();
        assert_eq!(t.shape, [1, 1, 1, 3]);
        assert_eq!(&*t.to_f32(), [1.0, -1.0, -1.0]);
    }

    #[test]
    fn u8_inputs_get_pixels_and_quantized_ones_get_quantized_values() {
        // 2x1 frame: red, blue; letterboxed into 2x2 NHWC u8 (one pad row below, top-left).
        let f = frame(2, 1, PixelFormat::Rgb, vec![255, 0, 0, 0, 0, 255]);
        let norm = Normalize {
            pad: 7,
            centred: false,
            ..UNIT
        };
        let fmt = input(Some((2, 2)), Layout::Nhwc, DType::U8, norm);
        let (t, _) = prepare(&f, &fmt, Resize::Letterbox, &mut Resizer::new()).unwrap();
        assert_eq!(
            t.data,
            TensorData::U8(vec![255, 0, 0, 0, 0, 255, 7, 7, 7, 7, 7, 7])
        );
        // i8, real = (q + 128) / 255: pixel 255 → 1.0 → 127; pixel 0 → -128.
        let q = Quantization {
            scale: 1.0 / 255.0,
            zero_point: -128,
        };
        let fmt = InputFormat {
            quantization: Some(q),
            ..input(Some((2, 1)), Layout::Nchw, DType::I8, UNIT)
        };
        let (t, _) = prepare(&f, &fmt, Resize::Stretch, &mut Resizer::new()).unwrap();
        assert_eq!(
            t.data,
            TensorData::I8(vec![127, -128, -128, -128, -128, 127])
        );
        assert_eq!(t.quantization, Some(q));
        assert!(
            (t.to_f32()[0] - 1.0).abs() < 1e-6,
            "reads back as the real value"
        );
        // f16 carries the normalised value.
        let fmt = input(Some((2, 1)), Layout::Nchw, DType::F16, UNIT);
        let (t, _) = prepare(&f, &fmt, Resize::Stretch, &mut Resizer::new()).unwrap();
        assert_eq!(&*t.to_f32(), [1.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
        // An i8 input without quantization cannot be written.
        let fmt = input(Some((2, 1)), Layout::Nchw, DType::I8, UNIT);
        let e = prepare(&f, &fmt, Resize::Stretch, &mut Resizer::new()).unwrap_err();
        assert!(e.contains("needs quantization"), "{e}");
    }

    #[test]
    fn frame_size_inputs_take_rgb_and_bgr_as_they_are() {
        let f = frame(2, 1, PixelFormat::Bgr, vec![1, 2, 3, 4, 5, 6]);
        let fmt = input(None, Layout::Nhwc, DType::U8, UNIT);
        let (t, p) = prepare(&f, &fmt, Resize::Letterbox, &mut Resizer::new()).unwrap();
        assert_eq!(t.shape, [1, 1, 2, 3]);
        assert_eq!(t.data, TensorData::U8(vec![3, 2, 1, 6, 5, 4]));
        assert_eq!((p.sx, p.sy, p.dx, p.dy), (1.0, 1.0, 0.0, 0.0));
        let g = frame(2, 1, PixelFormat::Gray, vec![1, 2]);
        let e = prepare(&g, &fmt, Resize::Letterbox, &mut Resizer::new()).unwrap_err();
        assert!(e.contains("reads rgb or bgr frames, got Gray"), "{e}");
    }

    #[test]
    fn a_batch_item_outside_the_buffer_is_an_error() {
        let f = frame(1, 1, PixelFormat::Rgb, vec![1, 2, 3]);
        let fmt = input(Some((1, 1)), Layout::Nhwc, DType::U8, UNIT);
        let mut data = TensorData::U8(vec![0; 3]);
        let e =
            prepare_into(&f, &fmt, Resize::Stretch, &mut Resizer::new(), &mut data, 1).unwrap_err();
        assert!(e.contains("item 1 needs 6"), "{e}");
    }

    /// A frame of smooth colour gradients in `format` (made from RGB by the BT.601 inverse).
    fn gradient(w: u32, h: u32, format: PixelFormat) -> (Frame, Frame) {
        let rgb: Vec<u8> = (0..h)
            .flat_map(|y| {
                (0..w).flat_map(move |x| {
                    [
                        (x * 255 / w) as u8,
                        (y * 255 / h) as u8,
                        ((x + y) * 127 / (w + h)) as u8,
                    ]
                })
            })
            .collect();
        let px = |x: u32, y: u32| {
            let i = ((y * w + x) * 3) as usize;
            let (r, g, b) = (
                f32::from(rgb[i]),
                f32::from(rgb[i + 1]),
                f32::from(rgb[i + 2]),
            );
            (
                (16.0 + 0.257 * r + 0.504 * g + 0.098 * b).round() as u8,
                (128.0 - 0.148 * r - 0.291 * g + 0.439 * b).round() as u8,
                (128.0 + 0.439 * r - 0.368 * g - 0.071 * b).round() as u8,
            )
        };
        let mut data: Vec<u8> = (0..h)
            .flat_map(|y| (0..w).map(move |x| px(x, y).0))
            .collect();
        let chroma: Vec<(u8, u8)> = (0..h / 2)
            .flat_map(|y| (0..w / 2).map(move |x| (px(x * 2, y * 2).1, px(x * 2, y * 2).2)))
            .collect();
        match format {
            PixelFormat::I420 => {
                data.extend(chroma.iter().map(|c| c.0));
                data.extend(chroma.iter().map(|c| c.1));
            }
            _ => data.extend(chroma.iter().flat_map(|c| [c.0, c.1])),
        }
        (
            frame(w, h, format, data),
            frame(w, h, PixelFormat::Rgb, rgb),
        )
    }

    #[test]
    fn yuv_frames_resize_by_plane_like_their_rgb() {
        let fmt = input(Some((64, 64)), Layout::Nchw, DType::F32, UNIT);
        for format in [PixelFormat::I420, PixelFormat::Nv12] {
            let (yuv, rgb) = gradient(160, 120, format);
            let (a, pa) = prepare(&yuv, &fmt, Resize::Letterbox, &mut Resizer::new()).unwrap();
            let (b, pb) = prepare(&rgb, &fmt, Resize::Letterbox, &mut Resizer::new()).unwrap();
            assert_eq!(pa, pb);
            let (a, b) = (a.to_f32(), b.to_f32());
            let worst = a
                .iter()
                .zip(b.iter())
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f32::max);
            let mean = a
                .iter()
                .zip(b.iter())
                .map(|(x, y)| (x - y).abs())
                .sum::<f32>()
                / a.len() as f32;
            assert!(
                mean < 2.0 / 255.0 && worst < 12.0 / 255.0,
                "{format:?}: mean {mean}, worst {worst}"
            );
        }
        // Rows with padding (strides wider than the rows) are packed first: mid grey stays grey.
        let padded = Frame::new(
            Meta::now("s".into(), 0, 0),
            4,
            4,
            PixelFormat::I420,
            vec![
                edgeflow_core::Plane {
                    offset: 0,
                    stride: 6,
                },
                edgeflow_core::Plane {
                    offset: 24,
                    stride: 3,
                },
                edgeflow_core::Plane {
                    offset: 30,
                    stride: 3,
                },
            ],
            [vec![126u8; 24], vec![128u8; 12]].concat().into(),
        )
        .unwrap();
        let fmt = input(Some((2, 2)), Layout::Nchw, DType::U8, UNIT);
        let (t, _) = prepare(&padded, &fmt, Resize::Stretch, &mut Resizer::new()).unwrap();
        assert!(
            matches!(&t.data, TensorData::U8(v) if v.iter().all(|p| (127..=129).contains(p))),
            "{:?}",
            t.data
        );
    }

    #[test]
    fn yuv_frames_convert_to_rgb() {
        // I420 2x2 of mid grey (Y=126, U=V=128) is (128,128,128) within rounding.
        let f = frame(2, 2, PixelFormat::I420, vec![126, 126, 126, 126, 128, 128]);
        let rgb = packed_rgb(&f).unwrap();
        assert!(rgb.iter().all(|&v| (127..=129).contains(&v)), "{rgb:?}");
        let f = frame(2, 2, PixelFormat::Nv12, vec![235, 235, 235, 235, 128, 128]);
        assert!(packed_rgb(&f).unwrap().iter().all(|&v| v == 255));
    }
}
