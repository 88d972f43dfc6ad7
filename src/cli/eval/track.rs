//! `edgeflow eval track --pipeline P.toml --det det.txt --gt gt.txt [--sweep key=a,b,c]`

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use edgeflow::edgeflow_stages::capture::replay::{ReplayConfig, ReplayFormat};
use edgeflow::edgeflow_stages::eval::{mot, track};
use edgeflow::edgeflow_stages::track::TrackerParams;
use edgeflow::edgeflow_stages::zone::ZoneConfig;
use edgeflow::{Detections, PipelineSpec};

/// Arguments of `eval track`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The pipeline whose `track` stage (and the `zone` stage reading it) runs.
    #[arg(long)]
    pipeline: PathBuf,
    /// Recorded detections: MOTChallenge det.txt (`.txt`, `.csv`) or edgeflow JSON lines
    /// (`publish sink = "jsonl"` output of detections or tracks).
    #[arg(long)]
    det: PathBuf,
    /// Ground truth, MOTChallenge CSV (frames from 1; JSON lines frames are seq + 1).
    #[arg(long)]
    gt: PathBuf,
    /// det.txt's frame size `W,H` (default: the pipeline's replay stage, else seqinfo.ini).
    #[arg(long, value_parser = super::parse_frame_size)]
    frame_size: Option<(u32, u32)>,
    /// det.txt's frame rate (default: the pipeline's replay stage, else seqinfo.ini).
    #[arg(long)]
    fps: Option<f64>,
    /// The track stage, when the pipeline has several.
    #[arg(long)]
    stage: Option<String>,
    /// JSON lines holding several streams: the one to score.
    #[arg(long)]
    stream: Option<String>,
    /// Try values of a track option, one row each: `--sweep high_threshold=0.3,0.4,0.5`.
    /// Several `--sweep`s try every combination.
    #[arg(long)]
    sweep: Vec<String>,
    /// Least IoU for a match.
    #[arg(long, default_value_t = 0.5)]
    min_iou: f64,
    /// Print JSON (one object per row) instead of a table.
    #[arg(long)]
    json: bool,
    /// Also write the tracks as MOTChallenge CSV here (one run only: not with --sweep).
    #[arg(long)]
    save_tracks: Option<PathBuf>,
}

pub fn run(registry: &edgeflow::Registry, args: Args) -> anyhow::Result<ExitCode> {
    super::check_min_iou(args.min_iou)?;
    let loaded = match super::super::load(registry, &args.pipeline) {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let spec = &loaded.spec;
    let (track_id, track_table) = track_stage(spec, args.stage.as_deref())?;
    let zone = zone_after(spec, &track_id)?;
    let sweeps = args
        .sweep
        .iter()
        .map(|s| parse_sweep(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if args.save_tracks.is_some() && !sweeps.is_empty() {
        anyhow::bail!(
            "--save-tracks writes one run's tracks: leave out --sweep, or run once per value"
        );
    }
    let frames = read_detections(&args, replay_before(spec, &track_id)?)?;
    let gt = mot::read(&args.gt)?;
    if frames.is_empty() {
        anyhow::bail!("{}: no frames to replay", args.det.display());
    }

    let mut rows = Vec::new();
    for combo in combinations(&sweeps) {
        let mut table = track_table.clone();
        let mut name = Vec::new();
        for (key, value) in &combo {
            table.insert(key.clone(), value.clone());
            name.push(format!("{key}={value}"));
        }
        let params = track_params(&track_id, table, &combo)?;
        let outcome = track::run(params, zone.clone().map(|(_, z)| z), &frames)
            .with_context(|| format!("stage `{track_id}`"))?;
        let metrics = mot::evaluate(&gt, &outcome.rows, args.min_iou);
        if let Some(p) = &args.save_tracks {
            std::fs::write(p, mot::to_csv(&outcome.rows))
                .with_context(|| format!("--save-tracks {}", p.display()))?;
        }
        let name = if name.is_empty() {
            track_id.clone()
        } else {
            name.join(" ")
        };
        rows.push((name, combo, metrics, outcome.zone_events));
    }

    if args.json {
        for (name, combo, m, zones) in &rows {
            let set: serde_json::Map<String, serde_json::Value> = combo
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or_default()))
                .collect();
            println!(
                "{}",
                serde_json::json!({"row": name, "stage": track_id, "set": set, "metrics": m.to_json(), "zone_events": zones})
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let table: Vec<(String, mot::MotMetrics)> = rows
        .iter()
        .map(|(n, _, m, _)| (n.clone(), m.clone()))
        .collect();
    print!("{}", mot::MotMetrics::table(&table));
    if let Some((zone_id, _)) = &zone {
        println!("\nzone events (stage `{zone_id}`):");
        let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(16);
        for (name, _, _, zones) in &rows {
            let list: Vec<String> = zones.iter().map(|(k, n)| format!("{k} {n}")).collect();
            println!(
                "{name:w$} {}",
                if list.is_empty() {
                    "none".into()
                } else {
                    list.join(", ")
                }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The `track` stage: the one named, or the only one.
fn track_stage(spec: &PipelineSpec, want: Option<&str>) -> anyhow::Result<(String, toml::Table)> {
    let tracks: Vec<_> = spec
        .stages
        .iter()
        .filter(|s| s.type_name == "track")
        .collect();
    let pick = match want {
        Some(id) => tracks.iter().find(|s| s.id == id).ok_or_else(|| {
            anyhow::anyhow!(
                "--stage `{id}` is not a track stage of this pipeline (track stages: {})",
                names(&tracks)
            )
        })?,
        None => match tracks.as_slice() {
            [one] => one,
            [] => anyhow::bail!(
                "the pipeline has no `type = \"track\"` stage to evaluate; add one, e.g.\n\n[stages.trk]\ntype = \"track\"\ninputs = [\"det\"]"
            ),
            _ => anyhow::bail!(
                "the pipeline has several track stages ({}): pick one with --stage",
                names(&tracks)
            ),
        },
    };
    Ok((pick.id.clone(), pick.config.clone()))
}

fn names(stages: &[&edgeflow::StageSpec]) -> String {
    stages
        .iter()
        .map(|s| format!("`{}`", s.id))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The config of the replay stage the track stage reads, if it reads one.
fn replay_before(spec: &PipelineSpec, track_id: &str) -> anyhow::Result<Option<ReplayConfig>> {
    let Some(track) = spec.stage(track_id) else {
        return Ok(None);
    };
    let Some(src) = spec.stages.iter().find(|s| {
        track.inputs.contains(&s.id)
            && s.type_name == "capture"
            && s.variant.as_ref().is_some_and(|(_, v)| v == "replay")
    }) else {
        return Ok(None);
    };
    let cfg: ReplayConfig = toml::Value::Table(src.config.clone())
        .try_into()
        .with_context(|| format!("stage `{}`", src.id))?;
    Ok(Some(cfg))
}

/// The `zone` stage reading `track_id`, if there is one.
fn zone_after(spec: &PipelineSpec, track_id: &str) -> anyhow::Result<Option<(String, ZoneConfig)>> {
    let Some(z) = spec
        .stages
        .iter()
        .find(|s| s.type_name == "zone" && s.inputs.iter().any(|i| i == track_id))
    else {
        return Ok(None);
    };
    let cfg: ZoneConfig = toml::Value::Table(z.config.clone())
        .try_into()
        .with_context(|| format!("stage `{}`", z.id))?;
    Ok(Some((z.id.clone(), cfg)))
}

fn track_params(
    id: &str,
    table: toml::Table,
    set: &[(String, toml::Value)],
) -> anyhow::Result<TrackerParams> {
    let shown = || {
        set.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let params: TrackerParams =
        toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| {
                anyhow::anyhow!("stage `{id}` with {}: {}", shown(), e.message())
            })?;
    params
        .validate()
        .map_err(|e| anyhow::anyhow!("stage `{id}` with {}: {e}", shown()))?;
    Ok(params)
}

/// `key=a,b,c` as the key and its values (TOML values; bare words are strings).
fn parse_sweep(s: &str) -> anyhow::Result<(String, Vec<toml::Value>)> {
    let Some((key, values)) = s.split_once('=') else {
        anyhow::bail!(
            "--sweep `{s}`: write `key=a,b,c`, e.g. `--sweep high_threshold=0.3,0.4,0.5`"
        );
    };
    let key = key.trim();
    if key.is_empty() || values.trim().is_empty() {
        anyhow::bail!(
            "--sweep `{s}`: write `key=a,b,c`, e.g. `--sweep high_threshold=0.3,0.4,0.5`"
        );
    }
    let values = values
        .split(',')
        .map(|v| {
            let v = v.trim();
            toml::from_str::<toml::Table>(&format!("v = {v}"))
                .ok()
                .and_then(|mut t| t.remove("v"))
                .unwrap_or_else(|| toml::Value::String(v.to_string()))
        })
        .collect();
    Ok((key.to_string(), values))
}

/// Every combination of the sweeps' values (one empty combination without sweeps).
fn combinations(sweeps: &[(String, Vec<toml::Value>)]) -> Vec<Vec<(String, toml::Value)>> {
    let mut out = vec![Vec::new()];
    for (key, values) in sweeps {
        out = out
            .into_iter()
            .flat_map(|combo| {
                values.iter().map(move |v| {
                    let mut c = combo.clone();
                    c.push((key.clone(), v.clone()));
                    c
                })
            })
            .collect();
    }
    out
}

/// The recording as the pipeline's replay stage (the one feeding the track stage, if it is
/// one) would read it, with `--det`, `--frame-size` and `--fps` taking precedence.
fn read_detections(args: &Args, replay: Option<ReplayConfig>) -> anyhow::Result<Vec<Detections>> {
    let mut cfg = replay.unwrap_or_else(|| ReplayConfig::new(args.det.clone()));
    cfg.path = args.det.clone();
    cfg.stream_id = None;
    let format = cfg.format.of(&cfg.path);
    if format == ReplayFormat::Jsonl {
        if args.frame_size.is_some() || args.fps.is_some() {
            anyhow::bail!(
                "--frame-size and --fps are for MOTChallenge det.txt; JSON lines carry their frame size and times"
            );
        }
        cfg.frame_size = None;
        cfg.fps = None;
    } else {
        cfg.kind = None;
        if let Some((w, h)) = args.frame_size {
            cfg.frame_size = Some([w, h]);
        }
        if let Some(fps) = args.fps {
            if !(fps.is_finite() && fps > 0.0 && fps <= 1000.0) {
                anyhow::bail!("--fps must be above 0 and at most 1000, got {fps}");
            }
            cfg.fps = Some(fps);
        }
        if cfg.mot_geometry().is_err() {
            anyhow::bail!(
                "{}: MOTChallenge det.txt has no frame size or rate and no seqinfo.ini is beside it; give --frame-size W,H and --fps F (or `frame_size` and `fps` in the pipeline's replay stage)",
                args.det.display()
            );
        }
    }
    let mut frames = cfg.read_all("det").map_err(anyhow::Error::msg)?;
    let streams: std::collections::BTreeSet<&str> =
        frames.iter().map(|d| &*d.meta.stream_id).collect();
    match &args.stream {
        Some(s) => {
            if !streams.contains(s.as_str()) {
                anyhow::bail!(
                    "--stream `{s}`: {} holds streams {streams:?}",
                    args.det.display()
                );
            }
            let s = s.clone();
            frames.retain(|d| *d.meta.stream_id == *s);
        }
        None if streams.len() > 1 => anyhow::bail!(
            "{} holds several streams ({streams:?}); pick one with --stream",
            args.det.display()
        ),
        None => {}
    }
    Ok(frames)
}
