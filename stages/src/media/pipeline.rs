//! One GStreamer pipeline ending in an `appsink`, pulled from a stage's thread.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use super::decoder::{DecoderChoice, install_decoder_choice, watch_decoder};
use super::error::{MediaError, missing_plugin_error};
use super::format::OutputFormat;
use super::init;

/// What one media pipeline learned while running.
#[derive(Default)]
pub(super) struct Shared {
    /// The video decoder element GStreamer plugged in.
    pub(super) decoder: Option<String>,
    /// A named decoder that cannot take the stream.
    pub(super) refused: Option<MediaError>,
    /// A missing-plugin report.
    pub(super) missing: Option<MediaError>,
    /// Warnings the elements posted (a decoder that concealed damage), oldest first.
    pub(super) warnings: Vec<String>,
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

pub(super) fn is_video_decoder(factory: &gst::ElementFactory) -> bool {
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

    /// The warnings the elements posted since the last call (a decoder that concealed a
    /// damaged frame, a demuxer that skipped data).
    pub fn take_warnings(&self) -> Vec<String> {
        // Read what is on the bus first; errors stay for `pull`.
        if let Some(bus) = self.pipeline.bus() {
            while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Warning]) {
                self.interpret(&msg);
            }
        }
        std::mem::take(
            &mut self
                .shared
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .warnings,
        )
    }

    /// The stream's duration as the demuxer reports it (from the container's header or
    /// index), when it knows one.
    pub fn duration_ns(&self) -> Option<u64> {
        self.pipeline
            .query_duration::<gst::ClockTime>()
            .map(gst::ClockTime::nseconds)
            .filter(|d| *d > 0)
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
                // GStreamer's debug text is a source path and element chain, not a fix: it
                // goes to the debug log; the help says what to check.
                if let Some(detail) = e.debug() {
                    tracing::debug!(element = from, "GStreamer error detail: {detail}");
                }
                Some(
                    MediaError::new(format!("GStreamer error from {from}: {}", e.error())).help(
                        "the input is damaged or not a format GStreamer reads: check that \
                         `gst-launch-1.0 uridecodebin uri=file:///path/to/it ! fakesink` \
                         (package gstreamer1.0-tools) plays it",
                    ),
                )
            }
            gst::MessageView::Warning(w) => {
                let from = w
                    .src()
                    .map(|s| s.name().to_string())
                    .unwrap_or_else(|| "pipeline".into());
                shared.warnings.push(format!("{from}: {}", w.error()));
                None
            }
            _ => None,
        }
    }
}
