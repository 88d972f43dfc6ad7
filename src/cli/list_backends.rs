//! `edgeflow list-backends`

use std::process::ExitCode;

/// List the inference backends compiled into this binary, and whether each one's runtime
/// library loads on this machine (and from where).
#[derive(Debug, clap::Args)]
pub struct Args {}

/// One row per backend: name, whether it works here (`None`: not compiled in), and where it
/// came from or why not.
pub fn rows() -> Vec<(&'static str, Option<bool>, String)> {
    use edgeflow_stages::detect::backends::{KNOWN, Known, built, known};
    let built = built();
    KNOWN
        .into_iter()
        .filter(|name| *name != "auto")
        .map(
            |name| match (known(name), built.iter().find(|b| b.name == name)) {
                (Some(Known::Compiled), Some(b)) => match (b.status)() {
                    Ok(detail) => (name, Some(true), detail),
                    Err(why) => (name, Some(false), why),
                },
                _ => (
                    name,
                    None,
                    format!("not compiled into this binary (cargo feature `{name}`)"),
                ),
            },
        )
        .collect()
}

/// What `backend = "auto"` (the default) takes on this machine, with the stage's options
/// left at their defaults, and why.
pub fn auto_line() -> String {
    match edgeflow_stages::detect::auto::would_choose(&Default::default()) {
        Ok(reason) => format!("auto: {}", reason.trim_start_matches("backend `auto` ")),
        Err(why) => format!("auto: nothing runs here: {why}"),
    }
}

/// What this binary was built as: the board profile (`cross/build.sh`), the target and the
/// GStreamer API level, and the profile's accelerator when this build lacks its backend.
pub fn build_line() -> String {
    let profile = option_env!("EDGEFLOW_PROFILE").unwrap_or("none (a plain cargo build)");
    let api =
        option_env!("EDGEFLOW_GSTREAMER_API").unwrap_or(if cfg!(feature = "gstreamer-1-22") {
            "1.22"
        } else {
            "1.20"
        });
    let gst = if cfg!(feature = "gstreamer") {
        format!(", GStreamer API {api}")
    } else {
        ", no GStreamer".to_string()
    };
    let mut line = format!(
        "build: profile {profile}, {}-linux{gst}",
        std::env::consts::ARCH
    );
    if let Some(accel) = option_env!("EDGEFLOW_ACCELERATOR").filter(|a| *a != "none") {
        let there = rows()
            .iter()
            .any(|(name, ok, _)| *name == accel && ok.is_some());
        if !there {
            line.push_str(&format!(
                "\n       this board's accelerator backend `{accel}` is not in this build: \
                 rebuild with `--features {accel}` (cross/build.sh does for its profile)"
            ));
        }
    }
    line
}

pub fn run(_: Args) -> anyhow::Result<ExitCode> {
    println!("{}\n", build_line());
    println!("{:8}  {:5}  DETAIL", "BACKEND", "READY");
    for (name, ok, detail) in rows() {
        let ready = match ok {
            Some(true) => "yes",
            Some(false) => "no",
            None => "-",
        };
        println!("{name:8}  {ready:5}  {detail}");
    }
    println!("\n{}", auto_line());
    Ok(ExitCode::SUCCESS)
}
