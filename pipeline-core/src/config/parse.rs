//! The document pass: TOML syntax errors in our terms, and the `[pipeline]` table.

use std::ops::Range;
use std::path::Path;

use toml::Spanned;
use toml::de::DeValue;

use super::stage::{unknown_field, wrong_type};
use super::{Diagnostic, Diagnostics};

pub(crate) trait AsRefStr {
    fn as_ref_str(&self) -> &str;
}
impl AsRefStr for std::borrow::Cow<'_, str> {
    fn as_ref_str(&self) -> &str {
        self
    }
}

pub(crate) fn report_parse_errors(
    source: &str,
    errors: &[toml::de::Error],
    diags: &mut Diagnostics,
) {
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

pub(crate) struct PipelineMeta {
    pub(crate) name: String,
    pub(crate) device_id: String,
}

impl PipelineMeta {
    pub(crate) fn default_for(file_name: &str) -> Self {
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

    pub(crate) fn read(&mut self, value: &Spanned<DeValue<'_>>, diags: &mut Diagnostics) {
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
