//! `source = "test_pattern"`: deterministic synthetic frames with moving rectangles, for tests
//! and benchmarks. The same config always gives the same pixels; [`TestPattern::boxes_at`]
//! gives the ground-truth box of every object in any frame.

use std::sync::Arc;

use edgeflow_backend_mock::PALETTE;
use edgeflow_core::{
    BBox, BuildCtx, BuildError, Frame, Invalid, Meta, PixelFormat, Source, SourceEvent, StageError,
    StageInfo, StopSignal, Variant,
};
use serde::Deserialize;

/// Registry entry.
pub const INFO: StageInfo = StageInfo {
    type_name: "capture",
    variant: Some(Variant {
        key: "source",
        value: "test_pattern",
    }),
    summary: "synthetic frames with moving coloured rectangles (deterministic; tests, benches)",
    example: r#"[stages.cam]
type = "capture"
source = "test_pattern"
width = 640
height = 480
fps = 30.0
count = 300        # frames; leave out for an endless stream
objects = 3        # moving rectangles, 1 to 6
realtime = false   # true: pace frames at `fps` like a camera

[stages.out]
type = "publish"
inputs = ["cam"]
sink = "jsonl"
"#,
};

fn default_width() -> u32 {
    640
}
fn default_height() -> u32 {
    480
}
fn default_fps() -> f64 {
    30.0
}
fn default_objects() -> usize {
    3
}
fn default_format() -> PixelFormat {
    PixelFormat::Rgb
}

/// Config of `source = "test_pattern"`.
#[derive(Clone, Debug, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestPatternConfig {
    /// Frame width in pixels (default 640).
    #[serde(default = "default_width")]
    pub width: u32,
    /// Frame height in pixels (default 480).
    #[serde(default = "default_height")]
    pub height: u32,
    /// Frame rate for timestamps and `realtime` pacing (default 30).
    #[serde(default = "default_fps")]
    pub fps: f64,
    /// Number of frames; endless when absent.
    #[serde(default)]
    pub count: Option<u64>,
    /// Number of moving rectangles, 1 to 6 (default 3).
    #[serde(default = "default_objects")]
    pub objects: usize,
    /// Pace output at `fps` like a live camera (default false: as fast as possible).
    #[serde(default)]
    pub realtime: bool,
    /// Pixel format: `rgb` (default), `bgr` or `gray`.
    #[serde(default = "default_format")]
    pub format: PixelFormat,
    /// Stream id on every frame (default: the stage id).
    #[serde(default)]
    pub stream_id: Option<String>,
    /// Changes starting positions and speeds (default 0).
    #[serde(default)]
    pub seed: u64,
}

impl Default for TestPatternConfig {
    fn default() -> Self {
        TestPatternConfig {
            width: default_width(),
            height: default_height(),
            fps: default_fps(),
            count: None,
            objects: default_objects(),
            realtime: false,
            format: default_format(),
            stream_id: None,
            seed: 0,
        }
    }
}

const BACKGROUND: u8 = 24;

/// One object's path: start and velocity in pixels per frame, bouncing off the edges.
#[derive(Clone, Copy, Debug)]
struct Mover {
    w: u32,
    h: u32,
    x0: i64,
    y0: i64,
    vx: i64,
    vy: i64,
}

/// Position on a segment of length `range`, bouncing at both ends (a triangle wave).
fn bounce(p: i64, range: i64) -> i64 {
    if range <= 0 {
        return 0;
    }
    let period = 2 * range;
    let m = p.rem_euclid(period);
    if m <= range { m } else { period - m }
}

fn movers(cfg: &TestPatternConfig) -> Vec<Mover> {
    // A small LCG: deterministic, no dependency, good enough to scatter rectangles.
    let mut state = cfg
        .seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move |n: u64| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % n.max(1)
    };
    (0..cfg.objects.min(PALETTE.len()))
        .map(|_| {
            let w = (cfg.width / 10 + next(u64::from(cfg.width / 10 + 1)) as u32).max(1);
            let h = (cfg.height / 5 + next(u64::from(cfg.height / 6 + 1)) as u32).max(1);
            let speed = |n: u64| (n as i64 % 9) - 4;
            let mut vx = speed(next(9));
            if vx == 0 {
                vx = 3;
            }
            Mover {
                w: w.min(cfg.width),
                h: h.min(cfg.height),
                x0: next(u64::from(cfg.width)) as i64,
                y0: next(u64::from(cfg.height)) as i64,
                vx,
                vy: speed(next(9)),
            }
        })
        .collect()
}

impl Mover {
    fn at(&self, seq: u64, width: u32, height: u32) -> (u32, u32) {
        let n = seq as i64;
        let x = bounce(self.x0 + self.vx * n, i64::from(width - self.w));
        let y = bounce(self.y0 + self.vy * n, i64::from(height - self.h));
        (x as u32, y as u32)
    }
}

/// The `test_pattern` source.
pub struct TestPattern {
    cfg: TestPatternConfig,
    stream_id: Arc<str>,
    movers: Vec<Mover>,
    seq: u64,
    pace: super::pace::Pacer,
    stop: StopSignal,
}

impl TestPattern {
    /// The ground truth of frame `seq`: class id and full box (occluded or not) of every
    /// object, drawn in this order (later ones cover earlier ones).
    pub fn boxes_at(cfg: &TestPatternConfig, seq: u64) -> Vec<(u32, BBox)> {
        let (fw, fh) = (cfg.width as f32, cfg.height as f32);
        movers(cfg)
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let (x, y) = m.at(seq, cfg.width, cfg.height);
                (
                    i as u32,
                    BBox {
                        x: x as f32 / fw,
                        y: y as f32 / fh,
                        width: m.w as f32 / fw,
                        height: m.h as f32 / fh,
                    },
                )
            })
            .collect()
    }

    fn render(&self, seq: u64) -> Vec<u8> {
        let (w, h) = (self.cfg.width as usize, self.cfg.height as usize);
        let bpp = if self.cfg.format == PixelFormat::Gray {
            1
        } else {
            3
        };
        let mut data = vec![BACKGROUND; w * h * bpp];
        for (i, m) in self.movers.iter().enumerate() {
            let (x, y) = m.at(seq, self.cfg.width, self.cfg.height);
            let rgb = PALETTE[i].1;
            let px: Vec<u8> = match self.cfg.format {
                PixelFormat::Bgr => vec![rgb[2], rgb[1], rgb[0]],
                PixelFormat::Gray => vec![
                    ((rgb[0] as u32 * 77 + rgb[1] as u32 * 150 + rgb[2] as u32 * 29) >> 8) as u8,
                ],
                _ => rgb.to_vec(),
            };
            let (x, y, mw, mh) = (x as usize, y as usize, m.w as usize, m.h as usize);
            for row in y..(y + mh).min(h) {
                let start = (row * w + x) * bpp;
                let end = (row * w + (x + mw).min(w)) * bpp;
                for chunk in data[start..end].chunks_exact_mut(bpp) {
                    chunk.copy_from_slice(&px);
                }
            }
        }
        data
    }
}

impl Source for TestPattern {
    type Config = TestPatternConfig;
    type Out = Frame;

    fn expected_len(cfg: &Self::Config) -> Option<u64> {
        cfg.count
    }

    fn validate(cfg: &Self::Config) -> Result<(), Invalid> {
        let mut inv = Invalid::new();
        for (field, v) in [("width", cfg.width), ("height", cfg.height)] {
            if !(16..=8192).contains(&v) {
                inv.field(
                    field,
                    format!("{v} is out of range"),
                    Some(format!("`{field}` must be between 16 and 8192 pixels")),
                );
            }
        }
        if !(cfg.fps.is_finite() && cfg.fps > 0.0 && cfg.fps <= 1000.0) {
            inv.field(
                "fps",
                format!("{} is not a usable frame rate", cfg.fps),
                Some("`fps` must be above 0 and at most 1000".into()),
            );
        }
        if !(1..=PALETTE.len()).contains(&cfg.objects) {
            inv.field(
                "objects",
                format!("{} objects", cfg.objects),
                Some(format!("`objects` must be between 1 and {}", PALETTE.len())),
            );
        }
        if !matches!(
            cfg.format,
            PixelFormat::Rgb | PixelFormat::Bgr | PixelFormat::Gray
        ) {
            inv.field(
                "format",
                format!("{:?} is not drawn by the test pattern", cfg.format),
                Some("use `rgb`, `bgr` or `gray`".into()),
            );
        }
        inv.into_result()
    }

    fn build(cfg: Self::Config, ctx: &BuildCtx) -> Result<Self, BuildError> {
        Self::validate(&cfg).map_err(|e| BuildError::new(e.to_string()))?;
        Ok(TestPattern {
            stream_id: cfg.stream_id.as_deref().unwrap_or(&ctx.stage_id).into(),
            movers: movers(&cfg),
            cfg,
            seq: 0,
            pace: super::pace::Pacer::default(),
            stop: ctx.stop.clone(),
        })
    }

    fn next(&mut self) -> Result<Option<Frame>, StageError> {
        let stop = self.stop.clone();
        super::next_item(&stop, || self.next_event())
    }

    fn next_event(&mut self) -> Result<SourceEvent<Frame>, StageError> {
        if self.cfg.count.is_some_and(|c| self.seq >= c) {
            return Ok(SourceEvent::End);
        }
        let seq = self.seq;
        let pts_ns = (seq as f64 * 1e9 / self.cfg.fps) as u64;
        if self.cfg.realtime && !self.pace.due(pts_ns) {
            return Ok(SourceEvent::Idle);
        }
        let data = self.render(seq);
        let frame = Frame::packed(
            Meta::now(self.stream_id.clone(), seq, pts_ns),
            self.cfg.width,
            self.cfg.height,
            self.cfg.format,
            data.into(),
        )
        .map_err(StageError::fatal)?;
        self.seq += 1;
        Ok(SourceEvent::Item(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeflow_backend_mock::MockDetector;
    use edgeflow_core::testing::run_source;

    fn cfg() -> TestPatternConfig {
        TestPatternConfig {
            width: 160,
            height: 120,
            count: Some(40),
            objects: 1,
            ..Default::default()
        }
    }

    #[test]
    fn deterministic_count_and_timestamps() {
        let a = run_source::<TestPattern>(cfg(), 100).unwrap();
        let b = run_source::<TestPattern>(cfg(), 100).unwrap();
        assert_eq!(a.len(), 40);
        assert_eq!(a[3].data(), b[3].data());
        assert_eq!(a[30].meta.seq, 30);
        assert_eq!(a[30].meta.pts_ns, 1_000_000_000);
        assert_eq!(&*a[0].meta.stream_id, "test");
        assert_ne!(a[0].data(), a[1].data(), "objects move");
    }

    #[test]
    fn ground_truth_matches_pixels() {
        let frames = run_source::<TestPattern>(cfg(), 100).unwrap();
        let det = MockDetector::new();
        for f in &frames {
            let found = det.detect(f).unwrap();
            let truth = TestPattern::boxes_at(&cfg(), f.meta.seq);
            assert_eq!(found.len(), 1);
            assert!(
                found[0].bbox.iou(&truth[0].1) > 0.99,
                "{:?} vs {:?}",
                found[0].bbox,
                truth[0].1
            );
        }
    }

    #[test]
    fn validate_reports_every_bad_field() {
        let bad = TestPatternConfig {
            width: 4,
            fps: 0.0,
            objects: 9,
            ..Default::default()
        };
        let err = TestPattern::validate(&bad).unwrap_err();
        let fields: Vec<_> = err
            .problems
            .iter()
            .filter_map(|p| p.field.as_deref())
            .collect();
        assert_eq!(fields, ["width", "fps", "objects"]);
    }

    #[test]
    fn realtime_source_stops_on_request() {
        let ctx = BuildCtx::for_stage("cam");
        let mut tp = TestPattern::build(
            TestPatternConfig {
                fps: 0.5,
                realtime: true,
                ..cfg()
            },
            &ctx,
        )
        .unwrap();
        assert!(tp.next().unwrap().is_some()); // frame 0 is due at once
        ctx.stop.stop();
        assert!(tp.next().unwrap().is_none()); // frame 1 would be due in 2 s
    }

    #[test]
    fn bounce_stays_in_range() {
        for p in -50..50 {
            assert!((0..=10).contains(&bounce(p, 10)));
        }
        assert_eq!(bounce(12, 10), 8);
        assert_eq!(bounce(5, 0), 0);
    }
}
