//! `source = "replay"`: recorded detections back into the graph, as the `Detections` a detect
//! stage would emit: what edgeflow itself wrote (`publish sink = "jsonl"`, `detections` or
//! `tracks` events) or MOTChallenge `det.txt`. At the recorded pace (`realtime = true`) or
//! as fast as the graph takes them. Turning a field recording into a test, or tuning a
//! tracker and zones offline, starts here.

pub mod jsonl;
pub mod mot;

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use edgeflow_core::{
    BuildCtx, BuildError, Detections, Invalid, Source, SourceEvent, StageError, StageInfo,
    StopSignal, Variant,
};
use serde::Deserialize;

pub use jsonl::{FrameKind, JsonlReader};
pub use mot::{MotReplay, SeqInfo};

/// Registry entry.
pub const INFO: StageInfo = StageInfo {
    type_name: "capture",
    variant: Some(Variant {
        key: "source",
        value: "replay",
    }),
    summary: "recorded detections (edgeflow JSON lines or MOTChallenge det.txt) as Detections",
    example: r#"[stages.cam]
type = "capture"
source = "replay"
path = "pipelines/recordings/demo-detections.jsonl"   # `publish sink = "jsonl"` output, or a MOTChallenge det.txt
# format = "mot"             # auto (default): .txt is MOTChallenge, else JSON lines
# frame_size = [640, 480]    # det.txt only; else read from seqinfo.ini beside it
# fps = 25.0                 # det.txt only; likewise
realtime = false             # true: at the recorded pace

[stages.trk]
type = "track"
inputs = ["cam"]

[stages.out]
type = "publish"
inputs = ["trk"]
sink = "jsonl"
"#,
};

/// What the file holds.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ReplayFormat {
    /// `.txt` and `.csv` files are MOTChallenge, others JSON lines (default).
    #[default]
    Auto,
    /// edgeflow events, one JSON object per line.
    Jsonl,
    /// MOTChallenge detections: `frame,id,x,y,w,h,score,...`.
    Mot,
}

impl ReplayFormat {
    /// The format of `path` (`Auto` resolved by its extension).
    pub fn of(self, path: &Path) -> ReplayFormat {
        match self {
            ReplayFormat::Auto => {
                if path
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("txt") || e.eq_ignore_ascii_case("csv"))
                {
                    ReplayFormat::Mot
                } else {
                    ReplayFormat::Jsonl
                }
            }
            f => f,
        }
    }
}

fn person() -> String {
    "person".into()
}

/// Config of `source = "replay"`.
#[derive(Clone, Debug, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayConfig {
    /// The recording (relative paths: to the directory edgeflow runs in).
    pub path: PathBuf,
    /// `auto` (default), `jsonl` or `mot`.
    #[serde(default)]
    pub format: ReplayFormat,
    /// JSON lines: `detections` or `tracks` (default: the kind of the first frame event;
    /// events of the other kind are counted and left out).
    #[serde(default)]
    pub kind: Option<FrameKind>,
    /// MOTChallenge: frame size `[width, height]` in pixels (default: `seqinfo.ini`).
    #[serde(default)]
    pub frame_size: Option<[u32; 2]>,
    /// MOTChallenge: frame rate (default: `seqinfo.ini`).
    #[serde(default)]
    pub fps: Option<f64>,
    /// MOTChallenge: the label of every box (default `person`).
    #[serde(default = "person")]
    pub label: String,
    /// Pace messages at their recorded times (default false: as fast as the graph takes them).
    #[serde(default)]
    pub realtime: bool,
    /// Stream id of every message (default: JSON lines keep their recorded stream ids,
    /// MOTChallenge gets the stage id).
    #[serde(default)]
    pub stream_id: Option<String>,
}

/// The frame size and rate of a MOTChallenge file: from the config, else `seqinfo.ini`
/// (read only when the config lacks one of them).
fn mot_geometry(cfg: &ReplayConfig) -> Result<SeqInfo, String> {
    if let (Some([w, h]), Some(fps)) = (cfg.frame_size, cfg.fps) {
        return Ok(SeqInfo {
            frame_size: (w, h),
            fps,
            frames: None,
        });
    }
    let info = SeqInfo::beside(&cfg.path)
        .map_err(|e| e.to_string())?
        .map(|(_, i)| i);
    let size = cfg
        .frame_size
        .map(|[w, h]| (w, h))
        .or(info.map(|i| i.frame_size));
    let fps = cfg.fps.or(info.map(|i| i.fps));
    match (size, fps) {
        (Some(frame_size), Some(fps)) => Ok(SeqInfo {
            frame_size,
            fps,
            frames: info.and_then(|i| i.frames),
        }),
        _ => Err(format!(
            "{} has no frame size or rate and no seqinfo.ini is beside it",
            cfg.path.display()
        )),
    }
}

impl ReplayConfig {
    /// A config replaying `path` with every default.
    pub fn new(path: PathBuf) -> ReplayConfig {
        ReplayConfig {
            path,
            format: ReplayFormat::Auto,
            kind: None,
            frame_size: None,
            fps: None,
            label: person(),
            realtime: false,
            stream_id: None,
        }
    }

    /// A MOTChallenge file's frame size, rate and length: `frame_size` and `fps`, else its
    /// `seqinfo.ini`. The error says what is missing.
    pub fn mot_geometry(&self) -> Result<SeqInfo, String> {
        mot_geometry(self)
    }

    /// Every frame of the recording, in file order (`eval track`; the source streams JSON
    /// lines instead). `default_stream` names a MOTChallenge file's stream.
    pub fn read_all(&self, default_stream: &str) -> Result<Vec<Detections>, String> {
        let stream_id: Option<Arc<str>> = self.stream_id.as_deref().map(Into::into);
        match self.format.of(&self.path) {
            ReplayFormat::Mot => {
                let SeqInfo {
                    frame_size,
                    fps,
                    frames,
                } = mot_geometry(self)?;
                let how = MotReplay {
                    stream_id: stream_id.unwrap_or_else(|| default_stream.into()),
                    frame_size,
                    fps,
                    label: self.label.as_str().into(),
                    frames,
                };
                mot::read(&self.path, &how).map_err(|e| e.to_string())
            }
            _ => {
                let mut r = JsonlReader::open(&self.path, self.kind, stream_id)
                    .map_err(|e| e.to_string())?;
                let mut frames = Vec::new();
                while let Some(d) = r.next_frame().map_err(|e| e.to_string())? {
                    frames.push(d);
                }
                r.log_ignored();
                Ok(frames)
            }
        }
    }

    fn check(&self) -> Invalid {
        let mut inv = Invalid::new();
        if !self.path.is_file() {
            inv.field(
                "path",
                format!("{} is not a file", self.path.display()),
                Some(
                    "record one with `publish sink = \"jsonl\"`; relative paths are relative to \
                     the directory edgeflow runs in"
                        .into(),
                ),
            );
            return inv;
        }
        if let Some(fps) = self.fps
            && !(fps.is_finite() && fps > 0.0 && fps <= 1000.0)
        {
            inv.field(
                "fps",
                format!("{fps} is not a usable frame rate"),
                Some("`fps` must be above 0 and at most 1000".into()),
            );
        }
        if let Some([w, h]) = self.frame_size
            && (w == 0 || h == 0)
        {
            inv.field(
                "frame_size",
                format!("[{w}, {h}] has no area"),
                Some("e.g. `frame_size = [1920, 1080]`".into()),
            );
        }
        match self.format.of(&self.path) {
            ReplayFormat::Mot => {
                if self.kind.is_some() {
                    inv.field(
                        "kind",
                        "is for JSON lines; a MOTChallenge file holds detections only",
                        Some("leave `kind` out".into()),
                    );
                }
                if let Err(e) = mot_geometry(self) {
                    inv.field(
                        "frame_size",
                        e,
                        Some("set `frame_size = [W, H]` and `fps` (MOTChallenge det.txt carries neither)".into()),
                    );
                }
            }
            _ => {
                for (field, set) in [
                    ("frame_size", self.frame_size.is_some()),
                    ("fps", self.fps.is_some()),
                ] {
                    if set {
                        inv.field(
                            field,
                            "is for MOTChallenge files; JSON lines carry their frame size and times",
                            Some(format!("leave `{field}` out, or set `format = \"mot\"`")),
                        );
                    }
                }
            }
        }
        inv
    }
}

enum Reader {
    Mot(VecDeque<Detections>),
    Jsonl(Box<JsonlReader>),
}

/// The `replay` source.
pub struct ReplaySource {
    reader: Reader,
    /// The next frame, read ahead of its time (`realtime`).
    pending: Option<Detections>,
    realtime: bool,
    pace: super::pace::Pacer,
    clock: Clock,
    stop: StopSignal,
}

/// When each frame is due, for `realtime`: a stream's frames by their `pts_ns` (immune to
/// wall-clock steps on the recording board), streams placed against each other by the
/// recorded time of their first frames.
#[derive(Default)]
struct Clock {
    first_timestamp: Option<SystemTime>,
    streams: HashMap<Arc<str>, (u64, u64)>,
    /// MOTChallenge: the wall time frame 1 is stamped with (the first emit).
    start: Option<SystemTime>,
}

impl Clock {
    fn due_ns(&mut self, meta: &edgeflow_core::Meta) -> u64 {
        let first = *self.first_timestamp.get_or_insert(meta.timestamp);
        let (first_pts, offset) =
            *self
                .streams
                .entry(meta.stream_id.clone())
                .or_insert_with(|| {
                    let offset = meta.timestamp.duration_since(first).unwrap_or_default();
                    (meta.pts_ns, offset.as_nanos() as u64)
                });
        offset.saturating_add(meta.pts_ns.saturating_sub(first_pts))
    }
}

impl Source for ReplaySource {
    type Config = ReplayConfig;
    type Out = Detections;

    fn validate(cfg: &ReplayConfig) -> Result<(), Invalid> {
        cfg.check().into_result()
    }

    fn build(cfg: ReplayConfig, ctx: &BuildCtx) -> Result<Self, BuildError> {
        Self::validate(&cfg).map_err(|e| BuildError::new(e.to_string()))?;
        let stream_id: Option<Arc<str>> = cfg.stream_id.as_deref().map(Into::into);
        let reader = match cfg.format.of(&cfg.path) {
            ReplayFormat::Mot => {
                let frames = cfg
                    .read_all(&ctx.stage_id)
                    .map_err(|e| BuildError::new(e).at("path"))?;
                tracing::info!(path = %cfg.path.display(), frames = frames.len(), "replaying MOTChallenge detections");
                Reader::Mot(frames.into())
            }
            _ => Reader::Jsonl(Box::new(
                JsonlReader::open(&cfg.path, cfg.kind, stream_id)
                    .map_err(|e| BuildError::new(e.to_string()).at("path"))?,
            )),
        };
        Ok(ReplaySource {
            reader,
            pending: None,
            realtime: cfg.realtime,
            pace: super::pace::Pacer::default(),
            clock: Clock::default(),
            stop: ctx.stop.clone(),
        })
    }

    fn next(&mut self) -> Result<Option<Detections>, StageError> {
        let stop = self.stop.clone();
        super::next_item(&stop, || self.next_event())
    }

    fn next_event(&mut self) -> Result<SourceEvent<Detections>, StageError> {
        // The next frame is read ahead and held until it is due.
        if self.pending.is_none() {
            self.pending = match &mut self.reader {
                Reader::Mot(q) => q.pop_front(),
                Reader::Jsonl(r) => {
                    let next = r.next_frame().map_err(StageError::fatal)?;
                    if next.is_none() {
                        r.log_ignored();
                    }
                    next
                }
            };
        }
        let Some(d) = &self.pending else {
            return Ok(SourceEvent::End);
        };
        if self.realtime && !self.pace.due(self.clock.due_ns(&d.meta)) {
            return Ok(SourceEvent::Idle);
        }
        let Some(mut d) = self.pending.take() else {
            return Ok(SourceEvent::End);
        };
        // Stamped as entering the pipeline now; a MOTChallenge frame, which has no recorded
        // time, at the start plus its pts.
        let now = Instant::now();
        d.meta.captured_at = now;
        d.meta.queued_at = now;
        if matches!(self.reader, Reader::Mot(_)) {
            let start = *self.clock.start.get_or_insert_with(SystemTime::now);
            d.meta.timestamp = start + Duration::from_nanos(d.meta.pts_ns);
        }
        Ok(SourceEvent::Item(d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeflow_core::Meta;

    #[test]
    fn realtime_paces_each_stream_by_pts_from_its_first_frames_time() {
        let mut c = Clock::default();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let meta = |stream: &str, pts_ns: u64, at: SystemTime| {
            let mut m = Meta::now(stream.into(), 0, pts_ns);
            m.timestamp = at;
            m
        };
        assert_eq!(c.due_ns(&meta("a", 5_000, t0)), 0);
        // Stream b starts 2 s later on the wall clock, its pts from 0.
        assert_eq!(
            c.due_ns(&meta("b", 0, t0 + Duration::from_secs(2))),
            2_000_000_000
        );
        // A wall-clock step on the board later on does not matter: pts does.
        let stepped = t0 + Duration::from_secs(3_600);
        assert_eq!(c.due_ns(&meta("a", 1_000_005_000, stepped)), 1_000_000_000);
        assert_eq!(c.due_ns(&meta("b", 40_000_000, stepped)), 2_040_000_000);
    }

    #[test]
    fn a_realtime_replay_takes_the_recorded_time_and_a_fast_one_gives_the_same_frames() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("det.txt");
        std::fs::write(&path, "1,-1,1,1,5,5,0.9\n5,-1,2,2,5,5,0.9\n").unwrap();
        let run = |realtime: bool| {
            let cfg = ReplayConfig {
                frame_size: Some([100, 100]),
                fps: Some(10.0),
                realtime,
                ..ReplayConfig::new(path.clone())
            };
            let mut s = ReplaySource::build(cfg, &BuildCtx::for_stage("cam")).unwrap();
            let started = Instant::now();
            let mut frames = Vec::new();
            while let Some(d) = s.next().unwrap() {
                frames.push((
                    d.meta.seq,
                    d.meta.pts_ns,
                    d.detections.len(),
                    d.meta.timestamp,
                ));
            }
            (frames, started.elapsed())
        };
        let (paced, took) = run(true);
        // Frames 1..5 at 10 fps: the last is due 0.4 s after the first.
        assert!(took >= Duration::from_millis(390), "{took:?}");
        let (fast, _) = run(false);
        let strip = |v: &[(u64, u64, usize, SystemTime)]| {
            v.iter().map(|f| (f.0, f.1, f.2)).collect::<Vec<_>>()
        };
        assert_eq!(strip(&paced), strip(&fast));
        assert_eq!(strip(&fast).len(), 5);
        // Stamped at the start plus the pts.
        let gap = fast[4].3.duration_since(fast[0].3).unwrap();
        assert_eq!(gap, Duration::from_millis(400));
    }

    #[test]
    fn config_mistakes_name_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let (txt, jsonl) = (dir.path().join("det.txt"), dir.path().join("rec.jsonl"));
        std::fs::write(&txt, "1,-1,1,1,5,5,0.9\n").unwrap();
        std::fs::write(&jsonl, "").unwrap();
        let problems = |cfg: ReplayConfig| ReplaySource::validate(&cfg).unwrap_err().to_string();
        let missing = problems(ReplayConfig::new(dir.path().join("nope.jsonl")));
        assert!(
            missing.contains("path") && missing.contains("is not a file"),
            "{missing}"
        );
        let e = problems(ReplayConfig {
            frame_size: Some([640, 480]),
            fps: Some(25.0),
            ..ReplayConfig::new(jsonl.clone())
        });
        assert!(
            e.contains("frame_size") && e.contains("fps") && e.contains("JSON lines carry"),
            "{e}"
        );
        let e = problems(ReplayConfig {
            kind: Some(FrameKind::Tracks),
            frame_size: Some([0, 480]),
            fps: Some(0.0),
            ..ReplayConfig::new(txt.clone())
        });
        for want in ["kind", "has no area", "not a usable frame rate"] {
            assert!(e.contains(want), "wants {want}: {e}");
        }
        let e = problems(ReplayConfig::new(txt.clone()));
        assert!(e.contains("no seqinfo.ini is beside it"), "{e}");
        assert!(
            ReplaySource::validate(&ReplayConfig {
                frame_size: Some([640, 480]),
                fps: Some(25.0),
                ..ReplayConfig::new(txt)
            })
            .is_ok()
        );
    }
}
