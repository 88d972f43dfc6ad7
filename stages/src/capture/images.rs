//! `source = "images"`: a glob of JPEG/PNG files, one frame each, in name order.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use edgeflow_core::{
    BuildCtx, BuildError, Frame, Invalid, Meta, Source, SourceEvent, StageError, StageInfo,
    StopSignal, Variant,
};
use serde::Deserialize;

use crate::media::{self, DecoderChoice, FrameOpts, Head, OutputFormat, Pulled, Running};

/// Registry entry.
pub const INFO: StageInfo = StageInfo {
    type_name: "capture",
    variant: Some(Variant {
        key: "source",
        value: "images",
    }),
    summary: "JPEG/PNG files matching a glob, one frame each (tests, batch jobs)",
    example: r#"[stages.cam]
type = "capture"
source = "images"
pattern = ["assets/images/*.jpg", "assets/images/*.png"]   # a glob, or several
fps = 1.0            # timestamps; with realtime = true also the pace
realtime = false
loop = false

[stages.out]
type = "publish"
inputs = ["cam"]
sink = "jsonl"
"#,
};

fn d_fps() -> f64 {
    1.0
}

/// Config of `source = "images"`.
#[derive(Clone, Debug, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImagesConfig {
    /// A glob, e.g. `photos/*.jpg`, or a list of them (`["shots/*.jpg", "shots/*.png"]`),
    /// relative to the working directory; the files of all of them, in name order.
    pub pattern: Globs,
    /// Frames per second for timestamps (and pacing with `realtime`).
    #[serde(default = "d_fps")]
    pub fps: f64,
    /// Emit at `fps` like a camera.
    #[serde(default)]
    pub realtime: bool,
    /// Start again after the last file.
    #[serde(default, rename = "loop")]
    pub looping: bool,
    /// Output pixel format.
    #[serde(default)]
    pub format: OutputFormat,
    /// Stream id (default: the stage id).
    #[serde(default)]
    pub stream_id: Option<String>,
}

/// `pattern`: one glob or a list of them.
#[derive(Clone, Debug, serde::Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Globs {
    /// One glob.
    One(String),
    /// Several; a file two of them match is read once.
    Many(Vec<String>),
}

impl Globs {
    /// The globs, in the order given.
    pub fn all(&self) -> Vec<&str> {
        match self {
            Globs::One(g) => vec![g.as_str()],
            Globs::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }

    /// How the user wrote it, for messages.
    fn shown(&self) -> String {
        self.all()
            .iter()
            .map(|g| format!("`{g}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A string or a list of strings, with an error in the user's words for anything else
/// (an untagged enum would say "did not match any variant").
impl<'de> Deserialize<'de> for Globs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Globs;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a glob like \"shots/*.jpg\" or a list of them")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Globs, E> {
                Ok(Globs::One(v.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Globs, A::Error> {
                let mut v = Vec::new();
                while let Some(g) = seq.next_element::<String>()? {
                    v.push(g);
                }
                Ok(Globs::Many(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// Every file the globs match, sorted, each once; the first bad glob is an error.
fn matching(globs: &Globs) -> Result<Vec<PathBuf>, (String, glob::PatternError)> {
    let mut files = Vec::new();
    for g in globs.all() {
        let paths = glob::glob(g).map_err(|e| (g.to_string(), e))?;
        files.extend(paths.filter_map(Result::ok).filter(|p| p.is_file()));
    }
    files.sort();
    files.dedup();
    Ok(files)
}

/// The images source.
pub struct ImagesSource {
    files: Vec<PathBuf>,
    next_file: usize,
    cfg: ImagesConfig,
    stream: Arc<str>,
    seq: u64,
    pace: super::pace::Pacer,
    stop: StopSignal,
}

impl ImagesSource {
    fn decode(&self, path: &std::path::Path) -> Result<gstreamer::Sample, String> {
        if let Some(why) = media::cut_short(path) {
            return Err(format!("{}: cut short ({why}); skipped", path.display()));
        }
        let abs = std::fs::canonicalize(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let uri = gstreamer::glib::filename_to_uri(&abs, None).map_err(|e| e.to_string())?;
        let opts = FrameOpts {
            format: self.cfg.format,
            sample_fps: None,
            decoder: DecoderChoice::Auto,
            sync: false,
            leaky: false,
            wait_key_frame: false,
        };
        let mut r = Running::frames(
            Head::Uri {
                uri: uri.to_string(),
                setup: None,
            },
            &opts,
        )
        .map_err(|e| e.to_string())?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            match r.pull(Duration::from_millis(200)) {
                Pulled::Sample(s) => {
                    // Let the decoder finish the file: damage it concealed comes as warnings
                    // (or an error) after the frame.
                    let end = Instant::now() + Duration::from_millis(500);
                    let mut tail = r.pull(Duration::from_millis(100));
                    while matches!(tail, Pulled::Timeout) && Instant::now() < end {
                        tail = r.pull(Duration::from_millis(100));
                    }
                    if let Pulled::Error(e) = tail {
                        return Err(format!("{}: damaged: {e}", path.display()));
                    }
                    let warnings = r.take_warnings();
                    if let Some(w) = warnings.first() {
                        return Err(format!(
                            "{}: damaged (the decoder concealed it: {w}); skipped",
                            path.display()
                        ));
                    }
                    return Ok(s);
                }
                Pulled::Timeout => continue,
                Pulled::Eos => return Err(format!("{}: no image in the file", path.display())),
                Pulled::Error(e) => return Err(format!("{}: {e}", path.display())),
            }
        }
        Err(format!(
            "{}: decoding took longer than 10 s",
            path.display()
        ))
    }
}

impl Source for ImagesSource {
    type Config = ImagesConfig;
    type Out = Frame;

    fn validate(cfg: &ImagesConfig) -> Result<(), Invalid> {
        let mut inv = Invalid::new();
        if cfg.pattern.all().is_empty() {
            inv.field(
                "pattern",
                "an empty list",
                Some("give at least one glob, e.g. `pattern = \"shots/*.jpg\"`".into()),
            );
        }
        match matching(&cfg.pattern) {
            Err((g, e)) => {
                inv.field(
                    "pattern",
                    format!("`{g}` is not a glob: {e}"),
                    Some("e.g. `photos/*.jpg` or `shots/**/*.png`".into()),
                );
            }
            // Local files cost nothing to look at: a glob that matches none is known now.
            Ok(files) if files.is_empty() && !cfg.pattern.all().is_empty() => {
                inv.field(
                    "pattern",
                    format!("no files match {}", cfg.pattern.shown()),
                    Some("check `pattern`; relative patterns are relative to the directory edgeflow runs in".into()),
                );
            }
            Ok(_) => {}
        }
        crate::capture::file::check_fps(&mut inv, Some(cfg.fps));
        inv.into_result()
    }

    fn build(cfg: ImagesConfig, ctx: &BuildCtx) -> Result<Self, BuildError> {
        media::init()?;
        let files = matching(&cfg.pattern)
            .map_err(|(g, e)| BuildError::new(format!("`{g}` is not a glob: {e}")).at("pattern"))?;
        if files.is_empty() {
            return Err(
                BuildError::new(format!("no files match {}", cfg.pattern.shown()))
                    .at("pattern")
                    .with_help(
                        "check `pattern`; relative patterns are relative to the directory edgeflow runs in",
                    ),
            );
        }
        ctx.note(format!(
            "{} images match {}",
            files.len(),
            cfg.pattern.shown()
        ));
        Ok(ImagesSource {
            files,
            next_file: 0,
            stream: cfg.stream_id.as_deref().unwrap_or(&ctx.stage_id).into(),
            cfg,
            seq: 0,
            pace: super::pace::Pacer::default(),
            stop: ctx.stop.clone(),
        })
    }

    fn next(&mut self) -> Result<Option<Frame>, StageError> {
        let stop = self.stop.clone();
        super::next_item(&stop, || self.next_event())
    }

    fn next_event(&mut self) -> Result<SourceEvent<Frame>, StageError> {
        if self.next_file >= self.files.len() {
            if !self.cfg.looping {
                return Ok(SourceEvent::End);
            }
            self.next_file = 0;
        }
        let pts_ns = (self.seq as f64 * 1e9 / self.cfg.fps) as u64;
        if self.cfg.realtime && !self.pace.due(pts_ns) {
            return Ok(SourceEvent::Idle);
        }
        let path = self.files[self.next_file].clone();
        self.next_file += 1;
        // One unreadable image is skipped and counted; the rest go on.
        let sample = self.decode(&path).map_err(StageError::transient)?;
        let mut meta = Meta::now(self.stream.clone(), self.seq, pts_ns);
        meta.file = Some(path.display().to_string().into());
        self.seq += 1;
        media::sample_to_frame(&sample, meta, self.cfg.format.pixel_format())
            .map(SourceEvent::Item)
            .map_err(|e| e.into_stage(false))
    }
}
