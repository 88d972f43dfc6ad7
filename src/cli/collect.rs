//! `edgeflow collect --config collector.toml`: the cloud collector (Kafka → store → REST).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

/// Arguments of `edgeflow collect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The collector's config file (see docs/collector.md).
    #[arg(long, short = 'c', default_value = "collector.toml")]
    config: PathBuf,
    /// Listen here instead of `http.listen` (port 0: any free port, printed).
    #[arg(long)]
    listen: Option<String>,
    /// Check the config file and exit.
    #[arg(long)]
    check: bool,
}

/// Run the collector until SIGINT or SIGTERM.
pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let name = a.config.display().to_string();
    let text = std::fs::read_to_string(&a.config)
        .with_context(|| format!("cannot read the collector config {name}"))?;
    let (mut config, warnings) = match edgeflow_collector::load(&name, &text) {
        Ok(ok) => ok,
        Err(d) => {
            d.eprint();
            return Ok(ExitCode::from(super::EXIT_CONFIG));
        }
    };
    if !warnings.is_empty() {
        warnings.eprint();
    }
    if a.check {
        eprintln!("{name}: ok");
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(l) = a.listen {
        config.http.listen = l;
    }
    let collector = edgeflow_collector::Collector::start(config)?;
    eprintln!("edgeflow: collector API on http://{}", collector.addr());
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    super::on_signals(
        "stopping: storing the batch in hand and leaving the group (Ctrl-C again quits at once)",
        move || {
            let _ = tx.send(());
        },
    )?;
    let _ = rx.recv();
    collector.stop();
    Ok(ExitCode::SUCCESS)
}
