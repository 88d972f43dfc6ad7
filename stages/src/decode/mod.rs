//! `type = "decode"`: encoded packets in, frames out, through GStreamer. `decoder = "auto"`
//! prefers a hardware decoder that takes the stream (NVIDIA, Raspberry Pi, Rockchip, VA-API)
//! and falls back to software (`avdec_*`).

use std::collections::VecDeque;
use std::time::Duration;

use edgeflow_core::{
    BuildCtx, BuildError, Emit, Frame, Invalid, Meta, Packet, Report, StageError, StageInfo,
    Transform,
};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use serde::Deserialize;

use crate::capture::file::check_fps;
use crate::media::{self, DecoderChoice, FrameOpts, Head, OutputFormat, Pulled, Running};

/// Registry entry.
pub const INFO: StageInfo = StageInfo {
    type_name: "decode",
    variant: None,
    summary: "decodes packets into frames (hardware decoder when present, else avdec_*)",
    example: r#"[stages.cam]
type = "capture"
source = "file"
path = "assets/media/vtest.avi"
output = "packets"

[stages.dec]
type = "decode"
inputs = ["cam"]
decoder = "auto"     # or an element: "avdec_h264", "nvv4l2decoder", "v4l2h264dec", ...
format = "i420"      # native YUV is 2-3x cheaper than RGB here; detect converts while resizing
fps = 5.0            # keep at most 5 frames a second (dropped before conversion)

[stages.out]
type = "publish"
inputs = ["dec"]
sink = "jsonl"
"#,
};

fn auto() -> String {
    "auto".to_string()
}

/// Config of `decode`.
#[derive(Clone, Debug, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DecodeConfig {
    /// `auto` or a GStreamer decoder element.
    #[serde(default = "auto")]
    pub decoder: String,
    /// Output pixel format.
    #[serde(default)]
    pub format: OutputFormat,
    /// Keep at most this many frames per second.
    #[serde(default)]
    pub fps: Option<f64>,
}

/// The decode stage.
pub struct Decode {
    opts: FrameOpts,
    running: Option<(Running, gst_app::AppSrc, String)>,
    /// Metadata of packets in flight, by pts, to stamp the frames they become.
    pending: VecDeque<(u64, Meta)>,
    reported: bool,
    stage: String,
    /// Packets skipped while waiting for a key frame (after a start or a decoder error).
    skipped: u64,
    /// Next frame number per stream: packets arrive in decode order, frames leave in
    /// presentation order, so frames are numbered here.
    next_seq: std::collections::HashMap<std::sync::Arc<str>, u64>,
}

impl Decode {
    fn start(&mut self, caps: &str) -> Result<(), StageError> {
        let gst_caps: gst::Caps = caps
            .parse()
            .map_err(|_| StageError::transient(format!("packets with unreadable caps `{caps}`")))?;
        let src = gst_app::AppSrc::builder()
            .caps(&gst_caps)
            .format(gst::Format::Time)
            .block(false)
            .build();
        let running = Running::frames(Head::Elements(vec![src.clone().upcast()]), &self.opts)
            .map_err(|e| e.into_stage(true))?;
        self.running = Some((running, src, caps.to_string()));
        self.reported = false;
        Ok(())
    }

    fn drain(&mut self, out: &mut Emit<Frame>, wait: Duration) -> Result<bool, StageError> {
        let Some((running, _, _)) = self.running.as_mut() else {
            return Ok(true);
        };
        loop {
            match running.pull(wait) {
                Pulled::Sample(s) => {
                    if !self.reported {
                        self.reported = true;
                        if let Some(d) = running.decoder() {
                            tracing::info!(stage = self.stage, decoder = d, "decoding");
                        }
                    }
                    let pts = media::sample_pts_ns(&s).unwrap_or(0);
                    // Frames leave in pts order: drop the metas of frames skipped before.
                    while self.pending.len() > 1
                        && self.pending.front().is_some_and(|(p, _)| *p < pts)
                    {
                        self.pending.pop_front();
                    }
                    let meta = match self.pending.iter().position(|(p, _)| *p == pts) {
                        Some(i) => self.pending.remove(i).map(|(_, m)| m),
                        None => self.pending.front().map(|(_, m)| m.clone()),
                    };
                    let Some(mut meta) = meta else { continue };
                    let seq = self.next_seq.entry(meta.stream_id.clone()).or_insert(0);
                    meta.seq = *seq;
                    *seq += 1;
                    let frame = media::sample_to_frame(&s, meta, self.opts.format.pixel_format())
                        .map_err(|e| e.into_stage(false))?;
                    out.push(frame);
                }
                Pulled::Timeout => return Ok(false),
                Pulled::Eos => return Ok(true),
                Pulled::Error(e) => {
                    // A corrupt packet: restart the decoder at the next packet (it waits for a
                    // key frame), count the error, go on.
                    self.running = None;
                    self.pending.clear();
                    return Err(e.into_stage(false));
                }
            }
        }
    }
}

impl Transform for Decode {
    type Config = DecodeConfig;
    type In = Packet;
    type Out = Frame;

    fn validate(cfg: &DecodeConfig) -> Result<(), Invalid> {
        let mut inv = Invalid::new();
        check_fps(&mut inv, cfg.fps);
        inv.into_result()
    }

    fn build(cfg: DecodeConfig, ctx: &BuildCtx) -> Result<Self, BuildError> {
        media::init()?;
        let decoder = DecoderChoice::parse(&cfg.decoder);
        decoder.check_installed()?;
        let hw: Vec<&str> = media::HARDWARE_DECODERS
            .iter()
            .copied()
            .filter(|n| gst::ElementFactory::find(n).is_some())
            .collect();
        ctx.note(match (&decoder, hw.is_empty()) {
            (DecoderChoice::Named(n), _) => format!("decoder {n}"),
            (DecoderChoice::Auto, true) => {
                "decoder auto: no hardware decoder installed, software (avdec_*)".to_string()
            }
            (DecoderChoice::Auto, false) => format!(
                "decoder auto: hardware decoders installed: {}",
                hw.join(", ")
            ),
        });
        Ok(Decode {
            opts: FrameOpts {
                format: cfg.format,
                sample_fps: cfg.fps,
                decoder,
                sync: false,
                leaky: false,
                wait_key_frame: false,
            },
            running: None,
            pending: VecDeque::new(),
            reported: false,
            stage: ctx.stage_id.to_string(),
            skipped: 0,
            next_seq: std::collections::HashMap::new(),
        })
    }

    fn process(&mut self, packet: Packet, out: &mut Emit<Frame>) -> Result<(), StageError> {
        let caps_changed = self
            .running
            .as_ref()
            .is_some_and(|(_, _, c)| c.as_str() != &*packet.caps);
        if caps_changed {
            // A new stream format: finish the old decoder first.
            if let Some((_, src, _)) = &self.running {
                let _ = src.end_of_stream();
            }
            self.drain(out, Duration::from_secs(5))?;
            self.running = None;
        }
        if self.running.is_none() {
            // A decoder starts at a key frame: earlier packets reference pictures it never saw.
            if !packet.key_frame {
                self.skipped += 1;
                return Ok(());
            }
            if self.skipped > 0 {
                tracing::debug!(
                    stage = self.stage,
                    skipped = self.skipped,
                    "started at a key frame"
                );
                self.skipped = 0;
            }
            self.start(&packet.caps)?;
        }
        let pts = packet.meta.pts_ns;
        self.pending.push_back((pts, packet.meta));
        let mut buffer = gst::Buffer::from_slice(packet.data);
        if let Some(b) = buffer.get_mut() {
            b.set_pts(gst::ClockTime::from_nseconds(pts));
            if !packet.key_frame {
                b.set_flags(gst::BufferFlags::DELTA_UNIT);
            }
        }
        if let Some((_, src, _)) = &self.running {
            src.push_buffer(buffer).map_err(|e| {
                StageError::transient(format!("the decoder refused a packet: {e:?}"))
            })?;
        }
        self.drain(out, Duration::ZERO).map(|_| ())
    }

    fn report(&self, report: &mut Report) {
        if let Some(d) = self.running.as_ref().and_then(|(r, _, _)| r.decoder()) {
            report.set("decoder", d);
        }
        report.set("packets_skipped", self.skipped);
    }

    fn finish(&mut self, out: &mut Emit<Frame>) -> Result<(), StageError> {
        if let Some((_, src, _)) = &self.running {
            let _ = src.end_of_stream();
            // Wait for the decoder to hand over what it still holds, but not forever.
            let deadline = std::time::Instant::now() + Duration::from_secs(15);
            while !self.drain(out, Duration::from_millis(500))? {
                if std::time::Instant::now() >= deadline {
                    tracing::warn!(
                        stage = self.stage,
                        "the decoder did not finish within 15 s; frames it still held are lost"
                    );
                    break;
                }
            }
        }
        self.running = None;
        Ok(())
    }
}
