//! Finding and moving positions in toml's span-keeping tree.

use std::ops::Range;

use toml::de::{DeTable, DeValue};

/// The span of a nested value named by a dotted path of keys and array indexes
/// (`zones.1.polygon`), or of the deepest part of it that exists. A key that itself holds dots
/// (`options.security.protocol`, a quoted key) is found as the rest of the path.
pub(crate) fn span_of_path(table: &DeTable<'_>, path: &str) -> Option<Range<usize>> {
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
