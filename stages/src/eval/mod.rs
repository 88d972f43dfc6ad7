//! Evaluation against ground truth: MOT metrics, degraded ground truth for tracker tests,
//! a pipeline's tracker run over recorded detections.

pub mod degrade;
pub mod mot;
pub mod track;
