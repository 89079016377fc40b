//! The stack file's text and the positions of the places the engine names.

use cairn_engine::diag::{Locator, SourceLoc};
use cairn_engine::{At, PathSeg};

use crate::tree::{Node, Pos, Value};

/// A stack file: its path, its text, and where each place of the stack is
/// written in it.
///
/// [`Source::locate`] turns an engine [`At`] into `file:line:col`:
///
/// - `At::Stack`: the start of the document (the file alone when it is empty
///   or unreadable);
/// - `At::StackKey`: that top-level key (the document start when missing);
/// - `At::Resource`: the resource id key;
/// - `At::ResourceKey`: that key of the entry (the id when missing);
/// - `At::Prop`: the value at that path inside `properties`, or the key when
///   the value starts on a later line; for a path that does not exist, the
///   deepest prefix that does (the `properties` key for an empty prefix);
/// - `At::Param`, `At::Output`, `At::Tag`: the name key (the tag's key);
/// - `At::Moved`: the value of that key of the `moved` entry (the entry
///   when the key is missing).
///
/// Problems found while reading the file (a YAML syntax error, a duplicate
/// key, a wrong type) are often somewhere an `At` alone does not pin down:
/// the second of two duplicate keys, a field of a parameter. Each such
/// diagnostic is *pinned*: the reader records its `At` together with the
/// position it was found at, and `locate` answers a pinned `At` with that
/// position before consulting the structure. The first pin of an `At` wins;
/// messages name the offending key, so two problems sharing one `At` stay
/// distinguishable. A file with reading errors yields no spec, so engine
/// diagnostics never meet these pins.
#[derive(Clone, Debug)]
pub struct Source {
    path: String,
    text: String,
    pub(crate) index: Index,
}

/// Where things are in a stack file.
#[derive(Clone, Debug, Default)]
pub(crate) struct Index {
    /// The document's first node; unknown for an empty file.
    pub root: Pos,
    /// Top-level keys, first occurrence of each.
    pub stack_keys: Vec<(String, Pos)>,
    pub params: Vec<(String, Pos)>,
    pub outputs: Vec<(String, Pos)>,
    /// Keys of the stack's `tags`.
    pub tags: Vec<(String, Pos)>,
    /// Entries of `moved`: each one's position and its keys' values.
    pub moved: Vec<(Pos, Vec<(String, Pos)>)>,
    pub resources: Vec<ResourceIndex>,
    pub pins: Vec<(At, Pos)>,
}

#[derive(Clone, Debug)]
pub(crate) struct ResourceIndex {
    pub id: String,
    /// The id key.
    pub pos: Pos,
    /// Keys of the entry, first occurrence of each.
    pub keys: Vec<(String, Pos)>,
    /// The `properties` key and its value.
    pub props: Option<(Pos, Node)>,
}

impl Index {
    /// Pins `at` to `pos` unless it is pinned already.
    pub fn pin(&mut self, at: &At, pos: Pos) {
        if !self.pins.iter().any(|(a, _)| a == at) {
            self.pins.push((at.clone(), pos));
        }
    }

    fn position(&self, at: &At) -> Pos {
        if let Some((_, pos)) = self.pins.iter().find(|(a, _)| a == at) {
            return *pos;
        }
        let known = |p: Pos| (p != Pos::UNKNOWN).then_some(p);
        let stack_key = |key: &str| find(&self.stack_keys, key);
        let pos = match at {
            At::Stack => None,
            At::StackKey { key } => stack_key(key),
            At::Param { name } => find(&self.params, name).or_else(|| stack_key("parameters")),
            At::Output { name } => find(&self.outputs, name).or_else(|| stack_key("outputs")),
            At::Tag { key } => find(&self.tags, key).or_else(|| stack_key("tags")),
            At::Moved { index, key } => {
                self.moved.get(*index).map(|(pos, keys)| find(keys, key).unwrap_or(*pos)).or_else(|| stack_key("moved"))
            }
            At::Resource { id } => self.resource(id).map(|r| r.pos),
            At::ResourceKey { id, key } => self.resource(id).map(|r| find(&r.keys, key).unwrap_or(r.pos)),
            At::Prop { id, path } => self.resource(id).map(|r| match &r.props {
                Some((key_pos, props)) => prop_position(*key_pos, props, path, false),
                None => r.pos,
            }),
            At::PropKey { id, path } => self.resource(id).map(|r| match &r.props {
                Some((key_pos, props)) => prop_position(*key_pos, props, path, true),
                None => r.pos,
            }),
        };
        let pos = match (pos, at) {
            (Some(p), _) => Some(p),
            (None, At::Resource { .. } | At::ResourceKey { .. } | At::Prop { .. } | At::PropKey { .. }) => {
                stack_key("resources")
            }
            (None, _) => None,
        };
        pos.and_then(known).unwrap_or(self.root)
    }

    fn resource(&self, id: &str) -> Option<&ResourceIndex> {
        self.resources.iter().find(|r| r.id == id)
    }
}

fn find(list: &[(String, Pos)], key: &str) -> Option<Pos> {
    list.iter().find(|(k, _)| k == key).map(|(_, p)| *p)
}

/// Where to point for a value written after `key`: at the value when it
/// starts on the key's line, else at the key.
pub(crate) fn spot(key: Pos, value: &Node) -> Pos {
    if value.pos.line == key.line && value.pos != Pos::UNKNOWN { value.pos } else { key }
}

/// The position of `path` in `props`, or of its deepest existing prefix;
/// with `at_key`, the last step's key rather than its value.
fn prop_position(props_key: Pos, props: &Node, path: &[PathSeg], at_key: bool) -> Pos {
    let mut pos = props_key;
    let mut node = props;
    for (i, seg) in path.iter().enumerate() {
        let last = i + 1 == path.len();
        let next = match (seg, &node.value) {
            (PathSeg::Key(k), Value::Map(entries)) => entries
                .iter()
                .find(|(key, _)| matches!(&key.value, Value::Str(s) if s == k))
                .map(|(key, value)| (if at_key && last { key.pos } else { spot(key.pos, value) }, value)),
            (PathSeg::Index(i), Value::Seq(items)) => items.get(*i).map(|item| (item.pos, item)),
            _ => None,
        };
        let Some((p, n)) = next else { break };
        pos = p;
        node = n;
    }
    pos
}

impl Source {
    pub(crate) fn new(path: &str, text: &str, index: Index) -> Self {
        Source { path: path.to_string(), text: text.to_string(), index }
    }

    /// The path the file was read from, as given.
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The file's text.
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }

    fn source_loc(&self, pos: Pos) -> SourceLoc {
        let line_text = if pos.line == 0 {
            None
        } else {
            self.text.split('\n').nth(pos.line - 1).map(|l| l.strip_suffix('\r').unwrap_or(l).to_string())
        };
        SourceLoc { file: self.path.clone(), line: pos.line, col: if pos.line == 0 { 0 } else { pos.col }, line_text }
    }
}

impl Locator for Source {
    fn locate(&self, at: &At) -> Option<SourceLoc> {
        Some(self.source_loc(self.index.position(at)))
    }
}
