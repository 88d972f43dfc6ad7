//! CLEAR-MOT and identity metrics on MOTChallenge CSV, with motmetrics' semantics (so the
//! numbers can be compared with published ones): IoU distance, pairs with IoU below the
//! threshold never match, correspondences carried over from the previous frame first, then an
//! optimal assignment for the rest; ID switches when an object changes its hypothesis; IDF1
//! from the optimal one-to-one matching of whole trajectories.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::track::assign::max_weight;

/// One MOTChallenge row: frame, id, box (left, top, width, height), confidence.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Row {
    /// Frame number.
    pub frame: u64,
    /// Object or track id.
    pub id: i64,
    /// Left, top, width, height in pixels.
    pub bbox: [f64; 4],
    /// Confidence (ground truth: 0 marks rows to ignore).
    pub conf: f64,
}

/// A problem reading a MOTChallenge file.
#[derive(Debug, thiserror::Error)]
#[error("{}{message}", if *line > 0 { format!("{path}:{line}: ") } else { format!("{path}: ") })]
pub struct ParseError {
    /// The file.
    pub path: String,
    /// 1-based line (0: the file as a whole).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Parse MOTChallenge CSV text (`frame,id,x,y,w,h,conf,...`).
pub fn parse(text: &str, path: &str) -> Result<Vec<Row>, ParseError> {
    Ok(parse_numbered(text, path)?
        .into_iter()
        .map(|(_, r)| r)
        .collect())
}

/// [`parse`], each row with its 1-based line number (for checks that name the line).
pub fn parse_numbered(text: &str, path: &str) -> Result<Vec<(usize, Row)>, ParseError> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |message: String| ParseError {
            path: path.to_string(),
            line: i + 1,
            message,
        };
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        if f.len() < 6 {
            return Err(err(format!(
                "expected at least 6 comma-separated fields (frame,id,x,y,w,h), found {}",
                f.len()
            )));
        }
        let num = |k: usize, name: &str| -> Result<f64, ParseError> {
            f[k].parse::<f64>().map_err(|_| {
                err(format!(
                    "field {} ({name}) is `{}`, not a number",
                    k + 1,
                    f[k]
                ))
            })
        };
        let frame = num(0, "frame")?;
        if !(frame.fract() == 0.0 && (0.0..=1e9).contains(&frame)) {
            return Err(err(format!(
                "field 1 (frame) is `{}`, not a frame number (a whole number from 1)",
                f[0]
            )));
        }
        rows.push((
            i + 1,
            Row {
                frame: frame as u64,
                id: num(1, "id")? as i64,
                bbox: [num(2, "x")?, num(3, "y")?, num(4, "w")?, num(5, "h")?],
                conf: if f.len() > 6 { num(6, "conf")? } else { 1.0 },
            },
        ));
    }
    Ok(rows)
}

/// Read a MOTChallenge file.
pub fn read(path: &Path) -> Result<Vec<Row>, ParseError> {
    let text = std::fs::read_to_string(path).map_err(|e| ParseError {
        path: path.display().to_string(),
        line: 0,
        message: e.to_string(),
    })?;
    parse(&text, &path.display().to_string())
}

/// Rows as MOTChallenge CSV (`frame,id,x,y,w,h,conf,-1,-1,-1`).
pub fn to_csv(rows: &[Row]) -> String {
    let mut s = String::with_capacity(rows.len() * 48);
    for r in rows {
        let [x, y, w, h] = r.bbox;
        s.push_str(&format!(
            "{},{},{x:.2},{y:.2},{w:.2},{h:.2},{:.4},-1,-1,-1\n",
            r.frame, r.id, r.conf
        ));
    }
    s
}

fn iou(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    let iw = ((a[0] + a[2]).min(b[0] + b[2]) - a[0].max(b[0])).max(0.0);
    let ih = ((a[1] + a[3]).min(b[1] + b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let union = a[2] * a[3] + b[2] * b[3] - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

/// The metrics of one sequence.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MotMetrics {
    /// Frames with ground truth or predictions.
    pub frames: u64,
    /// Ground-truth boxes.
    pub objects: u64,
    /// Predicted boxes.
    pub predictions: u64,
    /// Matched pairs (including switches).
    pub matches: u64,
    /// False positives.
    pub fp: u64,
    /// Misses (false negatives).
    pub fn_: u64,
    /// Identity switches.
    pub id_switches: u64,
    /// Fragmentations.
    pub fragmentations: u64,
    /// Ground-truth trajectories tracked for at least 80 % of their life.
    pub mostly_tracked: u64,
    /// Tracked for 20 % to 80 %.
    pub partially_tracked: u64,
    /// Tracked for less than 20 %.
    pub mostly_lost: u64,
    /// 1 - (FN + FP + IDSW) / objects.
    pub mota: f64,
    /// Mean distance (1 - IoU) of matched pairs.
    pub motp: f64,
    /// matches / objects.
    pub recall: f64,
    /// matches / predictions.
    pub precision: f64,
    /// Identity F1.
    pub idf1: f64,
    /// Identity precision.
    pub idp: f64,
    /// Identity recall.
    pub idr: f64,
}

/// Score `pred` against `gt`: pairs need IoU >= `min_iou`; ground-truth rows with
/// confidence below 1 are ignored (MOTChallenge's "not to be evaluated").
pub fn evaluate(gt: &[Row], pred: &[Row], min_iou: f64) -> MotMetrics {
    let mut by_frame: BTreeMap<u64, (Vec<&Row>, Vec<&Row>)> = BTreeMap::new();
    for r in gt.iter().filter(|r| r.conf >= 1.0) {
        by_frame.entry(r.frame).or_default().0.push(r);
    }
    for r in pred {
        by_frame.entry(r.frame).or_default().1.push(r);
    }
    let max_dist = 1.0 - min_iou;
    let mut m = MotMetrics {
        frames: by_frame.len() as u64,
        ..Default::default()
    };
    let mut current: HashMap<i64, i64> = HashMap::new(); // gt id -> hypothesis id
    // Per gt id: frames present, frames matched, and the per-frame matched flags (fragmentation).
    let mut life: HashMap<i64, Vec<bool>> = HashMap::new();
    let mut dist_sum = 0.0;
    // Identity: co-occurrences with IoU over the threshold, per (gt id, hyp id).
    let mut ex: HashMap<(i64, i64), i64> = HashMap::new();
    let mut gt_count: HashMap<i64, i64> = HashMap::new();
    let mut hyp_count: HashMap<i64, i64> = HashMap::new();

    for (objs, hyps) in by_frame.values() {
        m.objects += objs.len() as u64;
        m.predictions += hyps.len() as u64;
        let dist: Vec<Vec<Option<f64>>> = objs
            .iter()
            .map(|o| {
                hyps.iter()
                    .map(|h| {
                        let d = 1.0 - iou(&o.bbox, &h.bbox);
                        (d <= max_dist).then_some(d)
                    })
                    .collect()
            })
            .collect();
        for (i, o) in objs.iter().enumerate() {
            *gt_count.entry(o.id).or_default() += 1;
            for (j, h) in hyps.iter().enumerate() {
                if dist[i][j].is_some() {
                    *ex.entry((o.id, h.id)).or_default() += 1;
                }
            }
        }
        for h in hyps {
            *hyp_count.entry(h.id).or_default() += 1;
        }
        let mut o_used = vec![false; objs.len()];
        let mut h_used = vec![false; hyps.len()];
        let mut matched: Vec<(usize, usize)> = Vec::new();
        // 1. Keep last frame's correspondences that are still valid.
        for (i, o) in objs.iter().enumerate() {
            let Some(&prev) = current.get(&o.id) else {
                continue;
            };
            if let Some(j) = hyps
                .iter()
                .enumerate()
                .position(|(j, h)| !h_used[j] && h.id == prev)
                && dist[i][j].is_some()
            {
                o_used[i] = true;
                h_used[j] = true;
                matched.push((i, j));
            }
        }
        // 2. Optimal assignment of the rest: most pairs first, then least total distance.
        let weights: Vec<Vec<i64>> = (0..objs.len())
            .map(|i| {
                (0..hyps.len())
                    .map(|j| match dist[i][j] {
                        Some(d) if !o_used[i] && !h_used[j] => {
                            1_000_000_000 - (d * 1e6).round() as i64
                        }
                        _ => 0,
                    })
                    .collect()
            })
            .collect();
        for (i, j) in max_weight(&weights).into_iter().enumerate() {
            let Some(j) = j else { continue };
            let (o, h) = (objs[i], hyps[j]);
            if current.get(&o.id).is_some_and(|&prev| prev != h.id) {
                m.id_switches += 1;
            }
            current.insert(o.id, h.id);
            o_used[i] = true;
            h_used[j] = true;
            matched.push((i, j));
        }
        for &(i, j) in &matched {
            dist_sum += dist[i][j].unwrap_or(0.0);
        }
        m.matches += matched.len() as u64;
        m.fn_ += o_used.iter().filter(|u| !**u).count() as u64;
        m.fp += h_used.iter().filter(|u| !**u).count() as u64;
        for (i, o) in objs.iter().enumerate() {
            life.entry(o.id).or_default().push(o_used[i]);
        }
    }

    for frames in life.values() {
        let tracked = frames.iter().filter(|t| **t).count() as f64;
        let ratio = tracked / frames.len() as f64;
        if ratio >= 0.8 {
            m.mostly_tracked += 1;
        } else if ratio < 0.2 {
            m.mostly_lost += 1;
        } else {
            m.partially_tracked += 1;
        }
        // Fragmentations: tracked → missed transitions between the first and last tracked frame.
        if let (Some(first), Some(last)) = (
            frames.iter().position(|t| *t),
            frames.iter().rposition(|t| *t),
        ) {
            m.fragmentations += frames[first..=last]
                .windows(2)
                .filter(|w| w[0] && !w[1])
                .count() as u64;
        }
    }

    // Identity: the one-to-one matching of trajectories with the most co-occurrences.
    let gt_ids: Vec<i64> = gt_count.keys().copied().collect();
    let hyp_ids: Vec<i64> = hyp_count.keys().copied().collect();
    let weights: Vec<Vec<i64>> = gt_ids
        .iter()
        .map(|o| {
            hyp_ids
                .iter()
                .map(|h| ex.get(&(*o, *h)).copied().unwrap_or(0))
                .collect()
        })
        .collect();
    let idtp: i64 = max_weight(&weights)
        .into_iter()
        .enumerate()
        .filter_map(|(i, j)| j.map(|j| weights[i][j]))
        .sum();
    let (n_gt, n_pred) = (m.objects as f64, m.predictions as f64);
    let idtp = idtp as f64;
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    m.idf1 = ratio(2.0 * idtp, n_gt + n_pred);
    m.idp = ratio(idtp, n_pred);
    m.idr = ratio(idtp, n_gt);
    m.mota = 1.0 - ratio((m.fn_ + m.fp + m.id_switches) as f64, n_gt);
    m.motp = ratio(dist_sum, m.matches as f64);
    m.recall = ratio(m.matches as f64, n_gt);
    m.precision = ratio(m.matches as f64, n_pred);
    m
}

impl MotMetrics {
    /// The metrics as a JSON object (`idf1`, `mota`, `fn`, …), as `--json` prints them.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "idf1": self.idf1, "idp": self.idp, "idr": self.idr, "recall": self.recall,
            "precision": self.precision, "mostly_tracked": self.mostly_tracked,
            "partially_tracked": self.partially_tracked, "mostly_lost": self.mostly_lost,
            "fp": self.fp, "fn": self.fn_, "id_switches": self.id_switches,
            "fragmentations": self.fragmentations, "mota": self.mota, "motp": self.motp,
            "frames": self.frames, "objects": self.objects, "predictions": self.predictions,
        })
    }

    /// A header and one row, as motmetrics prints its summary.
    pub fn table(rows: &[(String, MotMetrics)]) -> String {
        let w = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0).max(16);
        let mut s = format!(
            "{:w$} {:>6} {:>6} {:>6} {:>6} {:>6} {:>3} {:>3} {:>3} {:>5} {:>5} {:>5} {:>5} {:>6} {:>6}\n",
            "",
            "IDF1",
            "IDP",
            "IDR",
            "Rcll",
            "Prcn",
            "MT",
            "PT",
            "ML",
            "FP",
            "FN",
            "IDsw",
            "FM",
            "MOTA",
            "MOTP"
        );
        for (name, m) in rows {
            s.push_str(&format!(
                "{:w$} {:>6.4} {:>6.4} {:>6.4} {:>6.4} {:>6.4} {:>3} {:>3} {:>3} {:>5} {:>5} {:>5} {:>5} {:>6.4} {:>6.4}\n",
                name, m.idf1, m.idp, m.idr, m.recall, m.precision, m.mostly_tracked, m.partially_tracked, m.mostly_lost, m.fp, m.fn_, m.id_switches, m.fragmentations, m.mota, m.motp
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(seq: &str, file: &str) -> Vec<Row> {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/fixtures/mot")
            .join(seq)
            .join(file);
        read(&p).unwrap_or_else(|e| panic!("{e}"))
    }

    /// motmetrics 1.4.0's table (../shared/design/ASSETS.md), to 1e-3.
    #[test]
    fn reproduces_motmetrics_on_tud() {
        #[allow(clippy::type_complexity)]
        let cases: [(&str, [f64; 8], [u64; 7]); 2] = [
            (
                "TUD-Campus",
                [0.5577, 0.7297, 0.4513, 0.5822, 0.9414, 0.5265, 0.2772, 0.0],
                [1, 6, 1, 13, 150, 7, 7],
            ),
            (
                "TUD-Stadtmitte",
                [0.6446, 0.8198, 0.5311, 0.6090, 0.9399, 0.5640, 0.3459, 0.0],
                [5, 4, 1, 45, 452, 7, 6],
            ),
        ];
        for (seq, f, n) in cases {
            let m = evaluate(&fixture(seq, "gt.txt"), &fixture(seq, "test.txt"), 0.5);
            let got = [m.idf1, m.idp, m.idr, m.recall, m.precision, m.mota, m.motp];
            for (k, (g, w)) in got.iter().zip(f).enumerate() {
                assert!(
                    (g - w).abs() < 1e-3,
                    "{seq} metric {k}: {g} vs {w}\n{}",
                    MotMetrics::table(&[(seq.into(), m.clone())])
                );
            }
            assert_eq!(
                [
                    m.mostly_tracked,
                    m.partially_tracked,
                    m.mostly_lost,
                    m.fp,
                    m.fn_,
                    m.id_switches,
                    m.fragmentations
                ],
                n,
                "{seq}\n{}",
                MotMetrics::table(&[(seq.into(), m.clone())])
            );
        }
    }

    #[test]
    fn perfect_tracking_scores_one() {
        let gt = fixture("TUD-Campus", "gt.txt");
        let m = evaluate(&gt, &gt, 0.5);
        assert_eq!(
            (m.mota, m.idf1, m.fp, m.fn_, m.id_switches),
            (1.0, 1.0, 0, 0, 0)
        );
        assert!(m.motp.abs() < 1e-12);
    }

    #[test]
    fn bad_rows_name_file_and_line() {
        let e = parse("1,1,2,3,4,5\n1,x,2,3,4,5\n", "p.txt").unwrap_err();
        assert_eq!(e.to_string(), "p.txt:2: field 2 (id) is `x`, not a number");
        let e = read(Path::new("/nonexistent/gt.txt")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/nonexistent/gt.txt: No such file"),
            "{e}"
        );
        let e = parse("1,1,2\n", "p.txt").unwrap_err();
        assert!(e.to_string().starts_with("p.txt:1: expected at least 6"));
    }
}
