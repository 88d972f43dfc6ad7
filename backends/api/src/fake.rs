//! Test support for backends over a vendor C library: build the backend's fake vendor
//! library (a `cdylib` crate exporting the same C symbols, under `backends/<name>/fake/`) and
//! say where it is, so tests run the real FFI path without the hardware.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The fake library of `package` (its `cdylib` is `lib<crate>.so`): the path in environment
/// variable `env` when set (a cross-built copy, for runs under qemu), else built with cargo
/// into `target/fake-vendor/` of the workspace holding `manifest_dir` (a separate target
/// folder, so a running `cargo test` is not waited on).
pub fn library(manifest_dir: &str, package: &str, env: &str) -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os(env) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("{env} names {}, which is not a file", p.display()))
        };
    }
    let root = Path::new(manifest_dir)
        .ancestors()
        .find(|d| d.join("Cargo.lock").is_file())
        .ok_or_else(|| format!("no workspace above {manifest_dir}"))?;
    let target = root.join("target/fake-vendor");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(root)
        .args([
            "build",
            "--quiet",
            "--offline",
            "-p",
            package,
            "--target-dir",
        ])
        .arg(&target)
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "building {package} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let lib = target
        .join("debug")
        .join(format!("lib{}.so", package.replace('-', "_")));
    if lib.is_file() {
        Ok(lib)
    } else {
        Err(format!("{} was not built", lib.display()))
    }
}
