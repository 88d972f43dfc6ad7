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
        .map(
            |name| match (known(name), built.iter().find(|b| b.name == name)) {
                (Some(Known::Compiled), Some(b)) => match (b.status)() {
                    Ok(detail) => (name, Some(true), detail),
                    Err(why) => (name, Some(false), why),
                },
                (Some(Known::Planned), _) => {
                    (name, None, "planned: no build has it yet".to_string())
                }
                _ => (
                    name,
                    None,
                    format!("not compiled into this binary (cargo feature `{name}`)"),
                ),
            },
        )
        .collect()
}

pub fn run(_: Args) -> anyhow::Result<ExitCode> {
    println!("{:8}  {:5}  DETAIL", "BACKEND", "READY");
    for (name, ok, detail) in rows() {
        let ready = match ok {
            Some(true) => "yes",
            Some(false) => "no",
            None => "-",
        };
        println!("{name:8}  {ready:5}  {detail}");
    }
    Ok(ExitCode::SUCCESS)
}
