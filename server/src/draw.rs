//! `GET /streams/{id}/latest.jpg`: a frame as RGB, boxes, zones and lines drawn over it, as a
//! JPEG. Drawing is a few straight lines on a buffer, too little to take a dependency for.

use edgeflow_core::Frame;
use edgeflow_stages::detect::preprocess::packed_rgb;

/// The colour of detection boxes (the page draws the same).
pub const BOX: [u8; 3] = [0, 255, 0];
/// The colour of zones.
pub const ZONE: [u8; 3] = [255, 200, 0];
/// The colour of counting lines.
pub const LINE: [u8; 3] = [255, 0, 255];

/// An RGB image being drawn on.
pub struct Canvas {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Packed RGB.
    pub rgb: Vec<u8>,
}

impl Canvas {
    /// The frame's pixels as RGB (a copy: the frame is shared with the pipeline), converted
    /// as the detect stage converts them.
    pub fn from_frame(frame: &Frame) -> Option<Canvas> {
        let rgb = packed_rgb(frame).ok()?.into_owned();
        Some(Canvas {
            width: frame.width,
            height: frame.height,
            rgb,
        })
    }

    fn put(&mut self, x: i64, y: i64, colour: [u8; 3]) {
        if x < 0 || y < 0 || x >= i64::from(self.width) || y >= i64::from(self.height) {
            return;
        }
        let i = (y as usize * self.width as usize + x as usize) * 3;
        self.rgb[i..i + 3].copy_from_slice(&colour);
    }

    /// A line between two points in 0..1 coordinates, `thick` pixels wide.
    pub fn line(&mut self, a: [f64; 2], b: [f64; 2], colour: [u8; 3], thick: i64) {
        let (w, h) = (f64::from(self.width), f64::from(self.height));
        let (x0, y0, x1, y1) = (a[0] * w, a[1] * h, b[0] * w, b[1] * h);
        let steps = (x1 - x0).abs().max((y1 - y0).abs()).ceil().max(1.0) as i64;
        for s in 0..=steps {
            let t = s as f64 / steps as f64;
            let (x, y) = (
                (x0 + (x1 - x0) * t).round() as i64,
                (y0 + (y1 - y0) * t).round() as i64,
            );
            for dy in -(thick / 2)..=(thick - 1) / 2 {
                for dx in -(thick / 2)..=(thick - 1) / 2 {
                    self.put(x + dx, y + dy, colour);
                }
            }
        }
    }

    /// A box's outline; `x`, `y`, `width`, `height` in 0..1.
    pub fn rect(&mut self, x: f64, y: f64, width: f64, height: f64, colour: [u8; 3]) {
        let thick = i64::from(self.width.max(self.height) / 240).max(2);
        let (x1, y1) = (x + width, y + height);
        self.line([x, y], [x1, y], colour, thick);
        self.line([x1, y], [x1, y1], colour, thick);
        self.line([x1, y1], [x, y1], colour, thick);
        self.line([x, y1], [x, y], colour, thick);
    }

    /// A closed polygon's outline.
    pub fn polygon(&mut self, points: &[[f64; 2]], colour: [u8; 3]) {
        for (i, a) in points.iter().enumerate() {
            let b = points[(i + 1) % points.len()];
            self.line(*a, b, colour, 2);
        }
    }

    /// The image as a JPEG of quality `quality` (1–100).
    pub fn jpeg(&self, quality: u8) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        let (w, h) = (
            u16::try_from(self.width).map_err(|_| "the frame is too wide for a JPEG")?,
            u16::try_from(self.height).map_err(|_| "the frame is too tall for a JPEG")?,
        );
        jpeg_encoder::Encoder::new(&mut out, quality)
            .encode(&self.rgb, w, h, jpeg_encoder::ColorType::Rgb)
            .map_err(|e| format!("cannot encode the frame: {e}"))?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use edgeflow_core::{Meta, PixelFormat};

    fn frame(format: PixelFormat, data: Vec<u8>) -> Frame {
        Frame::packed(Meta::now("s".into(), 0, 0), 4, 2, format, Bytes::from(data)).unwrap()
    }

    #[test]
    fn every_format_becomes_rgb() {
        let rgb = frame(PixelFormat::Rgb, (0..24).collect());
        assert_eq!(
            Canvas::from_frame(&rgb).unwrap().rgb,
            (0..24).collect::<Vec<u8>>()
        );
        let bgr = frame(PixelFormat::Bgr, [1, 2, 3].repeat(8));
        assert_eq!(&Canvas::from_frame(&bgr).unwrap().rgb[..3], &[3, 2, 1]);
        let gray = frame(PixelFormat::Gray, vec![7; 8]);
        assert_eq!(Canvas::from_frame(&gray).unwrap().rgb, vec![7; 24]);
        // Y = 235, neutral chroma: white; Y = 16: black.
        let mut i420 = vec![235; 8];
        i420.extend([128; 4]);
        let white = Canvas::from_frame(&frame(PixelFormat::I420, i420)).unwrap();
        assert!(white.rgb.iter().all(|&c| c == 255), "{:?}", white.rgb);
        let mut nv12 = vec![16; 8];
        nv12.extend([128; 4]);
        let black = Canvas::from_frame(&frame(PixelFormat::Nv12, nv12)).unwrap();
        assert!(black.rgb.iter().all(|&c| c == 0), "{:?}", black.rgb);
    }

    #[test]
    fn a_box_is_drawn_along_its_edges_only() {
        let mut c = Canvas {
            width: 100,
            height: 100,
            rgb: vec![0; 100 * 100 * 3],
        };
        c.rect(0.2, 0.2, 0.5, 0.5, BOX);
        let at = |x: usize, y: usize| &c.rgb[(y * 100 + x) * 3..(y * 100 + x) * 3 + 3];
        assert_eq!(at(20, 45), &BOX, "left edge");
        assert_eq!(at(45, 70), &BOX, "bottom edge");
        assert_eq!(at(45, 45), &[0, 0, 0], "inside stays");
        let jpeg = c.jpeg(90).unwrap();
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
    }
}
