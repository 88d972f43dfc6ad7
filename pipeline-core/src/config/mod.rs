//! Loading pipeline files.
//!
//! The file is parsed once into toml's span-keeping tree ([`toml::de::DeTable`]); the loader
//! then takes each stage's own table apart (`type`, the variant key, `inputs`, `queue`) and
//! deserializes the rest into the stage's typed config. Serde `flatten` and internally tagged
//! enums would lose the positions, so they are not used at this level. Every problem found in
//! any pass is collected; the caller gets all of them at once as [`Diagnostics`].

mod diagnostics;
mod graph;

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;
use toml::de::{DeTable, DeValue};

pub use diagnostics::{Diagnostic, Diagnostics, Severity, backticked, did_you_mean};

use crate::message::PortKind;
use crate::registry::{ConfiguredStage, Registry, Role};

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
}

impl PipelineSpec {
    /// The stage with this id.
    pub fn stage(&self, id: &str) -> Option<&StageSpec> {
        self.stages.iter().find(|s| s.id == id)
    }

    /// The pipeline as a Graphviz DOT graph.
    pub fn to_dot(&self) -> String {
        let mut s = format!("digraph \"{}\" {{\n  rankdir=LR;\n", escape(&self.name));
        for st in &self.stages {
            let shape = match st.role {
                Role::Source => "invhouse",
                Role::Transform => "box",
                Role::Sink => "house",
            };
            let kind = match &st.variant {
                Some((k, v)) => format!("{} ({k} = {v})", st.type_name),
                None => st.type_name.clone(),
            };
            s.push_str(&format!(
                "  \"{}\" [shape={shape}, label=\"{}\\n{}\"];\n",
                escape(&st.id),
                escape(&st.id),
                escape(&kind)
            ));
        }
        for st in &self.stages {
            for input in &st.inputs {
                let kind = self
                    .stage(input)
                    .and_then(|u| u.output_kind)
                    .map_or("?", PortKind::name);
                s.push_str(&format!(
                    "  \"{}\" -> \"{}\" [label=\"{kind}\\n{} × {}\"];\n",
                    escape(input),
                    escape(&st.id),
                    st.queue.capacity,
                    st.queue.policy.name()
                ));
            }
        }
        s.push_str("}\n");
        s
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
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
    let source = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let base_dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    load_str(registry, &path.display().to_string(), &source, &base_dir).map_err(LoadError::Invalid)
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
            other => diags.push(
                Diagnostic::error(format!("unknown top-level key `{other}`"), Some(key.span()))
                    .label("not a pipeline section")
                    .maybe_help(
                        did_you_mean(other, ["pipeline", "stages"])
                            .map(|s| format!("did you mean `{s}`?")),
                    )
                    .help("a pipeline file has a `[pipeline]` table and `[stages.<id>]` tables"),
            ),
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
            let configured = p.configured?;
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
            })
        })
        .collect();
    Ok(Loaded {
        spec: PipelineSpec {
            name: meta.name,
            device_id: meta.device_id,
            base_dir: base_dir.to_path_buf(),
            stages,
        },
        warnings: diags,
    })
}

trait AsRefStr {
    fn as_ref_str(&self) -> &str;
}
impl AsRefStr for std::borrow::Cow<'_, str> {
    fn as_ref_str(&self) -> &str {
        self
    }
}

fn report_parse_errors(source: &str, errors: &[toml::de::Error], diags: &mut Diagnostics) {
    // A repeated `[stages.<id>]` header is the one duplicate users make; say so in our terms,
    // point at both headers, and skip the follow-on "duplicate key" errors inside that table.
    let mut skip_until: Option<usize> = None;
    for e in errors {
        let span = e.span();
        if let (Some(until), Some(s)) = (skip_until, &span)
            && s.start < until
            && e.message() == "duplicate key"
        {
            continue;
        }
        if let Some(s) = &span
            && e.message() == "duplicate key"
            && let Some((id, first)) = duplicate_stage_header(source, s.clone())
        {
            let table_end = source[s.end..]
                .find("\n[")
                .map_or(source.len(), |i| s.end + i);
            skip_until = Some(table_end);
            diags.push(
                Diagnostic::error(format!("duplicate stage id `{id}`"), Some(s.clone()))
                    .label("defined again here")
                    .related(first, "first defined here")
                    .help("every stage needs its own id: rename one of them"),
            );
            continue;
        }
        diags.push(
            Diagnostic::error(format!("invalid TOML: {}", e.message()), span)
                .label(e.message().to_string())
                .help("fix the TOML syntax first; the pipeline is checked once the file parses"),
        );
    }
}

/// If `span` is the id in a repeated `[stages.<id>]` header, the id and the first header's id span.
fn duplicate_stage_header(source: &str, span: Range<usize>) -> Option<(String, Range<usize>)> {
    let line_start = source[..span.start].rfind('\n').map_or(0, |i| i + 1);
    let prefix = source[line_start..span.start].trim_start();
    if !prefix.starts_with('[') || !prefix.trim_start_matches('[').trim().starts_with("stages") {
        return None;
    }
    let id = source.get(span.clone())?.to_string();
    let header = &source[line_start
        ..source[span.end..]
            .find('\n')
            .map_or(source.len(), |i| span.end + i)];
    let first_line = source.find(header.trim())?;
    if first_line >= line_start {
        return None;
    }
    let offset_in_header = span.start - line_start - (header.len() - header.trim_start().len());
    let start = first_line + offset_in_header;
    Some((id, start..start + (span.end - span.start)))
}

struct PipelineMeta {
    name: String,
    device_id: String,
}

impl PipelineMeta {
    fn default_for(file_name: &str) -> Self {
        let name = Path::new(file_name).file_stem().map_or_else(
            || "pipeline".to_string(),
            |s| s.to_string_lossy().into_owned(),
        );
        let device_id = std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "edgeflow".to_string());
        PipelineMeta { name, device_id }
    }

    fn read(&mut self, value: &Spanned<DeValue<'_>>, diags: &mut Diagnostics) {
        let DeValue::Table(t) = value.get_ref() else {
            diags.push(
                Diagnostic::error("`pipeline` must be a table", Some(value.span()))
                    .label(format!("this is a {}", value.get_ref().type_str()))
                    .help("write `[pipeline]` with `name = \"...\"` under it"),
            );
            return;
        };
        const FIELDS: [&str; 3] = ["name", "device_id", "description"];
        for (k, v) in t.iter() {
            let key = k.get_ref().as_ref_str();
            let target = match key {
                "name" => Some(&mut self.name),
                "device_id" => Some(&mut self.device_id),
                "description" => None,
                _ => {
                    diags.push(unknown_field(key, k.span(), "`[pipeline]`", &FIELDS));
                    continue;
                }
            };
            match v.get_ref().as_str() {
                Some(s) if !s.trim().is_empty() => {
                    if let Some(t) = target {
                        *t = s.to_string();
                    }
                }
                Some(_) => diags.push(
                    Diagnostic::error(format!("`{key}` is empty"), Some(v.span()))
                        .label("empty string")
                        .help(format!("give `{key}` a value or remove the line")),
                ),
                None => diags.push(wrong_type(key, "a string", v)),
            }
        }
    }
}

fn unknown_field(key: &str, span: Range<usize>, place: &str, fields: &[&str]) -> Diagnostic {
    Diagnostic::error(format!("unknown field `{key}` in {place}"), Some(span))
        .label("unknown field")
        .maybe_help(
            did_you_mean(key, fields.iter().copied()).map(|s| format!("did you mean `{s}`?")),
        )
        .help(format!(
            "valid fields: {}",
            backticked(fields.iter().copied())
        ))
}

fn wrong_type(key: &str, expected: &str, v: &Spanned<DeValue<'_>>) -> Diagnostic {
    Diagnostic::error(format!("wrong value type for `{key}`"), Some(v.span()))
        .label(format!(
            "expected {expected}, found {}",
            article(v.get_ref().type_str())
        ))
        .help(format!("`{key}` takes {expected}"))
}

fn article(type_str: &str) -> String {
    match type_str.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => format!("an {type_str}"),
        _ => format!("a {type_str}"),
    }
}

/// What the stage pass learned about one stage; fields are `None` where it had errors.
pub(crate) struct ParsedStage {
    pub(crate) id: String,
    pub(crate) id_span: Range<usize>,
    pub(crate) type_name: Option<String>,
    pub(crate) variant: Option<(String, String)>,
    /// Set when the type is known (registered or not compiled).
    pub(crate) role: Option<Role>,
    pub(crate) input_kind: Option<PortKind>,
    pub(crate) output_kind: Option<PortKind>,
    pub(crate) inputs: Vec<(String, Range<usize>)>,
    pub(crate) inputs_key_span: Option<Range<usize>>,
    /// `inputs` was present but not a list of strings (already reported).
    pub(crate) inputs_invalid: bool,
    pub(crate) queue: Option<QueueOverride>,
    pub(crate) queue_key_span: Option<Range<usize>>,
    pub(crate) configured: Option<Box<dyn ConfiguredStage>>,
    /// The type or variant could not be resolved (graph checks stay quiet about it).
    pub(crate) unresolved: bool,
}

fn parse_stage(
    registry: &Registry,
    key: &Spanned<std::borrow::Cow<'_, str>>,
    value: &Spanned<DeValue<'_>>,
    diags: &mut Diagnostics,
) -> Option<ParsedStage> {
    let id = key.get_ref().to_string();
    let id_span = key.span();
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        diags.push(
            Diagnostic::error(format!("invalid stage id `{id}`"), Some(id_span.clone()))
                .label("ids may use letters, digits, `_` and `-`")
                .help("rename the stage, e.g. `[stages.cam_1]`"),
        );
    }
    let DeValue::Table(table) = value.get_ref() else {
        diags.push(
            Diagnostic::error(format!("stage `{id}` must be a table"), Some(value.span()))
                .label(format!("this is {}", article(value.get_ref().type_str())))
                .help(format!(
                    "write the stage as `[stages.{id}]` followed by its options"
                )),
        );
        return None;
    };
    let mut table = table.clone();
    let mut st = ParsedStage {
        id: id.clone(),
        id_span: id_span.clone(),
        type_name: None,
        variant: None,
        role: None,
        input_kind: None,
        output_kind: None,
        inputs: Vec::new(),
        inputs_key_span: None,
        inputs_invalid: false,
        queue: None,
        queue_key_span: None,
        configured: None,
        unresolved: false,
    };

    // `inputs` and `queue` belong to the runtime, not to the stage's config.
    if let Some((k, v)) = table.remove_entry("inputs") {
        st.inputs_key_span = Some(k.span());
        let before = diags.error_count();
        st.inputs = read_inputs(&v, diags);
        st.inputs_invalid = diags.error_count() > before;
    }
    if let Some((k, v)) = table.remove_entry("queue") {
        st.queue_key_span = Some(k.span());
        st.queue = read_queue(&v, diags);
    }

    // `type`
    let type_name = match table.remove_entry("type") {
        None => {
            diags.push(
                Diagnostic::error(format!("stage `{id}` has no `type`"), Some(id_span.clone()))
                    .label("this stage needs `type = \"...\"`")
                    .help(format!(
                        "known stage types: {}",
                        backticked(registry.type_names())
                    )),
            );
            st.unresolved = true;
            return Some(st);
        }
        Some((_, v)) => match v.get_ref().as_str() {
            Some(s) => (s.to_string(), v.span()),
            None => {
                diags.push(wrong_type("type", "a string", &v));
                st.unresolved = true;
                return Some(st);
            }
        },
    };
    let (type_name, type_span) = type_name;
    st.type_name = Some(type_name.clone());
    let registered: Vec<_> = registry.entries_of(&type_name).collect();
    let not_compiled: Vec<_> = registry
        .not_compiled_entries()
        .iter()
        .filter(|n| n.type_name == type_name)
        .collect();
    if registered.is_empty() && not_compiled.is_empty() {
        let names = registry.type_names();
        diags.push(
            Diagnostic::error(format!("unknown stage type `{type_name}`"), Some(type_span))
                .label("no stage has this type")
                .maybe_help(
                    did_you_mean(&type_name, names.iter().copied())
                        .map(|s| format!("did you mean `{s}`?")),
                )
                .help(format!("known stage types: {}", backticked(names))),
        );
        st.unresolved = true;
        return Some(st);
    }
    if registered.is_empty()
        && let Some(nc) = not_compiled.iter().find(|n| n.variant.is_none())
    {
        diags.push(
            Diagnostic::error(
                format!("stage type `{type_name}` is not compiled into this binary"),
                Some(type_span),
            )
            .label(format!("needs cargo feature `{}`", nc.feature))
            .help(format!("rebuild with `--features {}`", nc.feature)),
        );
        st.role = Some(role_of(nc.input, nc.output));
        st.input_kind = nc.input;
        st.output_kind = nc.output;
        st.unresolved = true;
        return Some(st);
    }

    // The variant option (`source`, `sink`, `backend`), when the type has variants.
    let entry = match registry.variant_key(&type_name) {
        None => registered.first().copied(),
        Some(vkey) => {
            let values: Vec<&str> = registered
                .iter()
                .filter_map(|e| e.info.variant.map(|v| v.value))
                .chain(
                    not_compiled
                        .iter()
                        .filter_map(|n| n.variant.map(|v| v.value)),
                )
                .collect();
            match table.remove_entry(vkey) {
                None => {
                    diags.push(
                        Diagnostic::error(
                            format!("stage `{id}` (type `{type_name}`) has no `{vkey}`"),
                            Some(id_span.clone()),
                        )
                        .label(format!("this stage needs `{vkey} = \"...\"`"))
                        .help(format!("`{vkey}` is one of: {}", backticked(values))),
                    );
                    None
                }
                Some((_, v)) => {
                    match v.get_ref().as_str() {
                        None => {
                            diags.push(wrong_type(vkey, "a string", &v));
                            None
                        }
                        Some(val) => {
                            st.variant = Some((vkey.to_string(), val.to_string()));
                            let found = registered
                                .iter()
                                .find(|e| e.info.variant.is_some_and(|x| x.value == val))
                                .copied();
                            if found.is_none() {
                                if let Some(nc) = not_compiled
                                    .iter()
                                    .find(|n| n.variant.is_some_and(|x| x.value == val))
                                {
                                    diags.push(
                                    Diagnostic::error(
                                        format!(
                                            "`{type_name}` with `{vkey} = \"{val}\"` is not compiled into this binary"
                                        ),
                                        Some(v.span()),
                                    )
                                    .label(format!("needs cargo feature `{}`", nc.feature))
                                    .help(format!("rebuild with `--features {}`", nc.feature)),
                                );
                                    st.role = Some(role_of(nc.input, nc.output));
                                    st.input_kind = nc.input;
                                    st.output_kind = nc.output;
                                } else {
                                    diags.push(
                                    Diagnostic::error(
                                        format!("unknown {vkey} `{val}` for stage type `{type_name}`"),
                                        Some(v.span()),
                                    )
                                    .label(format!("no such {vkey}"))
                                    .maybe_help(
                                        did_you_mean(val, values.iter().copied())
                                            .map(|s| format!("did you mean `{s}`?")),
                                    )
                                    .help(format!("`{vkey}` is one of: {}", backticked(values))),
                                );
                                }
                            }
                            found
                        }
                    }
                }
            }
        }
    };
    let Some(entry) = entry else {
        st.unresolved = st.role.is_none();
        return Some(st);
    };
    let factory = &entry.factory;
    st.role = Some(factory.role());
    st.input_kind = factory.input_kind();
    st.output_kind = factory.output_kind();

    // Unknown fields: all of them, each with a suggestion, before the typed config is read.
    let fields = factory.fields();
    let mut all_fields: Vec<&str> = vec!["type", "inputs", "queue"];
    if let Some(v) = entry.info.variant {
        all_fields.push(v.key);
    }
    if factory.role() == Role::Source {
        all_fields.retain(|f| *f != "inputs" && *f != "queue");
    }
    all_fields.extend(fields.iter().copied());
    let place = match entry.info.variant {
        Some(v) => format!("stage `{id}` ({type_name}, {} = \"{}\")", v.key, v.value),
        None => format!("stage `{id}` ({type_name})"),
    };
    // A config whose field list cannot be probed (serde `flatten`) is left to serde.
    let unknown: Vec<(String, Range<usize>)> = table
        .iter()
        .filter(|_| !fields.is_empty())
        .filter(|(k, _)| !fields.contains(&k.get_ref().as_ref_str()))
        .map(|(k, _)| (k.get_ref().to_string(), k.span()))
        .collect();
    for (k, span) in &unknown {
        diags.push(unknown_field(k, span.clone(), &place, &all_fields));
        table.remove(k.as_str());
    }

    // Field spans, for errors from serde and from `validate`.
    let spans: BTreeMap<String, (Range<usize>, Range<usize>)> = table
        .iter()
        .map(|(k, v)| (k.get_ref().to_string(), (k.span(), v.span())))
        .collect();
    let table_span = value.span();
    // Kept to point `validate`'s problems at nested values (`zones.1.polygon`).
    let span_tree = table.clone();
    match factory.configure(Spanned::new(table_span.clone(), DeValue::Table(table))) {
        Err(e) => {
            let span = e.span().filter(|s| *s != table_span);
            let field = span.as_ref().and_then(|s| {
                spans
                    .iter()
                    .find(|(_, (_, v))| v.start <= s.start && s.end <= v.end)
                    .map(|(k, _)| k.clone())
            });
            let msg = e
                .message()
                .lines()
                .next()
                .unwrap_or("invalid value")
                .to_string();
            let d = match (&field, span) {
                (Some(f), Some(span)) => Diagnostic::error(
                    format!("invalid value for `{f}` in {place}"),
                    Some(span),
                )
                .label(msg)
                .help(format!(
                    "see `edgeflow list-stages --verbose` for an example `{type_name}` stage"
                )),
                _ => Diagnostic::error(format!("{msg} in {place}"), Some(id_span.clone()))
                    .label(msg.clone())
                    .help(format!(
                        "see `edgeflow list-stages --verbose` for an example `{type_name}` stage"
                    )),
            };
            diags.push(d);
        }
        Ok(configured) => {
            if let Err(invalid) = configured.validate() {
                for p in invalid.problems {
                    let span = p
                        .field
                        .as_ref()
                        .and_then(|f| {
                            span_of_path(&span_tree, f)
                                .or_else(|| spans.get(f).map(|(_, v)| v.clone()))
                        })
                        .unwrap_or_else(|| id_span.clone());
                    let message = match &p.field {
                        Some(f) => format!("invalid `{f}` in {place}: {}", p.message),
                        None => format!("{place}: {}", p.message),
                    };
                    diags.push(
                        Diagnostic::error(message, Some(span))
                            .label(p.message.clone())
                            .maybe_help(p.help),
                    );
                }
            }
            st.input_kind = configured.input_kind();
            st.output_kind = configured.output_kind();
            st.configured = Some(configured);
        }
    }
    Some(st)
}

/// The span of a nested value named by a dotted path of keys and array indexes
/// (`zones.1.polygon`), or of the deepest part of it that exists. A key that itself holds dots
/// (`options.security.protocol`, a quoted key) is found as the rest of the path.
fn span_of_path(table: &DeTable<'_>, path: &str) -> Option<Range<usize>> {
    let parts: Vec<&str> = path.split('.').collect();
    let mut current = table.get(parts[0])?;
    let mut span = current.span();
    let mut i = 1;
    while i < parts.len() {
        let next = match current.get_ref() {
            DeValue::Table(t) => t.get(parts[i]).map(|v| (v, 1)).or_else(|| {
                t.get(parts[i..].join(".").as_str())
                    .map(|v| (v, parts.len() - i))
            }),
            DeValue::Array(a) => parts[i]
                .parse::<usize>()
                .ok()
                .and_then(|n| a.get(n))
                .map(|v| (v, 1)),
            _ => None,
        };
        match next {
            Some((v, used)) => {
                current = v;
                span = v.span();
                i += used;
            }
            None => break,
        }
    }
    Some(span)
}

fn role_of(input: Option<PortKind>, output: Option<PortKind>) -> Role {
    match (input, output) {
        (None, _) => Role::Source,
        (Some(_), None) => Role::Sink,
        (Some(_), Some(_)) => Role::Transform,
    }
}

fn read_inputs(v: &Spanned<DeValue<'_>>, diags: &mut Diagnostics) -> Vec<(String, Range<usize>)> {
    let mut out = Vec::new();
    match v.get_ref() {
        DeValue::Array(items) => {
            for item in items.iter() {
                match item.get_ref().as_str() {
                    Some(s) => out.push((s.to_string(), item.span())),
                    None => diags.push(wrong_type(
                        "inputs",
                        "an array of stage ids (strings)",
                        item,
                    )),
                }
            }
        }
        DeValue::String(s) => diags.push(
            Diagnostic::error("wrong value type for `inputs`", Some(v.span()))
                .label("expected an array of stage ids, found a string")
                .help(format!("write `inputs = [\"{s}\"]`")),
        ),
        _ => diags.push(wrong_type("inputs", "an array of stage ids", v)),
    }
    out
}

fn read_queue(v: &Spanned<DeValue<'_>>, diags: &mut Diagnostics) -> Option<QueueOverride> {
    let DeValue::Table(t) = v.get_ref() else {
        diags.push(wrong_type(
            "queue",
            "a table like `{ capacity = 4, policy = \"block\" }`",
            v,
        ));
        return None;
    };
    const FIELDS: [&str; 2] = ["capacity", "policy"];
    let mut capacity = None;
    let mut policy = None;
    let mut ok = true;
    for (k, val) in t.iter() {
        match k.get_ref().as_ref_str() {
            "capacity" => match val
                .get_ref()
                .as_integer()
                .and_then(|i| i64::from_str_radix(i.as_str(), i.radix()).ok())
            {
                Some(n) if n >= 1 => capacity = Some(n as usize),
                Some(_) => {
                    ok = false;
                    diags.push(
                        Diagnostic::error("queue `capacity` must be at least 1", Some(val.span()))
                            .label("too small")
                            .help("use `capacity = 1` for a queue that holds only the newest item"),
                    );
                }
                None => {
                    ok = false;
                    diags.push(wrong_type("capacity", "a positive integer", val));
                }
            },
            "policy" => {
                match val.get_ref().as_str() {
                    Some("block") => policy = Some(QueuePolicy::Block),
                    Some("drop_oldest") => policy = Some(QueuePolicy::DropOldest),
                    Some(other) => {
                        ok = false;
                        diags.push(
                        Diagnostic::error(format!("unknown queue policy `{other}`"), Some(val.span()))
                            .label("not a queue policy")
                            .maybe_help(
                                did_you_mean(other, ["block", "drop_oldest"])
                                    .map(|s| format!("did you mean `{s}`?")),
                            )
                            .help("`policy` is `block` (lose nothing) or `drop_oldest` (stay real-time)"),
                    );
                    }
                    None => {
                        ok = false;
                        diags.push(wrong_type("policy", "a string", val));
                    }
                }
            }
            other => {
                ok = false;
                diags.push(unknown_field(other, k.span(), "`queue`", &FIELDS));
            }
        }
    }
    if !ok {
        return None;
    }
    Some(QueueOverride { capacity, policy })
}
