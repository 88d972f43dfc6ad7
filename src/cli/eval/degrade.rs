//! `edgeflow eval degrade --gt gt.txt --preset hard --seed 1`: ground truth turned into the
//! detections of a weak detector, reproducibly (see `edgeflow_stages::eval::degrade`).

use std::path::PathBuf;

use edgeflow::edgeflow_stages::eval::{degrade, mot};

/// Arguments of `eval degrade`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Ground truth, MOTChallenge CSV.
    #[arg(long)]
    gt: PathBuf,
    /// `hard` (35 % dropped, 10 % jitter, 10 % false positives, scores 0.3–0.95) or `mild`
    /// (20 %, 5 %, 5 %, every score 0.8).
    #[arg(long, default_value = "hard")]
    preset: String,
    /// Seed of the generator: the same seed gives the same boxes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Frame size `W,H` in pixels, where false positives may appear (default: seqinfo.ini
    /// beside the ground truth, else 640,480).
    #[arg(long, value_parser = super::parse_frame_size)]
    frame_size: Option<(u32, u32)>,
    /// Write here instead of standard output.
    #[arg(long, short)]
    out: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let Some(mut how) = degrade::Degrade::preset(&args.preset) else {
        anyhow::bail!("--preset `{}`: use `hard` or `mild`", args.preset);
    };
    let gt = mot::read(&args.gt)?;
    let size = match args.frame_size {
        Some(s) => Some(s),
        None => super::seqinfo_beside(&args.gt)?.map(|s| s.frame_size),
    };
    if let Some((w, h)) = size {
        how.frame = (f64::from(w), f64::from(h));
    }
    let csv = mot::to_csv(&degrade::degrade(&gt, &how, args.seed));
    match args.out {
        Some(p) => std::fs::write(&p, csv).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
        None => print!("{csv}"),
    }
    Ok(())
}
