//! Helpers that run one stage on given inputs and return its outputs, for stage tests.
//!
//! ```
//! use edgeflow_core::testing::config_from_toml;
//! #[derive(serde::Deserialize)]
//! struct Cfg { width: u32 }
//! let cfg: Cfg = config_from_toml("width = 4").unwrap();
//! assert_eq!(cfg.width, 4);
//! ```

use serde::de::DeserializeOwned;

use crate::stage::{BuildCtx, BuildError, Emit, Sink, Source, StageError, Transform};

/// A stage failed to build or to run in a harness.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// `build` failed.
    #[error("build failed: {0}")]
    Build(#[from] BuildError),
    /// `next`/`process`/`consume`/`finish` failed.
    #[error("stage failed: {0}")]
    Stage(#[from] StageError),
}

/// Deserialize a stage config from the body of its TOML table (without `type`).
pub fn config_from_toml<C: DeserializeOwned>(toml_text: &str) -> Result<C, toml::de::Error> {
    toml::from_str(toml_text)
}

/// Build source `S` and collect up to `max` items (or until end of stream).
pub fn run_source<S: Source>(cfg: S::Config, max: usize) -> Result<Vec<S::Out>, HarnessError> {
    let mut s = S::build(cfg, &BuildCtx::for_stage("test"))?;
    let mut out = Vec::new();
    while out.len() < max {
        match s.next()? {
            Some(item) => out.push(item),
            None => break,
        }
    }
    s.finish()?;
    Ok(out)
}

/// Build transform `T`, feed it `inputs`, call `finish`, and return everything it emitted.
pub fn run_transform<T: Transform>(
    cfg: T::Config,
    inputs: impl IntoIterator<Item = T::In>,
) -> Result<Vec<T::Out>, HarnessError> {
    let mut t = T::build(cfg, &BuildCtx::for_stage("test"))?;
    let mut emit = Emit::new();
    for input in inputs {
        t.process(input, &mut emit)?;
    }
    t.finish(&mut emit)?;
    Ok(emit.drain().collect())
}

/// Build sink `K`, feed it `inputs`, call `finish`, and return the sink for inspection.
pub fn run_sink<K: Sink>(
    cfg: K::Config,
    inputs: impl IntoIterator<Item = K::In>,
) -> Result<K, HarnessError> {
    let mut k = K::build(cfg, &BuildCtx::for_stage("test"))?;
    for input in inputs {
        k.consume(input)?;
    }
    k.finish()?;
    Ok(k)
}

/// A `label` track whose 0.02 × 0.04 box (normalised) has its bottom centre at `(x, y)`:
/// the anchor zone and line tests place.
pub fn track_at(track_id: u64, label: &str, (x, y): (f64, f64), age_frames: u64) -> crate::Track {
    crate::Track {
        track_id,
        detection: crate::Detection {
            class_id: 0,
            label: label.into(),
            score: 0.9,
            bbox: crate::BBox {
                x: (x - 0.01) as f32,
                y: (y - 0.04) as f32,
                width: 0.02,
                height: 0.04,
            },
            keypoints: vec![],
        },
        age_frames,
        lost_frames: 0,
    }
}
