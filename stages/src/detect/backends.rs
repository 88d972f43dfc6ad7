//! The detect backends this build has: one line each in [`built`]. Adding a backend is a
//! crate under `backends/`, a cargo feature, a [`DetectBackend`] (a small module here that
//! reads its options table and loads it), and its line below. Every backend edgeflow knows
//! is in [`KNOWN`], so a file naming one this build lacks gets "rebuild with `--features`"
//! and its options table a warning instead of an error.

use edgeflow_core::{BuildCtx, BuildError, Invalid, NotCompiled, PortKind, Registry, Variant};

use super::{Detect, DetectBackend, DetectConfig, ModelFile, ModelFormat, Opened};

/// Every backend name edgeflow knows; each is built by the cargo feature of the same name
/// (`mock` and `auto` always are).
pub const KNOWN: [&str; 6] = ["auto", "mock", "ort", "tensorrt", "hailo", "rknn"];

/// The order `backend = "auto"` tries the backends in: accelerators first, the CPU last.
pub const PREFERENCE: [&str; 4] = ["tensorrt", "hailo", "rknn", "ort"];

/// A backend compiled into this build.
pub struct Built {
    /// Its `backend = "..."` name.
    pub name: &'static str,
    /// How messages name its runtime.
    pub runtime: &'static str,
    /// The model file it runs.
    pub model: ModelFile,
    /// Whether its runtime works here ([`DetectBackend::status`]).
    pub status: fn() -> Result<String, String>,
    /// Whether it finds its library and device with a stage's options ([`DetectBackend::probe`]).
    pub probe: fn(&DetectConfig) -> Result<String, String>,
    /// Its own checks of its options table ([`DetectBackend::validate`]).
    pub validate: fn(&DetectConfig, &mut Invalid),
    /// Open it for a stage ([`DetectBackend::open`]).
    pub open: fn(&DetectConfig, &BuildCtx) -> Result<Opened, BuildError>,
    register: fn(&mut Registry),
}

impl Built {
    fn of<B: DetectBackend>() -> Built {
        Built {
            name: B::NAME,
            runtime: B::RUNTIME,
            model: B::MODEL,
            status: B::status,
            probe: B::probe,
            validate: B::validate,
            open: B::open,
            register: |r| {
                r.transform::<Detect<B>>(B::INFO);
            },
        }
    }
}

/// The backends of this build (`auto` first).
pub fn built() -> Vec<Built> {
    vec![
        Built::of::<super::auto::Auto>(),
        Built::of::<super::mock::Mock>(),
        #[cfg(feature = "ort")]
        Built::of::<super::ort::Ort>(),
        #[cfg(feature = "tensorrt")]
        Built::of::<super::tensorrt::Tensorrt>(),
        #[cfg(feature = "hailo")]
        Built::of::<super::hailo::Hailo>(),
        #[cfg(feature = "rknn")]
        Built::of::<super::rknn::Rknn>(),
    ]
}

/// The backends `auto` may choose in this build, in [`PREFERENCE`] order.
pub fn candidates() -> Vec<Built> {
    let mut all = built();
    all.retain(|b| PREFERENCE.contains(&b.name));
    all.sort_by_key(|b| PREFERENCE.iter().position(|p| *p == b.name));
    all
}

/// The model formats this build's backends run.
pub fn formats() -> Vec<ModelFormat> {
    let mut f: Vec<ModelFormat> = candidates()
        .iter()
        .filter_map(|b| match b.model {
            ModelFile::Required(f) => Some(f),
            _ => None,
        })
        .collect();
    f.dedup();
    f
}

macro_rules! options_table {
    ($feature:literal, $alias:ident, $module:ident :: $ty:ident) => {
        #[doc = concat!("`", $feature, " = { ... }` as this build reads it: typed and checked with the `", $feature, "` backend, any table without it.")]
        #[cfg(feature = $feature)]
        pub type $alias = super::$module::$ty;
        #[doc = concat!("`", $feature, " = { ... }` as this build reads it: typed and checked with the `", $feature, "` backend, any table without it.")]
        #[cfg(not(feature = $feature))]
        pub type $alias = toml::Table;
    };
}
options_table!("ort", OrtTable, ort::OrtTable);
options_table!("tensorrt", TensorrtTable, tensorrt::TensorrtTable);
options_table!("hailo", HailoTable, hailo::HailoTable);
options_table!("rknn", RknnTable, rknn::RknnTable);

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
}

/// Whether `name` is a known backend, and whether this build has it.
pub fn known(name: &str) -> Option<Known> {
    let name = KNOWN.into_iter().find(|k| *k == name)?;
    Some(if built().iter().any(|b| b.name == name) {
        Known::Compiled
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
    r.default_variant("detect", "auto");
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
            planned: false,
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
        if cfg!(not(feature = "hailo")) {
            assert_eq!(
                known("hailo"),
                Some(Known::NotCompiled { feature: "hailo" })
            );
        }
        let order: Vec<&str> = candidates().iter().map(|b| b.name).collect();
        let mut want: Vec<&str> = PREFERENCE.to_vec();
        want.retain(|n| known(n) == Some(Known::Compiled));
        assert_eq!(order, want);
        if cfg!(not(feature = "ort")) {
            assert_eq!(known("ort"), Some(Known::NotCompiled { feature: "ort" }));
        }
        assert_eq!(known("openvino"), None);
    }
}
