//! A running stage's new config: a TOML fragment of the stage's own table (`zones = [...]`,
//! `score_threshold = 0.4`) merged over its running config and checked by exactly the
//! loader's checks ([`super::stage::check_config`]).
//!
//! The diagnostics' source is the fragment followed by the rest of the running config, each
//! parsed on its own: problems with keys of the fragment point into the fragment at the very
//! positions the caller wrote them; a problem that comes from a kept key (a polygon that no
//! longer fits a new `frame_size`) points at that key in the listing of the running config.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

use super::parse::{AsRefStr, report_parse_errors};
use super::stage::{StageSchema, check_config};
use super::{Diagnostic, Diagnostics};
use crate::registry::ConfiguredStage;

/// A change to a running stage's config: a TOML fragment of the stage's own table.
#[derive(Clone, Debug, PartialEq)]
pub enum Fragment {
    /// TOML text, e.g. `score_threshold = 0.4`.
    Text(String),
    /// A table built in Rust (or converted from JSON).
    Table(toml::Table),
}

impl From<&str> for Fragment {
    fn from(s: &str) -> Self {
        Fragment::Text(s.to_string())
    }
}

impl From<String> for Fragment {
    fn from(s: String) -> Self {
        Fragment::Text(s)
    }
}

impl From<toml::Table> for Fragment {
    fn from(t: toml::Table) -> Self {
        Fragment::Table(t)
    }
}

/// A JSON command could not become a TOML fragment.
#[derive(Debug, thiserror::Error)]
#[error("a config change must be a JSON object of the stage's fields: {0}")]
pub struct JsonFragmentError(String);

impl Fragment {
    /// The fragment a JSON command carries (`{"score_threshold": 0.4}`): the same fields and
    /// values as the TOML table. `null` has no TOML form and is refused.
    pub fn from_json(value: &serde_json::Value) -> Result<Fragment, JsonFragmentError> {
        if !value.is_object() {
            return Err(JsonFragmentError(format!("got {value}")));
        }
        toml::Table::try_from(value)
            .map(Fragment::Table)
            .map_err(|e| JsonFragmentError(e.to_string()))
    }

    fn text(&self) -> String {
        match self {
            Fragment::Text(s) => s.clone(),
            Fragment::Table(t) => toml::to_string(t).unwrap_or_default(),
        }
    }
}

/// A fragment that passed every check, merged over the running config.
pub struct CheckedFragment {
    /// The typed new config, ready to hand to the stage or to build.
    pub(crate) configured: Box<dyn ConfiguredStage>,
    /// The whole new config as a table (the next fragment merges over this).
    pub table: toml::Table,
    /// Top-level fields whose value differs from the running config, in order.
    pub changed: Vec<String>,
}

impl std::fmt::Debug for CheckedFragment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckedFragment")
            .field("table", &self.table)
            .field("changed", &self.changed)
            .finish_non_exhaustive()
    }
}

/// Merge `fragment` over `running` (tables merge key by key, anything else is replaced) and
/// check the result as the loader checks a stage's table. Every problem comes back at once.
pub fn check_fragment(
    schema: &StageSchema,
    running: &toml::Table,
    fragment: &Fragment,
) -> Result<CheckedFragment, Diagnostics> {
    let file_name = format!("<change to stage `{}`>", schema.id);
    let text = fragment.text();
    let (parsed, errors) = DeTable::parse_recoverable(&text);
    if !errors.is_empty() {
        let mut diags = Diagnostics::new(&file_name, &text);
        report_parse_errors(&text, &errors, &mut diags);
        return Err(diags);
    }
    let mut frag = parsed.into_inner();
    let mut refused = Vec::new();
    for key in schema.reserved_keys() {
        if let Some((k, _)) = frag.remove_entry(key) {
            refused.push((key, k.span()));
        }
    }

    // The rest of the running config, listed after the fragment.
    let rest = without(running, &frag);
    let header = format!(
        "\n\n# the rest of the running config of stage `{}`:\n",
        schema.id
    );
    let rest_text = toml::to_string(&rest).unwrap_or_default();
    let offset = text.len() + header.len();
    let (rest_parsed, rest_errors) = DeTable::parse_recoverable(&rest_text);
    // What diagnostics show of the kept config hides secrets; same length, so spans hold.
    let shown = masked(&rest_text, rest_parsed.get_ref());
    let source = format!("{text}{header}{shown}");
    let mut diags = Diagnostics::new(&file_name, &source);
    for (key, span) in refused {
        let what = if key == "type" || schema.variant.is_some_and(|(k, _)| k == key) {
            "the stage's type"
        } else {
            "the graph"
        };
        diags.push(
            Diagnostic::error(
                format!("`{key}` of a running stage cannot change"),
                Some(span),
            )
            .label(format!("`{key}` is part of {what}"))
            .help("edit the pipeline file and restart the pipeline to change it"),
        );
    }
    if !rest_errors.is_empty() {
        // The running config was rendered by us; it always parses.
        diags.push(Diagnostic::error(
            "the running config could not be listed",
            None,
        ));
        return Err(diags);
    }
    let mut merged = frag;
    merge(&mut merged, shift_table(rest_parsed.into_inner(), offset));
    let whole: Range<usize> = 0..text.len();
    let checked = check_config(schema, merged, whole.clone(), whole, &mut diags);
    match checked {
        Some(c) if c.valid && !diags.has_errors() => {
            let changed = c
                .table
                .iter()
                .filter(|(k, v)| running.get(*k) != Some(*v))
                .map(|(k, _)| k.clone())
                .chain(
                    running
                        .keys()
                        .filter(|k| !c.table.contains_key(*k))
                        .cloned(),
                )
                .collect();
            Ok(CheckedFragment {
                configured: c.configured,
                table: c.table,
                changed,
            })
        }
        _ => Err(diags),
    }
}

/// Keys whose values diagnostics never show.
fn secret(key: &str) -> bool {
    ["password", "secret", "token"]
        .iter()
        .any(|s| key.to_ascii_lowercase().contains(s))
}

/// The password of a `scheme://user:password@host` string, as a range of `s`.
fn uri_password(s: &str) -> Option<Range<usize>> {
    let start = s.find("://")? + 3;
    let authority_end = s[start..].find('/').map_or(s.len(), |i| start + i);
    let at = s[start..authority_end].rfind('@')? + start;
    let colon = s[start..at].find(':')? + start;
    Some(colon + 1..at)
}

/// `text` with the string values of secret keys and the passwords in URIs (at any depth of
/// `table`) overwritten by `*`, byte for byte, so every span into it stays where it was.
fn masked(text: &str, table: &DeTable<'_>) -> String {
    fn value(v: &Spanned<DeValue<'_>>, secret_key: bool, text: &str, out: &mut Vec<Range<usize>>) {
        let s = v.span();
        match v.get_ref() {
            DeValue::Table(t) => collect(t, text, out),
            DeValue::Array(a) => {
                for item in a.iter() {
                    value(item, secret_key, text, out);
                }
            }
            // Inside the quotes.
            DeValue::String(_) if secret_key => {
                out.push(s.start + 1..s.end.saturating_sub(1).max(s.start + 1));
            }
            DeValue::String(_) => {
                if let Some(r) = text.get(s.clone()).and_then(uri_password) {
                    out.push(s.start + r.start..s.start + r.end);
                }
            }
            _ => {}
        }
    }
    fn collect(table: &DeTable<'_>, text: &str, out: &mut Vec<Range<usize>>) {
        for (k, v) in table.iter() {
            value(v, secret(k.get_ref()), text, out);
        }
    }
    let mut ranges = Vec::new();
    collect(table, text, &mut ranges);
    let mut bytes = text.as_bytes().to_vec();
    for r in ranges {
        if let Some(b) = bytes.get_mut(r) {
            b.fill(b'*');
        }
    }
    // Whole characters were replaced by ASCII: still UTF-8.
    String::from_utf8(bytes).unwrap_or_else(|_| text.to_string())
}

/// `running` without what `fragment` sets (tables that both have lose only the keys the
/// fragment sets).
fn without(running: &toml::Table, fragment: &DeTable<'_>) -> toml::Table {
    let mut rest = toml::Table::new();
    for (k, v) in running {
        match (fragment.get(k.as_str()).map(Spanned::get_ref), v) {
            (None, _) => {
                rest.insert(k.clone(), v.clone());
            }
            (Some(DeValue::Table(f)), toml::Value::Table(t)) => {
                let inner = without(t, f);
                if !inner.is_empty() {
                    rest.insert(k.clone(), toml::Value::Table(inner));
                }
            }
            (Some(_), _) => {}
        }
    }
    rest
}

/// Put what `from` has and `into` lacks into `into`, table by table.
fn merge<'a>(into: &mut DeTable<'a>, from: DeTable<'a>) {
    for (k, v) in from {
        let key = k.get_ref().as_ref_str().to_string();
        match into.get_mut(key.as_str()) {
            None => {
                into.insert(k, v);
            }
            Some(existing) => {
                if let (DeValue::Table(a), DeValue::Table(b)) = (existing.get_mut(), v.into_inner())
                {
                    merge(a, b);
                }
            }
        }
    }
}

fn shift_table(t: DeTable<'_>, by: usize) -> DeTable<'_> {
    t.into_iter()
        .map(|(k, v)| (shift_span(k, by), shift(v, by)))
        .collect()
}

fn shift_span<T>(s: Spanned<T>, by: usize) -> Spanned<T> {
    let span = s.span();
    Spanned::new(span.start + by..span.end + by, s.into_inner())
}

fn shift(v: Spanned<DeValue<'_>>, by: usize) -> Spanned<DeValue<'_>> {
    let span = v.span();
    let value = match v.into_inner() {
        DeValue::Table(t) => DeValue::Table(shift_table(t, by)),
        DeValue::Array(a) => {
            let mut out = DeArray::new();
            for item in a.iter() {
                out.push(shift(item.clone(), by));
            }
            DeValue::Array(out)
        }
        other => other,
    };
    Spanned::new(span.start + by..span.end + by, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_in_place() {
        let text = "broker = \"b:1\"\npassword = \"hunter2ü\"\n\n[auth]\nsasl_password = \"x\"\n";
        let (t, _) = DeTable::parse_recoverable(text);
        let m = masked(text, t.get_ref());
        assert_eq!(m.len(), text.len());
        assert!(m.contains("broker = \"b:1\""), "{m}");
        assert!(
            !m.contains("hunter2") && !m.contains("sasl_password = \"x\""),
            "{m}"
        );
        assert!(m.contains("password = \"*********\""), "{m}");
        let text =
            "uri = \"rtsp://admin:s3cret@cam:554/x\"\nurls = [\"http://a:b@h/\", \"http://h/\"]\n";
        let (t, _) = DeTable::parse_recoverable(text);
        let m = masked(text, t.get_ref());
        assert!(m.contains("rtsp://admin:******@cam:554/x"), "{m}");
        assert!(
            m.contains("http://a:*@h/") && m.contains("http://h/"),
            "{m}"
        );
    }

    #[test]
    fn a_json_command_becomes_the_same_fragment_or_a_clear_error() {
        let f =
            Fragment::from_json(&serde_json::json!({"score_threshold": 0.5, "classes": ["car"]}))
                .unwrap();
        let Fragment::Table(t) = &f else {
            panic!("{f:?}")
        };
        assert_eq!(t["score_threshold"].as_float(), Some(0.5));
        let e = Fragment::from_json(&serde_json::json!([1, 2])).unwrap_err();
        assert!(
            e.to_string()
                .contains("a JSON object of the stage's fields"),
            "{e}"
        );
        let e = Fragment::from_json(&serde_json::json!({"zones": null})).unwrap_err();
        assert!(e.to_string().contains("a JSON object"), "{e}");
    }

    #[test]
    fn tables_merge_key_by_key_and_the_rest_is_what_the_fragment_leaves() {
        let running: toml::Table = toml::from_str("a = 1\n[t]\nx = 1\ny = 2\n").unwrap();
        let (frag, _) = DeTable::parse_recoverable("t = { y = 3 }");
        let rest = without(&running, frag.get_ref());
        assert_eq!(toml::to_string(&rest).unwrap(), "a = 1\n\n[t]\nx = 1\n");
    }
}
