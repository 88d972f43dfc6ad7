//! `edgeflow list-backends`

use std::process::ExitCode;

/// List the inference backends compiled into this binary, and whether each one's runtime
/// library loads on this machine (and from where).
#[derive(Debug, clap::Args)]
pub struct Args {}

/// One row per backend: name, whether it works here, and where it came from or why not.
pub fn rows() -> Vec<(&'static str, bool, String)> {
    #[cfg_attr(not(feature = "ort"), allow(unused_mut))]
    let mut rows = vec![(
        "mock",
        true,
        "built in (deterministic, no runtime library)".to_string(),
    )];
    #[cfg(feature = "ort")]
    {
        let s = edgeflow_backend_ort::status();
        rows.push(match s.library {
            Ok(path) => (
                "ort",
                true,
                format!(
                    "ONNX Runtime {} loaded from {}",
                    edgeflow_backend_ort::ORT_VERSION,
                    path.display()
                ),
            ),
            Err(e) => ("ort", false, e),
        });
    }
    rows
}

pub fn run(_: Args) -> anyhow::Result<ExitCode> {
    println!("{:8}  {:5}  DETAIL", "BACKEND", "READY");
    for (name, ok, detail) in rows() {
        println!("{name:8}  {:5}  {detail}", if ok { "yes" } else { "no" });
    }
    for feature in ["tensorrt", "hailo", "rknn"] {
        println!(
            "{feature:8}  {:5}  not compiled into this binary (cargo feature `{feature}`)",
            "-"
        );
    }
    Ok(ExitCode::SUCCESS)
}
