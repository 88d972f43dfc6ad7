//! Zone and line geometry: validated at load, evaluated with `geo`.

use geo::algorithm::kernels::{Kernel, Orientation, RobustKernel};
use geo::line_intersection::line_intersection;
use geo::{Contains, Coord, Line, LineString, Point, Polygon, Validation};
use serde::Deserialize;

use edgeflow_core::{BBox, Detection, Invalid};

/// Which point of a box counts.
#[derive(
    Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Anchor {
    /// Middle of the bottom edge: where a person stands (the default).
    #[default]
    BottomCenter,
    /// The box centre.
    Center,
    /// Middle of the top edge.
    TopCenter,
    /// Bottom-left corner.
    BottomLeft,
    /// Bottom-right corner.
    BottomRight,
}

impl Anchor {
    /// The anchor point of a normalised box.
    pub fn of(self, b: &BBox) -> (f64, f64) {
        let (x, y, w, h) = (
            f64::from(b.x),
            f64::from(b.y),
            f64::from(b.width),
            f64::from(b.height),
        );
        match self {
            Anchor::BottomCenter => (x + w / 2.0, y + h),
            Anchor::Center => (x + w / 2.0, y + h / 2.0),
            Anchor::TopCenter => (x + w / 2.0, y),
            Anchor::BottomLeft => (x, y + h),
            Anchor::BottomRight => (x + w, y + h),
        }
    }
}

/// Which side of a line is "in": left or right as seen walking from `from` to `to` on the
/// image (y grows downwards).
#[derive(
    Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// On the left hand, walking from `from` to `to`.
    #[default]
    Left,
    /// On the right hand.
    Right,
}

/// A zone as configured.
#[derive(Clone, Debug, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ZoneSpec {
    /// Name in events.
    pub id: String,
    /// At least three points, in order around the zone.
    pub polygon: Vec<[f64; 2]>,
    /// Which point of a box counts (default: the stage's `anchor`).
    #[serde(default)]
    pub anchor: Option<Anchor>,
    /// Count only these labels (default: the stage's `classes`, or all).
    #[serde(default)]
    pub classes: Option<Vec<String>>,
    /// Report `dwell` once a track has been inside this long.
    #[serde(default)]
    pub dwell_s: Option<f64>,
    /// After the first `dwell`, report another every this many seconds while the track
    /// stays (loitering); default: once.
    #[serde(default)]
    pub dwell_repeat_s: Option<f64>,
    /// Count only detections scoring at least this.
    #[serde(default)]
    pub min_score: Option<f32>,
    /// Count only boxes covering at least this fraction of the frame (width × height).
    #[serde(default)]
    pub min_box: Option<f64>,
    /// Frames inside before `enter` and outside before `exit` (default: the stage's).
    #[serde(default)]
    pub min_frames: Option<u32>,
}

/// A counting line as configured.
#[derive(Clone, Debug, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LineSpec {
    /// Name in events.
    pub id: String,
    /// One end.
    pub from: [f64; 2],
    /// The other end.
    pub to: [f64; 2],
    /// The side crossings into count as `in` (seen from `from` towards `to`).
    #[serde(default)]
    pub in_side: Side,
    /// Which point of a box counts (default: the stage's `anchor`).
    #[serde(default)]
    pub anchor: Option<Anchor>,
    /// Count only these labels.
    #[serde(default)]
    pub classes: Option<Vec<String>>,
    /// Count only detections scoring at least this.
    #[serde(default)]
    pub min_score: Option<f32>,
    /// Count only boxes covering at least this fraction of the frame (width × height).
    #[serde(default)]
    pub min_box: Option<f64>,
    /// Frames on the new side before a crossing counts (default: the stage's).
    #[serde(default)]
    pub min_frames: Option<u32>,
}

/// A zone ready to evaluate (normalised coordinates).
#[derive(Clone, Debug)]
pub struct Zone {
    /// Id.
    pub id: std::sync::Arc<str>,
    polygon: Polygon<f64>,
    /// Anchor.
    pub anchor: Anchor,
    /// Which detections count.
    pub admit: Admit,
    /// Dwell threshold.
    pub dwell_s: Option<f64>,
    /// Repeat the dwell event this often while the track stays.
    pub dwell_repeat_s: Option<f64>,
    /// Hysteresis frames.
    pub min_frames: u32,
}

/// Which detections a zone or line counts: labels, score, box size.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Admit {
    /// Only these labels (`None`: all).
    pub classes: Option<Vec<String>>,
    /// At least this score.
    pub min_score: f32,
    /// At least this fraction of the frame.
    pub min_box: f64,
}

impl Admit {
    /// Whether `d` counts here.
    pub fn admits(&self, d: &Detection) -> bool {
        self.classes
            .as_ref()
            .is_none_or(|c| c.iter().any(|x| **x == *d.label))
            && d.score >= self.min_score
            && f64::from(d.bbox.width) * f64::from(d.bbox.height) >= self.min_box
    }
}

/// `min_score` and `min_box` of zone or line `at` (`zones.0`): fractions.
fn check_admit(inv: &mut Invalid, at: &str, min_score: Option<f32>, min_box: Option<f64>) {
    if min_score.is_some_and(|v| !(0.0..=1.0).contains(&v)) {
        inv.field(
            &format!("{at}.min_score"),
            "not in 0..1",
            Some("a detection score, e.g. `min_score = 0.5`".into()),
        );
    }
    if min_box.is_some_and(|v| !(0.0..=1.0).contains(&v)) {
        inv.field(
            &format!("{at}.min_box"),
            "not in 0..1",
            Some("a fraction of the frame's area, e.g. `min_box = 0.01`".into()),
        );
    }
}

impl Zone {
    /// Whether a point lies inside (the boundary counts as outside).
    pub fn contains(&self, p: (f64, f64)) -> bool {
        self.polygon.contains(&Point::new(p.0, p.1))
    }
}

/// A line ready to evaluate (normalised coordinates).
#[derive(Clone, Debug)]
pub struct CountLine {
    /// Id.
    pub id: std::sync::Arc<str>,
    line: Line<f64>,
    /// The `in` side.
    pub in_side: Side,
    /// Anchor.
    pub anchor: Anchor,
    /// Which detections count.
    pub admit: Admit,
    /// Hysteresis frames.
    pub min_frames: u32,
}

impl CountLine {
    /// The side of the line's infinite extension a point is on (`None`: on it).
    pub fn side(&self, p: (f64, f64)) -> Option<Side> {
        // `orient2d` thinks in y-up coordinates; on the image y grows downwards, which
        // mirrors the turn: clockwise there is a left turn here.
        match RobustKernel::orient2d(self.line.start, self.line.end, Coord { x: p.0, y: p.1 }) {
            Orientation::Clockwise => Some(Side::Left),
            Orientation::CounterClockwise => Some(Side::Right),
            Orientation::Collinear => None,
        }
    }

    /// Where the `in` side lies on the image, in words ("above", "below and left of"): what a
    /// user checks against the camera's view (noted when the stage starts).
    pub fn in_side_on_image(&self) -> &'static str {
        let (dx, dy) = (
            self.line.end.x - self.line.start.x,
            self.line.end.y - self.line.start.y,
        );
        // The left-hand normal of (dx, dy) with y growing downwards is (dy, -dx).
        let (nx, ny) = match self.in_side {
            Side::Left => (dy, -dx),
            Side::Right => (-dy, dx),
        };
        let (right, below) = (nx > 0.0, ny > 0.0);
        if nx.abs() > 2.0 * ny.abs() {
            if right { "right of" } else { "left of" }
        } else if ny.abs() > 2.0 * nx.abs() {
            if below { "below" } else { "above" }
        } else {
            match (below, right) {
                (false, false) => "above and left of",
                (false, true) => "above and right of",
                (true, false) => "below and left of",
                (true, true) => "below and right of",
            }
        }
    }

    /// Whether the step from `a` to `b` touches the segment itself.
    pub fn crossed_by(&self, a: (f64, f64), b: (f64, f64)) -> bool {
        let step = Line::new(Coord { x: a.0, y: a.1 }, Coord { x: b.0, y: b.1 });
        line_intersection(step, self.line).is_some()
    }
}

/// Zones and lines of one stage, validated.
#[derive(Clone, Debug, Default)]
pub struct Geometry {
    /// Zones.
    pub zones: Vec<Zone>,
    /// Lines.
    pub lines: Vec<CountLine>,
}

/// Defaults the stage gives its zones and lines.
#[derive(Clone, Debug)]
pub struct Defaults {
    /// Anchor.
    pub anchor: Anchor,
    /// Label filter.
    pub classes: Option<Vec<String>>,
    /// Hysteresis frames.
    pub min_frames: u32,
    /// Frame size the coordinates are in (`None`: normalised 0..1).
    pub frame_size: Option<[u32; 2]>,
}

impl Geometry {
    /// Check and convert; every problem names its element (`zones.1.polygon`).
    pub fn build(
        zones: &[ZoneSpec],
        lines: &[LineSpec],
        d: &Defaults,
    ) -> Result<Geometry, Invalid> {
        let mut inv = Invalid::new();
        let (sx, sy) = match d.frame_size {
            Some([w, h]) => (f64::from(w.max(1)), f64::from(h.max(1))),
            None => (1.0, 1.0),
        };
        let unit = if d.frame_size.is_some() {
            "pixels of `frame_size`"
        } else {
            "0..1 (normalised)"
        };
        let mut ids: Vec<&str> = Vec::new();
        let check_point = |inv: &mut Invalid, field: &str, k: usize, p: &[f64; 2]| {
            let ok = p.iter().all(|v| v.is_finite())
                && (0.0..=sx).contains(&p[0])
                && (0.0..=sy).contains(&p[1]);
            if !ok {
                let (w, h) = (sx, sy);
                inv.field(
                    field,
                    format!("point {k} ({}, {}) is outside the frame", p[0], p[1]),
                    Some(format!(
                        "coordinates are in {unit}: x in 0..{w}, y in 0..{h}"
                    )),
                );
            }
        };
        let mut g = Geometry::default();
        for (i, z) in zones.iter().enumerate() {
            let field = format!("zones.{i}.polygon");
            if ids.contains(&z.id.as_str()) {
                inv.field(
                    &format!("zones.{i}.id"),
                    format!("id `{}` is used twice", z.id),
                    Some("give every zone and line its own id".into()),
                );
            }
            ids.push(&z.id);
            if z.polygon.len() < 3 {
                inv.field(
                    &field,
                    format!("zone `{}` has {} points", z.id, z.polygon.len()),
                    Some("a zone needs at least 3 points".into()),
                );
                continue;
            }
            z.polygon
                .iter()
                .enumerate()
                .for_each(|(k, p)| check_point(&mut inv, &field, k, p));
            let ring: Vec<Coord<f64>> = z
                .polygon
                .iter()
                .map(|p| Coord {
                    x: p[0] / sx,
                    y: p[1] / sy,
                })
                .collect();
            let polygon = Polygon::new(LineString::from(ring), vec![]);
            if !polygon.is_valid() {
                inv.field(
                    &field,
                    format!("zone `{}` crosses itself (or has repeated points)", z.id),
                    Some("list the points in order around the zone".into()),
                );
                continue;
            }
            if let Some(t) = z.dwell_s
                && !(t.is_finite() && t > 0.0)
            {
                inv.field(
                    &format!("zones.{i}.dwell_s"),
                    "must be a positive number of seconds",
                    None,
                );
            }
            match (z.dwell_repeat_s, z.dwell_s) {
                (Some(r), _) if !(r.is_finite() && r > 0.0) => {
                    inv.field(
                        &format!("zones.{i}.dwell_repeat_s"),
                        "must be a positive number of seconds",
                        None,
                    );
                }
                (Some(_), None) => {
                    inv.field(
                        &format!("zones.{i}.dwell_repeat_s"),
                        "repeats a dwell event, but the zone has no `dwell_s`",
                        Some("add `dwell_s` (the first dwell event), e.g. `dwell_s = 30.0`".into()),
                    );
                }
                _ => {}
            }
            check_admit(&mut inv, &format!("zones.{i}"), z.min_score, z.min_box);
            g.zones.push(Zone {
                id: z.id.as_str().into(),
                polygon,
                anchor: z.anchor.unwrap_or(d.anchor),
                admit: Admit {
                    classes: z.classes.clone().or_else(|| d.classes.clone()),
                    min_score: z.min_score.unwrap_or(0.0),
                    min_box: z.min_box.unwrap_or(0.0),
                },
                dwell_s: z.dwell_s,
                dwell_repeat_s: z.dwell_repeat_s,
                min_frames: z.min_frames.unwrap_or(d.min_frames).max(1),
            });
        }
        for (i, l) in lines.iter().enumerate() {
            if ids.contains(&l.id.as_str()) {
                inv.field(
                    &format!("lines.{i}.id"),
                    format!("id `{}` is used twice", l.id),
                    Some("give every zone and line its own id".into()),
                );
            }
            ids.push(&l.id);
            check_point(&mut inv, &format!("lines.{i}.from"), 0, &l.from);
            check_point(&mut inv, &format!("lines.{i}.to"), 1, &l.to);
            if l.from == l.to {
                inv.field(
                    &format!("lines.{i}.to"),
                    format!("line `{}` has both ends at the same point", l.id),
                    Some("a line needs two different points".into()),
                );
                continue;
            }
            check_admit(&mut inv, &format!("lines.{i}"), l.min_score, l.min_box);
            g.lines.push(CountLine {
                id: l.id.as_str().into(),
                line: Line::new(
                    Coord {
                        x: l.from[0] / sx,
                        y: l.from[1] / sy,
                    },
                    Coord {
                        x: l.to[0] / sx,
                        y: l.to[1] / sy,
                    },
                ),
                in_side: l.in_side,
                anchor: l.anchor.unwrap_or(d.anchor),
                admit: Admit {
                    classes: l.classes.clone().or_else(|| d.classes.clone()),
                    min_score: l.min_score.unwrap_or(0.0),
                    min_box: l.min_box.unwrap_or(0.0),
                },
                min_frames: l.min_frames.unwrap_or(d.min_frames).max(1),
            });
        }
        inv.into_result().map(|_| g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Defaults {
        Defaults {
            anchor: Anchor::Center,
            classes: None,
            min_frames: 1,
            frame_size: None,
        }
    }

    fn zone(id: &str, polygon: &[[f64; 2]]) -> ZoneSpec {
        ZoneSpec {
            id: id.into(),
            polygon: polygon.to_vec(),
            anchor: None,
            classes: None,
            dwell_s: None,
            dwell_repeat_s: None,
            min_score: None,
            min_box: None,
            min_frames: None,
        }
    }

    #[test]
    fn rejects_bad_geometry_naming_each_element() {
        let zones = [
            zone("a", &[[0.1, 0.1], [0.2, 0.1]]),
            zone("bow", &[[0.1, 0.1], [0.5, 0.5], [0.5, 0.1], [0.1, 0.5]]),
            zone("out", &[[0.1, 0.1], [1.5, 0.1], [0.1, 0.5]]),
            zone("a", &[[0.1, 0.1], [0.2, 0.1], [0.2, 0.2]]),
        ];
        let lines = [LineSpec {
            id: "l".into(),
            from: [0.3, 0.3],
            to: [0.3, 0.3],
            in_side: Side::Left,
            anchor: None,
            classes: None,
            min_score: None,
            min_box: None,
            min_frames: None,
        }];
        let err = Geometry::build(&zones, &lines, &defaults()).unwrap_err();
        let fields: Vec<&str> = err
            .problems
            .iter()
            .filter_map(|p| p.field.as_deref())
            .collect();
        assert_eq!(
            fields,
            [
                "zones.0.polygon",
                "zones.1.polygon",
                "zones.2.polygon",
                "zones.3.id",
                "lines.0.to"
            ],
            "{err}"
        );
        assert!(err.to_string().contains("crosses itself"));
        assert!(
            err.to_string()
                .contains("point 1 (1.5, 0.1) is outside the frame")
        );
    }

    #[test]
    fn pixel_coordinates_with_a_frame_size() {
        let d = Defaults {
            frame_size: Some([640, 480]),
            ..defaults()
        };
        let g = Geometry::build(
            &[zone(
                "z",
                &[[0.0, 0.0], [320.0, 0.0], [320.0, 480.0], [0.0, 480.0]],
            )],
            &[],
            &d,
        )
        .unwrap();
        assert!(g.zones[0].contains((0.25, 0.5)));
        assert!(!g.zones[0].contains((0.75, 0.5)));
        assert!(
            Geometry::build(
                &[zone("z", &[[0.0, 0.0], [700.0, 0.0], [0.0, 10.0]])],
                &[],
                &d
            )
            .is_err()
        );
    }

    #[test]
    fn line_sides_and_segment_crossing() {
        let lines = [LineSpec {
            id: "l".into(),
            from: [0.2, 0.5],
            to: [0.8, 0.5],
            in_side: Side::Left,
            anchor: None,
            classes: None,
            min_score: None,
            min_box: None,
            min_frames: None,
        }];
        let g = Geometry::build(&[], &lines, &defaults()).unwrap();
        let l = &g.lines[0];
        // Walking right along y = 0.5 on the image, the left hand points up (smaller y).
        assert_eq!(l.side((0.5, 0.4)), Some(Side::Left));
        assert_eq!(l.in_side_on_image(), "above");
        let mut down = Geometry::build(&[], &lines, &defaults())
            .unwrap()
            .lines
            .remove(0);
        down.in_side = Side::Right;
        assert_eq!(down.in_side_on_image(), "below");
        assert_eq!(l.side((0.5, 0.6)), Some(Side::Right));
        assert_eq!(l.side((0.1, 0.5)), None);
        assert!(l.crossed_by((0.5, 0.4), (0.5, 0.6)));
        assert!(
            !l.crossed_by((0.9, 0.4), (0.9, 0.6)),
            "the extension is not the segment"
        );
    }
}
