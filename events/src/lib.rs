//! # edgeflow-events
//!
//! Event schema v1: what every edgeflow publish sink sends (Kafka, MQTT, webhooks, JSON
//! lines) and what a collector reads, as Rust types. A consumer depends on this crate alone:
//! no GStreamer, no ONNX Runtime, no pipeline.
//!
//! Every event is one JSON object: the common fields of [`Event`] (`schema_version`,
//! `event_id`, `kind`, `device_id`, `stream_id`, `seq`, `pts_ns`, `timestamp`) and the fields
//! of its kind ([`Body`]). `event_id` is deterministic ([`event_id`]), so a consumer drops the
//! duplicates a replay after an outage produces.
//!
//! Schema v1 grows only by optional additions: new optional fields and new kinds. Readers
//! built from these types ignore fields they do not know, and read a kind they do not know as
//! [`Body::Unknown`] instead of failing. `docs/event.schema.json` is generated from these
//! types ([`schema`]); a test fails when the checked-in file differs.
#![deny(missing_docs)]

mod body;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use body::{
    Body, BoxItem, DeviceState, DeviceStatus, FrameInfo, FrameSummary, LineTotals, Occupancy,
    PacketInfo, StreamState, StreamStatus, Summary, Totals, ZoneEvent, ZoneEventType, ZoneTotals,
};

/// Version of the event schema.
pub const SCHEMA_VERSION: u32 = 1;

/// One event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Event {
    /// The schema version of the writer (1).
    pub schema_version: u32,
    /// Deterministic id, 32 hex digits: the same event replayed has the same id.
    pub event_id: String,
    /// The device (`[pipeline] device_id`).
    pub device_id: String,
    /// The stream (the capture stage's id, or its `stream_id`).
    pub stream_id: String,
    /// Frame number within the stream (the frame the event belongs to).
    pub seq: u64,
    /// Presentation time of that frame, nanoseconds since the stream started.
    pub pts_ns: u64,
    /// Wall-clock time of that frame, RFC 3339 UTC.
    pub timestamp: String,
    /// The file the frame came from, for sources that read several (`images`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// `kind` and the fields of that kind.
    #[serde(flatten)]
    pub body: Body,
}

/// Where an event comes from: the part of [`Event`] every kind shares, before its id.
#[derive(Clone, Copy, Debug)]
pub struct Origin<'a> {
    /// The device.
    pub device_id: &'a str,
    /// The stream.
    pub stream_id: &'a str,
    /// Frame number.
    pub seq: u64,
    /// Presentation time, ns.
    pub pts_ns: u64,
    /// Wall-clock time, RFC 3339.
    pub timestamp: &'a str,
    /// The file the frame came from, if a source names one.
    pub file: Option<&'a str>,
}

impl Event {
    /// An event of `body` from `origin`, its id from `id_kind` (the kind, or what tells events
    /// of one kind and frame apart: `enter`, `stream_status/Live/0`), `track` and `zone`.
    pub fn new(
        origin: Origin<'_>,
        body: Body,
        id_kind: &str,
        track: Option<u64>,
        zone: Option<&str>,
    ) -> Event {
        Event {
            schema_version: SCHEMA_VERSION,
            event_id: event_id(
                origin.device_id,
                origin.stream_id,
                origin.seq,
                id_kind,
                track,
                zone,
            ),
            device_id: origin.device_id.to_string(),
            stream_id: origin.stream_id.to_string(),
            seq: origin.seq,
            pts_ns: origin.pts_ns,
            timestamp: origin.timestamp.to_string(),
            file: origin.file.map(String::from),
            body,
        }
    }

    /// The value of `kind` (`detections`, `zone_event`, …).
    pub fn kind(&self) -> &'static str {
        self.body.kind()
    }

    /// The event as one line of JSON (no newline).
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.write_json(&mut out);
        out
    }

    /// Append the event's JSON to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        // Serializing plain data into memory cannot fail (no maps with non-string keys).
        let _ = serde_json::to_writer(out, self);
    }
}

/// The deterministic id of an event: the first 16 bytes of SHA-256 over its identifying
/// parts (device, stream, seq, kind, track, zone), in hex.
pub fn event_id(
    device: &str,
    stream: &str,
    seq: u64,
    kind: &str,
    track: Option<u64>,
    zone: Option<&str>,
) -> String {
    let mut h = Sha256::new();
    for part in [
        device,
        stream,
        &seq.to_string(),
        kind,
        &track.map(|t| t.to_string()).unwrap_or_default(),
        zone.unwrap_or(""),
    ] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The JSON Schema of [`Event`], as checked in at `docs/event.schema.json`.
pub fn schema() -> serde_json::Value {
    let mut s = serde_json::to_value(schemars::schema_for!(Event)).unwrap_or_default();
    if let Some(o) = s.as_object_mut() {
        o.insert(
            "$id".into(),
            "https://edgeflow.invalid/schema/event-v1.json".into(),
        );
        o.insert("title".into(), "edgeflow event (schema v1)".into());
    }
    s
}
