//! `type = "detect"`: frames in, detections out. Each `backend = "..."` is its own module;
//! hardware backends arrive behind cargo features.

#[cfg(feature = "ort")]
pub mod families;
pub mod mock;
#[cfg(feature = "ort")]
pub mod ort;
#[cfg(feature = "ort")]
pub mod preprocess;

pub use mock::{MockDetect, MockDetectConfig};
