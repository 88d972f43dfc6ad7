//! `edgeflow list-stages [--verbose]`

use std::process::ExitCode;

use edgeflow::{PortKind, Registry};

/// List the stage types this binary knows, with their ports.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Also print an example pipeline for each stage type.
    #[arg(long)]
    verbose: bool,
}

fn ports(input: Option<PortKind>, output: Option<PortKind>) -> String {
    match (input, output) {
        (None, Some(o)) => format!("→ {o}"),
        (Some(i), Some(o)) => format!("{i} → {o}"),
        (Some(i), None) => format!("{i} →"),
        (None, None) => String::new(),
    }
}

/// The listing as text (tested).
pub fn listing(registry: &Registry, verbose: bool) -> String {
    let mut out = String::new();
    let rows: Vec<(String, String, String, &str)> = registry
        .entries()
        .iter()
        .map(|e| {
            let variant = e
                .info
                .variant
                .map(|v| format!("{} = \"{}\"", v.key, v.value))
                .unwrap_or_default();
            (
                e.info.type_name.to_string(),
                variant,
                ports(e.factory.input_kind(), e.factory.output_kind()),
                e.info.summary,
            )
        })
        .collect();
    let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(4).max(4);
    let w1 = rows.iter().map(|r| r.1.len()).max().unwrap_or(7).max(7);
    let w2 = rows
        .iter()
        .map(|r| r.2.chars().count())
        .max()
        .unwrap_or(5)
        .max(5);
    out.push_str(&format!(
        "{:w0$}  {:w1$}  {:w2$}  SUMMARY\n",
        "TYPE", "VARIANT", "PORTS"
    ));
    for (i, (t, v, p, s)) in rows.iter().enumerate() {
        out.push_str(&format!("{t:w0$}  {v:w1$}  {p:w2$}  {s}\n"));
        if verbose {
            out.push_str("\n  example:\n");
            for line in registry.entries()[i].info.example.lines() {
                out.push_str(format!("    {line}").trim_end());
                out.push('\n');
            }
            out.push('\n');
        }
    }
    let nc = registry.not_compiled_entries();
    if !nc.is_empty() {
        out.push_str("\nknown, but not compiled into this binary:\n");
        for n in nc {
            let variant = n
                .variant
                .map(|v| format!("{} = \"{}\"", v.key, v.value))
                .unwrap_or_default();
            let p = ports(n.input, n.output);
            let why = if n.planned {
                "planned: no build has it yet".to_string()
            } else {
                format!("needs `--features {}`", n.feature)
            };
            out.push_str(&format!(
                "{:w0$}  {variant:w1$}  {p:w2$}  {why}\n",
                n.type_name
            ));
        }
    }
    out
}

pub fn run(registry: &Registry, args: Args) -> anyhow::Result<ExitCode> {
    print!("{}", listing(registry, args.verbose));
    Ok(ExitCode::SUCCESS)
}
