//! `edgeflow eval mot | track | degrade`: score trackers against ground truth.

mod degrade;
mod track;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use edgeflow::edgeflow_stages::capture::replay::SeqInfo;
use edgeflow::edgeflow_stages::eval::mot;

/// Evaluate results against ground truth.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, clap::Subcommand)]
enum What {
    /// CLEAR-MOT (MOTA, MOTP, FP, FN, ID switches, fragmentations, MT/PT/ML) and IDF1/IDP/IDR
    /// of a tracker's MOTChallenge CSV against ground truth (motmetrics' conventions).
    Mot {
        /// Ground truth, MOTChallenge CSV (`frame,id,x,y,w,h,conf,...`; rows with conf < 1 ignored).
        #[arg(long)]
        gt: PathBuf,
        /// Tracker output, MOTChallenge CSV.
        #[arg(long)]
        pred: PathBuf,
        /// Least IoU for a match.
        #[arg(long, default_value_t = 0.5)]
        min_iou: f64,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run a pipeline's `track` stage (and the `zone` stage after it) over recorded
    /// detections (MOTChallenge det.txt or edgeflow JSON lines) and score the tracks.
    Track(track::Args),
    /// Turn ground truth into a weak detector's output, reproducibly (tracker tests).
    Degrade(degrade::Args),
}

pub fn run(registry: &edgeflow::Registry, args: Args) -> anyhow::Result<ExitCode> {
    match args.what {
        What::Mot {
            gt,
            pred,
            min_iou,
            json,
        } => {
            check_min_iou(min_iou)?;
            let g = mot::read(&gt)?;
            let p = mot::read(&pred)?;
            let m = mot::evaluate(&g, &p, min_iou);
            if json {
                println!("{}", m.to_json());
            } else {
                let name = pred
                    .file_stem()
                    .map_or_else(|| "pred".into(), |s| s.to_string_lossy().into_owned());
                print!("{}", mot::MotMetrics::table(&[(name, m)]));
            }
        }
        What::Track(a) => return track::run(registry, a),
        What::Degrade(a) => degrade::run(a)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn check_min_iou(min_iou: f64) -> anyhow::Result<()> {
    if !(0.0..=1.0).contains(&min_iou) {
        anyhow::bail!("--min-iou must be between 0 and 1, got {min_iou}");
    }
    Ok(())
}

/// `W,H` in pixels.
fn parse_frame_size(s: &str) -> Result<(u32, u32), String> {
    let bad =
        || format!("`{s}` is not a frame size; give width and height in pixels, e.g. 1920,1080");
    let (w, h) = s.split_once([',', 'x']).ok_or_else(bad)?;
    let (w, h): (u32, u32) = (
        w.trim().parse().map_err(|_| bad())?,
        h.trim().parse().map_err(|_| bad())?,
    );
    if w == 0 || h == 0 {
        return Err(bad());
    }
    Ok((w, h))
}

/// The `seqinfo.ini` of the sequence `file` belongs to, if there is one.
fn seqinfo_beside(file: &Path) -> anyhow::Result<Option<SeqInfo>> {
    Ok(SeqInfo::beside(file)?.map(|(p, info)| {
        tracing::info!(seqinfo = %p.display(), ?info, "frame size and rate from seqinfo.ini");
        info
    }))
}
