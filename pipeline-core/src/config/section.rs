//! Top-level sections besides `[pipeline]` and `[stages.*]` that a program registers (the edge
//! HTTP service's `[server]`): each a typed config checked like a stage's table (unknown
//! fields with did-you-mean, every bad value at once, its own `validate`), handed to the
//! program in [`Sections`].
//!
//! ```
//! use edgeflow_core::{Invalid, Registry, Section, load_str};
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! struct Web { port: u16 }
//!
//! impl Section for Web {
//!     const NAME: &'static str = "web";
//!     const SUMMARY: &'static str = "a web page";
//!     fn validate(&self) -> Result<(), Invalid> {
//!         let mut inv = Invalid::new();
//!         if self.port == 0 {
//!             inv.field("port", "must not be 0", Some("pick a free port, e.g. 8080".into()));
//!         }
//!         inv.into_result()
//!     }
//! }
//!
//! let mut registry = Registry::new();
//! registry.section::<Web>();
//! let file = "[web]\nport = 0\n[stages]\n";
//! let err = load_str(&registry, "p.toml", file, ".".as_ref()).unwrap_err();
//! assert!(err.render(false).contains("invalid `port` in `[web]`: must not be 0"));
//! ```

use std::ops::Range;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::Diagnostics;
use super::stage::{TableRules, check_table};
use crate::Services;
use crate::registry::config_fields;
use crate::stage::{Invalid, Problem};

/// A top-level table of a pipeline file with a typed config, registered with
/// [`crate::Registry::section`].
pub trait Section: DeserializeOwned + schemars::JsonSchema + Send + Sync + 'static {
    /// The table's name (`server` for `[server]`).
    const NAME: &'static str;
    /// One line: what the section configures (the schema's description).
    const SUMMARY: &'static str;
    /// Checks without network or devices; each problem names its field.
    fn validate(&self) -> Result<(), Invalid> {
        Ok(())
    }
    /// Warnings about a valid config.
    fn notes(&self) -> Vec<Problem> {
        Vec::new()
    }
}

/// A registered section behind an erased interface.
pub(crate) trait SectionFactory: Send + Sync {
    fn fields(&self) -> &'static [&'static str];
    fn schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema;
    #[allow(clippy::type_complexity)]
    fn configure(
        &self,
        table: Spanned<DeValue<'_>>,
    ) -> Result<Box<dyn ConfiguredSection>, toml::de::Error>;
}

/// A section's typed config, not yet handed out.
pub(crate) trait ConfiguredSection: Send {
    fn validate(&self) -> Result<(), Invalid>;
    fn notes(&self) -> Vec<Problem>;
    fn insert_into(self: Box<Self>, sections: &mut Services);
}

struct Factory<S>(std::marker::PhantomData<fn() -> S>);

impl<S: Section> SectionFactory for Factory<S> {
    fn fields(&self) -> &'static [&'static str] {
        config_fields::<S>()
    }
    fn schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        generator.subschema_for::<S>()
    }
    fn configure(
        &self,
        table: Spanned<DeValue<'_>>,
    ) -> Result<Box<dyn ConfiguredSection>, toml::de::Error> {
        Ok(Box::new(Configured(S::deserialize(
            ValueDeserializer::from(table),
        )?)))
    }
}

struct Configured<S>(S);

impl<S: Section> ConfiguredSection for Configured<S> {
    fn validate(&self) -> Result<(), Invalid> {
        self.0.validate()
    }
    fn notes(&self) -> Vec<Problem> {
        self.0.notes()
    }
    fn insert_into(self: Box<Self>, sections: &mut Services) {
        sections.insert(self.0);
    }
}

/// One registered section: its name, summary and typed config.
#[derive(Clone)]
pub struct SectionEntry {
    /// The table's name.
    pub name: &'static str,
    /// What it configures.
    pub summary: &'static str,
    pub(crate) factory: Arc<dyn SectionFactory>,
}

impl std::fmt::Debug for SectionEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SectionEntry")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl SectionEntry {
    /// The entry of section `S`.
    pub fn of<S: Section>() -> Self {
        SectionEntry {
            name: S::NAME,
            summary: S::SUMMARY,
            factory: Arc::new(Factory::<S>(std::marker::PhantomData)),
        }
    }
}

/// The sections a pipeline file had, each as its typed config: `spec.sections.get::<S>()`.
pub type Sections = Services;

/// Check section `entry`'s table and, when it is valid, add its config to `sections`.
pub(crate) fn check_section(
    entry: &SectionEntry,
    value: &Spanned<DeValue<'_>>,
    key_span: Range<usize>,
    diags: &mut Diagnostics,
    sections: &mut Sections,
) {
    let name = entry.name;
    let DeValue::Table(table) = value.get_ref() else {
        diags.push(
            super::Diagnostic::error(format!("`{name}` must be a table"), Some(value.span()))
                .label(format!("this is a {}", value.get_ref().type_str()))
                .help(format!(
                    "write `[{name}]` with its keys under it (see `edgeflow schema`)"
                )),
        );
        return;
    };
    let rules = TableRules {
        fields: entry.factory.fields(),
        moved: &[],
        reserved: Vec::new(),
        place: format!("`[{name}]`"),
        see: format!("`edgeflow schema` describes every key of `[{name}]`"),
    };
    let table: DeTable<'_> = table.clone();
    let checked = check_table(
        &rules,
        table,
        (value.span(), key_span),
        diags,
        |t| entry.factory.configure(t),
        |c| (c.validate().err(), c.notes()),
    );
    if let Some((configured, _, true)) = checked {
        configured.insert_into(sections);
    }
}

/// Read a program's own config file (such as the collector's `collector.toml`) whose
/// top-level tables are the sections `entries`, each checked like a pipeline's sections: every
/// problem at once, each with its line, column and a fix. A table no entry names is an error
/// with a did-you-mean; so is a missing `required` one. Returns the sections and the
/// warnings, or every problem.
pub fn load_sections(
    file_name: &str,
    source: &str,
    entries: &[SectionEntry],
    required: &[&str],
) -> Result<(Sections, Diagnostics), Diagnostics> {
    let mut diags = Diagnostics::new(file_name, source);
    let (root, parse_errors) = DeTable::parse_recoverable(source);
    if !parse_errors.is_empty() {
        super::parse::report_parse_errors(source, &parse_errors, &mut diags);
        return Err(diags);
    }
    let mut sections = Sections::default();
    let names: Vec<&str> = entries.iter().map(|e| e.name).collect();
    let root = root.into_inner();
    for (key, value) in root.iter() {
        let name = key.get_ref().as_ref();
        match entries.iter().find(|e| e.name == name) {
            Some(entry) => check_section(entry, value, key.span(), &mut diags, &mut sections),
            None => diags.push(
                super::Diagnostic::error(
                    format!("unknown table `[{name}]` in `{file_name}`"),
                    Some(key.span()),
                )
                .label("not a table of this file")
                .maybe_help(
                    super::did_you_mean(name, names.iter().copied())
                        .map(|m| format!("did you mean `[{m}]`?")),
                )
                .help(format!(
                    "the tables of this file are {}",
                    super::backticked(names.iter().copied())
                )),
            ),
        }
    }
    for name in required {
        if !root.iter().any(|(k, _)| k.get_ref().as_ref() == *name) {
            diags.push(
                super::Diagnostic::error(
                    format!("`[{name}]` is missing from `{file_name}`"),
                    Some(0..0),
                )
                .help(format!("add a `[{name}]` table (see `edgeflow schema`)")),
            );
        }
    }
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok((sections, diags))
    }
}
