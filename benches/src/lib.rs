//! What the benchmarks in `benches/` share: the messages they feed the stages.

use std::sync::Arc;

use edgeflow_core::{BBox, Detection, Detections, Meta, Port};

/// Frame `seq` of stream `cam` as a 1920×1080 detections message with `boxes` identical
/// person boxes.
pub fn detections_message(seq: u64, boxes: usize) -> edgeflow_core::Message {
    let label: Arc<str> = "person".into();
    let d = Detection {
        class_id: 0,
        label,
        score: 0.9,
        bbox: BBox {
            x: 0.1,
            y: 0.2,
            width: 0.1,
            height: 0.3,
        },
        keypoints: vec![],
    };
    Detections {
        meta: Meta::now("cam".into(), seq, seq * 33_000_000),
        frame_width: 1920,
        frame_height: 1080,
        detections: vec![d; boxes],
        skipped: false,
        face_model: false,
    }
    .into_message()
}
