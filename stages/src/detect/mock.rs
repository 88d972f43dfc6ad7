//! `backend = "mock"`: the deterministic colour detector from `edgeflow-backend-mock`. It finds
//! the `test_pattern` source's rectangles, so pipelines, tests and benches run a real detect
//! stage with known ground truth and no model.

use edgeflow_backend_mock::{MockDetector, PALETTE};
use edgeflow_core::{
    BuildCtx, BuildError, Changed, Detections, Emit, Frame, Invalid, Reconfigure, Report,
    StageError, StageInfo, Transform, Variant,
};
use serde::Deserialize;

/// Registry entry.
pub const INFO: StageInfo = StageInfo {
    type_name: "detect",
    variant: Some(Variant {
        key: "backend",
        value: "mock",
    }),
    summary: "finds the test pattern's rectangles by colour (no model, deterministic)",
    example: r#"[stages.cam]
type = "capture"
source = "test_pattern"
count = 100

[stages.det]
type = "detect"
inputs = ["cam"]
backend = "mock"
classes = ["person", "car"]   # keep only these; leave out for all
score_threshold = 0.5         # visible fraction of the box
every_nth_frame = 1
queue = { capacity = 2, policy = "drop_oldest" }

[stages.out]
type = "publish"
inputs = ["det"]
sink = "jsonl"
"#,
};

fn default_threshold() -> f32 {
    0.5
}
fn one() -> u32 {
    1
}

/// Config of `backend = "mock"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MockDetectConfig {
    /// Keep only these class labels (default: all).
    #[serde(default)]
    pub classes: Option<Vec<String>>,
    /// Drop detections scoring below this (default 0.5).
    #[serde(default = "default_threshold")]
    pub score_threshold: f32,
    /// Analyse every n-th frame only (default 1: every frame).
    #[serde(default = "one")]
    pub every_nth_frame: u32,
}

/// The mock detect stage.
pub struct MockDetect {
    detector: MockDetector,
    keep: Vec<bool>,
    threshold: f32,
    every: u64,
}

impl Transform for MockDetect {
    type Config = MockDetectConfig;
    type In = Frame;
    type Out = Detections;

    fn validate(cfg: &Self::Config) -> Result<(), Invalid> {
        let mut inv = Invalid::new();
        if let Some(classes) = &cfg.classes {
            let known: Vec<&str> = PALETTE.iter().map(|(l, _)| *l).collect();
            for c in classes {
                if !known.contains(&c.as_str()) {
                    inv.field(
                        "classes",
                        format!("unknown class `{c}`"),
                        Some(format!(
                            "the mock backend knows: {}",
                            edgeflow_core::config::backticked(known.iter().copied())
                        )),
                    );
                }
            }
        }
        if !(0.0..=1.0).contains(&cfg.score_threshold) {
            inv.field(
                "score_threshold",
                format!("{} is not in 0..1", cfg.score_threshold),
                Some("use a value between 0 and 1".into()),
            );
        }
        if cfg.every_nth_frame == 0 {
            inv.field(
                "every_nth_frame",
                "0 would skip every frame",
                Some("use 1 to analyse every frame".into()),
            );
        }
        inv.into_result()
    }

    fn build(cfg: Self::Config, _ctx: &BuildCtx) -> Result<Self, BuildError> {
        Self::validate(&cfg).map_err(|e| BuildError::new(e.to_string()))?;
        let mut stage = MockDetect {
            detector: MockDetector::new(),
            keep: Vec::new(),
            threshold: 0.0,
            every: 1,
        };
        stage.apply(&cfg);
        Ok(stage)
    }

    /// Every field applies in place: there is no model to reload.
    fn reconfigure(
        &mut self,
        cfg: &MockDetectConfig,
        _changed: &Changed<'_>,
    ) -> Result<Reconfigure, BuildError> {
        self.apply(cfg);
        Ok(Reconfigure::Applied)
    }

    fn report(&self, report: &mut Report) {
        report
            .set("backend", "mock")
            .set("score_threshold", f64::from(self.threshold))
            .set("every_nth_frame", self.every);
    }

    fn process(&mut self, frame: Frame, out: &mut Emit<Detections>) -> Result<(), StageError> {
        if !frame.meta.seq.is_multiple_of(self.every) {
            out.push(Detections::skipped(&frame));
            return Ok(());
        }
        let found = self
            .detector
            .detect(&frame)
            .map_err(StageError::transient)?;
        out.push(Detections {
            frame_width: frame.width,
            frame_height: frame.height,
            detections: found
                .into_iter()
                .filter(|d| self.keep[d.class_id as usize] && d.score >= self.threshold)
                .collect(),
            skipped: false,
            meta: frame.meta,
        });
        Ok(())
    }
}

impl MockDetect {
    fn apply(&mut self, cfg: &MockDetectConfig) {
        self.keep = PALETTE
            .iter()
            .map(|(l, _)| {
                cfg.classes
                    .as_ref()
                    .is_none_or(|c| c.iter().any(|x| x == l))
            })
            .collect();
        self.threshold = cfg.score_threshold;
        self.every = u64::from(cfg.every_nth_frame);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{TestPattern, TestPatternConfig};
    use edgeflow_core::testing::{config_from_toml, run_source, run_transform};
    use edgeflow_core::{Meta, PixelFormat};

    fn frames(n: usize, objects: usize) -> Vec<Frame> {
        let cfg = TestPatternConfig {
            width: 128,
            height: 96,
            count: Some(n as u64),
            objects,
            ..Default::default()
        };
        run_source::<TestPattern>(cfg, n).unwrap()
    }

    #[test]
    fn filters_classes_and_skips_frames() {
        let cfg: MockDetectConfig =
            config_from_toml("classes = [\"car\"]\nevery_nth_frame = 2\nscore_threshold = 0.0")
                .unwrap();
        let out = run_transform::<MockDetect>(cfg, frames(6, 3)).unwrap();
        // Every frame comes out; the ones in between are marked as not analysed.
        let analysed: Vec<u64> = out
            .iter()
            .filter(|d| !d.skipped)
            .map(|d| d.meta.seq)
            .collect();
        assert_eq!(analysed, [0, 2, 4]);
        assert_eq!(out.len(), 6);
        assert!(
            out.iter()
                .filter(|d| d.skipped)
                .all(|d| d.detections.is_empty())
        );
        let found = out.iter().filter(|d| !d.skipped);
        assert!(
            found
                .clone()
                .all(|d| d.detections.iter().all(|x| &*x.label == "car"))
        );
        assert!(found.clone().all(|d| d.detections.len() == 1));
    }

    #[test]
    fn non_rgb_frame_is_a_transient_error() {
        let cfg: MockDetectConfig = config_from_toml("").unwrap();
        let f = Frame::packed(
            Meta::now("s".into(), 0, 0),
            2,
            2,
            PixelFormat::Gray,
            vec![0u8; 4].into(),
        )
        .unwrap();
        let err = run_transform::<MockDetect>(cfg, [f]).unwrap_err();
        assert!(
            matches!(
                err,
                edgeflow_core::testing::HarnessError::Stage(StageError::Transient(_))
            ),
            "{err}"
        );
    }

    #[test]
    fn validate_names_bad_fields() {
        let cfg: MockDetectConfig =
            config_from_toml("classes = [\"unicorn\"]\nscore_threshold = 2.0\nevery_nth_frame = 0")
                .unwrap();
        let err = MockDetect::validate(&cfg).unwrap_err();
        let fields: Vec<_> = err
            .problems
            .iter()
            .filter_map(|p| p.field.as_deref())
            .collect();
        assert_eq!(fields, ["classes", "score_threshold", "every_nth_frame"]);
    }
}
