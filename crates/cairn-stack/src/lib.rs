//! cairn's YAML front end: reads a stack file into a [`StackSpec`], keeping
//! where everything was written so that every diagnostic, the engine's
//! included, points at `file:line:col`.
//!
//! Reading checks the envelope only: known keys, the types of the envelope's
//! values, duplicate keys, YAML syntax and expansion limits. Resource kinds,
//! references, property contents and names are checked by the engine's
//! validate pass, whose diagnostics [`Source`] locates.
//!
//! ```
//! let parsed = cairn_stack::parse("s.yaml", "stack: demo\nresources: {}\n");
//! assert!(parsed.diagnostics.is_empty());
//! assert_eq!(parsed.spec.map(|s| s.name).as_deref(), Some("demo"));
//! ```

mod read;
mod source;
mod tree;

use std::path::Path;

use cairn_engine::{At, Diagnostic, Diagnostics, StackSpec};

pub use source::Source;

use crate::tree::Pos;

/// The outcome of reading a stack file.
#[derive(Clone, Debug)]
pub struct Parsed {
    /// The stack, when the file was read without errors. A file with errors
    /// yields none: a partial stack would only add follow-on errors.
    pub spec: Option<StackSpec>,
    /// Every problem found while reading, in the order found.
    pub diagnostics: Diagnostics,
    /// The file, to locate diagnostics (these and the engine's) in it.
    pub source: Source,
}

/// Reads a stack from `text`; `path` names it in diagnostics. Never panics
/// and touches neither the file system nor the network.
#[must_use]
pub fn parse(path: &str, text: &str) -> Parsed {
    let mut reader = read::Reader::default();
    // serde-saphyr is meant to be panic-free; a panic there must still not
    // take the caller down.
    let tree = std::panic::catch_unwind(|| tree::read(text)).unwrap_or_else(|_| {
        Err(tree::ReadError { pos: Pos::UNKNOWN, message: "internal error in the YAML reader".into(), expected: None })
    });
    let spec = match tree {
        Ok(root) => Some(reader.stack(root)),
        Err(e) => {
            let mut d = Diagnostic::error(At::Stack, e.message);
            d.expected = e.expected;
            reader.report(e.pos, d);
            None
        }
    };
    let spec = spec.filter(|_| !reader.diags.has_errors());
    Parsed { spec, diagnostics: reader.diags, source: Source::new(path, text, reader.index) }
}

/// Reads the stack file at `path`. A file that cannot be read is a
/// diagnostic at [`At::Stack`], located at the file alone.
#[must_use]
pub fn load(path: &Path) -> Parsed {
    let name = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let mut parsed = parse(&name, &text);
            // Relative paths in props (a function's code) start beside the file.
            if let Some(spec) = &mut parsed.spec {
                spec.base_dir = Some(path.parent().map(Path::to_path_buf).unwrap_or_default());
            }
            parsed
        }
        Err(e) => {
            let mut diagnostics = Diagnostics::default();
            diagnostics.push(
                Diagnostic::error(At::Stack, format!("cannot read the stack file: {e}"))
                    .expected("a readable UTF-8 YAML file"),
            );
            Parsed { spec: None, diagnostics, source: Source::new(&name, "", source::Index::default()) }
        }
    }
}

#[cfg(test)]
mod tests;
