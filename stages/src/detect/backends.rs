//! The detect backends this build has: one line each in [`built`]. Adding a backend is a
//! crate under `backends/`, a cargo feature, a [`DetectBackend`] (a small module here that
//! reads its options table and loads it), and its line below. Every backend edgeflow knows
//! is in [`KNOWN`], so a file naming one this build lacks gets "rebuild with `--features`"
//! and its options table a warning instead of an error.

use edgeflow_core::{NotCompiled, PortKind, Registry, Variant};

use super::{Detect, DetectBackend};

/// Every backend name edgeflow knows; each is built by the cargo feature of the same name
/// (`mock` always is).
pub const KNOWN: [&str; 5] = ["mock", "ort", "tensorrt", "hailo", "rknn"];

/// Known backends no build has yet: their features are reserved (enabling one is a compile
/// error), so messages say "planned" rather than "rebuild with `--features ...`".
pub const PLANNED: [&str; 3] = ["tensorrt", "hailo", "rknn"];

/// A backend compiled into this build.
pub struct Built {
    /// Its `backend = "..."` name.
    pub name: &'static str,
    /// Whether its runtime works here ([`DetectBackend::status`]).
    pub status: fn() -> Result<String, String>,
    register: fn(&mut Registry),
}

impl Built {
    fn of<B: DetectBackend>() -> Built {
        Built {
            name: B::NAME,
            status: B::status,
            register: |r| {
                r.transform::<Detect<B>>(B::INFO);
            },
        }
    }
}

/// The backends of this build.
pub fn built() -> Vec<Built> {
    vec![
        Built::of::<super::mock::Mock>(),
        #[cfg(feature = "ort")]
        Built::of::<super::ort::Ort>(),
    ]
}

/// `ort = { ... }` as this build reads it: typed and checked with the `ort` backend, any
/// table without it.
#[cfg(feature = "ort")]
pub type OrtTable = super::ort::OrtTable;
/// `ort = { ... }` as this build reads it: typed and checked with the `ort` backend, any
/// table without it.
#[cfg(not(feature = "ort"))]
pub type OrtTable = toml::Table;

/// Whether a known backend is in this build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Known {
    /// Compiled in.
    Compiled,
    /// Known, built by `feature`.
    NotCompiled {
        /// The cargo feature that builds it.
        feature: &'static str,
    },
    /// Known and planned: no build has it yet.
    Planned,
}

/// Whether `name` is a known backend, and whether this build has it.
pub fn known(name: &str) -> Option<Known> {
    let name = KNOWN.into_iter().find(|k| *k == name)?;
    Some(if built().iter().any(|b| b.name == name) {
        Known::Compiled
    } else if PLANNED.contains(&name) {
        Known::Planned
    } else {
        Known::NotCompiled { feature: name }
    })
}

/// Register every built backend as `detect` with its `backend = "..."`, and the others as
/// not compiled.
pub fn register(r: &mut Registry) {
    let built = built();
    for b in &built {
        (b.register)(r);
    }
    for name in KNOWN
        .into_iter()
        .filter(|k| built.iter().all(|b| b.name != *k))
    {
        r.not_compiled(NotCompiled {
            type_name: "detect",
            variant: Some(Variant {
                key: "backend",
                value: name,
            }),
            feature: name,
            planned: PLANNED.contains(&name),
            input: Some(PortKind::Frame),
            output: Some(PortKind::Detections),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_backend_is_known_and_registered() {
        let mut r = Registry::new();
        register(&mut r);
        for b in built() {
            assert!(KNOWN.contains(&b.name), "{} is not in KNOWN", b.name);
            assert_eq!(known(b.name), Some(Known::Compiled));
        }
        let variants = r.entries_of("detect").count() + r.not_compiled_entries().len();
        assert_eq!(variants, KNOWN.len());
        assert_eq!(known("hailo"), Some(Known::Planned));
        if cfg!(not(feature = "ort")) {
            assert_eq!(known("ort"), Some(Known::NotCompiled { feature: "ort" }));
        }
        assert_eq!(known("openvino"), None);
    }
}
