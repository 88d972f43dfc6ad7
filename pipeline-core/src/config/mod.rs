//! Loading pipeline files.
//!
//! The file is parsed once into toml's span-keeping tree ([`toml::de::DeTable`]); the loader
//! then takes each stage's own table apart (`type`, the variant key, `inputs`, `queue`) and
//! deserializes the rest into the stage's typed config. Serde `flatten` and internally tagged
//! enums would lose the positions, so they are not used at this level. Every problem found in
//! any pass is collected; the caller gets all of them at once as [`Diagnostics`].

//!
//! The passes live in rooms of their own: [`parse`] (syntax and `[pipeline]`), [`stage`] (each
//! stage's table, and [`stage::check_config`], which reconfiguring a running stage reuses),
//! [`graph`] (edges, ports, cycles), [`fragment`] (a running stage's new config), and
//! rendering ([`diagnostics`], [`dot`]).

mod diagnostics;
mod dot;
mod fragment;
mod graph;
mod parse;
mod schema;
mod section;
mod spans;
mod stage;

use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

pub use diagnostics::{Diagnostic, Diagnostics, Severity, backticked, did_you_mean};
pub use fragment::{CheckedFragment, Fragment, JsonFragmentError, check_fragment};
pub use schema::{SCHEMA_ID, pipeline_schema};
pub use section::{Section, SectionEntry, Sections, load_sections};
pub(crate) use stage::ParsedStage;
pub use stage::StageSchema;

use crate::message::PortKind;
use crate::registry::{ConfiguredStage, Registry, Role};
use parse::{AsRefStr, PipelineMeta, report_parse_errors};
use stage::parse_stage;

/// What an edge does when its queue is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueuePolicy {
    /// The sender waits: nothing is lost (files, replays).
    Block,
    /// The oldest queued item is dropped and counted (live cameras stay real-time).
    DropOldest,
}

impl QueuePolicy {
    /// The name used in pipeline files.
    pub fn name(self) -> &'static str {
        match self {
            QueuePolicy::Block => "block",
            QueuePolicy::DropOldest => "drop_oldest",
        }
    }
}

/// The input queue of a stage: every upstream stage sends into it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueSpec {
    /// Items the queue holds (at least 1).
    pub capacity: usize,
    /// What happens when it is full.
    pub policy: QueuePolicy,
}

impl QueueSpec {
    /// The default queue for a stage taking `kind`: short for frames (they are large and
    /// latency matters), long for events (they are small and must not be lost). Always
    /// `block`; live sources ask for `drop_oldest` explicitly.
    pub fn default_for(kind: PortKind) -> QueueSpec {
        let capacity = match kind {
            PortKind::Frame => 4,
            PortKind::Packet => 32,
            PortKind::Detections
            | PortKind::Tracks
            | PortKind::ZoneEvents
            | PortKind::Any
            | PortKind::Status => 256,
        };
        QueueSpec {
            capacity,
            policy: QueuePolicy::Block,
        }
    }
}

/// The `queue = { ... }` option of a stage: what it sets of the default queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct QueueOverride {
    capacity: Option<usize>,
    policy: Option<QueuePolicy>,
}

impl QueueOverride {
    fn apply(self, default: QueueSpec) -> QueueSpec {
        QueueSpec {
            capacity: self.capacity.unwrap_or(default.capacity),
            policy: self.policy.unwrap_or(default.policy),
        }
    }
}

/// One stage as the file describes it, its config parsed and checked.
pub struct StageSpec {
    /// The id (`[stages.<id>]`).
    pub id: String,
    /// `type = "..."`.
    pub type_name: String,
    /// The variant option, e.g. `("source", "test_pattern")`.
    pub variant: Option<(String, String)>,
    /// Source, transform or sink.
    pub role: Role,
    /// Ids of the stages it reads from.
    pub inputs: Vec<String>,
    /// Its input queue.
    pub queue: QueueSpec,
    /// What it takes.
    pub input_kind: Option<PortKind>,
    /// What it produces.
    pub output_kind: Option<PortKind>,
    /// The typed, validated config, ready to build.
    pub configured: Box<dyn ConfiguredStage>,
    /// The stage's own table as checked (without `type`, the variant key, `inputs`, `queue`):
    /// what a reconfigure of the running stage merges its fragment over.
    pub config: toml::Table,
    /// What the loader's checks need to check a new config of this stage.
    pub schema: StageSchema,
}

impl std::fmt::Debug for StageSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageSpec")
            .field("id", &self.id)
            .field("type_name", &self.type_name)
            .field("variant", &self.variant)
            .field("role", &self.role)
            .field("inputs", &self.inputs)
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

/// A checked pipeline: every stage configured, every edge typed, no cycles.
#[derive(Debug)]
pub struct PipelineSpec {
    /// `[pipeline] name` (default: the file's stem).
    pub name: String,
    /// `[pipeline] device_id` (default: the host name).
    pub device_id: String,
    /// Directory that relative paths resolve against.
    pub base_dir: PathBuf,
    /// The stages in file order.
    pub stages: Vec<StageSpec>,
    /// The registered sections the file has (`[server]`), each as its typed config:
    /// `spec.sections.get::<S>()`.
    pub sections: Sections,
}

impl PipelineSpec {
    /// The stage with this id.
    pub fn stage(&self, id: &str) -> Option<&StageSpec> {
        self.stages.iter().find(|s| s.id == id)
    }
}

/// A pipeline that loaded, and the warnings found on the way.
#[derive(Debug)]
pub struct Loaded {
    /// The checked pipeline.
    pub spec: PipelineSpec,
    /// Warnings (no errors).
    pub warnings: Diagnostics,
}

/// Why a pipeline file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read pipeline file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file has errors.
    #[error("{0}")]
    Invalid(Diagnostics),
}

/// Load and check a pipeline file.
pub fn load_file(registry: &Registry, path: &Path) -> Result<Loaded, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let source = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => return Err(LoadError::Invalid(not_utf8(path, e))),
    };
    let base_dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    load_str(registry, &path.display().to_string(), &source, &base_dir).map_err(LoadError::Invalid)
}

/// Where `field` (a dotted path, `tls.ca_file`) of stage `stage` is in a pipeline file's text:
/// to point an error found after loading (a failed build) at its line.
pub fn field_span(source: &str, stage: &str, field: &str) -> Option<Range<usize>> {
    let root = DeTable::parse(source).ok()?.into_inner();
    spans::span_of_path(&root, &format!("stages.{stage}.{field}"))
}

/// A top-level key that is no section: the feature that has it when this binary lacks it, else
/// the closest name.
fn unknown_section(registry: &Registry, name: &str, span: Range<usize>) -> Diagnostic {
    if let Some(feature) = registry.section_feature(name) {
        return Diagnostic::error(
            format!("`[{name}]` is not in this build of edgeflow"),
            Some(span),
        )
        .label("compiled out")
        .help(format!(
            "rebuild with `--features {feature}`, or remove the `[{name}]` table"
        ));
    }
    let mut known = vec!["pipeline", "stages"];
    known.extend(registry.sections().iter().map(|e| e.name));
    let list = known
        .iter()
        .filter(|n| **n != "stages")
        .map(|n| format!("`[{n}]`, "))
        .collect::<String>();
    Diagnostic::error(format!("unknown top-level key `{name}`"), Some(span))
        .label("not a pipeline section")
        .maybe_help(
            did_you_mean(name, known.iter().copied()).map(|s| format!("did you mean `{s}`?")),
        )
        .help(format!(
            "a pipeline file has {list}and `[stages.<id>]` tables"
        ))
}

/// A file that is not UTF-8: where the first bad byte is, shown in the text read so far.
fn not_utf8(path: &Path, e: std::string::FromUtf8Error) -> Diagnostics {
    let at = e.utf8_error().valid_up_to();
    let bytes = e.into_bytes();
    let byte = bytes.get(at).copied().unwrap_or(0);
    let text = String::from_utf8_lossy(&bytes).into_owned();
    // The lossy text has one U+FFFD (3 bytes) where the bad sequence was: same prefix.
    let mut diags = Diagnostics::new(path.display().to_string(), &text);
    let end = text[at..].chars().next().map_or(at, |c| at + c.len_utf8());
    diags.push(
        Diagnostic::error(
            format!("{} is not UTF-8 text", path.display()),
            Some(at..end),
        )
        .label(format!("byte 0x{byte:02x} does not start a UTF-8 character"))
        .help("save the file as UTF-8 (editors: \"encoding\"; `iconv -f latin1 -t utf-8` converts Latin-1)"),
    );
    diags
}

/// Load and check a pipeline from text; `file_name` is used in diagnostics and as the default
/// pipeline name, `base_dir` for relative paths.
pub fn load_str(
    registry: &Registry,
    file_name: &str,
    source: &str,
    base_dir: &Path,
) -> Result<Loaded, Diagnostics> {
    let mut diags = Diagnostics::new(file_name, source);
    let (root, parse_errors) = DeTable::parse_recoverable(source);
    if !parse_errors.is_empty() {
        report_parse_errors(source, &parse_errors, &mut diags);
        return Err(diags);
    }
    let root = root.into_inner();

    let mut meta = PipelineMeta::default_for(file_name);
    let mut sections = Sections::new();
    let mut stages_value: Option<(Range<usize>, &DeTable<'_>)> = None;
    for (key, value) in root.iter() {
        match key.get_ref().as_ref_str() {
            "pipeline" => meta.read(value, &mut diags),
            "stages" => match value.get_ref() {
                DeValue::Table(t) => stages_value = Some((key.span(), t)),
                other => diags.push(
                    Diagnostic::error("`stages` must be a table of stages", Some(value.span()))
                        .label(format!("this is a {}", other.type_str()))
                        .help("write each stage as its own table: `[stages.cam]`"),
                ),
            },
            other => match registry.sections().iter().find(|e| e.name == other) {
                Some(entry) => {
                    section::check_section(entry, value, key.span(), &mut diags, &mut sections)
                }
                None => diags.push(unknown_section(registry, other, key.span())),
            },
        }
    }

    let mut parsed = Vec::new();
    match stages_value {
        None => diags.push(
            Diagnostic::error("the pipeline has no stages", Some(0..0))
                .label("no `[stages.<id>]` table in this file")
                .help(
                    "add a source and a sink, e.g. `[stages.cam]` with `type = \"capture\"` and \
                     `[stages.out]` with `type = \"publish\"` (see `edgeflow list-stages --verbose`)",
                ),
        ),
        Some((_, table)) => {
            for (key, value) in table.iter() {
                if let Some(p) = parse_stage(registry, key, value, &mut diags) {
                    parsed.push(p);
                }
            }
        }
    }
    let stages_span = stages_value.map(|(s, _)| s).unwrap_or(0..0);
    graph::check(registry, &parsed, stages_span, &mut diags);

    if diags.has_errors() {
        return Err(diags);
    }
    let stages = parsed
        .into_iter()
        .filter_map(|p| {
            let checked = p.configured?;
            let schema = p.schema?;
            let configured = checked.configured;
            let role = p.role?;
            let input_kind = configured.input_kind();
            Some(StageSpec {
                queue: p
                    .queue
                    .unwrap_or_default()
                    .apply(QueueSpec::default_for(input_kind.unwrap_or(PortKind::Any))),
                input_kind,
                output_kind: configured.output_kind(),
                id: p.id,
                type_name: p.type_name.unwrap_or_default(),
                variant: p.variant,
                role,
                inputs: p.inputs.into_iter().map(|(name, _)| name).collect(),
                configured,
                config: checked.table,
                schema,
            })
        })
        .collect();
    Ok(Loaded {
        spec: PipelineSpec {
            name: meta.name,
            device_id: meta.device_id,
            base_dir: base_dir.to_path_buf(),
            stages,
            sections,
        },
        warnings: diags,
    })
}
