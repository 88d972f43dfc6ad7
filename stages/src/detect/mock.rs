//! `backend = "mock"`: the deterministic colour detector of `edgeflow-backend-mock` as a
//! backend that decodes its own detections, at the frame's own size. It finds the
//! `test_pattern` source's rectangles, so pipelines, tests and benches run the whole detect
//! stage with known ground truth and no model.

use std::path::Path;

use edgeflow_backend::Backend;
use edgeflow_backend_mock::{MockBackend, PALETTE};
use edgeflow_core::{BuildCtx, BuildError, Invalid, StageInfo, Variant};

use super::{DetectBackend, DetectConfig, ModelFile};

/// The mock backend.
pub struct Mock;

impl DetectBackend for Mock {
    const NAME: &'static str = "mock";
    const RUNTIME: &'static str = "the mock backend";
    const INFO: StageInfo = StageInfo {
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
    const DEFAULT_SCORE_THRESHOLD: f32 = 0.5;
    const MODEL: ModelFile = ModelFile::None;

    /// `classes` must name palette colours.
    fn validate(cfg: &DetectConfig, inv: &mut Invalid) {
        let known: Vec<&str> = PALETTE.iter().map(|(l, _)| *l).collect();
        for c in cfg.classes.iter().flatten() {
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

    fn status() -> Result<String, String> {
        Ok("built in (deterministic, no runtime library)".to_string())
    }

    fn load(
        _cfg: &DetectConfig,
        _model: Option<&Path>,
        _ctx: &BuildCtx,
    ) -> Result<Box<dyn Backend>, BuildError> {
        Ok(Box::new(MockBackend::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{TestPattern, TestPatternConfig};
    use crate::detect::Detect;
    use edgeflow_backend_mock::MockDetector;
    use edgeflow_core::testing::{config_from_toml, run_source, run_transform};
    use edgeflow_core::{Frame, Meta, PixelFormat, StageError, Transform};

    type MockDetect = Detect<Mock>;

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
        let cfg: DetectConfig =
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

    /// Through the shared model path the mock gives exactly the colour detector's boxes,
    /// scores and order (what every test written against the old mock stage expects).
    #[test]
    fn the_model_path_gives_exactly_the_detectors_detections() {
        let cfg: DetectConfig = config_from_toml("score_threshold = 0.0").unwrap();
        let input = frames(40, 6);
        let out = run_transform::<MockDetect>(cfg, input.clone()).unwrap();
        let det = MockDetector::new();
        let mut seen = 0;
        for (frame, got) in input.iter().zip(&out) {
            let want = det.detect(frame).unwrap();
            assert_eq!(got.detections, want, "frame {}", frame.meta.seq);
            seen += want.len();
        }
        assert!(seen > 40, "the frames had objects ({seen})");
    }

    #[test]
    fn non_rgb_frame_is_a_transient_error() {
        let cfg: DetectConfig = config_from_toml("").unwrap();
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
        let cfg: DetectConfig = config_from_toml(
            "classes = [\"unicorn\"]\nscore_threshold = 2.0\nevery_nth_frame = 0\nmodel = \"m.onnx\"",
        )
        .unwrap();
        let err = MockDetect::validate(&cfg).unwrap_err();
        let fields: Vec<_> = err
            .problems
            .iter()
            .filter_map(|p| p.field.as_deref())
            .collect();
        assert_eq!(
            fields,
            ["model", "classes", "score_threshold", "every_nth_frame"]
        );
    }
}
