//! Frames into model input tensors: colour conversion, letterbox or stretch resize
//! (`fast_image_resize`), scaling, layout. One pass per step, no copy when none is needed.

use std::borrow::Cow;

use edgeflow_backend::{Layout, Tensor};
use edgeflow_core::{Frame, PixelFormat};
use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use serde::Deserialize;

/// How a frame is fitted into the model input.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
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

/// BT.601 limited range, as GStreamer's `videoconvert` does for SD and most camera streams.
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

/// Resize `frame` into a `width` × `height` tensor with `layout` and `norm`.
pub fn prepare(
    frame: &Frame,
    width: u32,
    height: u32,
    layout: Layout,
    resize: Resize,
    norm: Normalize,
    resizer: &mut Resizer,
) -> Result<(Tensor, Placement), String> {
    let rgb = packed_rgb(frame)?;
    let (fw, fh) = (frame.width as f32, frame.height as f32);
    let (nw, nh, dx, dy) = match resize {
        Resize::Stretch => (width, height, 0u32, 0u32),
        Resize::Letterbox => {
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
    let src = ImageRef::new(frame.width, frame.height, &rgb, PixelType::U8x3)
        .map_err(|e| e.to_string())?;
    let mut scaled = Image::new(nw, nh, PixelType::U8x3);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
    resizer
        .resize(&src, &mut scaled, &options)
        .map_err(|e| e.to_string())?;
    let pixels = scaled.buffer();

    let (w, h) = (width as usize, height as usize);
    let pad = norm.pad as f32 * norm.scale + norm.offset;
    let mut data = vec![pad; w * h * 3];
    for y in 0..nh as usize {
        for x in 0..nw as usize {
            let (tx, ty) = (x + dx as usize, y + dy as usize);
            let p = &pixels[(y * nw as usize + x) * 3..][..3];
            for (c, &value) in p.iter().enumerate() {
                let v = value as f32 * norm.scale + norm.offset;
                let idx = match layout {
                    Layout::Nchw => c * w * h + ty * w + tx,
                    Layout::Nhwc => (ty * w + tx) * 3 + c,
                };
                data[idx] = v;
            }
        }
    }
    let shape = match layout {
        Layout::Nchw => vec![1, 3, h, w],
        Layout::Nhwc => vec![1, h, w, 3],
    };
    let placement = Placement {
        sx: nw as f32 / fw,
        sy: nh as f32 / fh,
        dx: dx as f32,
        dy: dy as f32,
    };
    Ok((Tensor::f32(shape, data).with_layout(layout), placement))
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeflow_core::Meta;

    fn frame(w: u32, h: u32, format: PixelFormat, data: Vec<u8>) -> Frame {
        Frame::packed(Meta::now("s".into(), 0, 0), w, h, format, data.into()).unwrap()
    }

    #[test]
    fn letterbox_centres_and_pads() {
        // 4x2 white frame into 4x4: scaled to 4x2, 1 row of padding above and below.
        let f = frame(4, 2, PixelFormat::Rgb, vec![255; 4 * 2 * 3]);
        let norm = Normalize {
            scale: 1.0 / 255.0,
            offset: 0.0,
            pad: 128,
            centred: true,
        };
        let (t, p) = prepare(
            &f,
            4,
            4,
            Layout::Nchw,
            Resize::Letterbox,
            norm,
            &mut Resizer::new(),
        )
        .unwrap();
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
        let (t, p) = prepare(
            &f,
            4,
            4,
            Layout::Nhwc,
            Resize::Letterbox,
            norm,
            &mut Resizer::new(),
        )
        .unwrap();
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
        let (t, _) = prepare(
            &f,
            1,
            1,
            Layout::Nhwc,
            Resize::Stretch,
            norm,
            &mut Resizer::new(),
        )
        .unwrap();
        assert_eq!(t.shape, [1, 1, 1, 3]);
        assert_eq!(&*t.to_f32(), [1.0, -1.0, -1.0]);
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
