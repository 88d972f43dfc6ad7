//! `source = "v4l2"`: a USB or CSI camera through Video4Linux2, raw or MJPEG.
//!
//! The camera's own encoding is `camera_format` (not `format`, which is the pixel format
//! delivered downstream on every media source).

use std::path::Path;
use std::sync::Arc;

use edgeflow_core::{
    BuildCtx, BuildError, Frame, Invalid, Meta, Source, SourceEvent, StageError, StageInfo,
    StopSignal, Variant,
};
use gstreamer as gst;
use serde::Deserialize;

use crate::capture::file::check_fps;
use crate::media::{self, DecoderChoice, FrameOpts, Head, OutputFormat, Pulled, Running};

/// Registry entry.
pub const INFO: StageInfo = StageInfo {
    type_name: "capture",
    variant: Some(Variant {
        key: "source",
        value: "v4l2",
    }),
    summary: "a V4L2 camera (USB, CSI), raw or MJPEG",
    example: r#"[stages.cam]
type = "capture"
source = "v4l2"
device = "/dev/video0"
width = 1280
height = 720
fps = 30.0
camera_format = "mjpeg"   # what the camera sends: "raw" or "mjpeg"
format = "rgb"            # what this stage delivers

[stages.out]
type = "publish"
inputs = ["cam"]
sink = "jsonl"
queue = { capacity = 4, policy = "drop_oldest" }
"#,
};

/// What the camera sends.
#[derive(
    Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum CameraFormat {
    /// Uncompressed (YUYV and the like).
    #[default]
    Raw,
    /// Motion JPEG (most USB cameras above 640×480).
    Mjpeg,
}

fn d_device() -> String {
    "/dev/video0".into()
}

/// Config of `source = "v4l2"`.
#[derive(Clone, Debug, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct V4l2Config {
    /// Device node.
    #[serde(default = "d_device")]
    pub device: String,
    /// Requested width (the camera's default when absent).
    #[serde(default)]
    pub width: Option<u32>,
    /// Requested height.
    #[serde(default)]
    pub height: Option<u32>,
    /// Requested frame rate.
    #[serde(default)]
    pub fps: Option<f64>,
    /// `raw` or `mjpeg`.
    #[serde(default)]
    pub camera_format: CameraFormat,
    /// Output pixel format.
    #[serde(default)]
    pub format: OutputFormat,
    /// Stream id (default: the stage id).
    #[serde(default)]
    pub stream_id: Option<String>,
}

/// The V4L2 source.
pub struct V4l2Source {
    running: Running,
    format: OutputFormat,
    stream: Arc<str>,
    seq: u64,
    stop: StopSignal,
}

impl Source for V4l2Source {
    type Config = V4l2Config;
    type Out = Frame;

    fn validate(cfg: &V4l2Config) -> Result<(), Invalid> {
        let mut inv = Invalid::new();
        check_fps(&mut inv, cfg.fps);
        if cfg.width.is_some() != cfg.height.is_some() {
            inv.field(
                "width",
                "set `width` and `height` together",
                Some("or leave both out for the camera's default".into()),
            );
        }
        inv.into_result()
    }

    fn build(cfg: V4l2Config, ctx: &BuildCtx) -> Result<Self, BuildError> {
        if !Path::new(&cfg.device).exists() {
            return Err(BuildError::new(format!("no camera at {}", cfg.device))
                .with_help("list cameras with `v4l2-ctl --list-devices` (package v4l-utils) and set `device`")
                .at("device"));
        }
        media::init()?;
        let src = gst::ElementFactory::make("v4l2src")
            .property("device", &cfg.device)
            .build()
            .map_err(|_| {
                BuildError::new("GStreamer element `v4l2src` is not installed")
                    .with_help("apt-get install gstreamer1.0-plugins-good")
            })?;
        let media_type = match cfg.camera_format {
            CameraFormat::Raw => "video/x-raw",
            CameraFormat::Mjpeg => "image/jpeg",
        };
        let mut caps = gst::Caps::builder(media_type);
        if let (Some(w), Some(h)) = (cfg.width, cfg.height) {
            caps = caps.field("width", w as i32).field("height", h as i32);
        }
        if let Some(f) = cfg.fps.and_then(gst::Fraction::approximate_f64) {
            caps = caps.field("framerate", f);
        }
        let filter = gst::ElementFactory::make("capsfilter")
            .property("caps", caps.build())
            .build()
            .map_err(|_| BuildError::new("GStreamer element `capsfilter` is not installed"))?;
        let opts = FrameOpts {
            format: cfg.format,
            sample_fps: None,
            decoder: DecoderChoice::Auto,
            sync: false,
            leaky: true,
            wait_key_frame: false,
        };
        let running = Running::frames(Head::Elements(vec![src, filter]), &opts)?;
        ctx.note(format!("camera {} ({:?})", cfg.device, cfg.camera_format));
        Ok(V4l2Source {
            running,
            format: cfg.format,
            stream: cfg.stream_id.as_deref().unwrap_or(&ctx.stage_id).into(),
            seq: 0,
            stop: ctx.stop.clone(),
        })
    }

    fn next(&mut self) -> Result<Option<Frame>, StageError> {
        let stop = self.stop.clone();
        super::next_item(&stop, || self.next_event())
    }

    fn next_event(&mut self) -> Result<SourceEvent<Frame>, StageError> {
        if self.stop.is_stopped() {
            return Ok(SourceEvent::End);
        }
        match self.running.pull(media::PULL_TIMEOUT) {
            // Back to the runtime, which answers commands between two pulls.
            Pulled::Timeout => Ok(SourceEvent::Idle),
            Pulled::Eos => Ok(SourceEvent::End),
            Pulled::Error(e) => Err(e.into_stage(true)),
            Pulled::Sample(s) => {
                let pts = media::sample_pts_ns(&s).unwrap_or(0);
                let meta = Meta::now(self.stream.clone(), self.seq, pts);
                self.seq += 1;
                media::sample_to_frame(&s, meta, self.format.pixel_format())
                    .map(SourceEvent::Item)
                    .map_err(|e| e.into_stage(false))
            }
        }
    }
}
