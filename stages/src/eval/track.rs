//! A pipeline's `track` stage (and the `zone` stage after it) over recorded detections,
//! scored against ground truth: what `edgeflow eval track` runs for each row of a sweep.

use std::collections::BTreeMap;

use edgeflow_core::{BuildCtx, BuildError, Detections, Emit, Transform, ZoneEventKind};

use super::mot::Row;
use crate::track::{TrackerParams, Tracking};
use crate::zone::{ZoneConfig, Zones};

/// What one run gives.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// The tracks as MOTChallenge rows in pixels (frame = seq + 1).
    pub rows: Vec<Row>,
    /// Zone events by `zone_id/event_type` (`door/enter`, `gate/line_cross/in`), if a zone
    /// stage ran.
    pub zone_events: BTreeMap<String, u64>,
}

/// Run a tracker with `params` (and a zone stage with `zone`) over `frames`, in order.
pub fn run(
    params: TrackerParams,
    zone: Option<ZoneConfig>,
    frames: &[Detections],
) -> Result<Outcome, BuildError> {
    let ctx = BuildCtx::for_stage("track");
    let mut tracker = Tracking::build(params, &ctx)?;
    let mut zones = match zone {
        Some(mut z) => {
            // Offline runs start from zero and leave the pipeline's running totals alone.
            z.totals.persist = false;
            Some(Zones::build(z, &BuildCtx::for_stage("zone"))?)
        }
        None => None,
    };
    let mut out = Outcome::default();
    let mut tracks = Emit::new();
    let mut events = Emit::new();
    for d in frames {
        tracker
            .process(d.clone(), &mut tracks)
            .map_err(|e| BuildError::new(e.to_string()))?;
        for t in tracks.drain() {
            let (w, h) = (f64::from(t.frame_width), f64::from(t.frame_height));
            out.rows.extend(t.tracks.iter().map(|tr| {
                let b = tr.detection.bbox;
                Row {
                    frame: t.meta.seq + 1,
                    id: tr.track_id as i64,
                    bbox: [
                        f64::from(b.x) * w,
                        f64::from(b.y) * h,
                        f64::from(b.width) * w,
                        f64::from(b.height) * h,
                    ],
                    // 1: a track file is also usable as ground truth (rows below 1 are ignored).
                    conf: 1.0,
                }
            }));
            if let Some(z) = zones.as_mut() {
                z.process(t, &mut events)
                    .map_err(|e| BuildError::new(e.to_string()))?;
                for ev in events.drain().flat_map(|e| e.events) {
                    let mut key = format!("{}/{}", ev.zone_id, kind_name(ev.event_type));
                    if let Some(dir) = &ev.direction {
                        key.push('/');
                        key.push_str(dir);
                    }
                    *out.zone_events.entry(key).or_default() += 1;
                }
            }
        }
    }
    Ok(out)
}

fn kind_name(k: ZoneEventKind) -> &'static str {
    match k {
        ZoneEventKind::Enter => "enter",
        ZoneEventKind::Exit => "exit",
        ZoneEventKind::Dwell => "dwell",
        ZoneEventKind::LineCross => "line_cross",
    }
}
