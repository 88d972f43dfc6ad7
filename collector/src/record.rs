//! A Kafka message read as an event, or the reason it is dead-lettered.

use edgeflow_events::{Body, Event, SCHEMA_VERSION};

/// Where a message was in Kafka.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
}

/// One message as it came.
#[derive(Clone, Debug)]
pub struct Incoming {
    /// Where it was.
    pub at: Position,
    /// Its bytes (empty for a message without a payload).
    pub payload: Vec<u8>,
}

/// An event ready to store, with the columns the queries filter on.
#[derive(Clone, Debug)]
pub struct Row {
    /// The event as read.
    pub event: Event,
    /// `kind` as written (a kind newer than this collector is kept under its own name).
    pub kind: String,
    /// The event's wall-clock time, ms since 1970.
    pub ts_ms: i64,
    /// The zone or line of zone events.
    pub zone_id: Option<String>,
    /// `enter`, `exit`, `dwell`, `line_cross`.
    pub event_type: Option<String>,
    /// The class of zone events.
    pub class: Option<String>,
    /// A line crossing's direction.
    pub direction: Option<String>,
    /// Seconds inside, for exits and dwells.
    pub dwell_s: Option<f64>,
    /// Persons in a detections/tracks frame.
    pub persons: Option<i64>,
    /// The track of zone events.
    pub track_id: Option<i64>,
    /// The message's JSON, as stored and served.
    pub json: String,
    /// Where it came from.
    pub at: Position,
}

/// A message that is not an event of a schema this collector reads.
#[derive(Clone, Debug)]
pub struct DeadLetter {
    /// Why, in words.
    pub reason: String,
    /// A short tag for the metric (`not_json`, `schema_version`, `invalid`, `too_large`).
    pub tag: &'static str,
    /// Where it was.
    pub at: Position,
    /// The first bytes of the message.
    pub bytes: Vec<u8>,
    /// Its whole size.
    pub size: usize,
}

/// Read `m`: an event to store, or a dead letter (`keep` bytes of it kept).
pub fn read(m: Incoming, max_bytes: usize, keep: usize) -> Result<Row, DeadLetter> {
    let dead = |tag: &'static str, reason: String, m: Incoming| DeadLetter {
        reason,
        tag,
        size: m.payload.len(),
        bytes: m.payload[..m.payload.len().min(keep)].to_vec(),
        at: m.at,
    };
    if m.payload.len() > max_bytes {
        let reason = format!(
            "{} bytes, over `kafka.max_message_bytes` ({max_bytes})",
            m.payload.len()
        );
        return Err(dead("too_large", reason, m));
    }
    let value: serde_json::Value = match serde_json::from_slice(&m.payload) {
        Ok(v) => v,
        Err(e) => return Err(dead("not_json", format!("not JSON: {e}"), m)),
    };
    match value.get("schema_version").map(|v| v.as_u64()) {
        Some(Some(v)) if v == u64::from(SCHEMA_VERSION) => {}
        Some(Some(v)) => {
            let reason =
                format!("unknown schema version {v} (this collector reads {SCHEMA_VERSION})");
            return Err(dead("schema_version", reason, m));
        }
        _ => {
            let reason = "no `schema_version` number: not an edgeflow event".to_string();
            return Err(dead("invalid", reason, m));
        }
    }
    let kind = value
        .get("kind")
        .and_then(|k| k.as_str())
        .unwrap_or_default()
        .to_string();
    let event: Event = match serde_json::from_value(value) {
        Ok(e) => e,
        Err(e) => return Err(dead("invalid", format!("not a v1 event: {e}"), m)),
    };
    if event.event_id.is_empty() {
        return Err(dead("invalid", "empty `event_id`".into(), m));
    }
    // What a database refuses for good is refused here, so one message cannot stall a
    // partition: NUL in text (PostgreSQL) and keys too long for an index.
    if let Some((field, why)) = unstorable(&event, &kind) {
        return Err(dead("invalid", format!("`{field}` {why}"), m));
    }
    let Ok(ts) = humantime::parse_rfc3339_weak(&event.timestamp) else {
        let reason = format!("`timestamp` {:?} is not RFC 3339", event.timestamp);
        return Err(dead("invalid", reason, m));
    };
    let ts_ms = ts
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let json = String::from_utf8_lossy(&m.payload).into_owned();
    let mut row = Row {
        kind,
        ts_ms,
        zone_id: None,
        event_type: None,
        class: None,
        direction: None,
        dwell_s: None,
        persons: None,
        track_id: None,
        json,
        at: m.at,
        event,
    };
    match &row.event.body {
        Body::ZoneEvent(z) => {
            row.zone_id = Some(z.zone_id.clone());
            row.event_type = Some(z.event_type.name().to_string());
            row.class = Some(z.class.clone());
            row.direction = z.direction.clone();
            row.dwell_s = z.dwell_s;
            row.track_id = Some(z.track_id as i64);
        }
        Body::Detections(s) | Body::Tracks(s) => {
            row.persons = Some(s.persons_detected as i64);
        }
        _ => {}
    }
    Ok(row)
}

/// Longest id (`event_id`, `device_id`, `stream_id`, zone ids) the store takes.
pub const MAX_ID_BYTES: usize = 512;

/// The first text column of `event` a store cannot keep, and why.
fn unstorable(event: &Event, kind: &str) -> Option<(&'static str, &'static str)> {
    let mut fields: Vec<(&'static str, &str)> = vec![
        ("event_id", &event.event_id),
        ("device_id", &event.device_id),
        ("stream_id", &event.stream_id),
        ("kind", kind),
    ];
    if let Body::ZoneEvent(z) = &event.body {
        fields.push(("zone_id", &z.zone_id));
        fields.push(("class", &z.class));
        if let Some(d) = &z.direction {
            fields.push(("direction", d));
        }
    }
    fields.into_iter().find_map(|(name, v)| {
        if v.contains('\0') {
            Some((name, "contains a NUL character"))
        } else if v.len() > MAX_ID_BYTES {
            Some((name, "is longer than 512 bytes"))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> Position {
        Position {
            topic: "t".into(),
            partition: 0,
            offset: 7,
        }
    }

    fn msg(s: &str) -> Incoming {
        Incoming {
            at: at(),
            payload: s.as_bytes().to_vec(),
        }
    }

    const GOOD: &str = r#"{"schema_version":1,"event_id":"ab","device_id":"d","stream_id":"s","seq":3,"pts_ns":0,"timestamp":"2026-12-01T10:00:00.000Z","kind":"zone_event","zone_id":"door","event_type":"exit","track_id":4,"class":"person","dwell_s":2.5}"#;

    #[test]
    fn a_zone_event_fills_its_columns() {
        let row = read(msg(GOOD), 1 << 20, 64).unwrap();
        assert_eq!(row.kind, "zone_event");
        assert_eq!(row.zone_id.as_deref(), Some("door"));
        assert_eq!(row.event_type.as_deref(), Some("exit"));
        assert_eq!(row.dwell_s, Some(2.5));
        assert_eq!(row.ts_ms, 1_796_119_200_000);
    }

    #[test]
    fn each_kind_of_bad_message_has_its_reason() {
        let cases = [
            ("not json", "not_json"),
            (r#"{"schema_version":2,"kind":"x"}"#, "schema_version"),
            (r#"{"kind":"x"}"#, "invalid"),
            (r#"{"schema_version":1,"kind":"zone_event"}"#, "invalid"),
            (
                &GOOD.replace("2026-12-01T10:00:00.000Z", "yesterday"),
                "invalid",
            ),
            (
                &GOOD.replace(r#""device_id":"d""#, r#""device_id":"a\u0000b""#),
                "invalid",
            ),
            (
                &GOOD.replace(
                    r#""event_id":"ab""#,
                    &format!(r#""event_id":"{}""#, "x".repeat(600)),
                ),
                "invalid",
            ),
        ];
        for (m, tag) in cases {
            let d = read(msg(m), 1 << 20, 4).unwrap_err();
            assert_eq!(d.tag, tag, "{m}: {}", d.reason);
            assert_eq!(d.bytes.len(), m.len().min(4));
            assert_eq!(d.size, m.len());
            assert_eq!(d.at, at());
        }
        let d = read(msg(GOOD), 10, 4).unwrap_err();
        assert_eq!(d.tag, "too_large");
        assert!(d.reason.contains("max_message_bytes"), "{}", d.reason);
    }

    #[test]
    fn a_kind_newer_than_this_reader_is_kept_under_its_name() {
        let m = r#"{"schema_version":1,"event_id":"c","device_id":"d","stream_id":"s","seq":0,"pts_ns":0,"timestamp":"2026-12-01T10:00:00Z","kind":"clip_ready","url":"x"}"#;
        let row = read(msg(m), 1 << 20, 4).unwrap();
        assert_eq!(row.kind, "clip_ready");
    }
}
