//! `edgeflow validate FILE... [--deep] [--deny-warnings]`

use std::path::PathBuf;
use std::process::ExitCode;

use edgeflow::Registry;

use super::{EXIT_CONFIG, load};

/// Check pipeline files without running them. Exit 0 when all are valid, 78 on config errors.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Pipeline files to check.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Also build every stage: open models, files and devices, then close them.
    #[arg(long)]
    deep: bool,
    /// Treat warnings as errors.
    #[arg(long)]
    deny_warnings: bool,
}

pub fn run(registry: &Registry, args: Args) -> anyhow::Result<ExitCode> {
    let mut ok = true;
    for file in &args.files {
        let Ok(loaded) = load(registry, file) else {
            ok = false;
            continue;
        };
        let warnings = loaded.warnings.warning_count();
        let stages = loaded.spec.stages.len();
        if args.deep {
            let services = super::services_for(&loaded.spec);
            let report = edgeflow::runtime::check_build_with(loaded.spec, &services);
            for (stage, note) in &report.notes {
                println!("{}: stage `{stage}`: {note}", file.display());
            }
            if !report.failures.is_empty() {
                let source = std::fs::read_to_string(file).unwrap_or_default();
                let mut located = edgeflow::Diagnostics::new(file.display().to_string(), &source);
                for f in &report.failures {
                    // A build error that names its field points at the line, as load errors do.
                    if let edgeflow::RuntimeError::Build { stage, error } = f
                        && let Some(span) = error
                            .field
                            .as_deref()
                            .and_then(|field| edgeflow::config::field_span(&source, stage, field))
                    {
                        located.push(
                            edgeflow::Diagnostic::error(
                                format!("cannot build stage `{stage}`: {}", error.message),
                                Some(span),
                            )
                            .label(error.message.clone())
                            .maybe_help(error.help.clone()),
                        );
                        continue;
                    }
                    eprintln!("error: {}: {f}", file.display());
                    if let edgeflow::RuntimeError::Build { error, .. } = f
                        && let Some(help) = &error.help
                    {
                        eprintln!("  = help: {help}");
                    }
                }
                if located.error_count() > 0 {
                    located.eprint();
                }
                ok = false;
                continue;
            }
        }
        if warnings > 0 && args.deny_warnings {
            eprintln!(
                "error: {}: {warnings} warning(s) and --deny-warnings is set",
                file.display()
            );
            ok = false;
            continue;
        }
        let depth = if args.deep { ", every stage built" } else { "" };
        let plural = if warnings == 1 { "" } else { "s" };
        println!(
            "{}: ok ({stages} stages{depth}, {warnings} warning{plural})",
            file.display()
        );
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_CONFIG)
    })
}
