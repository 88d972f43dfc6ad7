//! `source = "http"`: JPEG frames pushed over HTTP (`POST /frame` of the edge service) into a
//! [`FrameInbox`], the service the program offers on `BuildCtx`. The inbox keeps only the
//! latest frame of each stream (a newer post replaces one not yet taken, and is counted), so
//! a slow model never builds a backlog; the source decodes the JPEG on its own thread, off
//! the request path. A post is checked cheaply on the way in (a JPEG header, its end marker,
//! its size), so a bad image gets its error in the HTTP answer.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use edgeflow_core::{
    BuildCtx, BuildError, Frame, Invalid, Meta, PixelFormat, Report, Source, SourceEvent,
    StageError, StageInfo, StopSignal, StreamState, StreamStatus, Variant,
};
use serde::Deserialize;
use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

/// Registry entry.
pub const INFO: StageInfo = StageInfo {
    type_name: "capture",
    variant: Some(Variant {
        key: "source",
        value: "http",
    }),
    summary: "JPEG frames posted to the edge HTTP service (`POST /frame`); only the latest is kept",
    example: r#"[server]
listen = "127.0.0.1:8080"

[stages.cam]
type = "capture"
source = "http"
stream_id = "browser"     # what POST /frame names in `stream_id`
stall_after_ms = 5000     # no post for this long: the stream is `stalled`

[stages.out]
type = "publish"
inputs = ["cam"]
sink = "jsonl"
"#,
};

fn d_stall() -> u64 {
    5000
}
fn d_max_width() -> u32 {
    3840
}
fn d_max_height() -> u32 {
    2160
}

/// Config of `source = "http"`.
#[derive(Clone, Debug, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// The stream id posts name (`stream_id` in `POST /frame`); default: the stage id.
    #[serde(default)]
    pub stream_id: Option<String>,
    /// With no post for this long the stream is reported `stalled` (default 5000).
    #[serde(default = "d_stall")]
    pub stall_after_ms: u64,
    /// Wider images are refused with 413 (default 3840).
    #[serde(default = "d_max_width")]
    pub max_width: u32,
    /// Taller images are refused with 413 (default 2160).
    #[serde(default = "d_max_height")]
    pub max_height: u32,
}

/// Why a post was not taken. Each maps to one HTTP status in the edge service.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PostError {
    /// No `source = "http"` stage has this stream id.
    #[error("no stream `{stream}` takes frames here (streams: {})", known.join(", "))]
    UnknownStream {
        /// The stream asked for.
        stream: String,
        /// The streams that take posts.
        known: Vec<String>,
    },
    /// The body is not a JPEG image.
    #[error("not a JPEG image: {0}")]
    NotJpeg(String),
    /// The JPEG ends before its end-of-image marker.
    #[error("the JPEG is truncated: it has no end-of-image marker (FF D9) after {0} bytes")]
    Truncated(usize),
    /// The image is larger than the stream allows.
    #[error(
        "the image is {width}×{height}; stream `{stream}` takes at most {max_width}×{max_height}"
    )]
    TooLarge {
        /// The stream.
        stream: String,
        /// Image width.
        width: u32,
        /// Image height.
        height: u32,
        /// The stream's `max_width`.
        max_width: u32,
        /// The stream's `max_height`.
        max_height: u32,
    },
    /// The stream's source has stopped.
    #[error("stream `{0}` has ended and takes no more frames")]
    Ended(String),
}

/// What a post became.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The stream.
    pub stream_id: String,
    /// The `seq` its frame will carry (and `/frame_data` answers with).
    pub seq: u64,
    /// Image width.
    pub width: u32,
    /// Image height.
    pub height: u32,
    /// It replaced a frame the pipeline had not taken yet (that one was dropped).
    pub replaced: bool,
}

/// A posted JPEG waiting for its source.
struct Posted {
    jpeg: Bytes,
    seq: u64,
    received: SystemTime,
    at: Instant,
}

/// One stream's slot: the latest post, and its counters.
struct Slot {
    latest: Mutex<Option<Posted>>,
    ready: Condvar,
    next_seq: AtomicU64,
    replaced: AtomicU64,
    ended: AtomicBool,
    max: (u32, u32),
    /// The stage that opened it.
    owner: String,
}

/// The frame inbox of the edge HTTP service: one slot per `source = "http"` stream. The
/// program inserts one into `RunOptions::services` before building the pipeline; the
/// sources open their streams in it, and `POST /frame` posts into it.
#[derive(Default)]
pub struct FrameInbox {
    streams: Mutex<BTreeMap<String, Arc<Slot>>>,
}

impl std::fmt::Debug for FrameInbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameInbox")
            .field("streams", &self.streams())
            .finish()
    }
}

/// Counters of one stream in the inbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboxStream {
    /// The stream id.
    pub stream_id: String,
    /// Posts taken.
    pub posted: u64,
    /// Posts replaced by a newer one before the pipeline took them.
    pub replaced: u64,
    /// The source has stopped.
    pub ended: bool,
}

impl FrameInbox {
    /// An inbox with no streams.
    pub fn new() -> Self {
        FrameInbox::default()
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<Slot>>> {
        self.streams.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The stream ids that take posts, sorted.
    pub fn streams(&self) -> Vec<String> {
        self.slots().keys().cloned().collect()
    }

    /// Every stream's counters.
    pub fn counters(&self) -> Vec<InboxStream> {
        self.slots()
            .iter()
            .map(|(id, s)| InboxStream {
                stream_id: id.clone(),
                posted: s.next_seq.load(Ordering::Relaxed),
                replaced: s.replaced.load(Ordering::Relaxed),
                ended: s.ended.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// Open stream `id` for stage `owner`. Another stage's live stream of the same id is an
    /// error; the same stage opening it again (rebuilt in place) takes the slot over, and the
    /// stream's `seq` goes on.
    fn open(&self, id: &str, owner: &str, max: (u32, u32)) -> Result<Arc<Slot>, String> {
        let mut slots = self.slots();
        let (seq, replaced) = match slots.get(id) {
            Some(s) if s.owner != owner && !s.ended.load(Ordering::Relaxed) => {
                return Err(format!("stage `{}` already takes stream `{id}`", s.owner));
            }
            Some(s) => (
                s.next_seq.load(Ordering::Relaxed),
                s.replaced.load(Ordering::Relaxed),
            ),
            None => (0, 0),
        };
        let slot = Arc::new(Slot {
            latest: Mutex::new(None),
            ready: Condvar::new(),
            next_seq: AtomicU64::new(seq),
            replaced: AtomicU64::new(replaced),
            ended: AtomicBool::new(false),
            max,
            owner: owner.to_string(),
        });
        slots.insert(id.to_string(), slot.clone());
        Ok(slot)
    }

    /// Post a JPEG to `stream`: checked (a JPEG header, the end marker, the size) and kept as
    /// the stream's latest frame, replacing one not yet taken.
    pub fn post(&self, stream: &str, jpeg: Bytes) -> Result<Accepted, PostError> {
        let slot = self.slots().get(stream).cloned();
        let slot = slot.ok_or_else(|| PostError::UnknownStream {
            stream: stream.to_string(),
            known: self.streams(),
        })?;
        if slot.ended.load(Ordering::Relaxed) {
            return Err(PostError::Ended(stream.to_string()));
        }
        let (width, height) = check_jpeg(&jpeg)?;
        let (max_width, max_height) = slot.max;
        if width > max_width || height > max_height {
            return Err(PostError::TooLarge {
                stream: stream.to_string(),
                width,
                height,
                max_width,
                max_height,
            });
        }
        let seq = slot.next_seq.fetch_add(1, Ordering::Relaxed);
        let mut latest = slot.latest.lock().unwrap_or_else(PoisonError::into_inner);
        let replaced = latest
            .replace(Posted {
                jpeg,
                seq,
                received: SystemTime::now(),
                at: Instant::now(),
            })
            .is_some();
        if replaced {
            slot.replaced.fetch_add(1, Ordering::Relaxed);
        }
        drop(latest);
        slot.ready.notify_one();
        Ok(Accepted {
            stream_id: stream.to_string(),
            seq,
            width,
            height,
            replaced,
        })
    }
}

/// A JPEG's size from its header, after checking it starts and ends like one.
pub fn check_jpeg(jpeg: &[u8]) -> Result<(u32, u32), PostError> {
    if jpeg.len() < 4 || jpeg[..3] != [0xFF, 0xD8, 0xFF] {
        let what = if jpeg.is_empty() {
            "the body is empty".to_string()
        } else {
            format!(
                "it starts with {} (a JPEG starts with FF D8 FF)",
                jpeg.iter()
                    .take(3)
                    .map(|b| format!("{b:02X}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        };
        return Err(PostError::NotJpeg(what));
    }
    let mut decoder = JpegDecoder::new(ZCursor::new(jpeg));
    decoder
        .decode_headers()
        .map_err(|e| PostError::NotJpeg(format!("its header does not read: {e:?}")))?;
    let (w, h) = decoder
        .dimensions()
        .ok_or_else(|| PostError::NotJpeg("its header has no size".into()))?;
    // Encoders may pad after the end marker; nothing else may follow it.
    let end = jpeg.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    if end < 2 || jpeg[end - 2..end] != [0xFF, 0xD9] {
        return Err(PostError::Truncated(jpeg.len()));
    }
    Ok((w as u32, h as u32))
}

/// Decode a JPEG into a packed RGB frame.
fn decode(jpeg: &[u8], meta: Meta) -> Result<Frame, StageError> {
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(jpeg), options);
    let pixels = decoder
        .decode()
        .map_err(|e| StageError::transient(format!("a posted JPEG does not decode: {e:?}")))?;
    let (w, h) = decoder
        .dimensions()
        .ok_or_else(|| StageError::transient("a posted JPEG has no size"))?;
    Frame::packed(
        meta,
        w as u32,
        h as u32,
        PixelFormat::Rgb,
        Bytes::from(pixels),
    )
    .map_err(StageError::transient)
}

/// `source = "http"`.
pub struct HttpSource {
    stream: Arc<str>,
    slot: Arc<Slot>,
    stall_after: Duration,
    stop: StopSignal,
    state: Option<StreamState>,
    last_frame: Instant,
    last_pts: u64,
    last_seq: u64,
    decode_errors: u64,
    size: Option<(u32, u32)>,
    /// A frame decoded while the stream turned `live`: sent after that status.
    pending: Option<Frame>,
}

impl HttpSource {
    fn status(&mut self, state: StreamState, detail: Option<String>) -> SourceEvent<Frame> {
        self.state = Some(state);
        SourceEvent::Status(StreamStatus {
            meta: Meta::now(self.stream.clone(), self.last_seq, self.last_pts),
            state,
            attempt: 0,
            detail,
        })
    }
}

impl Source for HttpSource {
    type Config = HttpConfig;
    type Out = Frame;

    fn validate(cfg: &HttpConfig) -> Result<(), Invalid> {
        let mut inv = Invalid::new();
        if cfg
            .stream_id
            .as_deref()
            .is_some_and(|s| s.trim().is_empty())
        {
            inv.field(
                "stream_id",
                "is empty",
                Some(
                    "name the stream posts will give, or leave `stream_id` out (the stage id)"
                        .into(),
                ),
            );
        }
        if cfg.stall_after_ms == 0 {
            inv.field(
                "stall_after_ms",
                "must be more than 0",
                Some("e.g. 5000: a browser posting at 1 fps or more stays `live`".into()),
            );
        }
        for (field, v) in [("max_width", cfg.max_width), ("max_height", cfg.max_height)] {
            if v == 0 {
                inv.field(
                    field,
                    "must be more than 0",
                    Some("e.g. 3840 × 2160".into()),
                );
            }
        }
        inv.into_result()
    }

    fn build(cfg: HttpConfig, ctx: &BuildCtx) -> Result<Self, BuildError> {
        let inbox = ctx.service::<FrameInbox>().ok_or_else(|| {
            BuildError::new(
                "`source = \"http\"` takes frames from the edge HTTP service, which this run does not start",
            )
            .with_help("add a `[server]` table to the pipeline file (`listen = \"127.0.0.1:8080\"`)")
        })?;
        let stream: Arc<str> = cfg.stream_id.as_deref().unwrap_or(&ctx.stage_id).into();
        let slot = inbox
            .open(&stream, &ctx.stage_id, (cfg.max_width, cfg.max_height))
            .map_err(|m| {
                BuildError::new(m)
                    .with_help("give each `source = \"http\"` stage its own `stream_id`")
                    .at("stream_id")
            })?;
        Ok(HttpSource {
            stream,
            slot,
            stall_after: Duration::from_millis(cfg.stall_after_ms),
            stop: ctx.stop.clone(),
            state: None,
            last_frame: Instant::now(),
            last_pts: 0,
            last_seq: 0,
            decode_errors: 0,
            size: None,
            pending: None,
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
        if let Some(frame) = self.pending.take() {
            return Ok(SourceEvent::Item(frame));
        }
        if self.state.is_none() {
            return Ok(self.status(
                StreamState::Connecting,
                Some("waiting for the first POST /frame".into()),
            ));
        }
        let posted = {
            let latest = self
                .slot
                .latest
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let (mut latest, _) = self
                .slot
                .ready
                .wait_timeout_while(latest, Duration::from_millis(100), |l| l.is_none())
                .unwrap_or_else(PoisonError::into_inner);
            latest.take()
        };
        let Some(posted) = posted else {
            if self.state == Some(StreamState::Live)
                && self.last_frame.elapsed() >= self.stall_after
            {
                let detail = format!("no frame posted for {} ms", self.stall_after.as_millis());
                return Ok(self.status(StreamState::Stalled, Some(detail)));
            }
            return Ok(SourceEvent::Idle);
        };
        let pts = posted
            .received
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let meta = Meta {
            timestamp: posted.received,
            captured_at: posted.at,
            ..Meta::now(self.stream.clone(), posted.seq, pts)
        };
        let frame = match decode(&posted.jpeg, meta) {
            Ok(f) => f,
            Err(e) => {
                self.decode_errors += 1;
                return Err(e);
            }
        };
        self.last_frame = Instant::now();
        (self.last_seq, self.last_pts) = (posted.seq, pts);
        self.size = Some((frame.width, frame.height));
        if self.state != Some(StreamState::Live) {
            // The status goes first; the frame on the next call.
            self.pending = Some(frame);
            return Ok(self.status(StreamState::Live, None));
        }
        Ok(SourceEvent::Item(frame))
    }

    fn closing_status(&mut self) -> Option<StreamStatus> {
        self.slot.ended.store(true, Ordering::Relaxed);
        Some(StreamStatus {
            meta: Meta::now(self.stream.clone(), self.last_seq, self.last_pts),
            state: StreamState::Ended,
            attempt: 0,
            detail: Some("stopped".into()),
        })
    }

    fn report(&self, report: &mut Report) {
        report
            .set("stream_id", self.stream.to_string())
            .set("posted", self.slot.next_seq.load(Ordering::Relaxed))
            .set("replaced", self.slot.replaced.load(Ordering::Relaxed))
            .set("decode_errors", self.decode_errors);
        if let Some((w, h)) = self.size {
            report.set("size", format!("{w}x{h}"));
        }
    }

    fn finish(&mut self) -> Result<(), StageError> {
        self.slot.ended.store(true, Ordering::Relaxed);
        Ok(())
    }
}

impl Drop for HttpSource {
    fn drop(&mut self) {
        self.slot.ended.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg() -> Bytes {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../assets/images/grace_hopper.jpg"
        );
        Bytes::from(std::fs::read(path).expect("scripts/setup.sh fetches the test stills"))
    }

    #[test]
    fn posts_are_checked_and_only_the_latest_is_kept() {
        let inbox = FrameInbox::new();
        let slot = inbox.open("cam", "cam", (1000, 1000)).unwrap();
        let a = inbox.post("cam", jpeg()).unwrap();
        assert_eq!((a.seq, a.width, a.height, a.replaced), (0, 512, 600, false));
        let b = inbox.post("cam", jpeg()).unwrap();
        assert_eq!(
            (b.seq, b.replaced),
            (1, true),
            "the first was not taken yet"
        );
        let taken = slot.latest.lock().unwrap().take().unwrap();
        assert_eq!(taken.seq, 1, "the newest stays");
        let frame = decode(&taken.jpeg, Meta::now("cam".into(), 1, 0)).unwrap();
        assert_eq!(
            (frame.width, frame.height, frame.format),
            (512, 600, PixelFormat::Rgb)
        );
        assert_eq!(
            inbox.counters(),
            [InboxStream {
                stream_id: "cam".into(),
                posted: 2,
                replaced: 1,
                ended: false
            }]
        );
    }

    #[test]
    fn every_bad_post_has_its_own_error() {
        let inbox = FrameInbox::new();
        let _slot = inbox.open("cam", "cam", (320, 240)).unwrap();
        let j = jpeg();
        assert_eq!(
            inbox.post("garage", j.clone()),
            Err(PostError::UnknownStream {
                stream: "garage".into(),
                known: vec!["cam".into()]
            })
        );
        assert!(
            matches!(inbox.post("cam", Bytes::new()), Err(PostError::NotJpeg(m)) if m.contains("empty"))
        );
        assert!(matches!(
            inbox.post("cam", Bytes::from_static(b"\x89PNG\r\n\x1a\n....")),
            Err(PostError::NotJpeg(m)) if m.contains("89 50 4E")
        ));
        let cut = j.slice(..j.len() / 2);
        assert_eq!(
            inbox.post("cam", cut),
            Err(PostError::Truncated(j.len() / 2))
        );
        let header_only = j.slice(..20);
        assert!(matches!(
            inbox.post("cam", header_only),
            Err(PostError::NotJpeg(_) | PostError::Truncated(_))
        ));
        assert!(matches!(
            inbox.post("cam", j.clone()),
            Err(PostError::TooLarge {
                width: 512,
                height: 600,
                max_width: 320,
                ..
            })
        ));
        assert_eq!(inbox.counters()[0].posted, 0, "refused posts take no seq");
        // Padding after the end marker is fine.
        let mut padded = j.to_vec();
        padded.extend([0, 0, 0]);
        assert_eq!(check_jpeg(&padded), Ok((512, 600)));
    }

    #[test]
    fn a_stream_belongs_to_one_stage_and_a_rebuilt_stage_takes_it_over() {
        let inbox = FrameInbox::new();
        let first = inbox.open("cam", "a", (1000, 1000)).unwrap();
        let Err(e) = inbox.open("cam", "b", (1000, 1000)) else {
            panic!("a second stage on `cam`")
        };
        assert!(e.contains("stage `a` already takes stream `cam`"), "{e}");
        inbox.post("cam", jpeg()).unwrap();
        let again = inbox.open("cam", "a", (1000, 1000)).unwrap();
        assert_eq!(inbox.post("cam", jpeg()).unwrap().seq, 1, "seq goes on");
        assert!(again.latest.lock().unwrap().is_some() && first.latest.lock().unwrap().is_some());
        again.ended.store(true, Ordering::Relaxed);
        assert_eq!(
            inbox.post("cam", jpeg()),
            Err(PostError::Ended("cam".into()))
        );
        assert!(
            inbox.open("cam", "b", (1000, 1000)).is_ok(),
            "an ended stream is free"
        );
    }
}
