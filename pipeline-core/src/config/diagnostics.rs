//! Diagnostics for pipeline files: every problem at once, each with file, line, column, a caret
//! under the offending key or value, and a help line. Rendered with `codespan-reporting`.

use std::ops::Range;

use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, termcolor};

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// The pipeline cannot run.
    Error,
    /// The pipeline runs, but probably not as meant.
    Warning,
}

/// One problem in a pipeline file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong, in one line.
    pub message: String,
    /// Where (byte range in the file); `None` for the file as a whole.
    pub span: Option<Range<usize>>,
    /// Text under the caret.
    pub label: String,
    /// Other places that explain the problem, with their own labels.
    pub related: Vec<(Range<usize>, String)>,
    /// What to do about it.
    pub help: Vec<String>,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn error(message: impl Into<String>, span: Option<Range<usize>>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            span,
            label: String::new(),
            related: Vec::new(),
            help: Vec::new(),
        }
    }

    /// A warning at `span`.
    pub fn warning(message: impl Into<String>, span: Option<Range<usize>>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(message, span)
        }
    }

    /// Set the text under the caret.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// Add a help line.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help.push(help.into());
        self
    }

    /// Add a help line when there is one.
    pub fn maybe_help(mut self, help: Option<String>) -> Self {
        self.help.extend(help);
        self
    }

    /// Point at a second place.
    pub fn related(mut self, span: Range<usize>, label: impl Into<String>) -> Self {
        self.related.push((span, label.into()));
        self
    }
}

/// The diagnostics of one file, with the file's text so they can be rendered. `Display` and
/// `Debug` are both the rendered text (as the CLI prints it, without colour), so a program's
/// `main` that returns the error with `?` shows the diagnostics, not an escaped string;
/// [`Diagnostics::eprint`] prints them with colour on a terminal.
#[derive(Clone)]
pub struct Diagnostics {
    file_name: String,
    source: String,
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// No diagnostics yet for `file_name` with contents `source`.
    pub fn new(file_name: impl Into<String>, source: impl Into<String>) -> Self {
        Diagnostics {
            file_name: file_name.into(),
            source: source.into(),
            items: Vec::new(),
        }
    }

    /// Add one.
    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }

    /// All of them, in the order found.
    pub fn items(&self) -> &[Diagnostic] {
        &self.items
    }

    /// The file they are about.
    pub fn file_name(&self) -> &str {
        &self.file_name
    }

    /// Number of errors.
    pub fn error_count(&self) -> usize {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    /// Number of warnings.
    pub fn warning_count(&self) -> usize {
        self.items.len() - self.error_count()
    }

    /// Whether any is an error.
    pub fn has_errors(&self) -> bool {
        self.error_count() > 0
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The text under `span`, when it is inside the source.
    pub fn text(&self, span: std::ops::Range<usize>) -> Option<&str> {
        self.source.get(span)
    }

    /// Line and column (1-based) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let before = &self.source[..offset.min(self.source.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }

    /// Render every diagnostic and a closing count, with ANSI colours when `color`.
    pub fn render(&self, color: bool) -> String {
        let mut out: Vec<u8> = Vec::new();
        {
            let mut w: Box<dyn termcolor::WriteColor> = if color {
                Box::new(termcolor::Ansi::new(&mut out))
            } else {
                Box::new(termcolor::NoColor::new(&mut out))
            };
            let file = SimpleFile::new(self.file_name.as_str(), self.source.as_str());
            let config = term::Config::default();
            for d in &self.items {
                let cs = self.to_codespan(d);
                if term::emit(&mut *w, &config, &file, &cs).is_err() {
                    // Only a span outside the file could fail; fall back to a plain line.
                    let _ = writeln!(w, "{}: {}", severity_name(d.severity), d.message);
                }
            }
            let (e, wn) = (self.error_count(), self.warning_count());
            let _ = writeln!(
                w,
                "{}: {} error{}, {} warning{}",
                self.file_name,
                e,
                if e == 1 { "" } else { "s" },
                wn,
                if wn == 1 { "" } else { "s" }
            );
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    fn to_codespan(&self, d: &Diagnostic) -> CsDiagnostic<()> {
        let cs = match d.severity {
            Severity::Error => CsDiagnostic::error(),
            Severity::Warning => CsDiagnostic::warning(),
        };
        let mut labels = Vec::new();
        let len = self.source.len();
        let clamp = |r: &Range<usize>| r.start.min(len)..r.end.min(len);
        if let Some(span) = &d.span {
            labels.push(Label::primary((), clamp(span)).with_message(d.label.clone()));
        }
        for (span, label) in &d.related {
            labels.push(Label::secondary((), clamp(span)).with_message(label.clone()));
        }
        cs.with_message(d.message.clone())
            .with_labels(labels)
            .with_notes(d.help.iter().map(|h| format!("help: {h}")).collect())
    }
}

use std::io::Write as _;

fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

impl std::fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render(false))
    }
}

/// The rendered text, as [`Display`](std::fmt::Display): `Result`-returning `main`s print
/// errors with `Debug`.
impl std::fmt::Debug for Diagnostics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render(false))
    }
}

impl Diagnostics {
    /// Print every diagnostic to standard error as `edgeflow validate` does: with colour when
    /// standard error is a terminal and `NO_COLOR` is not set.
    pub fn eprint(&self) {
        use std::io::IsTerminal;
        let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        eprint!("{}", self.render(color));
    }
}

impl std::error::Error for Diagnostics {}

/// The closest candidate to `word`, if one is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let word_l = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            (
                strsim::damerau_levenshtein(&word_l, &c.to_ascii_lowercase()),
                c,
            )
        })
        .filter(|(d, c)| {
            let longest = word.len().max(c.len());
            *d <= 2.max(longest / 3)
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `a`, `b`, `c` as one string of back-ticked names.
pub fn backticked<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names
        .into_iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            did_you_mean("captur", ["capture", "publish"]),
            Some("capture")
        );
        assert_eq!(did_you_mean("widht", ["width", "height"]), Some("width"));
        assert_eq!(did_you_mean("zzzzzz", ["capture", "publish"]), None);
    }

    #[test]
    fn line_and_column() {
        let d = Diagnostics::new("f.toml", "a = 1\nbb = 2\n");
        assert_eq!(d.line_col(0), (1, 1));
        assert_eq!(d.line_col(8), (2, 3));
    }

    #[test]
    fn renders_caret_help_and_count() {
        let mut d = Diagnostics::new("f.toml", "[stages.a]\nwidht = 3\n");
        d.push(
            Diagnostic::error("unknown field `widht`", Some(11..16))
                .label("unknown field")
                .help("did you mean `width`?"),
        );
        d.push(Diagnostic::warning("unused", Some(8..9)));
        let text = d.render(false);
        assert!(text.contains("f.toml:2:1"), "{text}");
        assert!(text.contains("^^^^^ unknown field"), "{text}");
        assert!(text.contains("= help: did you mean `width`?"), "{text}");
        assert!(text.ends_with("f.toml: 1 error, 1 warning\n"), "{text}");
        assert!(d.render(true).contains("\u{1b}["));
    }
}
