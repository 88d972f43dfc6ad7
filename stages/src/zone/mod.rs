//! `type = "zone"`: tracks in, zone and line events out.
//!
//! - `enter` after a track's anchor has been inside a zone for `min_frames` frames in a row;
//!   `exit` after `min_frames` frames outside, or `lost_exit_s` after the track was last seen
//!   (the tracker dropped it), with the time spent inside (`dwell_s`); `dwell` once when that
//!   time passes the zone's `dwell_s`.
//! - `line_cross` when the anchor has been on the other side of a line for `min_frames`
//!   frames and got there across the segment itself (not its infinite extension); direction
//!   `in` towards the line's `in_side`, else `out`.
//! - A box jittering on a boundary or a line never reaches `min_frames` on the other side, so it
//!   never produces repeated events. All times come from `pts_ns`.
//! - Occupancy per zone is sent with every message; a message goes out when there are events,
//!   when occupancy changed, or every `count_interval_s`.

pub mod geometry;
mod totals;

use std::collections::HashMap;
use std::sync::Arc;

use edgeflow_core::{
    BuildCtx, BuildError, Changed, Emit, Invalid, Reconfigure, Report, StageError, StageInfo,
    Tracks, Transform, ZoneEvent, ZoneEventKind, ZoneEvents,
};
use serde::Deserialize;

pub use geometry::{Anchor, Defaults, Geometry, LineSpec, Side, ZoneSpec};
pub use totals::TotalsTable;

use totals::{Bump, Store};

/// Registry entry.
pub const INFO: StageInfo = StageInfo {
    type_name: "zone",
    variant: None,
    summary: "polygon zones (enter, exit, dwell, occupancy) and counting lines (crossings with direction)",
    example: r#"[stages.cam]
type = "capture"
source = "test_pattern"
count = 100

[stages.det]
type = "detect"
inputs = ["cam"]
backend = "mock"

[stages.trk]
type = "track"
inputs = ["det"]

[stages.count]
type = "zone"
inputs = ["trk"]
anchor = "bottom_center"     # the point of a box that counts
min_frames = 3               # frames before enter/exit/crossing count (anti-flicker)
lost_exit_s = 1.0            # a track unseen this long leaves its zones
count_interval_s = 5.0       # also send occupancy this often
zones = [{ id = "left", polygon = [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]], dwell_s = 2.0 }]
lines = [{ id = "door", from = [0.1, 0.6], to = [0.9, 0.6], in_side = "left" }]

[stages.out]
type = "publish"
inputs = ["count"]
sink = "jsonl"
"#,
};

fn d_min_frames() -> u32 {
    3
}
fn d_lost() -> f64 {
    1.0
}

/// Config of `zone`.
#[derive(Clone, Debug, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    /// Polygons.
    #[serde(default)]
    pub zones: Vec<ZoneSpec>,
    /// Counting lines.
    #[serde(default)]
    pub lines: Vec<LineSpec>,
    /// The frame size pixel coordinates refer to; leave out for normalised 0..1 coordinates.
    #[serde(default)]
    pub frame_size: Option<[u32; 2]>,
    /// Default point of a box that counts.
    #[serde(default)]
    pub anchor: Anchor,
    /// Default label filter.
    #[serde(default)]
    pub classes: Option<Vec<String>>,
    /// Default anti-flicker frames.
    #[serde(default = "d_min_frames")]
    pub min_frames: u32,
    /// A track not seen for this long leaves its zones (`exit`).
    #[serde(default = "d_lost")]
    pub lost_exit_s: f64,
    /// Send occupancy at least this often (default: only on change).
    #[serde(default)]
    pub count_interval_s: Option<f64>,
    /// Where the running totals are kept between runs.
    #[serde(default)]
    pub totals: TotalsTable,
}

impl ZoneConfig {
    fn defaults(&self) -> Defaults {
        Defaults {
            anchor: self.anchor,
            classes: self.classes.clone(),
            min_frames: self.min_frames,
            frame_size: self.frame_size,
        }
    }
}

#[derive(Clone, Debug, Default)]
struct InZone {
    inside: bool,
    streak: u32,
    streak_start_ns: u64,
    entered_ns: u64,
    /// Dwell events reported since the track entered.
    dwells: u32,
}

#[derive(Clone, Debug, Default)]
struct AtLine {
    side: Option<Side>,
    pending: Option<Side>,
    count: u32,
    crossed: bool,
}

#[derive(Clone, Debug)]
struct Memo {
    label: Arc<str>,
    last_seen_ns: u64,
    last_anchor: Vec<Option<(f64, f64)>>,
    zones: Vec<InZone>,
    lines: Vec<AtLine>,
}

#[derive(Default)]
/// What the zone stage remembers of one stream.
struct PerStream {
    tracks: HashMap<u64, Memo>,
    last_occupancy: Vec<u32>,
    last_sent_ns: Option<u64>,
}

/// The zone stage.
pub struct Zones {
    geometry: Geometry,
    cfg: ZoneConfig,
    streams: HashMap<Arc<str>, PerStream>,
    totals: Store,
}

impl Zones {
    /// Replace the zones and lines, keeping the other options (see [`Zones::apply`]).
    pub fn replace(&mut self, zones: Vec<ZoneSpec>, lines: Vec<LineSpec>) -> Result<(), Invalid> {
        let cfg = ZoneConfig {
            zones,
            lines,
            ..self.cfg.clone()
        };
        self.apply(cfg)
    }

    /// Take a new config while running: the geometry is built (and checked) first, and
    /// nothing changes when it is invalid. Each track keeps what it knew of a zone or line
    /// whose id stays (a track inside a zone that moved is not entered again; it exits when
    /// its anchor is outside the new polygon for `min_frames`); zones and lines with new ids
    /// start empty; removed ones are forgotten without events.
    pub fn apply(&mut self, cfg: ZoneConfig) -> Result<(), Invalid> {
        let geometry = Geometry::build(&cfg.zones, &cfg.lines, &cfg.defaults())?;
        let zones: Vec<Option<usize>> = geometry
            .zones
            .iter()
            .map(|z| self.geometry.zones.iter().position(|o| o.id == z.id))
            .collect();
        let lines: Vec<Option<usize>> = geometry
            .lines
            .iter()
            .map(|l| self.geometry.lines.iter().position(|o| o.id == l.id))
            .collect();
        fn carry<T: Clone + Default>(old: &[T], map: &[Option<usize>]) -> Vec<T> {
            map.iter()
                .map(|i| i.and_then(|i| old.get(i).cloned()).unwrap_or_default())
                .collect()
        }
        for st in self.streams.values_mut() {
            for memo in st.tracks.values_mut() {
                memo.zones = carry(&memo.zones, &zones);
                memo.lines = carry(&memo.lines, &lines);
                memo.last_anchor = carry(&memo.last_anchor, &lines);
            }
            st.last_occupancy = carry(&st.last_occupancy, &zones);
        }
        self.geometry = geometry;
        self.cfg = cfg;
        Ok(())
    }

    fn event(zone_id: &Arc<str>, kind: ZoneEventKind, track: u64, label: &Arc<str>) -> ZoneEvent {
        ZoneEvent {
            zone_id: zone_id.clone(),
            event_type: kind,
            track_id: track,
            label: label.clone(),
            direction: None,
            dwell_s: None,
            totals: None,
        }
    }

    /// Count `events` (in order) into the running totals of `stream`, give each the totals
    /// after it, and save them before the events leave the stage.
    fn count(&mut self, meta: &edgeflow_core::Meta, events: &mut [ZoneEvent], occupancy: &[u32]) {
        let g = &self.geometry;
        let inside = |id: &str| {
            g.zones
                .iter()
                .position(|z| &*z.id == id)
                .and_then(|z| occupancy.get(z).copied())
                .unwrap_or(0)
        };
        let now = meta.timestamp;
        // Counting starts when a stream first meets a zone or line.
        for z in &g.zones {
            self.totals
                .count(&meta.stream_id, &z.id, None, false, 0, now);
        }
        for l in &g.lines {
            self.totals
                .count(&meta.stream_id, &l.id, None, true, 0, now);
        }
        for e in events.iter_mut() {
            let (bump, line) = match e.event_type {
                ZoneEventKind::LineCross => (
                    Some(Bump::Cross(e.direction.as_deref() == Some("in"))),
                    true,
                ),
                ZoneEventKind::Enter => (Some(Bump::Enter), false),
                ZoneEventKind::Exit => (Some(Bump::Exit), false),
                ZoneEventKind::Dwell => (None, false),
            };
            let occupancy = if line { 0 } else { inside(&e.zone_id) };
            e.totals =
                Some(
                    self.totals
                        .count(&meta.stream_id, &e.zone_id, bump, line, occupancy, now),
                );
        }
        if let Err(e) = self.totals.save() {
            let n = self.totals.failed_saves();
            if n == 1 || n.is_multiple_of(100) {
                tracing::warn!(
                    "{e} ({n} failed saves so far; retried with the next event; totals are correct in the events, but a restart now would start them from the last saved ones)"
                );
            }
        }
    }
}

impl Transform for Zones {
    type Config = ZoneConfig;
    type In = Tracks;
    type Out = ZoneEvents;

    fn validate(cfg: &ZoneConfig) -> Result<(), Invalid> {
        let mut inv = match Geometry::build(&cfg.zones, &cfg.lines, &cfg.defaults()) {
            Ok(_) => Invalid::new(),
            Err(e) => e,
        };
        if cfg.zones.is_empty() && cfg.lines.is_empty() {
            inv.field(
                "zones",
                "no zones and no lines",
                Some(
                    "add `zones = [...]` or `lines = [...]` (see `edgeflow list-stages --verbose`)"
                        .into(),
                ),
            );
        }
        if !(cfg.lost_exit_s.is_finite() && cfg.lost_exit_s >= 0.0) {
            inv.field("lost_exit_s", "must be 0 or more seconds", None);
        }
        if cfg
            .count_interval_s
            .is_some_and(|s| !(s.is_finite() && s > 0.0))
        {
            inv.field(
                "count_interval_s",
                "must be a positive number of seconds",
                None,
            );
        }
        inv.into_result()
    }

    fn build(cfg: ZoneConfig, ctx: &BuildCtx) -> Result<Self, BuildError> {
        let geometry = Geometry::build(&cfg.zones, &cfg.lines, &cfg.defaults())
            .map_err(|e| BuildError::new(e.to_string()))?;
        // `in_side` is easy to get backwards: say where `in` is on the image.
        for line in &geometry.lines {
            ctx.note(format!(
                "line `{}`: `in` is {} the line on the image",
                line.id,
                line.in_side_on_image()
            ));
        }
        let path = cfg.totals.path(ctx);
        let totals = Store::open(path.clone())?;
        match (&path, totals.since()) {
            (Some(p), Some(since)) => ctx.note(format!(
                "running totals from {} (counting since {since})",
                p.display()
            )),
            (Some(p), None) => ctx.note(format!("running totals kept in {}", p.display())),
            (None, _) => ctx.note("running totals start from zero (`totals.persist = false`)"),
        }
        Ok(Zones {
            geometry,
            cfg,
            streams: HashMap::new(),
            totals,
        })
    }

    /// Every option applies in place (see [`Zones::apply`]) but `totals`, which rebuilds the
    /// stage on the new file.
    fn reconfigure(
        &mut self,
        cfg: &ZoneConfig,
        changed: &Changed<'_>,
    ) -> Result<Reconfigure, BuildError> {
        if changed.contains("totals") {
            return Ok(Reconfigure::Rebuild);
        }
        self.apply(cfg.clone())
            .map_err(|e| BuildError::new(e.to_string()))?;
        Ok(Reconfigure::Applied)
    }

    fn report(&self, report: &mut Report) {
        let ids = |v: Vec<&str>| serde_json::Value::from(v);
        report
            .set(
                "zones",
                ids(self.geometry.zones.iter().map(|z| &*z.id).collect()),
            )
            .set(
                "lines",
                ids(self.geometry.lines.iter().map(|l| &*l.id).collect()),
            )
            .set(
                "tracks",
                self.streams.values().map(|s| s.tracks.len()).sum::<usize>() as u64,
            );
        let occupancy = |stream: &str, id: &str| {
            let z = self.geometry.zones.iter().position(|z| &*z.id == id);
            self.streams
                .get(stream)
                .zip(z)
                .and_then(|(s, z)| s.last_occupancy.get(z).copied())
                .unwrap_or(0)
        };
        report.set("totals", self.totals.report(occupancy));
        if let Some(since) = self.totals.since() {
            report.set("totals_since", since);
        }
        // Where the zones and lines are, for overlays (the edge service's page and frames).
        report.set(
            "outline",
            serde_json::json!({
                "zones": self.cfg.zones.iter().map(|z| serde_json::json!({
                    "id": z.id, "polygon": z.polygon,
                })).collect::<Vec<_>>(),
                "lines": self.cfg.lines.iter().map(|l| serde_json::json!({
                    "id": l.id, "from": l.from, "to": l.to, "in_side": l.in_side,
                })).collect::<Vec<_>>(),
            }),
        );
        if self.totals.failed_saves() > 0 {
            report.set("totals_failed_saves", self.totals.failed_saves());
        }
    }

    fn process(&mut self, t: Tracks, out: &mut Emit<ZoneEvents>) -> Result<(), StageError> {
        let now = t.meta.pts_ns;
        let g = &self.geometry;
        let st = self.streams.entry(t.meta.stream_id.clone()).or_default();
        let mut events = Vec::new();

        // A lost track still reported (`report_lost_frames`) is a prediction: nothing was
        // seen, so it neither moves through zones nor counts as present.
        for tr in t.tracks.iter().filter(|tr| tr.lost_frames == 0) {
            let label = &tr.detection.label;
            let memo = st.tracks.entry(tr.track_id).or_insert_with(|| Memo {
                label: label.clone(),
                last_seen_ns: now,
                last_anchor: vec![None; g.lines.len()],
                zones: vec![InZone::default(); g.zones.len()],
                lines: vec![AtLine::default(); g.lines.len()],
            });
            memo.last_seen_ns = now;
            for (z, zone) in g.zones.iter().enumerate() {
                if !zone.admit.admits(&tr.detection) {
                    continue;
                }
                let inside = zone.contains(zone.anchor.of(&tr.detection.bbox));
                let s = &mut memo.zones[z];
                if inside != s.inside {
                    if s.streak == 0 {
                        s.streak_start_ns = now;
                    }
                    s.streak += 1;
                    if s.streak >= zone.min_frames {
                        s.inside = inside;
                        s.streak = 0;
                        if inside {
                            s.entered_ns = s.streak_start_ns;
                            s.dwells = 0;
                            events.push(Zones::event(
                                &zone.id,
                                ZoneEventKind::Enter,
                                tr.track_id,
                                label,
                            ));
                        } else {
                            let mut e =
                                Zones::event(&zone.id, ZoneEventKind::Exit, tr.track_id, label);
                            e.dwell_s =
                                Some(s.streak_start_ns.saturating_sub(s.entered_ns) as f64 / 1e9);
                            events.push(e);
                        }
                    }
                } else {
                    s.streak = 0;
                }
                // The first dwell at `dwell_s`, then one every `dwell_repeat_s` (loitering).
                let due = match (zone.dwell_s, zone.dwell_repeat_s, s.dwells) {
                    (Some(limit), _, 0) => Some(limit),
                    (Some(limit), Some(every), n) => Some(limit + f64::from(n) * every),
                    _ => None,
                };
                if s.inside
                    && let Some(due) = due
                {
                    let spent = now.saturating_sub(s.entered_ns) as f64 / 1e9;
                    if spent >= due {
                        s.dwells += 1;
                        let mut e =
                            Zones::event(&zone.id, ZoneEventKind::Dwell, tr.track_id, label);
                        e.dwell_s = Some(spent);
                        events.push(e);
                    }
                }
            }
            for (l, line) in g.lines.iter().enumerate() {
                if !line.admit.admits(&tr.detection) {
                    continue;
                }
                let p = line.anchor.of(&tr.detection.bbox);
                let prev = memo.last_anchor[l].replace(p);
                let s = &mut memo.lines[l];
                let Some(side) = line.side(p) else { continue };
                let Some(current) = s.side else {
                    s.side = Some(side);
                    continue;
                };
                if side == current {
                    s.pending = None;
                    s.count = 0;
                    s.crossed = false;
                    continue;
                }
                if s.pending != Some(side) {
                    s.pending = Some(side);
                    s.count = 0;
                    s.crossed = false;
                }
                s.count += 1;
                if let Some(a) = prev {
                    s.crossed |= line.crossed_by(a, p);
                }
                if s.count >= line.min_frames {
                    s.side = Some(side);
                    if s.crossed {
                        let mut e =
                            Zones::event(&line.id, ZoneEventKind::LineCross, tr.track_id, label);
                        e.direction = Some(if side == line.in_side { "in" } else { "out" }.into());
                        events.push(e);
                    }
                    s.pending = None;
                    s.count = 0;
                    s.crossed = false;
                }
            }
        }

        // Tracks the tracker has dropped leave their zones.
        let lost_ns = (self.cfg.lost_exit_s * 1e9) as u64;
        let mut gone: Vec<u64> = st
            .tracks
            .iter()
            .filter(|(_, m)| now.saturating_sub(m.last_seen_ns) > lost_ns)
            .map(|(id, _)| *id)
            .collect();
        gone.sort_unstable();
        for id in gone {
            if let Some(m) = st.tracks.remove(&id) {
                for (z, s) in m.zones.iter().enumerate() {
                    if s.inside {
                        let mut e = Zones::event(&g.zones[z].id, ZoneEventKind::Exit, id, &m.label);
                        e.dwell_s = Some(m.last_seen_ns.saturating_sub(s.entered_ns) as f64 / 1e9);
                        events.push(e);
                    }
                }
            }
        }

        let occupancy: Vec<u32> = (0..g.zones.len())
            .map(|z| st.tracks.values().filter(|m| m.zones[z].inside).count() as u32)
            .collect();
        let interval_due = self.cfg.count_interval_s.is_some_and(|s| {
            st.last_sent_ns
                .is_none_or(|last| now.saturating_sub(last) as f64 / 1e9 >= s)
        });
        let changed = occupancy != st.last_occupancy;
        st.last_occupancy = occupancy.clone();
        if !events.is_empty() || changed || interval_due {
            st.last_sent_ns = Some(now);
            self.count(&t.meta, &mut events, &occupancy);
            out.push(ZoneEvents {
                meta: t.meta,
                events,
                occupancy: self
                    .geometry
                    .zones
                    .iter()
                    .zip(occupancy)
                    .map(|(z, n)| (z.id.clone(), n))
                    .collect(),
            });
        }
        Ok(())
    }
}
