//! Evaluation against ground truth.

pub mod mot;
