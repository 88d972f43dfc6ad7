//! Optimised models kept on disk. ONNX Runtime's full graph optimisation (constant folding,
//! fusions, the NCHWc layout for this CPU's vector width) costs most of a session's memory and
//! load time: with the fp16-weight YOLOv3-tiny it adds ~140 MB at load against ~60 MB for
//! loading an already-optimised file with optimisation off, which runs as fast. So the first
//! load optimises and saves the result here; later loads take the saved file.
//!
//! A saved file is only valid for the same model bytes, ONNX Runtime release, optimisation
//! level and CPU (the NCHWc kernels depend on the vector extensions): the key covers all four,
//! so a changed model, an upgraded runtime or a copied cache folder never loads a stale graph.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use sha2::{Digest, Sha256};

use crate::{ORT_VERSION, Optimization};

/// Where optimised models go by default, relative to the working directory (beside the
/// state edgeflow keeps in `.edgeflow/`).
pub const DEFAULT_DIR: &str = ".edgeflow/cache/ort";

/// One model's place in the cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The optimised model, when it has been saved.
    pub path: PathBuf,
    /// Where ONNX Runtime writes it before it is moved into place.
    pub partial: PathBuf,
}

/// The cache entry of `model` optimised at `level` on this CPU, in `dir`.
pub fn entry(dir: &Path, model: &Path, level: Optimization) -> std::io::Result<Entry> {
    let mut hash = Sha256::new();
    hash.update(file_sha256(model)?.as_bytes());
    hash.update(ORT_VERSION.as_bytes());
    hash.update(format!("{level:?}").as_bytes());
    hash.update(cpu_identity().as_bytes());
    let digest = hash.finalize();
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    let stem = model
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let name = format!("{stem}-{hex}.onnx");
    // Unique to this load: threads and processes loading the same model at once each write
    // their own file, and the last rename wins with a whole one.
    static LOADS: AtomicUsize = AtomicUsize::new(0);
    let n = LOADS.fetch_add(1, Ordering::Relaxed);
    Ok(Entry {
        path: dir.join(&name),
        partial: dir.join(format!(".{name}.{}-{n}.partial", std::process::id())),
    })
}

/// The SHA-256 of a file, hex.
pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// The CPU model and feature flags (what decides the kernels a fully optimised graph uses).
fn cpu_identity() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |key: &str| {
        info.lines()
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == key))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    };
    format!(
        "{}|{}|{}|{}",
        std::env::consts::ARCH,
        field("model name"),
        field("flags"),
        field("Features")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_follows_the_model_bytes_and_the_level() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("m.onnx");
        std::fs::write(&model, b"one").unwrap();
        let a = entry(dir.path(), &model, Optimization::All).unwrap();
        assert!(a.path.starts_with(dir.path()));
        assert!(
            a.path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("m-"),
            "{a:?}"
        );
        assert_ne!(a.path, a.partial);
        let again = entry(dir.path(), &model, Optimization::All).unwrap();
        assert_eq!(again.path, a.path);
        assert_ne!(again.partial, a.partial, "each load writes its own file");
        assert_ne!(
            entry(dir.path(), &model, Optimization::Basic).unwrap().path,
            a.path
        );
        std::fs::write(&model, b"two").unwrap();
        assert_ne!(
            entry(dir.path(), &model, Optimization::All).unwrap().path,
            a.path
        );
        assert!(
            entry(
                dir.path(),
                &dir.path().join("missing.onnx"),
                Optimization::All
            )
            .is_err()
        );
    }
}
