//! `source = "file"`: any container and codec GStreamer reads. Decodes inside the capture
//! pipeline by default (`output = "frames"`), or hands parsed, still encoded packets to a
//! `decode` stage (`output = "packets"`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use edgeflow_core::{
    BuildCtx, BuildError, Invalid, Message, Meta, PortKind, Source, SourceEvent, StageError,
    StageInfo, StopSignal, Variant,
};
use serde::Deserialize;

use crate::media::{self, DecoderChoice, FrameOpts, Head, OutputFormat, Pulled, Running};

/// Registry entry.
pub const INFO: StageInfo = StageInfo {
    type_name: "capture",
    variant: Some(Variant {
        key: "source",
        value: "file",
    }),
    summary: "a video file, any container and codec GStreamer reads (frames, or packets for `decode`)",
    example: r#"[stages.cam]
type = "capture"
source = "file"
path = "assets/media/vtest.avi"
loop = false        # true: start again at the end
realtime = false    # true: pace at the file's frame rate, like a camera
fps = 5.0           # keep at most 5 frames a second (dropped before conversion)
format = "rgb"      # rgb, bgr, nv12, i420, gray
decoder = "auto"    # or a GStreamer element, e.g. "avdec_h264"

[stages.out]
type = "publish"
inputs = ["cam"]
sink = "jsonl"
"#,
};

/// What the file source emits.
#[derive(
    Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Output {
    /// Decoded frames.
    #[default]
    Frames,
    /// Encoded packets, for a `decode` stage.
    Packets,
}

fn auto() -> String {
    "auto".to_string()
}

/// Config of `source = "file"`.
#[derive(Clone, Debug, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The video file (relative to the working directory).
    pub path: String,
    /// Start again at the end.
    #[serde(default, rename = "loop")]
    pub looping: bool,
    /// Pace at the file's frame rate, like a camera.
    #[serde(default)]
    pub realtime: bool,
    /// Keep at most this many frames per second.
    #[serde(default)]
    pub fps: Option<f64>,
    /// Output pixel format (frames only).
    #[serde(default)]
    pub format: OutputFormat,
    /// `auto` or a GStreamer decoder element (frames only).
    #[serde(default = "auto")]
    pub decoder: String,
    /// `frames` (default) or `packets`.
    #[serde(default)]
    pub output: Output,
    /// Stream id (default: the stage id).
    #[serde(default)]
    pub stream_id: Option<String>,
}

/// Checks shared by the sources that sample frames.
pub(crate) fn check_fps(inv: &mut Invalid, fps: Option<f64>) {
    if let Some(f) = fps
        && !(f.is_finite() && f > 0.0 && f <= 1000.0)
    {
        inv.field(
            "fps",
            format!("{f} is not a usable frame rate"),
            Some("`fps` must be above 0 and at most 1000".into()),
        );
    }
}

/// The file source.
pub struct FileSource {
    running: Running,
    output: Output,
    format: OutputFormat,
    looping: bool,
    stream: Arc<str>,
    seq: u64,
    pts_base: u64,
    last_pts: u64,
    stop: StopSignal,
    ended: bool,
    path: PathBuf,
}

impl FileSource {
    /// At the end of a file: whether it was cut short (its container declares more than it
    /// has, or it ended well before the duration it declares), as the error to count.
    fn cut_short(&self) -> Option<String> {
        let ended = format!(
            "{} ended after {} frames ({:.1} s)",
            self.path.display(),
            self.seq,
            self.last_pts.saturating_sub(self.pts_base) as f64 / 1e9
        );
        if let Some(why) = media::cut_short(&self.path) {
            return Some(format!("{ended}: the file is cut short ({why})"));
        }
        let declared = self.running.duration_ns()?;
        let reached = self.last_pts.saturating_sub(self.pts_base);
        let missing = declared.saturating_sub(reached);
        // A frame or two short is rounding; a tenth of the file and a second is damage.
        (missing > declared / 10 && missing > 1_000_000_000).then(|| {
            format!(
                "{ended} of the {:.1} s its container declares: the file is cut short or damaged",
                declared as f64 / 1e9
            )
        })
    }
}

impl Source for FileSource {
    type Config = FileConfig;
    type Out = Message;

    fn output_kind(cfg: &FileConfig) -> PortKind {
        match cfg.output {
            Output::Frames => PortKind::Frame,
            Output::Packets => PortKind::Packet,
        }
    }

    fn validate(cfg: &FileConfig) -> Result<(), Invalid> {
        let mut inv = Invalid::new();
        if cfg.path.trim().is_empty() {
            inv.field(
                "path",
                "the path is empty",
                Some("name a video file".into()),
            );
        }
        check_fps(&mut inv, cfg.fps);
        if cfg.output == Output::Packets {
            let help =
                Some("with `output = \"packets\"` set this on the `decode` stage".to_string());
            if cfg.fps.is_some() {
                inv.field(
                    "fps",
                    "packets cannot be sampled before decoding",
                    help.clone(),
                );
            }
            if cfg.decoder != "auto" {
                inv.field("decoder", "packets are not decoded here", help.clone());
            }
            if cfg.format != OutputFormat::Rgb {
                inv.field("format", "packets have no pixel format", help);
            }
        }
        inv.into_result()
    }

    fn build(cfg: FileConfig, ctx: &BuildCtx) -> Result<Self, BuildError> {
        let path = PathBuf::from(&cfg.path);
        if !path.is_file() {
            return Err(BuildError::new(format!("no such video file: {}", path.display())).with_help(format!(
                "check `path`; relative paths are relative to the directory edgeflow runs in ({})",
                std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default()
            )).at("path"));
        }
        let abs = std::fs::canonicalize(&path)
            .map_err(|e| BuildError::new(format!("cannot open {}: {e}", path.display())))?;
        let running = match cfg.output {
            Output::Frames => {
                media::init()?;
                let uri = gstreamer::glib::filename_to_uri(&abs, None).map_err(|e| {
                    BuildError::new(format!("cannot make a URI of {}: {e}", abs.display()))
                })?;
                let opts = FrameOpts {
                    format: cfg.format,
                    sample_fps: cfg.fps,
                    decoder: DecoderChoice::parse(&cfg.decoder),
                    sync: cfg.realtime,
                    leaky: false,
                    wait_key_frame: false,
                };
                Running::frames(
                    Head::Uri {
                        uri: uri.to_string(),
                        setup: None,
                    },
                    &opts,
                )?
            }
            Output::Packets => Running::packets(&abs, cfg.realtime)?,
        };
        // Preroll: an unreadable file or a missing decoder fails here, naming the fix.
        running.preroll(Duration::from_secs(20)).map_err(|e| {
            BuildError::from(crate::media::MediaError {
                message: format!("cannot play {}: {}", path.display(), e.message),
                help: e.help,
            })
        })?;
        match (cfg.output, running.decoder()) {
            (Output::Frames, Some(d)) => ctx.note(format!("decoder {d} for {}", path.display())),
            (Output::Packets, _) => ctx.note(format!("packets from {}", path.display())),
            _ => {}
        }
        Ok(FileSource {
            running,
            output: cfg.output,
            format: cfg.format,
            looping: cfg.looping,
            stream: cfg.stream_id.as_deref().unwrap_or(&ctx.stage_id).into(),
            seq: 0,
            pts_base: 0,
            last_pts: 0,
            stop: ctx.stop.clone(),
            ended: false,
            path,
        })
    }

    fn next(&mut self) -> Result<Option<Message>, StageError> {
        let stop = self.stop.clone();
        super::next_item(&stop, || self.next_event())
    }

    fn next_event(&mut self) -> Result<SourceEvent<Message>, StageError> {
        loop {
            if self.ended || self.stop.is_stopped() {
                return Ok(SourceEvent::End);
            }
            match self.running.pull(media::PULL_TIMEOUT) {
                // Back to the runtime, which answers commands between two pulls.
                Pulled::Timeout => return Ok(SourceEvent::Idle),
                Pulled::Eos if self.looping && self.seq > 0 => {
                    self.running.rewind().map_err(|e| e.into_stage(false))?;
                    self.pts_base = self.last_pts + 1;
                    tracing::debug!(file = %self.path.display(), "looping");
                }
                Pulled::Eos => {
                    self.ended = true;
                    if let Some(short) = self.cut_short() {
                        return Err(StageError::transient(short));
                    }
                    return Ok(SourceEvent::End);
                }
                Pulled::Error(e) => {
                    // A damaged file: what was decoded has gone out; count this and end the
                    // stream (other streams go on).
                    self.ended = true;
                    return Err(StageError::transient(format!(
                        "{} ended early after {} frames: {e}",
                        self.path.display(),
                        self.seq
                    )));
                }
                Pulled::Sample(sample) => {
                    let pts =
                        self.pts_base + media::sample_pts_ns(&sample).unwrap_or(self.last_pts);
                    self.last_pts = pts;
                    let meta = Meta::now(self.stream.clone(), self.seq, pts);
                    let msg = match self.output {
                        Output::Frames => {
                            media::sample_to_frame(&sample, meta, self.format.pixel_format())
                                .map(Message::Frame)
                        }
                        Output::Packets => {
                            media::sample_to_packet(&sample, meta).map(Message::Packet)
                        }
                    };
                    match msg {
                        Ok(m) => {
                            self.seq += 1;
                            return Ok(SourceEvent::Item(m));
                        }
                        Err(e) => return Err(e.into_stage(false)),
                    }
                }
            }
        }
    }
}
