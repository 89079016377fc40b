//! Building an event that a pattern matches, for sending to EventBridge's
//! TestEventPattern: the pattern's own reading of an event, checked by
//! this crate's matcher before it is handed out.
//!
//! Each field the pattern names gets a value for the first of its
//! alternatives that can be satisfied; `$or` takes the first alternative
//! that leads to a matching event. A field named in more than one place
//! (a nested `$or` and the object around it) gets a list holding a value
//! for each place, since a list matches when any of its elements does.

use super::eval;
use super::{AnythingBut, EventPattern, Field, Matcher, Node, Object, Range, number_value};
use serde_json::{Map, Value, json};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// How many choices of `$or` alternatives are tried before giving up.
const MAX_TRIES: usize = 256;

/// An EventBridge event envelope with the given source, detail type,
/// account and region: version `0`, a fixed id, a fixed time
/// (`2026-01-01T00:00:00Z`), no resources and an empty detail. It is the
/// usual `base` for [`EventPattern::sample`].
pub fn skeleton(source: &str, detail_type: &str, account: &str, region: &str) -> Value {
    json!({
        "version": "0",
        "id": "c0ffee00-ca1e-4e5a-9a3b-000000000001",
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": "2026-01-01T00:00:00Z",
        "region": region,
        "resources": [],
        "detail": {}
    })
}

impl EventPattern {
    /// An event this pattern matches: `base` (normally a [`skeleton`])
    /// with every field the pattern names set to a value it accepts, nested
    /// objects created as needed and fields that must be absent removed.
    ///
    /// A field whose value in `base` is a list (such as `resources`) gets
    /// a one-element list. `None` when no event can satisfy the pattern
    /// (an empty numeric range, or a field that must be both present and
    /// absent). The event is always checked against the pattern before it
    /// is returned, so a `Some` always matches.
    pub fn sample(&self, base: &Value) -> Option<Value> {
        let mut chooser = Chooser::default();
        for _ in 0..MAX_TRIES {
            let mut want = Want::default();
            collect(&self.root, &mut want, &mut chooser);
            if let Some(event) = fill(&want, base)
                && self.matches(&event).is_match()
            {
                return Some(event);
            }
            if !chooser.advance() {
                break;
            }
        }
        None
    }
}

/// What the pattern asks of one place in the event, with one alternative
/// chosen for each `$or`.
#[derive(Default)]
struct Want<'p> {
    /// The value lists naming this place; the value must satisfy each.
    leaves: Vec<&'p [Matcher]>,
    /// Fields the pattern names inside this place.
    children: Vec<(&'p str, Want<'p>)>,
    /// The pattern has a nested object here (possibly of `$or` only).
    object: bool,
}

impl<'p> Want<'p> {
    fn child(&mut self, name: &'p str) -> &mut Want<'p> {
        let at = match self.children.iter().position(|(n, _)| *n == name) {
            Some(at) => at,
            None => {
                self.children.push((name, Want::default()));
                self.children.len() - 1
            }
        };
        &mut self.children[at].1
    }
}

/// Walks the choices of `$or` alternatives in order, like an odometer:
/// each run picks the alternative recorded for each `$or` it meets (the
/// first, for one met for the first time), and `advance` moves to the next
/// combination.
#[derive(Default)]
struct Chooser {
    /// `(alternative picked, alternatives offered)` per `$or`, in the order
    /// the last run met them.
    picks: Vec<(usize, usize)>,
    /// How many `$or` the current run has met.
    at: usize,
}

impl Chooser {
    fn pick(&mut self, offered: usize) -> usize {
        let i = self.at;
        self.at += 1;
        match self.picks.get_mut(i) {
            Some(pick) => {
                pick.1 = offered;
                pick.0
            }
            None => {
                self.picks.push((0, offered));
                0
            }
        }
    }

    /// Moves to the next combination; false when all have been tried.
    fn advance(&mut self) -> bool {
        self.picks.truncate(self.at);
        self.at = 0;
        while let Some((picked, offered)) = self.picks.pop() {
            if picked + 1 < offered {
                self.picks.push((picked + 1, offered));
                return true;
            }
        }
        false
    }
}

fn collect<'p>(object: &'p Object, want: &mut Want<'p>, chooser: &mut Chooser) {
    want.object = true;
    for field in &object.fields {
        match field {
            Field::Match { name, node: Node::Values(matchers) } => want.child(name).leaves.push(matchers),
            Field::Match { name, node: Node::Object(inner) } => collect(inner, want.child(name), chooser),
            Field::AnyOf(alternatives) => {
                if !alternatives.is_empty() {
                    let i = chooser.pick(alternatives.len());
                    collect(&alternatives[i], want, chooser);
                }
            }
        }
    }
}

/// `base` with the wanted fields set, or `None` on a conflict.
fn fill(want: &Want, base: &Value) -> Option<Value> {
    let mut map = base.as_object().cloned().unwrap_or_default();
    fill_fields(want, &mut map)?;
    Some(Value::Object(map))
}

fn fill_fields(want: &Want, map: &mut Map<String, Value>) -> Option<()> {
    for (name, child) in &want.children {
        match place(child, map.get(*name))? {
            Some(value) => {
                map.insert((*name).to_string(), value);
            }
            None => {
                map.shift_remove(*name);
            }
        }
    }
    Some(())
}

/// The value for one place: `Some(None)` to leave it absent, `None` on a
/// conflict.
fn place(want: &Want, existing: Option<&Value>) -> Option<Option<Value>> {
    let leaf = leaf(&want.leaves)?;
    if want.object {
        let mut map = existing.and_then(Value::as_object).cloned().unwrap_or_default();
        fill_fields(want, &mut map)?;
        let object = Value::Object(map);
        return Some(Some(match leaf {
            // An object is not a value, so it also satisfies `exists: false`.
            Leaf::Nothing | Leaf::Absent => object,
            Leaf::Present(values) => Value::Array(std::iter::once(object).chain(values).collect()),
        }));
    }
    Some(match leaf {
        Leaf::Nothing => existing.cloned(),
        Leaf::Absent => None,
        Leaf::Present(mut values) => {
            if values.len() == 1 && !existing.is_some_and(Value::is_array) {
                values.pop()
            } else {
                Some(Value::Array(values))
            }
        }
    })
}

/// What a place's value lists together ask for.
enum Leaf {
    /// No value list names the place.
    Nothing,
    /// It must be absent (`exists: false`).
    Absent,
    /// It must hold these values (one per value list).
    Present(Vec<Value>),
}

/// Whether a value list's first satisfiable alternative is `exists:
/// false`; `None` when none can be satisfied.
fn absent_first(matchers: &[Matcher]) -> Option<bool> {
    matchers.iter().find_map(|m| match m {
        Matcher::Exists(false) => Some(true),
        m => value_for(m).map(|_| false),
    })
}

/// What the value lists naming one place ask for together, or `None` when
/// they cannot all be satisfied.
fn leaf(lists: &[&[Matcher]]) -> Option<Leaf> {
    if lists.is_empty() {
        return Some(Leaf::Nothing);
    }
    let firsts: Vec<bool> = lists.iter().map(|l| absent_first(l)).collect::<Option<_>>()?;
    if firsts.iter().all(|absent| *absent) {
        return Some(Leaf::Absent);
    }
    let present: Option<Vec<Value>> = lists.iter().map(|l| l.iter().find_map(value_for)).collect();
    match present {
        Some(values) => {
            let mut distinct: Vec<Value> = Vec::new();
            for v in values {
                if !distinct.contains(&v) {
                    distinct.push(v);
                }
            }
            Some(Leaf::Present(distinct))
        }
        None if lists.iter().all(|l| l.contains(&Matcher::Exists(false))) => Some(Leaf::Absent),
        None => None,
    }
}

/// A value that `m` accepts on its own, if there is one (never for
/// `exists: false`, which asks for no value).
fn value_for(m: &Matcher) -> Option<Value> {
    let candidates: Vec<Value> = match m {
        Matcher::Equals(v) => vec![v.clone()],
        Matcher::Exactly(s) | Matcher::EqualsIgnoreCase(s) => vec![s.as_str().into()],
        // Lower-casing is not always letter by letter (a final sigma), so
        // the bare affix is the fallback.
        Matcher::Prefix(p) | Matcher::PrefixIgnoreCase(p) => vec![format!("{p}sample").into(), p.as_str().into()],
        Matcher::Suffix(s) | Matcher::SuffixIgnoreCase(s) => vec![format!("sample{s}").into(), s.as_str().into()],
        Matcher::Wildcard(w) => vec![wildcard_text(w).into()],
        Matcher::Numeric(range) => return number_in(range).map(number_value),
        Matcher::Exists(true) => return Some("sample".into()),
        Matcher::Exists(false) => return None,
        Matcher::AnythingBut(AnythingBut::Numbers(excluded)) => {
            let mut numbers: Vec<Value> = (0..=excluded.len()).map(Value::from).collect();
            numbers.push("cairn-sample".into());
            numbers
        }
        // The string forms of `anything-but` exclude strings only, so a
        // number is the last resort.
        Matcher::AnythingBut(_) => ["cairn-sample", "sample", "x", "Q", "0", "-", "_", "~", ""]
            .into_iter()
            .map(Value::from)
            .chain([Value::from(0)])
            .collect(),
        Matcher::Cidr(c) => {
            let hosts = match c.address {
                IpAddr::V4(net) => {
                    let mask = u32::MAX.checked_shl(32 - u32::from(c.prefix_len)).unwrap_or(0);
                    let network = u32::from(net) & mask;
                    [network.wrapping_add(1), network].map(|a| IpAddr::V4(Ipv4Addr::from(a)))
                }
                IpAddr::V6(net) => {
                    let mask = u128::MAX.checked_shl(128 - u32::from(c.prefix_len)).unwrap_or(0);
                    let network = u128::from(net) & mask;
                    [network.wrapping_add(1), network].map(|a| IpAddr::V6(Ipv6Addr::from(a)))
                }
            };
            hosts.iter().map(|ip| address_text(*ip).into()).collect()
        }
    };
    candidates.into_iter().find(|v| eval::test(m, v))
}

/// The text a wildcard matches with each `*` standing for `x`: escapes
/// (`\*`, `\\`) become the character they escape.
fn wildcard_text(w: &str) -> String {
    let mut out = String::new();
    let mut chars = w.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' => out.push('x'),
            '\\' => out.push(chars.next().unwrap_or('\\')),
            c => out.push(c),
        }
    }
    out
}

/// A number in the range: an inclusive bound, a whole number just inside
/// an exclusive one, the midpoint, or the double next to a bound.
fn number_in(range: &Range) -> Option<f64> {
    let mut candidates = Vec::new();
    for bound in [range.lower, range.upper].into_iter().flatten() {
        if bound.inclusive {
            candidates.push(bound.value);
        }
    }
    if let Some(l) = range.lower {
        candidates.push(l.value.floor() + 1.0);
    }
    if let Some(u) = range.upper {
        candidates.push(u.value.ceil() - 1.0);
    }
    match (range.lower, range.upper) {
        (Some(l), Some(u)) => candidates.push(l.value / 2.0 + u.value / 2.0),
        (None, None) => candidates.push(0.0),
        _ => {}
    }
    if let Some(l) = range.lower {
        candidates.push(l.value.next_up());
    }
    if let Some(u) = range.upper {
        candidates.push(u.value.next_down());
    }
    candidates.into_iter().find(|x| x.is_finite() && range.contains(*x))
}

/// An address as the matcher reads one: dotted decimal for IPv4, hex
/// groups for IPv6 (never the dotted tail Rust writes for IPv4-mapped
/// addresses).
fn address_text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let short = v6.to_string();
            if short.contains('.') {
                v6.segments().iter().map(|s| format!("{s:x}")).collect::<Vec<_>>().join(":")
            } else {
                short
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event_pattern::Bound;

    fn range(lower: Option<(f64, bool)>, upper: Option<(f64, bool)>) -> Range {
        let bound = |b: Option<(f64, bool)>| b.map(|(value, inclusive)| Bound { value, inclusive });
        Range { lower: bound(lower), upper: bound(upper) }
    }

    #[test]
    fn numbers_are_picked_inside_ranges() {
        assert_eq!(number_in(&range(Some((5.0, true)), None)), Some(5.0));
        assert_eq!(number_in(&range(Some((5.0, false)), None)), Some(6.0));
        assert_eq!(number_in(&range(None, Some((5.0, false)))), Some(4.0));
        assert_eq!(number_in(&range(Some((0.0, false)), Some((1.0, false)))), Some(0.5));
        assert_eq!(number_in(&range(Some((5.0, false)), Some((5.0f64.next_up(), false)))), None);
        assert_eq!(number_in(&range(Some((f64::MAX, false)), None)), None);
        let tiny = range(Some((1.0, false)), Some((1.0f64.next_up().next_up(), false)));
        assert_eq!(number_in(&tiny), Some(1.0f64.next_up()));
    }

    #[test]
    fn wildcards_are_spelt_out() {
        assert_eq!(wildcard_text("a*b"), "axb");
        assert_eq!(wildcard_text("*"), "x");
        assert_eq!(wildcard_text(r"a\*b*"), "a*bx");
        assert_eq!(wildcard_text(r"a\\*"), r"a\x");
    }

    #[test]
    fn mapped_ipv6_addresses_are_written_in_hex() {
        let mapped: IpAddr = "::ffff:a00:1".parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(address_text(mapped), "0:0:0:0:0:ffff:a00:1");
        assert_eq!(address_text("2001:db8::1".parse().unwrap_or(mapped)), "2001:db8::1");
    }

    #[test]
    fn the_chooser_walks_every_combination() {
        // Two `$or` of two alternatives each: four combinations.
        let mut chooser = Chooser::default();
        let mut seen = Vec::new();
        loop {
            let a = chooser.pick(2);
            let b = chooser.pick(2);
            seen.push((a, b));
            if !chooser.advance() {
                break;
            }
        }
        assert_eq!(seen, [(0, 0), (0, 1), (1, 0), (1, 1)]);
    }
}
