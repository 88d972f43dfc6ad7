//! `edgeflow eval mot --gt gt.txt --pred pred.txt`

use std::path::PathBuf;
use std::process::ExitCode;

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
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let What::Mot {
        gt,
        pred,
        min_iou,
        json,
    } = args.what;
    if !(0.0..=1.0).contains(&min_iou) {
        anyhow::bail!("--min-iou must be between 0 and 1, got {min_iou}");
    }
    let g = mot::read(&gt)?;
    let p = mot::read(&pred)?;
    let m = mot::evaluate(&g, &p, min_iou);
    if json {
        println!(
            "{}",
            serde_json::json!({
                "idf1": m.idf1, "idp": m.idp, "idr": m.idr, "recall": m.recall, "precision": m.precision,
                "mostly_tracked": m.mostly_tracked, "partially_tracked": m.partially_tracked, "mostly_lost": m.mostly_lost,
                "fp": m.fp, "fn": m.fn_, "id_switches": m.id_switches, "fragmentations": m.fragmentations,
                "mota": m.mota, "motp": m.motp, "frames": m.frames, "objects": m.objects, "predictions": m.predictions,
            })
        );
    } else {
        let name = pred
            .file_stem()
            .map_or_else(|| "pred".into(), |s| s.to_string_lossy().into_owned());
        print!("{}", mot::MotMetrics::table(&[(name, m)]));
    }
    Ok(ExitCode::SUCCESS)
}
