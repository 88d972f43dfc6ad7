//! `edgeflow schema [--output FILE]`: the JSON Schema of pipeline files for the stages this
//! binary knows, for editors (see `docs/editors.md`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use edgeflow::Registry;

/// Print the JSON Schema of pipeline files (every stage type, variant, field and default).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write it to this file instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

pub fn run(registry: &Registry, args: Args) -> anyhow::Result<ExitCode> {
    let mut text = serde_json::to_string_pretty(&edgeflow::pipeline_schema(registry))?;
    text.push('\n');
    match args.output {
        Some(path) => {
            std::fs::write(&path, text)
                .with_context(|| format!("cannot write the schema to {}", path.display()))?;
            eprintln!("wrote the pipeline schema to {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
