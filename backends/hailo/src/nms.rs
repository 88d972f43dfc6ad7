//! HailoRT's NMS-by-class output (`HAILO_FORMAT_ORDER_HAILO_NMS_BY_CLASS`, float32): for each
//! class in turn a float count `n`, then `n` boxes of `y_min, x_min, y_max, x_max, score`,
//! normalized to the network input, the blocks packed back to back and the rest of the frame
//! padding. Turned into edgeflow's decoded detections: `[1, classes × max, 6]` rows of
//! `x1, y1, x2, y2, score, class` in input pixels, best first, padded with class -1.

/// Parse one frame of `classes` blocks of at most `max_per_class` boxes each, for an input of
/// `(width, height)` pixels. A count out of range is an error, never a read past the frame.
pub fn by_class(
    frame: &[f32],
    classes: usize,
    max_per_class: usize,
    (width, height): (usize, usize),
) -> Result<Vec<f32>, String> {
    let mut boxes: Vec<[f32; 6]> = Vec::new();
    let mut at = 0usize;
    for class in 0..classes {
        let count = *frame
            .get(at)
            .ok_or_else(|| format!("the NMS frame ends before class {class}"))?;
        at += 1;
        if !(0.0..=max_per_class as f32).contains(&count) || count.fract() != 0.0 {
            return Err(format!(
                "class {class} has {count} boxes; at most {max_per_class} fit"
            ));
        }
        for _ in 0..count as usize {
            let b = frame
                .get(at..at + 5)
                .ok_or_else(|| format!("the NMS frame ends inside class {class}"))?;
            at += 5;
            let (w, h) = (width as f32, height as f32);
            let (y1, x1, y2, x2) = (
                b[0].clamp(0.0, 1.0) * h,
                b[1].clamp(0.0, 1.0) * w,
                b[2].clamp(0.0, 1.0) * h,
                b[3].clamp(0.0, 1.0) * w,
            );
            boxes.push([
                x1.min(x2),
                y1.min(y2),
                x1.max(x2),
                y1.max(y2),
                b[4],
                class as f32,
            ]);
        }
    }
    boxes.sort_by(|a, b| b[4].total_cmp(&a[4]));
    let rows = classes * max_per_class;
    let mut out: Vec<f32> = boxes.iter().flatten().copied().collect();
    out.resize(rows * 6, 0.0);
    for pad in out.chunks_exact_mut(6).skip(boxes.len()) {
        pad[5] = -1.0;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_read_back_to_back_and_sorted_by_score() {
        // class 0: one box; class 1: none; class 2: two boxes; then padding.
        let frame = [
            1.0, 0.25, 0.125, 0.5, 0.75, 0.7, //
            0.0, //
            2.0, 0.0, 0.0, 1.0, 1.0, 0.9, 0.5, 0.5, 0.6, 0.6, 0.3, //
            0.0, 0.0, 0.0,
        ];
        let rows = by_class(&frame, 3, 2, (100, 40)).unwrap();
        assert_eq!(rows.len(), 3 * 2 * 6);
        assert_eq!(&rows[..6], &[0.0, 0.0, 100.0, 40.0, 0.9, 2.0]);
        assert_eq!(&rows[6..12], &[12.5, 10.0, 75.0, 20.0, 0.7, 0.0]);
        assert_eq!(rows[12..18][5], 2.0);
        assert!(rows.chunks_exact(6).skip(3).all(|r| r[5] == -1.0));
    }

    #[test]
    fn counts_out_of_range_are_errors() {
        let e = by_class(&[3.0, 0.0], 1, 2, (10, 10)).unwrap_err();
        assert!(e.contains("at most 2"), "{e}");
        let e = by_class(&[1.0, 0.0, 0.0], 1, 2, (10, 10)).unwrap_err();
        assert!(e.contains("ends inside class 0"), "{e}");
        let e = by_class(&[0.0], 2, 2, (10, 10)).unwrap_err();
        assert!(e.contains("before class 1"), "{e}");
        assert!(by_class(&[1.5], 1, 2, (10, 10)).is_err());
    }
}
