//! Diagnostics: problems found before any AWS call, collected rather than
//! returned early, each pointing at the place in the stack it concerns.
//!
//! The engine names places abstractly ([`At`]); a front end that kept source
//! positions turns them into `file:line:col` through a [`Locator`].

use std::fmt;

use serde::{Deserialize, Serialize};

/// One step of a path into a property tree.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PathSeg {
    Key(String),
    Index(usize),
}

impl fmt::Display for PathSeg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathSeg::Key(k) => f.write_str(k),
            PathSeg::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// Renders a path as `targets[0].arn`.
pub fn path_string(path: &[PathSeg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            PathSeg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            PathSeg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// Where in a stack a problem is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "at")]
pub enum At {
    /// The stack as a whole (or a file with no better position).
    Stack,
    /// A stack-level key such as `stack` or `region`.
    StackKey { key: String },
    /// A resource entry (its id).
    Resource { id: String },
    /// A key of the resource entry itself: `type`, `depends_on`, ….
    ResourceKey { id: String, key: String },
    /// A value inside a resource's properties.
    Prop { id: String, path: Vec<PathSeg> },
    /// The key (not the value) at the end of a path inside a resource's
    /// properties: where an unknown property is written.
    PropKey { id: String, path: Vec<PathSeg> },
    /// A parameter declaration.
    Param { name: String },
    /// An output.
    Output { name: String },
    /// One of the stack's `tags`, by key.
    Tag { key: String },
    /// A key (`from`, `to`) of the stack's `moved` entry `index` (from 0).
    Moved { index: usize, key: String },
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            At::Stack => f.write_str("stack"),
            At::StackKey { key } => write!(f, "stack key `{key}`"),
            At::Resource { id } => write!(f, "resource `{id}`"),
            At::ResourceKey { id, key } => write!(f, "resource `{id}`, `{key}`"),
            At::Prop { id, path } | At::PropKey { id, path } => {
                write!(f, "resource `{id}`, property `{}`", path_string(path))
            }
            At::Param { name } => write!(f, "parameter `{name}`"),
            At::Output { name } => write!(f, "output `{name}`"),
            At::Tag { key } => write!(f, "tag `{key}`"),
            At::Moved { index, key } => write!(f, "moved entry {}, `{key}`", index + 1),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem, with what was expected and, where one is near, a suggestion.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub at: At,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<String>,
}

impl Diagnostic {
    pub fn error(at: At, message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Error, at, message: message.into(), expected: None, suggestion: None }
    }
    pub fn warning(at: At, message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(at, message) }
    }
    #[must_use]
    pub fn expected(mut self, e: impl Into<String>) -> Self {
        self.expected = Some(e.into());
        self
    }
    #[must_use]
    pub fn suggest(mut self, s: Option<String>) -> Self {
        self.suggestion = s;
        self
    }
}

/// A collection of diagnostics.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }
    pub fn errors(&self) -> usize {
        self.0.iter().filter(|d| d.severity == Severity::Error).count()
    }
    pub fn warnings(&self) -> usize {
        self.0.iter().filter(|d| d.severity == Severity::Warning).count()
    }
    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A position in a source file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceLoc {
    pub file: String,
    /// 1-based; 0 means the file alone is known.
    pub line: usize,
    /// 1-based.
    pub col: usize,
    /// The text of that line, for the snippet.
    #[serde(skip)]
    pub line_text: Option<String>,
}

impl fmt::Display for SourceLoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 { f.write_str(&self.file) } else { write!(f, "{}:{}:{}", self.file, self.line, self.col) }
    }
}

/// Turns an abstract place into a source position.
pub trait Locator {
    fn locate(&self, at: &At) -> Option<SourceLoc>;
}

/// A locator for stacks with no source file (Rust builders): places are
/// described by resource id and property path.
pub struct NoSource;

impl Locator for NoSource {
    fn locate(&self, _: &At) -> Option<SourceLoc> {
        None
    }
}

/// Renders diagnostics as text: location, message, snippet with a caret,
/// what was expected and a suggestion.
pub fn render(diags: &Diagnostics, locator: &dyn Locator, color: bool) -> String {
    let (red, yellow, cyan, bold, reset) =
        if color { ("\x1b[31m", "\x1b[33m", "\x1b[36m", "\x1b[1m", "\x1b[0m") } else { ("", "", "", "", "") };
    let mut out = String::new();
    // In the order of the file, as a reader goes through it; the ones with
    // no place in it last, in the order found.
    let mut located: Vec<(Option<SourceLoc>, &Diagnostic)> =
        diags.0.iter().map(|d| (locator.locate(&d.at), d)).collect();
    located.sort_by_key(|(loc, _)| loc.as_ref().map_or((1, 0, 0), |l| (0, l.line, l.col)));
    for (loc, d) in located {
        let (label, c) = match d.severity {
            Severity::Error => ("error", red),
            Severity::Warning => ("warning", yellow),
        };
        match &loc {
            Some(l) => out.push_str(&format!("{bold}{l}{reset}: {c}{bold}{label}{reset}: {}\n", d.message)),
            None => out.push_str(&format!("{c}{bold}{label}{reset}: {} (at {})\n", d.message, d.at)),
        }
        if let Some(SourceLoc { line, col, line_text: Some(text), .. }) = &loc
            && *line > 0
        {
            let num = line.to_string();
            let pad = " ".repeat(num.len());
            out.push_str(&format!("{cyan}{pad} |{reset}\n{cyan}{num} |{reset} {text}\n"));
            let caret_pad: String =
                text.chars().take(col.saturating_sub(1)).map(|ch| if ch == '\t' { '\t' } else { ' ' }).collect();
            out.push_str(&format!("{cyan}{pad} |{reset} {caret_pad}{c}^{reset}\n"));
        }
        if let Some(e) = &d.expected {
            out.push_str(&format!("  = expected: {e}\n"));
        }
        if let Some(s) = &d.suggestion {
            out.push_str(&format!("  = help: {s}\n"));
        }
    }
    let (e, w) = (diags.errors(), diags.warnings());
    if e + w > 0 {
        out.push_str(&format!(
            "{} error{}, {} warning{}\n",
            e,
            if e == 1 { "" } else { "s" },
            w,
            if w == 1 { "" } else { "s" }
        ));
    }
    out
}

/// The closest candidate to `word` by edit distance, if it is close enough to
/// be a likely typo.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1) + 1;
    candidates
        .into_iter()
        .map(|c| (edit_distance(&word.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_names_only() {
        let kinds = ["aws:sns:Topic", "aws:sns:Subscription", "aws:events:Rule"];
        assert_eq!(did_you_mean("aws:sns:Topik", kinds), Some("aws:sns:Topic"));
        assert_eq!(did_you_mean("aws:s3:Bucket", kinds), None);
        assert_eq!(did_you_mean("anr", ["arn", "name"]), Some("arn"));
    }

    /// Seen: validation errors were not sorted by line.
    #[test]
    fn diagnostics_are_rendered_in_file_order() {
        struct ByResource;
        impl Locator for ByResource {
            fn locate(&self, at: &At) -> Option<SourceLoc> {
                let At::Resource { id } = at else { return None };
                let line = id.parse().ok()?;
                Some(SourceLoc { file: "s.yaml".into(), line, col: 1, line_text: None })
            }
        }
        let mut d = Diagnostics::default();
        for id in ["12", "none", "3", "7"] {
            d.push(Diagnostic::error(At::Resource { id: id.into() }, format!("problem {id}")));
        }
        let text = render(&d, &ByResource, false);
        let order: Vec<&str> = text.lines().filter_map(|l| l.split("problem ").nth(1)).collect();
        assert_eq!(order, vec!["3", "7", "12", "none (at resource `none`)"], "{text}");
    }

    #[test]
    fn renders_location_snippet_and_help() {
        struct L;
        impl Locator for L {
            fn locate(&self, _: &At) -> Option<SourceLoc> {
                Some(SourceLoc { file: "s.yaml".into(), line: 3, col: 5, line_text: Some("    tpye: x".into()) })
            }
        }
        let mut d = Diagnostics::default();
        d.push(
            Diagnostic::error(At::Resource { id: "a".into() }, "unknown key `tpye`")
                .expected("type")
                .suggest(Some("did you mean `type`?".into())),
        );
        let text = render(&d, &L, false);
        assert!(text.starts_with("s.yaml:3:5: error: unknown key `tpye`\n"), "{text}");
        assert!(text.contains("3 |     tpye: x\n  |     ^\n"), "{text}");
        assert!(text.contains("= help: did you mean `type`?"), "{text}");
        assert!(text.ends_with("1 error, 0 warnings\n"));
    }
}
