//! `model = "..."` or one file per model format, `model = { onnx = "...", hef = "...",
//! rknn = "..." }`, so one pipeline file runs on every board: each backend takes the variant
//! in its own format, and a board whose variant is missing is told which key to add and how
//! to convert the model.

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// A model file format, and the key naming it in `model = { ... }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelFormat {
    /// ONNX (`ort`, `tensorrt`).
    Onnx,
    /// Hailo Executable Format (`hailo`).
    Hef,
    /// RKNN (`rknn`).
    Rknn,
}

impl ModelFormat {
    /// Every format, in the order `model = { ... }` lists them.
    pub const ALL: [ModelFormat; 3] = [ModelFormat::Onnx, ModelFormat::Hef, ModelFormat::Rknn];

    /// The key in `model = { ... }`, which is also the file extension.
    pub fn key(self) -> &'static str {
        match self {
            ModelFormat::Onnx => "onnx",
            ModelFormat::Hef => "hef",
            ModelFormat::Rknn => "rknn",
        }
    }

    /// The format a file name's extension says, if it is one of these.
    pub fn of_path(path: &str) -> Option<ModelFormat> {
        let ext = std::path::Path::new(path).extension()?.to_str()?;
        ModelFormat::ALL
            .into_iter()
            .find(|f| f.key().eq_ignore_ascii_case(ext))
    }

    /// How to make a file of this format from the ONNX model.
    pub fn convert_help(self) -> &'static str {
        match self {
            ModelFormat::Onnx => {
                "export the model to ONNX (Darknet YOLO: scripts/darknet2onnx.py; PyTorch: torch.onnx.export)"
            }
            ModelFormat::Hef => {
                "compile the ONNX model for Hailo-8 with Hailo's Dataflow Compiler (e.g. `hailomz compile yolov5s --hw-arch hailo8`, which adds the on-chip NMS), or take a .hef from the Hailo Model Zoo"
            }
            ModelFormat::Rknn => {
                "convert the ONNX model with rknn-toolkit2 on a PC: `RKNN().config(target_platform='rk3588')`, `load_onnx(...)`, `build(do_quantization=True, dataset=...)`, `export_rknn(...)`"
            }
        }
    }
}

impl fmt::Display for ModelFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// `model`: one file, or one file per format.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum ModelPath {
    /// One file (`model = "yolo.onnx"`); its format is read from its extension.
    One(String),
    /// One file per format (`model = { onnx = "yolo.onnx", hef = "yolo.hef" }`).
    Variants(ModelVariants),
}

/// `model = { onnx = "...", hef = "...", rknn = "..." }`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelVariants {
    /// The ONNX model (`ort`, `tensorrt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onnx: Option<String>,
    /// The Hailo-8 model (`hailo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hef: Option<String>,
    /// The RKNN model (`rknn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rknn: Option<String>,
}

/// The file for a format is not in `model`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingVariant {
    /// What was wanted.
    pub format: ModelFormat,
    /// What the config has.
    pub have: Vec<ModelFormat>,
}

impl MissingVariant {
    /// The message, for a backend named `backend`.
    pub fn message(&self, backend: &str) -> String {
        let have: Vec<String> = self.have.iter().map(|f| format!("`{f}`")).collect();
        format!(
            "`backend = \"{backend}\"` runs .{} models, and `model` has none (it has {})",
            self.format,
            if have.is_empty() {
                "nothing".to_string()
            } else {
                have.join(", ")
            }
        )
    }

    /// The fix: the key to add, and how to make the file.
    pub fn help(&self) -> String {
        let f = self.format;
        format!(
            "add `{f} = \"path/to/model.{f}\"` to `model = {{ ... }}`; to make it, {}",
            f.convert_help()
        )
    }
}

impl ModelPath {
    /// The file in `format`: the variant of that key, or the one file when its extension is
    /// that format (or no known format: a backend takes its own files by any name).
    pub fn pick(&self, format: ModelFormat) -> Result<&str, MissingVariant> {
        match self {
            ModelPath::One(p) => match ModelFormat::of_path(p) {
                Some(f) if f != format => Err(MissingVariant {
                    format,
                    have: vec![f],
                }),
                _ => Ok(p),
            },
            ModelPath::Variants(v) => v.get(format).ok_or_else(|| MissingVariant {
                format,
                have: v.formats(),
            }),
        }
    }

    /// Every (format, file) the config names; a single file of unknown extension as ONNX.
    pub fn files(&self) -> Vec<(ModelFormat, &str)> {
        match self {
            ModelPath::One(p) => vec![(ModelFormat::of_path(p).unwrap_or(ModelFormat::Onnx), p)],
            ModelPath::Variants(v) => ModelFormat::ALL
                .into_iter()
                .filter_map(|f| v.get(f).map(|p| (f, p)))
                .collect(),
        }
    }
}

impl ModelVariants {
    /// The file for `format`, if given.
    pub fn get(&self, format: ModelFormat) -> Option<&str> {
        match format {
            ModelFormat::Onnx => self.onnx.as_deref(),
            ModelFormat::Hef => self.hef.as_deref(),
            ModelFormat::Rknn => self.rknn.as_deref(),
        }
    }

    /// The formats given.
    pub fn formats(&self) -> Vec<ModelFormat> {
        ModelFormat::ALL
            .into_iter()
            .filter(|f| self.get(*f).is_some())
            .collect()
    }
}

impl<'de> Deserialize<'de> for ModelPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ModelPath;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a model file, or one per format: { onnx = \"...\", hef = \"...\", rknn = \"...\" }",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ModelPath, E> {
                if v.is_empty() {
                    return Err(E::custom("an empty model path"));
                }
                Ok(ModelPath::One(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ModelPath, A::Error> {
                let mut v = ModelVariants::default();
                while let Some(key) = map.next_key::<String>()? {
                    let slot = match key.as_str() {
                        "onnx" => &mut v.onnx,
                        "hef" => &mut v.hef,
                        "rknn" => &mut v.rknn,
                        other => {
                            return Err(de::Error::custom(format!(
                                "unknown model format `{other}`: `model = {{ ... }}` takes `onnx`, `hef` and `rknn`"
                            )));
                        }
                    };
                    if slot.is_some() {
                        return Err(de::Error::custom(format!("`{key}` is given twice")));
                    }
                    let path: String = map.next_value()?;
                    if path.is_empty() {
                        return Err(de::Error::custom(format!("`{key}` is an empty path")));
                    }
                    *slot = Some(path);
                }
                if v.formats().is_empty() {
                    return Err(de::Error::custom(
                        "an empty table: name at least one file, e.g. { onnx = \"model.onnx\" }",
                    ));
                }
                Ok(ModelPath::Variants(v))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Doc {
        model: ModelPath,
    }

    fn parse(text: &str) -> Result<ModelPath, String> {
        toml::from_str::<Doc>(text)
            .map(|d| d.model)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn one_file_or_one_per_format() {
        let one = parse("model = \"m.onnx\"").unwrap();
        assert_eq!(one.pick(ModelFormat::Onnx), Ok("m.onnx"));
        let miss = one.pick(ModelFormat::Hef).unwrap_err();
        assert_eq!(miss.have, [ModelFormat::Onnx]);
        assert!(miss.help().contains("add `hef = "), "{}", miss.help());
        assert!(miss.help().contains("Dataflow Compiler"));
        // A file by another name is the backend's own.
        let odd = parse("model = \"weights.bin\"").unwrap();
        assert_eq!(odd.pick(ModelFormat::Rknn), Ok("weights.bin"));
        let many = parse("model = { onnx = \"a.onnx\", rknn = \"a.rknn\" }").unwrap();
        assert_eq!(many.pick(ModelFormat::Rknn), Ok("a.rknn"));
        let miss = many.pick(ModelFormat::Hef).unwrap_err();
        assert_eq!(
            miss.message("hailo"),
            "`backend = \"hailo\"` runs .hef models, and `model` has none (it has `onnx`, `rknn`)"
        );
        assert_eq!(
            many.files(),
            [(ModelFormat::Onnx, "a.onnx"), (ModelFormat::Rknn, "a.rknn")]
        );
    }

    #[test]
    fn bad_tables_say_what_is_wrong() {
        let e = parse("model = { onx = \"a.onnx\" }").unwrap_err();
        assert!(e.contains("unknown model format `onx`"), "{e}");
        assert!(e.contains("line 1"), "{e}");
        let e = parse("model = {}").unwrap_err();
        assert!(e.contains("an empty table"), "{e}");
        let e = parse("model = \"\"").unwrap_err();
        assert!(e.contains("empty model path"), "{e}");
        let e = parse("model = { hef = \"\" }").unwrap_err();
        assert!(e.contains("`hef` is an empty path"), "{e}");
        let e = parse("model = 3").unwrap_err();
        assert!(e.contains("one per format"), "{e}");
    }
}
