//! What edgeflow wrote (`publish sink = "jsonl"`): `detections` or `tracks` events, one JSON
//! object per line, read back as the `Detections` they were made from.

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;

use edgeflow_core::{BBox, Detection, Detections, Meta};
use edgeflow_events::{Body, BoxItem, Event, FrameSummary};

use crate::eval::mot::ParseError;

/// Which frame events to read.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum FrameKind {
    /// `kind = "detections"`: what the detector saw.
    Detections,
    /// `kind = "tracks"`: the boxes of tracks (their ids are dropped).
    Tracks,
}

impl FrameKind {
    fn name(self) -> &'static str {
        match self {
            FrameKind::Detections => "detections",
            FrameKind::Tracks => "tracks",
        }
    }
}

/// A streaming reader of one JSON lines file.
pub struct JsonlReader {
    name: String,
    lines: std::io::Lines<std::io::BufReader<std::fs::File>>,
    line: usize,
    kind: Option<FrameKind>,
    stream_id: Option<Arc<str>>,
    classes: HashMap<String, (u32, Arc<str>)>,
    last_seq: HashMap<String, u64>,
    /// Events read but not replayed, by kind (other kinds, or the other frame kind).
    pub ignored: BTreeMap<String, u64>,
    /// Frames replayed.
    pub frames: u64,
    files: HashMap<String, Arc<str>>,
}

impl JsonlReader {
    /// Open `path`; `kind` None takes the frame kind of the first frame event; `stream_id`
    /// replaces the recorded stream ids.
    pub fn open(
        path: &Path,
        kind: Option<FrameKind>,
        stream_id: Option<Arc<str>>,
    ) -> Result<JsonlReader, ParseError> {
        let name = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|e| ParseError {
            path: name.clone(),
            line: 0,
            message: e.to_string(),
        })?;
        Ok(JsonlReader {
            name,
            lines: std::io::BufReader::new(file).lines(),
            line: 0,
            kind,
            stream_id,
            classes: HashMap::new(),
            last_seq: HashMap::new(),
            ignored: BTreeMap::new(),
            frames: 0,
            files: HashMap::new(),
        })
    }

    fn err(&self, message: String) -> ParseError {
        ParseError {
            path: self.name.clone(),
            line: self.line,
            message,
        }
    }

    /// The next frame, `None` at the end of the file. A line that is not an edgeflow event,
    /// a box out of range, or a stream whose `seq` goes back is an error naming the line.
    pub fn next_frame(&mut self) -> Result<Option<Detections>, ParseError> {
        loop {
            let Some(line) = self.lines.next() else {
                return Ok(None);
            };
            self.line += 1;
            let line = line.map_err(|e| self.err(format!("cannot be read: {e}")))?;
            if line.trim().is_empty() {
                continue;
            }
            let ev: Event = serde_json::from_str(&line).map_err(|e| {
                self.err(format!(
                    "not an edgeflow event ({e}); replay reads what `publish sink = \"jsonl\"` writes"
                ))
            })?;
            let kind = match &ev.body {
                Body::Detections(_) => FrameKind::Detections,
                Body::Tracks(_) => FrameKind::Tracks,
                other => {
                    *self.ignored.entry(other.kind().to_string()).or_default() += 1;
                    continue;
                }
            };
            if *self.kind.get_or_insert(kind) != kind {
                *self.ignored.entry(kind.name().to_string()).or_default() += 1;
                continue;
            }
            let Some(summary) = ev.body.frame_summary() else {
                continue;
            };
            let frame = self.frame(&ev, summary)?;
            self.frames += 1;
            return Ok(Some(frame));
        }
    }

    fn frame(&mut self, ev: &Event, s: &FrameSummary) -> Result<Detections, ParseError> {
        if let Some(&prev) = self.last_seq.get(&ev.stream_id)
            && ev.seq <= prev
        {
            return Err(self.err(format!(
                "stream `{}`: seq {} comes after seq {prev}; replay needs each stream's frames \
                 in recorded order (was the file appended to by two runs, or written by two stages?)",
                ev.stream_id, ev.seq
            )));
        }
        if self.stream_id.is_some()
            && self.last_seq.len() == 1
            && !self.last_seq.contains_key(&ev.stream_id)
        {
            let first = self.last_seq.keys().next().cloned().unwrap_or_default();
            return Err(self.err(format!(
                "stream `{}` follows stream `{first}`: `stream_id` would merge two cameras into \
                 one stream; leave `stream_id` out to keep the recorded ids",
                ev.stream_id
            )));
        }
        self.last_seq.insert(ev.stream_id.clone(), ev.seq);
        let mut detections = Vec::with_capacity(s.detections.len());
        // Boxes of lost tracks still reported (`lost_frames` > 0) are the tracker's
        // predictions, not detections: they are left out.
        for b in s
            .detections
            .iter()
            .chain(s.faces.as_deref().unwrap_or_default())
            .filter(|b| b.lost_frames == 0)
        {
            detections.push(self.detection(b)?);
        }
        let timestamp = humantime::parse_rfc3339_weak(&ev.timestamp)
            .map_err(|e| self.err(format!("timestamp `{}`: {e}", ev.timestamp)))?;
        let stream_id = match &self.stream_id {
            Some(s) => s.clone(),
            None => ev.stream_id.as_str().into(),
        };
        let mut meta = Meta::now(stream_id, ev.seq, ev.pts_ns);
        meta.timestamp = timestamp;
        meta.file = ev.file.as_ref().map(|f| {
            self.files
                .entry(f.clone())
                .or_insert_with(|| f.as_str().into())
                .clone()
        });
        Ok(Detections {
            meta,
            frame_width: s.frame_width,
            frame_height: s.frame_height,
            detections,
            skipped: s.skipped,
            face_model: s.faces.is_some(),
        })
    }

    fn detection(&mut self, b: &BoxItem) -> Result<Detection, ParseError> {
        let finite = [b.conf, b.xmin, b.ymin, b.width, b.height]
            .iter()
            .all(|v| v.is_finite());
        if !finite || !(0.0..=1.0).contains(&b.conf) || b.width <= 0.0 || b.height <= 0.0 {
            return Err(self.err(format!(
                "box of `{}` (conf {}, {} {} {}×{}) is out of range: conf must be 0..1 and the \
                 box must have an area",
                b.class, b.conf, b.xmin, b.ymin, b.width, b.height
            )));
        }
        let next = self.classes.len() as u32;
        let (class_id, label) = self
            .classes
            .entry(b.class.clone())
            .or_insert_with(|| (next, b.class.as_str().into()))
            .clone();
        Ok(Detection {
            class_id,
            label,
            score: b.conf,
            bbox: BBox {
                x: b.xmin,
                y: b.ymin,
                width: b.width,
                height: b.height,
            },
            keypoints: b.keypoints.clone(),
        })
    }

    /// Log what was read and not replayed (call at the end of the file).
    pub fn log_ignored(&self) {
        if !self.ignored.is_empty() {
            tracing::info!(path = %self.name, frames = self.frames, ignored = ?self.ignored, "replay: events of other kinds were read and not replayed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(kind: &str, stream: &str, seq: u64, boxes: &str, timestamp: &str) -> String {
        format!(
            r#"{{"schema_version":1,"event_id":"e{seq}","device_id":"d","stream_id":"{stream}","seq":{seq},"pts_ns":{},"timestamp":"{timestamp}","kind":"{kind}","persons_detected":0,"frame_width":640,"frame_height":480,"detections":[{boxes}]}}"#,
            seq * 40_000_000
        )
    }

    const T: &str = "2026-12-03T10:00:00.000Z";

    fn read(
        text: &str,
        kind: Option<FrameKind>,
    ) -> (Result<Vec<Detections>, ParseError>, JsonlReader) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("rec.jsonl");
        std::fs::write(&p, text).unwrap();
        let mut r = JsonlReader::open(&p, kind, None).unwrap();
        let mut frames = Vec::new();
        let out = loop {
            match r.next_frame() {
                Ok(Some(d)) => frames.push(d),
                Ok(None) => break Ok(frames),
                Err(e) => break Err(e),
            }
        };
        (out, r)
    }

    #[test]
    fn the_first_frame_kind_is_replayed_and_the_rest_counted() {
        let person =
            r#"{"class":"person","conf":0.9,"xmin":0.1,"ymin":0.1,"width":0.1,"height":0.2}"#;
        let car = r#"{"class":"car","conf":0.8,"xmin":0.5,"ymin":0.1,"width":0.1,"height":0.2}"#;
        let coasting = r#"{"class":"person","conf":0.9,"xmin":0.1,"ymin":0.1,"width":0.1,"height":0.2,"track_id":3,"lost_frames":2}"#;
        let text = [
            line("detections", "cam", 0, &format!("{person},{car}"), T),
            line("tracks", "cam", 0, coasting, T),
            r#"{"schema_version":1,"event_id":"z","device_id":"d","stream_id":"cam","seq":1,"pts_ns":0,"timestamp":"2026-12-03T10:00:00.000Z","kind":"occupancy","occupancy":{}}"#.to_string(),
            line("detections", "cam", 1, car, T),
        ]
        .join("\n");
        let (frames, r) = read(&text, None);
        let frames = frames.unwrap();
        assert_eq!(frames.len(), 2);
        // Class ids by label, in order of first appearance.
        let ids: Vec<(u32, &str)> = frames
            .iter()
            .flat_map(|f| f.detections.iter().map(|d| (d.class_id, &*d.label)))
            .collect();
        assert_eq!(ids, [(0, "person"), (1, "car"), (1, "car")]);
        assert_eq!(r.ignored.get("tracks"), Some(&1));
        assert_eq!(r.ignored.get("occupancy"), Some(&1));
        // Asking for tracks: the coasting track's predicted box is left out.
        let (frames, _) = read(&text, Some(FrameKind::Tracks));
        let frames = frames.unwrap();
        assert_eq!(frames.len(), 1);
        assert!(frames[0].detections.is_empty());
    }

    #[test]
    fn a_bad_timestamp_names_the_line() {
        let text = [
            line("detections", "cam", 0, "", T),
            line("detections", "cam", 1, "", "yesterday"),
        ]
        .join("\n");
        let (out, _) = read(&text, None);
        let e = out.unwrap_err().to_string();
        assert!(e.contains("rec.jsonl:2: timestamp `yesterday`"), "{e}");
    }
}
