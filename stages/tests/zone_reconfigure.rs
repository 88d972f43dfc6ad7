//! Zones and lines changed in a running pipeline: events follow the new geometry from the
//! `seq` the reply names, exactly as an offline run that switches at that frame, and no frame
//! is dropped; an invalid change points into the fragment and changes nothing.

use std::sync::Arc;
use std::time::Duration;

use edgeflow_core::testing::{config_from_toml, track_at};
use edgeflow_core::{
    BuildCtx, BuildError, ControlError, Emit, Message, Meta, Outcome, Pipeline, QueuePolicy,
    RunOptions, Services, Source, SourceEvent, StageError, StageInfo, Tracks, Transform, load_str,
};
use edgeflow_stages::zone::{ZoneConfig, Zones};
use serde::Deserialize;

const WAIT: Duration = Duration::from_secs(10);
const FRAMES: u64 = 400;

/// One track walking left and right across the frame at y = 0.5, 40 frames each way.
fn anchor_x(seq: u64) -> f64 {
    let phase = seq % 80;
    let t = if phase < 40 { phase } else { 80 - phase } as f64 / 40.0;
    0.05 + 0.9 * t
}

fn tracks(seq: u64) -> Tracks {
    let x = anchor_x(seq);
    Tracks {
        meta: Meta::now("cam".into(), seq, seq * 40_000_000),
        frame_width: 640,
        frame_height: 480,
        tracks: vec![track_at(1, "person", (x, 0.5), seq)],
        face_model: false,
    }
}

/// One token = one frame; dropping the sender ends the stream.
struct Tokens(flume::Receiver<()>);

#[derive(Deserialize, edgeflow_core::schemars::JsonSchema)]
#[schemars(crate = "edgeflow_core::schemars")]
#[serde(deny_unknown_fields)]
struct WalkCfg {}

/// The walk, one frame per token.
struct Walk {
    tokens: Arc<Tokens>,
    seq: u64,
}

impl Source for Walk {
    type Config = WalkCfg;
    type Out = Tracks;
    fn build(_: WalkCfg, ctx: &BuildCtx) -> Result<Self, BuildError> {
        Ok(Walk {
            tokens: ctx.require_service::<Tokens>("a token channel")?,
            seq: 0,
        })
    }
    fn next(&mut self) -> Result<Option<Tracks>, StageError> {
        loop {
            match self.next_event()? {
                SourceEvent::Item(t) => return Ok(Some(t)),
                SourceEvent::End => return Ok(None),
                SourceEvent::Status(_) | SourceEvent::Idle => {}
            }
        }
    }
    fn next_event(&mut self) -> Result<SourceEvent<Tracks>, StageError> {
        match self.tokens.0.recv_timeout(Duration::from_millis(20)) {
            Ok(()) => {
                self.seq += 1;
                Ok(SourceEvent::Item(tracks(self.seq - 1)))
            }
            Err(flume::RecvTimeoutError::Timeout) => Ok(SourceEvent::Idle),
            Err(flume::RecvTimeoutError::Disconnected) => Ok(SourceEvent::End),
        }
    }
}

const OLD: &str = r#"lines = [{ id = "west", from = [0.3, 0.0], to = [0.3, 1.0], in_side = "right" }]
zones = [{ id = "left", polygon = [[0.0, 0.0], [0.4, 0.0], [0.4, 1.0], [0.0, 1.0]] }]
count_interval_s = 0.001"#;

const NEW: &str = r#"lines = [{ id = "east", from = [0.7, 0.0], to = [0.7, 1.0], in_side = "right" }]
zones = [{ id = "left", polygon = [[0.0, 0.0], [0.2, 0.0], [0.2, 1.0], [0.0, 1.0]] }]"#;

/// (seq, zone or line id, event type, direction) of every event.
type Ev = (u64, String, String, Option<String>);

fn evs(msgs: impl IntoIterator<Item = edgeflow_core::ZoneEvents>) -> Vec<Ev> {
    msgs.into_iter()
        .flat_map(|z| {
            let seq = z.meta.seq;
            z.events.into_iter().map(move |e| {
                (
                    seq,
                    e.zone_id.to_string(),
                    format!("{:?}", e.event_type),
                    e.direction.map(|d| d.to_string()),
                )
            })
        })
        .collect()
}

/// The same walk offline: the old config up to `boundary`, the new one after it.
fn offline(boundary: u64) -> Vec<Ev> {
    let old: ZoneConfig = config_from_toml(OLD).unwrap();
    let new: ZoneConfig = config_from_toml(&format!("{NEW}\ncount_interval_s = 0.001")).unwrap();
    let mut z = Zones::build(old, &BuildCtx::for_stage("count")).unwrap();
    let mut out = Emit::new();
    for seq in 0..FRAMES {
        if seq == boundary + 1 {
            z.apply(new.clone()).unwrap();
        }
        z.process(tracks(seq), &mut out).unwrap();
    }
    evs(out.drain())
}

#[test]
fn zones_change_mid_run_and_events_follow_the_new_geometry_from_the_named_seq() {
    let mut registry = edgeflow_stages::registry();
    registry.source::<Walk>(StageInfo {
        type_name: "walk",
        variant: None,
        summary: "test",
        example: "",
    });
    let text = format!(
        "[stages.walk]\ntype = \"walk\"\n\n[stages.count]\ntype = \"zone\"\ninputs = [\"walk\"]\n{OLD}\n\n\
         [stages.out]\ntype = \"publish\"\ninputs = [\"count\"]\nsink = \"jsonl\"\npath = \"/dev/null\"\n"
    );
    let loaded = load_str(&registry, "zones.toml", &text, ".".as_ref())
        .unwrap_or_else(|d| panic!("{}", d.render(false)));
    let (tx, rx) = flume::unbounded();
    let mut services = Services::new();
    services.insert(Tokens(rx));
    let mut p = Pipeline::build(
        loaded.spec,
        RunOptions {
            services,
            ..RunOptions::default()
        },
    )
    .unwrap();
    let events = p.subscribe("count", 1024, QueuePolicy::Block).unwrap();
    let run = p.start().unwrap();
    let count = run.stage("count").unwrap();

    // A broken change first: every problem, pointing into the fragment; nothing changes.
    let err = count
        .reconfigure(
            "zones = [{ id = \"z\", polygon = [[0.0, 0.0]] }]\nmin_frame = 2",
            WAIT,
        )
        .unwrap_err();
    let ControlError::Invalid { diagnostics, .. } = &err else {
        panic!("{err}");
    };
    let text = diagnostics.render(false);
    assert_eq!(diagnostics.error_count(), 2, "{text}");
    assert!(text.contains("did you mean `min_frames`?"), "{text}");
    assert!(text.contains("invalid `zones.0.polygon`"), "{text}");
    assert!(text.contains("<change to stage `count`>:1:32"), "{text}");

    // Half the walk, then the new geometry, then the rest.
    for _ in 0..FRAMES / 2 {
        tx.send(()).unwrap();
    }
    let mut got = Vec::new();
    while got.len() < (FRAMES / 2) as usize {
        if let Ok(Message::ZoneEvents(z)) = events.recv_timeout(WAIT) {
            got.push(z);
        }
    }
    let done = count.reconfigure(NEW, WAIT).unwrap();
    for _ in FRAMES / 2..FRAMES {
        tx.send(()).unwrap();
    }
    assert_eq!(done.outcome, Outcome::InPlace);
    assert_eq!(done.changed, ["lines", "zones"]);
    let boundary = done.last_seq_before["cam"];
    assert_eq!(boundary, FRAMES / 2 - 1);
    let state = count.get_state(WAIT).unwrap();
    assert_eq!(
        state.report.get("lines"),
        Some(&serde_json::json!(["east"]))
    );
    drop(tx);
    got.extend(events.iter().filter_map(|m| match m {
        Message::ZoneEvents(z) => Some(z),
        _ => None,
    }));
    let report = run.wait();
    assert!(report.failure.is_none());

    // One message per frame (count_interval_s): no frame dropped.
    let seqs: Vec<u64> = got.iter().map(|z| z.meta.seq).collect();
    assert_eq!(seqs, (0..FRAMES).collect::<Vec<_>>());
    let live = evs(got);
    assert_eq!(live, offline(boundary), "boundary {boundary}");
    // Both geometries were really used.
    assert!(live.iter().any(|e| e.0 <= boundary && e.1 == "west"));
    assert!(live.iter().any(|e| e.0 > boundary && e.1 == "east"));
    assert!(!live.iter().any(|e| e.0 > boundary && e.1 == "west"));
}
