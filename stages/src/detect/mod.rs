//! `type = "detect"`: frames in, detections out. Each `backend = "..."` is its own module;
//! hardware backends arrive behind cargo features.

pub mod mock;

pub use mock::{MockDetect, MockDetectConfig};
