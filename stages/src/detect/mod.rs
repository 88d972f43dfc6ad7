//! `type = "detect"`: frames in, detections out. [`model::ModelDetect`] holds what every
//! model-backed detector shares (families, preprocessing, batching, NMS, filters) over any
//! `edgeflow_backend::Backend`; each `backend = "..."` is a thin module that loads its backend
//! (hardware backends arrive behind cargo features).

pub mod families;
pub mod mock;
pub mod model;
#[cfg(feature = "ort")]
pub mod ort;
pub mod preprocess;

pub use mock::{MockDetect, MockDetectConfig};
