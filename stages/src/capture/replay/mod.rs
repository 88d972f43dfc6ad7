//! `source = "replay"`: recorded detections back into the graph, as the `Detections` a detect
//! stage would emit: what edgeflow itself wrote (`publish sink = "jsonl"`, `detections` or
//! `tracks` events) or MOTChallenge `det.txt`. At the recorded pace (`realtime = true`) or
//! as fast as the graph takes them. Turning a field recording into a test, or tuning a
//! tracker and zones offline, starts here.

pub mod jsonl;
pub mod mot;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

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
    /// `.txt` files are MOTChallenge, others JSON lines (default).
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

/// The frame size and rate of a MOTChallenge file: from the config, else `seqinfo.ini`.
fn mot_geometry(cfg: &ReplayConfig) -> Result<SeqInfo, String> {
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
    realtime: bool,
    pace: super::pace::Pacer,
    first_timestamp: Option<SystemTime>,
    path: PathBuf,
    stop: StopSignal,
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
                let SeqInfo {
                    frame_size,
                    fps,
                    frames,
                } = mot_geometry(&cfg).map_err(BuildError::new)?;
                let how = MotReplay {
                    stream_id: stream_id.unwrap_or_else(|| ctx.stage_id.clone()),
                    frame_size,
                    fps,
                    label: cfg.label.as_str().into(),
                    frames,
                };
                let frames = mot::read(&cfg.path, &how)
                    .map_err(|e| BuildError::new(e.to_string()).at("path"))?;
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
            realtime: cfg.realtime,
            pace: super::pace::Pacer::default(),
            first_timestamp: None,
            path: cfg.path,
            stop: ctx.stop.clone(),
        })
    }

    fn next(&mut self) -> Result<Option<Detections>, StageError> {
        let stop = self.stop.clone();
        super::next_item(&stop, || self.next_event())
    }

    fn next_event(&mut self) -> Result<SourceEvent<Detections>, StageError> {
        // Look at the next frame without taking it, so pacing can wait for it.
        let due_ns = match &mut self.reader {
            Reader::Mot(q) => match q.front() {
                Some(d) => d.meta.pts_ns,
                None => return Ok(SourceEvent::End),
            },
            Reader::Jsonl(r) => {
                if r.peeked().is_none() {
                    match r.next_frame().map_err(StageError::fatal)? {
                        Some(d) => r.put_back(d),
                        None => {
                            if !r.ignored.is_empty() {
                                tracing::info!(path = %self.path.display(), frames = r.frames, ignored = ?r.ignored, "replay: events of other kinds were read and not replayed");
                            }
                            return Ok(SourceEvent::End);
                        }
                    }
                }
                let Some(d) = r.peeked() else {
                    return Ok(SourceEvent::End);
                };
                let first = *self.first_timestamp.get_or_insert(d.meta.timestamp);
                JsonlReader::since(first, &d.meta).as_nanos() as u64
            }
        };
        if self.realtime && !self.pace.due(due_ns) {
            return Ok(SourceEvent::Idle);
        }
        let item = match &mut self.reader {
            Reader::Mot(q) => q.pop_front(),
            Reader::Jsonl(r) => r.take_peeked(),
        };
        Ok(item.map_or(SourceEvent::End, SourceEvent::Item))
    }
}
