//! Subcommands, one file each, and what they share: logging, loading with diagnostics.

mod bench;
#[cfg(feature = "collector")]
mod collect;
mod eval;
mod graph;
mod list_backends;
mod list_stages;
mod run;
mod schema;
mod serve;
#[cfg(feature = "rtsp-server")]
mod serve_rtsp;
mod validate;

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use edgeflow::{LoadError, Loaded, Registry};

pub use serve::services_for;

/// Exit code for config errors (sysexits `EX_CONFIG`, as Vector uses).
pub const EXIT_CONFIG: u8 = 78;

/// edgeflow: declarative video analytics pipelines for edge boards.
#[derive(Debug, Parser)]
#[command(name = "edgeflow", version, about, long_about = None)]
pub struct Cli {
    /// More logs: -v info, -vv debug, -vvv trace (RUST_LOG overrides).
    #[arg(short = 'v', action = clap::ArgAction::Count, global = true)]
    verbosity: u8,
    /// Log line format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a pipeline until end of stream or Ctrl-C.
    Run(run::Args),
    /// Measure a pipeline (fps, per-stage time and queue wait, latency, CPU, memory), or its
    /// model alone (`--model-only`).
    Bench(bench::Args),
    /// Check pipeline files without running them.
    Validate(validate::Args),
    /// List the stage types this binary knows.
    ListStages(list_stages::Args),
    /// List the inference backends and whether their runtime libraries load here.
    ListBackends(list_backends::Args),
    /// Print the JSON Schema of pipeline files, for editors (taplo, Even Better TOML).
    Schema(schema::Args),
    /// Print a pipeline as a Graphviz DOT graph.
    Graph(graph::Args),
    /// Score trackers against ground truth (`eval mot`, `eval track`, `eval degrade`).
    Eval(eval::Args),
    /// Run the cloud collector: Kafka in, a deduplicated store, REST, alerts and metrics out.
    #[cfg(feature = "collector")]
    Collect(collect::Args),
    /// Serve a test pattern or a file over RTSP on this machine (try pipelines without a camera).
    #[cfg(feature = "rtsp-server")]
    ServeRtsp(serve_rtsp::Args),
}

/// Set up `tracing` on stderr: `RUST_LOG` if set, else a level from `-v` (`run` logs at info).
pub fn init_logging(cli: &Cli) {
    use tracing_subscriber::EnvFilter;
    let base = match (
        cli.verbosity,
        matches!(cli.command, Command::Run(_)) || is_collect(&cli.command),
    ) {
        (0, false) => "warn",
        (0, true) | (1, _) => "info",
        (2, _) => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(base));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color_stderr());
    match cli.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// `collect` logs at info, as `run` does.
fn is_collect(c: &Command) -> bool {
    #[cfg(feature = "collector")]
    if matches!(c, Command::Collect(_)) {
        return true;
    }
    let _ = c;
    false
}

/// Run the chosen subcommand.
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let registry = edgeflow::registry();
    match cli.command {
        Command::Run(a) => run::run(&registry, a),
        Command::Bench(a) => bench::run(&registry, a),
        Command::Validate(a) => validate::run(&registry, a),
        Command::ListStages(a) => list_stages::run(&registry, a),
        Command::ListBackends(a) => list_backends::run(a),
        Command::Graph(a) => graph::run(&registry, a),
        Command::Schema(a) => schema::run(&registry, a),
        Command::Eval(a) => eval::run(&registry, a),
        #[cfg(feature = "collector")]
        Command::Collect(a) => collect::run(a),
        #[cfg(feature = "rtsp-server")]
        Command::ServeRtsp(a) => serve_rtsp::run(a),
    }
}

/// Whether to colour what goes to stderr.
fn color_stderr() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Load a pipeline file, printing every diagnostic (errors and warnings) to stderr.
/// `Err` holds the exit code to return.
fn load(registry: &Registry, path: &Path) -> Result<Loaded, ExitCode> {
    match edgeflow::load_file(registry, path) {
        Ok(loaded) => {
            if !loaded.warnings.is_empty() {
                eprint!("{}", loaded.warnings.render(color_stderr()));
            }
            Ok(loaded)
        }
        Err(LoadError::Invalid(d)) => {
            eprint!("{}", d.render(color_stderr()));
            Err(ExitCode::from(EXIT_CONFIG))
        }
        Err(e @ LoadError::Io { .. }) => {
            eprintln!("error: {e}");
            Err(ExitCode::from(EXIT_CONFIG))
        }
    }
}

/// First Ctrl-C or SIGTERM: stop the sources and let the queues drain (the command then
/// reports as usual). Second: quit now, with the shell's code for the signal (130 for SIGINT,
/// 143 for SIGTERM).
fn stop_on_signals(stop: edgeflow::StopSignal) -> anyhow::Result<()> {
    on_signals(
        "stopping: draining queues and flushing sinks (press Ctrl-C again to quit at once)",
        move || stop.stop(),
    )
}

/// On the first SIGINT or SIGTERM say `message` and call `stop`; on the second, exit at once.
fn on_signals(message: &'static str, stop: impl Fn() + Send + 'static) -> anyhow::Result<()> {
    use anyhow::Context;
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])
    .context("cannot install the signal handlers")?;
    std::thread::Builder::new()
        .name("ef-signals".into())
        .spawn(move || {
            for (n, signal) in signals.forever().enumerate() {
                if n == 0 {
                    eprintln!("\n{message}");
                    stop();
                } else {
                    std::process::exit(128 + signal);
                }
            }
        })
        .context("cannot start the signal thread")?;
    Ok(())
}
