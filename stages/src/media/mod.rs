//! GStreamer plumbing shared by the media stages: pipelines that end in an `appsink`, decoder
//! choice, frames read through their plane strides without copying, and errors that name the
//! missing plugin and the Debian package that has it.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use edgeflow_core::{BuildError, Frame, Meta, Packet, PixelFormat, Plane, StageError};
use gstreamer as gst;
use gstreamer::glib;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use serde::Deserialize;

/// A media problem with what to do about it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct MediaError {
    /// What went wrong.
    pub message: String,
    /// What to do about it.
    pub help: Option<String>,
}

impl MediaError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        MediaError {
            message: message.into(),
            help: None,
        }
    }

    pub(crate) fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl From<MediaError> for BuildError {
    fn from(e: MediaError) -> Self {
        let help = e.help.clone();
        let b = BuildError::new(e.message);
        match help {
            Some(h) => b.with_help(h),
            None => b,
        }
    }
}

impl MediaError {
    /// As a stage error: the message with its help appended.
    pub(crate) fn into_stage(self, fatal: bool) -> StageError {
        let text = match &self.help {
            Some(h) => format!("{} (help: {h})", self.message),
            None => self.message,
        };
        if fatal {
            StageError::fatal(text)
        } else {
            StageError::transient(text)
        }
    }
}

/// Initialise GStreamer once per process.
pub fn init() -> Result<(), MediaError> {
    static INIT: OnceLock<Result<(), String>> = OnceLock::new();
    INIT.get_or_init(|| gst::init().map_err(|e| e.to_string()))
        .clone()
        .map_err(|e| {
            MediaError::new(format!("cannot initialise GStreamer: {e}"))
                .help("install GStreamer 1.22 or newer (scripts/setup.sh lists the packages)")
        })
}

/// Pixel formats a media stage can deliver.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// Packed RGB (the default; what detectors want).
    #[default]
    Rgb,
    /// Packed BGR.
    Bgr,
    /// Semi-planar YUV 4:2:0, as most decoders produce it (no conversion).
    Nv12,
    /// Planar YUV 4:2:0 (no conversion after software decoders).
    I420,
    /// 8-bit luma.
    Gray,
}

impl OutputFormat {
    /// The edgeflow pixel format.
    pub fn pixel_format(self) -> PixelFormat {
        match self {
            OutputFormat::Rgb => PixelFormat::Rgb,
            OutputFormat::Bgr => PixelFormat::Bgr,
            OutputFormat::Nv12 => PixelFormat::Nv12,
            OutputFormat::I420 => PixelFormat::I420,
            OutputFormat::Gray => PixelFormat::Gray,
        }
    }

    fn gst_name(self) -> &'static str {
        match self {
            OutputFormat::Rgb => "RGB",
            OutputFormat::Bgr => "BGR",
            OutputFormat::Nv12 => "NV12",
            OutputFormat::I420 => "I420",
            OutputFormat::Gray => "GRAY8",
        }
    }
}

/// Hardware decoders, preferred in this order when they are installed and take the stream:
/// NVIDIA (Jetson, desktop), Raspberry Pi, Rockchip, VA-API.
pub const HARDWARE_DECODERS: &[&str] = &[
    "nvv4l2decoder",
    "nvh264dec",
    "nvh265dec",
    "v4l2slh264dec",
    "v4l2slh265dec",
    "v4l2h264dec",
    "v4l2h265dec",
    "mppvideodec",
    "vah264dec",
    "vah265dec",
];

/// Which decoder to use: `"auto"` (a hardware decoder when one takes the stream, else the
/// best-ranked software one, normally `avdec_*`) or a GStreamer element name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum DecoderChoice {
    /// Prefer hardware, fall back to software.
    #[default]
    Auto,
    /// Exactly this element.
    Named(String),
}

impl DecoderChoice {
    /// From the config string.
    pub fn parse(s: &str) -> DecoderChoice {
        if s == "auto" {
            DecoderChoice::Auto
        } else {
            DecoderChoice::Named(s.to_string())
        }
    }

    /// Checks a named decoder is installed.
    pub fn check_installed(&self) -> Result<(), MediaError> {
        init()?;
        if let DecoderChoice::Named(name) = self
            && gst::ElementFactory::find(name).is_none()
        {
            return Err(MediaError::new(format!("GStreamer element `{name}` is not installed"))
                .help("use `decoder = \"auto\"`, or install the plugin that has it (`gst-inspect-1.0` lists what is installed)"));
        }
        Ok(())
    }

    /// The decoder that should handle `caps`, if the choice names one.
    fn preferred(&self, caps: &gst::CapsRef) -> Option<String> {
        match self {
            DecoderChoice::Named(n) => Some(n.clone()),
            DecoderChoice::Auto => HARDWARE_DECODERS
                .iter()
                .filter_map(|n| gst::ElementFactory::find(n))
                .find(|f| f.can_sink_any_caps(caps))
                .map(|f| f.name().to_string()),
        }
    }
}

/// The Debian package and element that decode a media type, for "missing plugin" errors.
pub fn plugin_for(media_type: &str) -> (&'static str, &'static str) {
    match media_type {
        "video/x-h264" => ("avdec_h264", "gstreamer1.0-libav"),
        "video/x-h265" => ("avdec_h265", "gstreamer1.0-libav"),
        "video/x-msmpeg" | "video/mpeg" | "video/x-divx" | "video/x-xvid" | "video/x-h263" => {
            ("avdec_* (libav)", "gstreamer1.0-libav")
        }
        "image/jpeg" => ("jpegdec", "gstreamer1.0-plugins-good"),
        "image/png" => ("pngdec", "gstreamer1.0-plugins-good"),
        "video/x-vp8" | "video/x-vp9" => ("vp8dec / vp9dec", "gstreamer1.0-plugins-good"),
        "video/x-av1" => ("dav1ddec", "gstreamer1.0-plugins-bad"),
        "video/quicktime" | "video/x-matroska" | "video/x-msvideo" | "video/webm" => {
            ("the demuxer", "gstreamer1.0-plugins-good")
        }
        "video/mpegts" => ("tsdemux", "gstreamer1.0-plugins-bad"),
        "application/x-rtp" => ("the RTP depayloader", "gstreamer1.0-plugins-good"),
        _ => ("a decoder", "gstreamer1.0-libav"),
    }
}

fn missing_plugin_error(detail: &str) -> MediaError {
    let media_type = detail.split(',').next().unwrap_or(detail).trim();
    let (element, package) = plugin_for(media_type);
    MediaError::new(format!(
        "no GStreamer decoder for {media_type} is installed (the stream is {detail})"
    ))
    .help(format!(
        "install {package} (it has {element}): apt-get install {package}"
    ))
}

/// What one media pipeline learned while running.
#[derive(Default)]
struct Shared {
    /// The video decoder element GStreamer plugged in.
    decoder: Option<String>,
    /// A named decoder that cannot take the stream.
    refused: Option<MediaError>,
    /// A missing-plugin report.
    missing: Option<MediaError>,
}

/// A GStreamer pipeline ending in an appsink; stopped (state `Null`) when dropped.
pub struct Running {
    pipeline: gst::Pipeline,
    sink: gst_app::AppSink,
    shared: Arc<Mutex<Shared>>,
    playing: bool,
}

/// How long a media source waits for a sample before handing control back to the runtime
/// (which answers the stage's commands between two pulls): a command to a capture stage waits
/// at most this long, plus the conversion of one frame.
pub const PULL_TIMEOUT: Duration = Duration::from_millis(100);

/// What one pull from a [`Running`] pipeline gave.
pub enum Pulled {
    /// A sample (a frame or a packet).
    Sample(gst::Sample),
    /// End of stream.
    Eos,
    /// Nothing within the timeout.
    Timeout,
    /// The pipeline failed.
    Error(MediaError),
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

fn make(factory: &str) -> Result<gst::Element, MediaError> {
    gst::ElementFactory::make(factory).build().map_err(|_| {
        let package = match factory {
            "rtspsrc" | "v4l2src" | "jpegdec" => "gstreamer1.0-plugins-good",
            _ => "gstreamer1.0-plugins-base",
        };
        MediaError::new(format!("GStreamer element `{factory}` is not installed"))
            .help(format!("apt-get install {package}"))
    })
}

fn is_video_decoder(factory: &gst::ElementFactory) -> bool {
    let klass = factory.klass();
    klass.contains("Decoder") && klass.contains("Video")
}

/// Options for pipelines that deliver frames.
#[derive(Clone, Debug)]
pub struct FrameOpts {
    /// Output pixel format.
    pub format: OutputFormat,
    /// Keep at most this many frames per second (dropped before conversion).
    pub sample_fps: Option<f64>,
    /// Decoder choice.
    pub decoder: DecoderChoice,
    /// Pace by the pipeline clock (files played like cameras).
    pub sync: bool,
    /// Let the appsink drop old frames when the stage falls behind (live sources).
    pub leaky: bool,
    /// Have RTP depayloaders wait for a key frame (live joins and reconnects).
    pub wait_key_frame: bool,
}

/// Configures the source element `uridecodebin` creates (e.g. `rtspsrc` properties).
pub type SourceSetup = Box<dyn Fn(&gst::Element) + Send + Sync>;

/// Where the encoded stream comes from.
pub enum Head {
    /// `uridecodebin` on a URI (files, RTSP, images). `setup` configures the source element.
    Uri {
        /// The URI.
        uri: String,
        /// Called with the source element GStreamer creates (e.g. `rtspsrc`).
        setup: Option<SourceSetup>,
    },
    /// These elements, linked in order, then `decodebin` (appsrc, v4l2src + caps).
    Elements(Vec<gst::Element>),
}

impl Running {
    /// A pipeline `head → decoder → [videorate] → videoconvert → appsink(format)`.
    pub fn frames(head: Head, opts: &FrameOpts) -> Result<Running, MediaError> {
        init()?;
        opts.decoder.check_installed()?;
        let pipeline = gst::Pipeline::new();
        let shared = Arc::new(Mutex::new(Shared::default()));

        // The tail, from the first raw-video element to the appsink.
        let mut tail = Vec::new();
        if let Some(fps) = opts.sample_fps {
            let rate = make("videorate")?;
            rate.set_property("drop-only", true);
            let filter = make("capsfilter")?;
            let f = gst::Fraction::approximate_f64(fps).unwrap_or(gst::Fraction::new(1, 1));
            filter.set_property(
                "caps",
                gst::Caps::builder("video/x-raw")
                    .field("framerate", f)
                    .build(),
            );
            tail.push(rate);
            tail.push(filter);
        }
        tail.push(make("videoconvert")?);
        let sink = gst_app::AppSink::builder()
            .caps(
                &gst::Caps::builder("video/x-raw")
                    .field("format", opts.format.gst_name())
                    .build(),
            )
            .max_buffers(2)
            .drop(opts.leaky)
            .sync(opts.sync)
            .build();
        pipeline
            .add_many(tail.iter())
            .map_err(|e| MediaError::new(format!("cannot build the pipeline: {e}")))?;
        pipeline
            .add(&sink)
            .map_err(|e| MediaError::new(format!("cannot build the pipeline: {e}")))?;
        let mut chain: Vec<&gst::Element> = tail.iter().collect();
        chain.push(sink.upcast_ref());
        gst::Element::link_many(chain)
            .map_err(|e| MediaError::new(format!("cannot link the pipeline: {e}")))?;
        let tail_sink = tail[0]
            .static_pad("sink")
            .ok_or_else(|| MediaError::new("no sink pad"))?;

        let decodebin = match head {
            Head::Uri { uri, setup } => {
                let d = make("uridecodebin")?;
                d.set_property("uri", &uri);
                if let Some(setup) = setup {
                    d.connect("source-setup", false, move |args| {
                        if let Some(Ok(src)) = args.get(1).map(|v| v.get::<gst::Element>()) {
                            setup(&src);
                        }
                        None
                    });
                }
                pipeline
                    .add(&d)
                    .map_err(|e| MediaError::new(format!("cannot build the pipeline: {e}")))?;
                d
            }
            Head::Elements(elements) => {
                let d = make("decodebin")?;
                pipeline
                    .add_many(elements.iter())
                    .map_err(|e| MediaError::new(format!("cannot build the pipeline: {e}")))?;
                pipeline
                    .add(&d)
                    .map_err(|e| MediaError::new(format!("cannot build the pipeline: {e}")))?;
                let mut chain: Vec<&gst::Element> = elements.iter().collect();
                chain.push(&d);
                gst::Element::link_many(chain)
                    .map_err(|e| MediaError::new(format!("cannot link the pipeline: {e}")))?;
                d
            }
        };

        // Link the first raw video pad to the tail; other streams (audio) stay unlinked.
        decodebin.connect_pad_added(move |_, pad| {
            let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
            let is_video = caps
                .structure(0)
                .is_some_and(|s| s.name().starts_with("video/"));
            if is_video && !tail_sink.is_linked() {
                let _ = pad.link(&tail_sink);
            }
        });
        install_decoder_choice(&decodebin, &opts.decoder, &shared);
        watch_decoder(&pipeline, &shared, opts.wait_key_frame);
        Ok(Running {
            pipeline,
            sink,
            shared,
            playing: false,
        })
    }

    /// A pipeline `filesrc → parsebin → appsink`: parsed, still encoded video.
    pub fn packets(path: &std::path::Path, sync: bool) -> Result<Running, MediaError> {
        init()?;
        let pipeline = gst::Pipeline::new();
        let src = make("filesrc")?;
        src.set_property("location", path.to_string_lossy().as_ref());
        let parse = make("parsebin")?;
        let sink = gst_app::AppSink::builder()
            .max_buffers(8)
            .sync(sync)
            .build();
        pipeline
            .add_many([&src, &parse, sink.upcast_ref()])
            .map_err(|e| MediaError::new(format!("cannot build the pipeline: {e}")))?;
        src.link(&parse)
            .map_err(|e| MediaError::new(format!("cannot link the pipeline: {e}")))?;
        let sink_pad = sink
            .static_pad("sink")
            .ok_or_else(|| MediaError::new("no sink pad"))?;
        parse.connect_pad_added(move |_, pad| {
            let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
            let is_video = caps
                .structure(0)
                .is_some_and(|s| s.name().starts_with("video/") || s.name() == "image/jpeg");
            if is_video && !sink_pad.is_linked() {
                let _ = pad.link(&sink_pad);
            }
        });
        Ok(Running {
            pipeline,
            sink,
            shared: Arc::new(Mutex::new(Shared::default())),
            playing: false,
        })
    }

    /// The element this pipeline starts from, by factory name (e.g. `appsrc`).
    pub fn element(&self, factory: &str) -> Option<gst::Element> {
        self.pipeline
            .iterate_recurse()
            .into_iter()
            .flatten()
            .find(|e| e.factory().is_some_and(|f| f.name() == factory))
    }

    /// The video decoder GStreamer chose, once the stream was recognised.
    pub fn decoder(&self) -> Option<String> {
        self.shared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .decoder
            .clone()
    }

    /// Bring the pipeline to `PAUSED` and wait until the first data has reached the sink
    /// (files: finds missing plugins, unreadable files and the decoder before running).
    pub fn preroll(&self, timeout: Duration) -> Result<(), MediaError> {
        self.pipeline.set_state(gst::State::Paused).map_err(|_| {
            self.bus_error()
                .unwrap_or_else(|| MediaError::new("the pipeline refused to start"))
        })?;
        let deadline = Instant::now() + timeout;
        let bus = self.bus()?;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(MediaError::new(format!(
                    "the stream did not start within {} s",
                    timeout.as_secs()
                )));
            }
            let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(left.as_millis() as u64))
            else {
                continue;
            };
            match msg.view() {
                gst::MessageView::AsyncDone(_) => return Ok(()),
                gst::MessageView::Eos(_) => return Ok(()),
                _ => {
                    if let Some(err) = self.interpret(&msg) {
                        return Err(err);
                    }
                }
            }
        }
    }

    /// Set the pipeline playing (once).
    pub fn play(&mut self) -> Result<(), MediaError> {
        if !self.playing {
            self.pipeline.set_state(gst::State::Playing).map_err(|_| {
                self.bus_error()
                    .unwrap_or_else(|| MediaError::new("the pipeline refused to play"))
            })?;
            self.playing = true;
        }
        Ok(())
    }

    /// Wait up to `timeout` for the next sample (sources pass [`PULL_TIMEOUT`]).
    pub fn pull(&mut self, timeout: Duration) -> Pulled {
        if let Err(e) = self.play() {
            return Pulled::Error(e);
        }
        if let Some(e) = self.bus_error() {
            return Pulled::Error(e);
        }
        match self
            .sink
            .try_pull_sample(gst::ClockTime::from_nseconds(timeout.as_nanos() as u64))
        {
            Some(s) => Pulled::Sample(s),
            None => {
                if let Some(e) = self.bus_error() {
                    Pulled::Error(e)
                } else if self.sink.is_eos() {
                    Pulled::Eos
                } else {
                    Pulled::Timeout
                }
            }
        }
    }

    /// Seek back to the start (looping files).
    pub fn rewind(&self) -> Result<(), MediaError> {
        self.pipeline
            .seek_simple(
                gst::SeekFlags::FLUSH | gst::SeekFlags::KEY_UNIT,
                gst::ClockTime::ZERO,
            )
            .map_err(|e| MediaError::new(format!("cannot seek to the start: {e}")))
    }

    fn bus(&self) -> Result<gst::Bus, MediaError> {
        self.pipeline
            .bus()
            .ok_or_else(|| MediaError::new("the pipeline has no bus"))
    }

    /// The first error waiting on the bus, if any (other messages are consumed).
    fn bus_error(&self) -> Option<MediaError> {
        let bus = self.pipeline.bus()?;
        while let Some(msg) = bus.pop() {
            if let Some(e) = self.interpret(&msg) {
                return Some(e);
            }
        }
        None
    }

    fn interpret(&self, msg: &gst::Message) -> Option<MediaError> {
        let mut shared = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        match msg.view() {
            gst::MessageView::Element(e) => {
                if let Some(s) = e.structure()
                    && s.name() == "missing-plugin"
                {
                    let detail = s
                        .get::<gst::Caps>("detail")
                        .map(|c| c.to_string())
                        .or_else(|_| s.get::<String>("detail"))
                        .unwrap_or_else(|_| "an unknown stream".to_string());
                    shared.missing = Some(missing_plugin_error(&detail));
                }
                None
            }
            gst::MessageView::Error(e) => {
                // A refused named decoder or a missing plugin explains the error better.
                if let Some(r) = shared.refused.take() {
                    return Some(r);
                }
                if let Some(m) = shared.missing.take() {
                    return Some(m);
                }
                let from = e
                    .src()
                    .map(|s| s.name().to_string())
                    .unwrap_or_else(|| "pipeline".into());
                let mut err =
                    MediaError::new(format!("GStreamer error from {from}: {}", e.error()));
                if let Some(debug) = e.debug() {
                    let first = debug.lines().last().unwrap_or_default().trim().to_string();
                    if !first.is_empty() {
                        err = err.help(first);
                    }
                }
                Some(err)
            }
            _ => None,
        }
    }
}

/// The decoder choice, applied through decodebin's `autoplug-select`.
fn install_decoder_choice(bin: &gst::Element, choice: &DecoderChoice, shared: &Arc<Mutex<Shared>>) {
    let choice = choice.clone();
    let shared = shared.clone();
    bin.connect("autoplug-select", false, move |args| {
        let caps = args.get(2)?.get::<gst::Caps>().ok()?;
        let factory = args.get(3)?.get::<gst::ElementFactory>().ok()?;
        // GstAutoplugSelectResult: 0 = TRY, 2 = SKIP.
        let mut result = 0;
        if is_video_decoder(&factory)
            && let Some(preferred) = choice.preferred(&caps)
        {
            if factory.name() != preferred.as_str() {
                result = 2;
            }
            if let DecoderChoice::Named(n) = &choice
                && !gst::ElementFactory::find(n).is_some_and(|f| f.can_sink_any_caps(&caps))
            {
                let mut s = shared.lock().unwrap_or_else(PoisonError::into_inner);
                s.refused.get_or_insert_with(|| {
                    MediaError::new(format!("decoder `{n}` cannot decode {caps}"))
                        .help("use `decoder = \"auto\"` or a decoder for this codec")
                });
            }
        }
        let ty = glib::Type::from_name("GstAutoplugSelectResult")?;
        glib::EnumClass::with_type(ty)?.to_value(result)
    });
}

/// Records the decoder GStreamer plugs in; with `wait_key_frame`, tells RTP depayloaders
/// (`rtph264depay`, …) to hold back data until a key frame and to ask the server for one.
fn watch_decoder(pipeline: &gst::Pipeline, shared: &Arc<Mutex<Shared>>, wait_key_frame: bool) {
    let shared = shared.clone();
    pipeline.connect_deep_element_added(move |_, _, element| {
        if wait_key_frame {
            for prop in ["wait-for-keyframe", "request-keyframe"] {
                if element.has_property(prop) {
                    element.set_property(prop, true);
                }
            }
        }
        let Some(factory) = element.factory() else {
            return;
        };
        if !is_video_decoder(&factory) {
            return;
        }
        let name = factory.name().to_string();
        tracing::debug!(decoder = name, "decoder chosen");
        shared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .decoder
            .get_or_insert(name);
    });
}

/// A decoded sample as a [`Frame`], sharing the GStreamer buffer (no pixel copy), read
/// through the buffer's own plane offsets and strides.
pub fn sample_to_frame(
    sample: &gst::Sample,
    meta: Meta,
    format: PixelFormat,
) -> Result<Frame, MediaError> {
    let caps = sample
        .caps()
        .ok_or_else(|| MediaError::new("a frame without caps"))?;
    let info = gst_video::VideoInfo::from_caps(caps)
        .map_err(|e| MediaError::new(format!("unreadable video caps {caps}: {e}")))?;
    let buffer = sample
        .buffer_owned()
        .ok_or_else(|| MediaError::new("a sample without a buffer"))?;
    let (offsets, strides): (Vec<usize>, Vec<i32>) = match buffer.meta::<gst_video::VideoMeta>() {
        Some(vm) => (vm.offset().to_vec(), vm.stride().to_vec()),
        None => (info.offset().to_vec(), info.stride().to_vec()),
    };
    let planes = offsets
        .into_iter()
        .zip(strides)
        .map(|(offset, stride)| Plane {
            offset,
            stride: usize::try_from(stride).unwrap_or(0),
        })
        .collect();
    let map = buffer
        .into_mapped_buffer_readable()
        .map_err(|_| MediaError::new("cannot map a frame buffer"))?;
    Frame::new(
        meta,
        info.width(),
        info.height(),
        format,
        planes,
        Bytes::from_owner(map),
    )
    .map_err(|e| MediaError::new(format!("bad frame layout: {e}")))
}

/// An encoded sample as a [`Packet`] (no copy).
pub fn sample_to_packet(sample: &gst::Sample, meta: Meta) -> Result<Packet, MediaError> {
    let caps = sample
        .caps()
        .map(|c| c.to_string())
        .unwrap_or_else(|| "video/unknown".into());
    let buffer = sample
        .buffer_owned()
        .ok_or_else(|| MediaError::new("a sample without a buffer"))?;
    let key_frame = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
    let map = buffer
        .into_mapped_buffer_readable()
        .map_err(|_| MediaError::new("cannot map a packet buffer"))?;
    Ok(Packet {
        meta,
        caps: caps.into(),
        data: Bytes::from_owner(map),
        key_frame,
    })
}

/// The presentation time of a sample's buffer in nanoseconds.
pub fn sample_pts_ns(sample: &gst::Sample) -> Option<u64> {
    sample.buffer().and_then(|b| b.pts()).map(|t| t.nseconds())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_plugin_names_package() {
        let e = missing_plugin_error("video/x-h265, stream-format=(string)byte-stream");
        assert!(e.message.contains("video/x-h265"));
        assert!(
            e.help
                .unwrap()
                .contains("apt-get install gstreamer1.0-libav")
        );
        assert_eq!(plugin_for("image/jpeg").1, "gstreamer1.0-plugins-good");
    }

    #[test]
    fn named_decoder_must_exist() {
        assert!(DecoderChoice::parse("auto").check_installed().is_ok());
        let e = DecoderChoice::parse("nosuchdec")
            .check_installed()
            .unwrap_err();
        assert!(e.message.contains("`nosuchdec` is not installed"));
    }
}
