//! `edgeflow graph FILE`

use std::path::PathBuf;
use std::process::ExitCode;

use edgeflow::Registry;

use super::load;

/// Print a pipeline as a Graphviz DOT graph (render with `dot -Tsvg`).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Pipeline file.
    file: PathBuf,
}

pub fn run(registry: &Registry, args: Args) -> anyhow::Result<ExitCode> {
    match load(registry, &args.file) {
        Ok(loaded) => {
            print!("{}", loaded.spec.to_dot());
            Ok(ExitCode::SUCCESS)
        }
        Err(code) => Ok(code),
    }
}
