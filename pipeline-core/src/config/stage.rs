//! The per-stage pass: a stage's own table taken apart (`type`, the variant key, `inputs`,
//! `queue`) and the rest checked against its typed config ([`check_config`], which
//! reconfiguring a running stage uses too).

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::parse::AsRefStr;
use super::spans::span_of_path;
use super::{Diagnostic, Diagnostics, QueueOverride, QueuePolicy, backticked, did_you_mean};
use crate::message::PortKind;
use std::sync::Arc;

use toml::de::ValueDeserializer;

use crate::registry::{ConfiguredStage, Registry, Role, StageEntry, StageFactory};

pub(crate) fn unknown_field(
    key: &str,
    span: Range<usize>,
    place: &str,
    fields: &[&str],
) -> Diagnostic {
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

/// For serde's "unknown field `x`, expected one of `a`, `b`" inside a nested table: the
/// closest name, as the loader offers for top-level keys.
fn nested_did_you_mean(msg: &str) -> Option<String> {
    let rest = msg
        .strip_prefix("unknown field `")
        .or_else(|| msg.strip_prefix("unknown variant `"))?;
    let (key, rest) = rest.split_once('`')?;
    let expected = rest.split_once("expected ")?.1;
    let names: Vec<&str> = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|n| !n.is_empty())
        .collect();
    did_you_mean(key, names.iter().copied()).map(|s| format!("did you mean `{s}`?"))
}

/// A key that moved into a nested table: name the table and write the line, with the value as
/// the file has it.
fn moved_field(
    m: &crate::stage::Moved,
    moved: &[crate::stage::Moved],
    table: &DeTable<'_>,
    diags: &Diagnostics,
    span: Range<usize>,
    place: &str,
) -> Diagnostic {
    // Every old key of this file that moves into the same table: one line to write for all.
    let entries: Vec<String> = moved
        .iter()
        .filter(|o| o.table == m.table)
        .filter_map(|o| {
            let v = table.get(o.key)?;
            Some(format!(
                "{} = {}",
                o.to,
                diags.text(v.span()).unwrap_or("...")
            ))
        })
        .collect();
    let old: Vec<&str> = moved
        .iter()
        .filter(|o| o.table == m.table && table.get(o.key).is_some())
        .map(|o| o.key)
        .collect();
    let instead = if old.len() > 1 {
        format!("in place of {}", backticked(old.iter().copied()))
    } else {
        "instead".to_string()
    };
    Diagnostic::error(
        format!(
            "`{}` has moved into the `{}` table in {place}",
            m.key, m.table
        ),
        Some(span),
    )
    .label(format!("now `{}.{}`", m.table, m.to))
    .help(format!(
        "write `{} = {{ {} }}` {instead} (the `{}` table holds every {} option)",
        m.table,
        entries.join(", "),
        m.table,
        m.table
    ))
}

/// serde's messages in the user's words: "invalid type: string \"10\", expected f64" becomes
/// "expected a number, found the string \"10\"".
pub(crate) fn in_plain_words(msg: &str) -> String {
    const TYPES: [(&str, &str); 16] = [
        ("f64", "a number"),
        ("f32", "a number"),
        ("u8", "a whole number of 0 or more"),
        ("u16", "a whole number of 0 or more"),
        ("u32", "a whole number of 0 or more"),
        ("u64", "a whole number of 0 or more"),
        ("usize", "a whole number of 0 or more"),
        ("i32", "a whole number"),
        ("i64", "a whole number"),
        ("a boolean", "true or false"),
        ("a sequence", "a list, like `[\"a\", \"b\"]`"),
        ("a string", "a string (in quotes)"),
        ("a map", "a table, like `{ key = value }`"),
        ("struct", "a table"),
        ("a borrowed string", "a string (in quotes)"),
        ("option", "a value"),
    ];
    let Some(rest) = msg.strip_prefix("invalid type: ") else {
        return msg.to_string();
    };
    let Some((found, expected)) = rest.split_once(", expected ") else {
        return msg.to_string();
    };
    let expected = TYPES
        .iter()
        .find(|(rust, _)| expected == *rust || expected.starts_with(&format!("{rust} ")))
        .map_or_else(|| expected.to_string(), |(_, plain)| plain.to_string());
    let found = match found.split_once(' ') {
        Some(("string", v)) => format!("the string {v}"),
        Some(("integer", v)) => format!("the whole number {v}"),
        Some(("floating", v)) => format!("the number {}", v.trim_start_matches("point ")),
        Some(("boolean", v)) => format!("`{}`", v.trim_matches('`')),
        _ => match found {
            "sequence" => "a list".to_string(),
            "map" => "a table".to_string(),
            other => other.to_string(),
        },
    };
    format!("expected {expected}, found {found}")
}

pub(crate) fn wrong_type(key: &str, expected: &str, v: &Spanned<DeValue<'_>>) -> Diagnostic {
    Diagnostic::error(format!("wrong value type for `{key}`"), Some(v.span()))
        .label(format!(
            "expected {expected}, found {}",
            article(v.get_ref().type_str())
        ))
        .help(format!("`{key}` takes {expected}"))
}

pub(crate) fn article(type_str: &str) -> String {
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
    pub(crate) configured: Option<Checked>,
    /// What the checks of its config need, for reconfiguring it while it runs.
    pub(crate) schema: Option<StageSchema>,
    /// The type or variant could not be resolved (graph checks stay quiet about it).
    pub(crate) unresolved: bool,
    /// Its config could not be read: its ports are the type's, not the config's.
    pub(crate) config_failed: bool,
}

/// What the config checks need to know of one stage: kept by the runtime, so a running stage's
/// new config goes through exactly the checks the loader ran.
#[derive(Clone)]
pub struct StageSchema {
    /// The stage id.
    pub(crate) id: String,
    /// `type = "..."`.
    pub(crate) type_name: String,
    /// The variant key and value (`source = "rtsp"`), when the type has variants.
    pub(crate) variant: Option<(&'static str, &'static str)>,
    /// The typed stage behind an erased interface.
    pub(crate) factory: Arc<dyn StageFactory>,
}

impl std::fmt::Debug for StageSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageSchema")
            .field("id", &self.id)
            .field("type_name", &self.type_name)
            .field("variant", &self.variant)
            .finish_non_exhaustive()
    }
}

impl StageSchema {
    fn new(id: &str, type_name: &str, entry: &StageEntry) -> Self {
        StageSchema {
            id: id.to_string(),
            type_name: type_name.to_string(),
            variant: entry.info.variant.map(|v| (v.key, v.value)),
            factory: entry.factory.clone(),
        }
    }

    /// "stage `det` (detect, backend = \"mock\")": how diagnostics name the stage.
    pub(crate) fn place(&self) -> String {
        match self.variant {
            Some((k, v)) => format!("stage `{}` ({}, {k} = \"{v}\")", self.id, self.type_name),
            None => format!("stage `{}` ({})", self.id, self.type_name),
        }
    }

    /// Keys of the stage's table that belong to the loader and the runtime, not to its config.
    pub(crate) fn reserved_keys(&self) -> Vec<&'static str> {
        let mut keys = vec!["type"];
        if self.factory.role() != Role::Source {
            keys.extend(["inputs", "queue"]);
        }
        if let Some((k, _)) = self.variant {
            keys.push(k);
        }
        keys
    }
}

/// A stage config that passed every check: the typed config, and the same as a TOML table
/// (what a later reconfigure merges over).
pub(crate) struct Checked {
    pub(crate) configured: Box<dyn ConfiguredStage>,
    pub(crate) table: toml::Table,
    /// No problem was found (the graph pass still wants the ports of an invalid config).
    pub(crate) valid: bool,
}

pub(crate) fn parse_stage(
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
        schema: None,
        unresolved: false,
        config_failed: false,
    };
    take_runtime_keys(&mut table, &mut st, diags);
    let Some(type_name) = take_type(&mut table, registry, &mut st, diags) else {
        st.unresolved = true;
        return Some(st);
    };
    let Some(entry) = resolve_entry(&mut table, registry, &type_name, &mut st, diags) else {
        st.unresolved = st.unresolved || st.role.is_none();
        return Some(st);
    };
    let schema = StageSchema::new(&id, &type_name, entry);
    st.role = Some(schema.factory.role());
    st.input_kind = schema.factory.input_kind();
    st.output_kind = schema.factory.output_kind();
    match check_config(&schema, table, value.span(), id_span, diags) {
        Some(checked) => {
            st.input_kind = checked.configured.input_kind();
            st.output_kind = checked.configured.output_kind();
            st.configured = Some(checked);
            st.schema = Some(schema);
        }
        // What it would produce is unknown: the graph pass skips its type checks.
        None => st.config_failed = true,
    }
    Some(st)
}

/// `inputs` and `queue` belong to the runtime, not to the stage's config.
fn take_runtime_keys(table: &mut DeTable<'_>, st: &mut ParsedStage, diags: &mut Diagnostics) {
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
}

/// `type = "..."`: its value and span, when present, a string, and a type this binary knows
/// (registered or not compiled).
fn take_type(
    table: &mut DeTable<'_>,
    registry: &Registry,
    st: &mut ParsedStage,
    diags: &mut Diagnostics,
) -> Option<String> {
    let id = st.id.clone();
    let (type_name, type_span) = match table.remove_entry("type") {
        None => {
            diags.push(
                Diagnostic::error(
                    format!("stage `{id}` has no `type`"),
                    Some(st.id_span.clone()),
                )
                .label("this stage needs `type = \"...\"`")
                .help(format!(
                    "known stage types: {}",
                    backticked(registry.type_names())
                )),
            );
            return None;
        }
        Some((_, v)) => match v.get_ref().as_str() {
            Some(s) => (s.to_string(), v.span()),
            None => {
                diags.push(wrong_type("type", "a string", &v));
                return None;
            }
        },
    };
    st.type_name = Some(type_name.clone());
    let registered = registry.entries_of(&type_name).next().is_some();
    let not_compiled: Vec<_> = registry
        .not_compiled_entries()
        .iter()
        .filter(|n| n.type_name == type_name)
        .collect();
    if !registered && not_compiled.is_empty() {
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
        return None;
    }
    if !registered && let Some(nc) = not_compiled.iter().find(|n| n.variant.is_none()) {
        diags.push(
            Diagnostic::error(
                format!("stage type `{type_name}` is not compiled into this binary"),
                Some(type_span),
            )
            .label(nc.remedy().0)
            .help(nc.remedy().1),
        );
        st.role = Some(role_of(nc.input, nc.output));
        st.input_kind = nc.input;
        st.output_kind = nc.output;
        return None;
    }
    Some(type_name)
}

/// The registry entry for the stage: the type's only one, or the one its variant key names
/// (`source`, `sink`, `backend`).
fn resolve_entry<'r>(
    table: &mut DeTable<'_>,
    registry: &'r Registry,
    type_name: &'r str,
    st: &mut ParsedStage,
    diags: &mut Diagnostics,
) -> Option<&'r StageEntry> {
    let registered: Vec<&StageEntry> = registry.entries_of(type_name).collect();
    let Some(vkey) = registry.variant_key(type_name) else {
        return registered.first().copied();
    };
    let not_compiled: Vec<_> = registry
        .not_compiled_entries()
        .iter()
        .filter(|n| n.type_name == type_name)
        .collect();
    let values: Vec<&str> = registered
        .iter()
        .filter_map(|e| e.info.variant.map(|v| v.value))
        .chain(
            not_compiled
                .iter()
                .filter_map(|n| n.variant.map(|v| v.value)),
        )
        .collect();
    let id = &st.id;
    let entry = table.remove_entry(vkey);
    if entry.is_none()
        && let Some(default) = registry.variant_default(type_name)
    {
        st.variant = Some((vkey.to_string(), default.to_string()));
        return registered
            .iter()
            .find(|e| e.info.variant.is_some_and(|x| x.value == default))
            .copied();
    }
    let Some((_, v)) = entry else {
        diags.push(
            Diagnostic::error(
                format!("stage `{id}` (type `{type_name}`) has no `{vkey}`"),
                Some(st.id_span.clone()),
            )
            .label(format!("this stage needs `{vkey} = \"...\"`"))
            .help(format!("`{vkey}` is one of: {}", backticked(values))),
        );
        return None;
    };
    let Some(val) = v.get_ref().as_str() else {
        diags.push(wrong_type(vkey, "a string", &v));
        return None;
    };
    st.variant = Some((vkey.to_string(), val.to_string()));
    let found = registered
        .iter()
        .find(|e| e.info.variant.is_some_and(|x| x.value == val))
        .copied();
    if found.is_some() {
        return found;
    }
    if let Some(nc) = not_compiled
        .iter()
        .find(|n| n.variant.is_some_and(|x| x.value == val))
    {
        diags.push(
            Diagnostic::error(
                format!("`{type_name}` with `{vkey} = \"{val}\"` is not compiled into this binary"),
                Some(v.span()),
            )
            .label(nc.remedy().0)
            .help(nc.remedy().1),
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
                did_you_mean(val, values.iter().copied()).map(|s| format!("did you mean `{s}`?")),
            )
            .help(format!("`{vkey}` is one of: {}", backticked(values))),
        );
    }
    None
}

/// Check a stage's own table (without `type`, the variant key, `inputs` and `queue`) against
/// its typed config: every unknown field (with did-you-mean), then serde's type errors, then
/// the stage's own `validate`, each pointing at its key or value. `table_span` is the span
/// of the whole table, `id_span` where problems of the stage as a whole point.
pub(crate) fn check_config(
    schema: &StageSchema,
    table: DeTable<'_>,
    table_span: Range<usize>,
    id_span: Range<usize>,
    diags: &mut Diagnostics,
) -> Option<Checked> {
    let factory = &schema.factory;
    let rules = TableRules {
        fields: factory.fields(),
        moved: factory.moved(),
        reserved: schema.reserved_keys(),
        place: schema.place(),
        see: format!(
            "see `edgeflow list-stages --verbose` for an example `{}` stage",
            schema.type_name
        ),
    };
    let (configured, table, valid) = check_table(
        &rules,
        table,
        (table_span, id_span),
        diags,
        |t| factory.configure(t),
        |c| (c.validate().err(), c.notes()),
    )?;
    Some(Checked {
        configured,
        table,
        valid,
    })
}

/// What [`check_table`] knows of a table besides its typed config.
pub(crate) struct TableRules {
    /// The typed config's fields (empty: not probed, left to serde).
    pub(crate) fields: &'static [&'static str],
    /// Old keys that moved elsewhere.
    pub(crate) moved: &'static [crate::stage::Moved],
    /// Keys of the table that are not the config's (`type`, `inputs`), for suggestions.
    pub(crate) reserved: Vec<&'static str>,
    /// How diagnostics name the table ("stage `det` (detect)", "`[server]`").
    pub(crate) place: String,
    /// The help line of a bad value.
    pub(crate) see: String,
}

/// Check a table against a typed config `C` read by `configure`: every unknown field (with
/// did-you-mean), then serde's type errors (each bad field taken out and the rest read again,
/// so all are reported in one run), then `review`'s problems (errors) and notes (warnings),
/// each pointing at its key or value. `spans` are the whole table's and where problems of the
/// table as a whole point. Returns the config, the same as a plain table, and whether no
/// problem was found.
pub(crate) fn check_table<C>(
    rules: &TableRules,
    mut table: DeTable<'_>,
    (table_span, id_span): (Range<usize>, Range<usize>),
    diags: &mut Diagnostics,
    configure: impl Fn(Spanned<DeValue<'_>>) -> Result<C, toml::de::Error>,
    review: impl FnOnce(&C) -> (Option<crate::stage::Invalid>, Vec<crate::stage::Problem>),
) -> Option<(C, toml::Table, bool)> {
    let place = &rules.place;
    // Unknown fields: all of them, each with a suggestion, before the typed config is read.
    let fields = rules.fields;
    let mut all_fields = rules.reserved.clone();
    all_fields.extend(fields.iter().copied());
    // A config whose field list cannot be probed (serde `flatten`) is left to serde.
    let unknown: Vec<(String, Range<usize>)> = table
        .iter()
        .filter(|_| !fields.is_empty())
        .filter(|(k, _)| !fields.contains(&k.get_ref().as_ref_str()))
        .map(|(k, _)| (k.get_ref().to_string(), k.span()))
        .collect();
    let moved = rules.moved;
    // Every diagnostic against the whole table first: a moved key's line names every old key
    // of its table.
    let found: Vec<Diagnostic> = unknown
        .iter()
        .map(|(k, span)| match moved.iter().find(|m| m.key == k) {
            Some(m) => moved_field(m, moved, &table, diags, span.clone(), place),
            None => unknown_field(k, span.clone(), place, &all_fields),
        })
        .collect();
    for d in found {
        diags.push(d);
    }
    for (k, _) in &unknown {
        table.remove(k.as_str());
    }

    // Field spans, for errors from serde and from `validate`.
    let spans: BTreeMap<String, (Range<usize>, Range<usize>)> = table
        .iter()
        .map(|(k, v)| (k.get_ref().to_string(), (k.span(), v.span())))
        .collect();
    // Kept to point `validate`'s problems at nested values (`zones.1.polygon`).
    let span_tree = table.clone();
    let as_table = {
        use serde::Deserialize;
        toml::Table::deserialize(ValueDeserializer::from(Spanned::new(
            table_span.clone(),
            DeValue::Table(table.clone()),
        )))
    };
    let see = &rules.see;
    let before = diags.error_count();
    // serde stops at the first bad value: take that field out and read again, so every
    // field's problem is reported in one run (and the rest of the config is still checked).
    let mut table = table;
    let mut bad_fields: Vec<String> = Vec::new();
    let configured = loop {
        let e = match configure(Spanned::new(
            table_span.clone(),
            DeValue::Table(table.clone()),
        )) {
            Ok(configured) => break Some(configured),
            Err(e) => e,
        };
        let span = e.span().filter(|s| *s != table_span);
        let field = span.as_ref().and_then(|s| {
            spans
                .iter()
                .find(|(_, (_, v))| v.start <= s.start && s.end <= v.end)
                .map(|(k, _)| k.clone())
        });
        let msg = in_plain_words(e.message().lines().next().unwrap_or("invalid value"));
        // A required field taken out for its bad value is not also "missing".
        if bad_fields
            .iter()
            .any(|f| msg == format!("missing field `{f}`"))
        {
            break None;
        }
        let d = match (&field, span) {
            (Some(f), Some(span)) => {
                Diagnostic::error(format!("invalid value for `{f}` in {place}"), Some(span))
                    .maybe_help(nested_did_you_mean(&msg))
                    .label(msg)
                    .help(see.clone())
            }
            _ => Diagnostic::error(format!("{msg} in {place}"), Some(id_span.clone()))
                .label(msg.clone())
                .help(see.clone()),
        };
        diags.push(d);
        match field {
            Some(f) if !bad_fields.contains(&f) && bad_fields.len() < 64 => {
                table.remove(f.as_str());
                bad_fields.push(f);
            }
            _ => break None,
        }
    };
    let configured = configured?;
    // A problem's span: its (nested) field's value, else the stage id.
    let span_of = |p: &crate::stage::Problem| {
        p.field
            .as_ref()
            .and_then(|f| {
                span_of_path(&span_tree, f).or_else(|| spans.get(f).map(|(_, v)| v.clone()))
            })
            .unwrap_or_else(|| id_span.clone())
    };
    // Problems of a field already reported for its value (and read as its default) would only
    // repeat it.
    let reported = |p: &crate::stage::Problem| {
        p.field.as_deref().is_some_and(|f| {
            let top = f.split('.').next().unwrap_or(f);
            bad_fields.iter().any(|b| b == top)
        })
    };
    let (invalid, notes) = review(&configured);
    let problems: Vec<crate::stage::Problem> = invalid
        .map(|i| i.problems)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| !reported(p))
        .collect();
    for (p, error) in problems
        .into_iter()
        .map(|p| (p, true))
        .chain(notes.into_iter().map(|p| (p, false)))
    {
        let span = Some(span_of(&p));
        let message = match &p.field {
            Some(f) if error => format!("invalid `{f}` in {place}: {}", p.message),
            Some(f) => format!("`{f}` in {place}: {}", p.message),
            None => format!("{place}: {}", p.message),
        };
        let d = if error {
            Diagnostic::error(message, span)
        } else {
            Diagnostic::warning(message, span)
        };
        diags.push(d.label(p.message.clone()).maybe_help(p.help));
    }
    // The typed config read it, so the plain table reads too.
    let valid = diags.error_count() == before && unknown.is_empty();
    Some((configured, as_table.unwrap_or_default(), valid))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_errors_are_in_plain_words() {
        assert_eq!(
            in_plain_words("invalid type: string \"10\", expected f64"),
            "expected a number, found the string \"10\""
        );
        assert_eq!(
            in_plain_words("invalid type: string \"yes\", expected a boolean"),
            "expected true or false, found the string \"yes\""
        );
        assert_eq!(
            in_plain_words("invalid type: string \"person\", expected a sequence"),
            "expected a list, like `[\"a\", \"b\"]`, found the string \"person\""
        );
        assert_eq!(
            in_plain_words("invalid type: floating point `1.5`, expected u32"),
            "expected a whole number of 0 or more, found the number `1.5`"
        );
        assert_eq!(in_plain_words("missing field `x`"), "missing field `x`");
    }

    #[test]
    fn unknown_nested_keys_get_the_closest_name() {
        assert_eq!(
            nested_did_you_mean(
                "unknown field `intra_thread`, expected one of `intra_threads`, `inter_threads`"
            )
            .as_deref(),
            Some("did you mean `intra_threads`?")
        );
        assert_eq!(
            nested_did_you_mean("unknown field `zzz`, expected `ca_file`"),
            None
        );
        assert_eq!(
            nested_did_you_mean(
                "unknown variant `on_chnage`, expected one of `every_frame`, `on_change`, `summary`"
            )
            .as_deref(),
            Some("did you mean `on_change`?")
        );
        assert_eq!(nested_did_you_mean("invalid type: string"), None);
    }
}
