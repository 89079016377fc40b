//! The regular expressions filter patterns allow between `%` signs: a
//! small language without groups, so a backtracking matcher with a memo of
//! failed (position, piece) pairs runs in polynomial time.

use std::collections::HashSet;
use std::fmt;

/// A regular expression in CloudWatch Logs' supported subset.
#[derive(Debug, Clone)]
pub struct Regex {
    source: String,
    alternatives: Vec<Vec<Piece>>,
}

impl PartialEq for Regex {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl fmt::Display for Regex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "%{}%", self.source)
    }
}

#[derive(Debug, Clone)]
struct Piece {
    atom: Atom,
    min: usize,
    max: Option<usize>,
}

#[derive(Debug, Clone)]
enum Atom {
    Literal(char),
    Any,
    Class { negated: bool, items: Vec<ClassItem> },
    Perl(Perl),
    Start,
    End,
}

#[derive(Debug, Clone)]
enum ClassItem {
    Char(char),
    Range(char, char),
    Perl(Perl),
}

#[derive(Debug, Clone, Copy)]
enum Perl {
    Digit(bool),
    Space(bool),
    Word(bool),
}

impl Perl {
    fn matches(self, c: char) -> bool {
        match self {
            Perl::Digit(negated) => c.is_ascii_digit() != negated,
            Perl::Space(negated) => matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c') != negated,
            Perl::Word(negated) => (c.is_ascii_alphanumeric() || c == '_') != negated,
        }
    }
}

impl Atom {
    fn matches(&self, c: char) -> bool {
        match self {
            Atom::Literal(l) => *l == c,
            Atom::Any => true,
            Atom::Perl(p) => p.matches(c),
            Atom::Class { negated, items } => {
                let inside = items.iter().any(|item| match item {
                    ClassItem::Char(x) => *x == c,
                    ClassItem::Range(lo, hi) => (*lo..=*hi).contains(&c),
                    ClassItem::Perl(p) => p.matches(c),
                });
                inside != *negated
            }
            Atom::Start | Atom::End => false,
        }
    }
}

/// Why a regular expression is refused: offset in characters from the
/// start of the expression (after the opening `%`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RegexError {
    pub offset: usize,
    pub message: String,
    pub expected: String,
    pub suggestion: Option<String>,
}

const SYMBOLS: &str = ":_#=@/;,- ";
const OPERATORS: &str = "^$?[]{}|\\*+.";
const ALLOWED: &str = "letters, digits, `: _ # = @ / ; , -`, space, and the operators `^ $ ? [ ] { } | \\ * + .`";

fn error(offset: usize, message: impl Into<String>, expected: impl Into<String>) -> RegexError {
    RegexError { offset, message: message.into(), expected: expected.into(), suggestion: None }
}

impl Regex {
    /// Parses the text between the `%` signs.
    pub(crate) fn new(source: &str) -> Result<Regex, RegexError> {
        let chars: Vec<char> = source.chars().collect();
        for (i, &c) in chars.iter().enumerate() {
            if c.is_ascii_alphanumeric() || SYMBOLS.contains(c) || OPERATORS.contains(c) {
                continue;
            }
            let mut e = if !c.is_ascii() {
                error(i, format!("`{c}` is a multi-byte character, which regular expressions cannot hold"), ALLOWED)
            } else if c == '(' || c == ')' {
                error(i, format!("`{c}` is not supported: regular expressions here have no groups"), ALLOWED)
            } else {
                error(i, format!("`{c}` is not supported in a regular expression"), ALLOWED)
            };
            if c.is_ascii() {
                e.suggestion = Some(format!("write `\\x{:02X}` to match `{c}`", u32::from(c)));
            }
            return Err(e);
        }
        let mut parser = Parser { chars: &chars, at: 0 };
        let mut alternatives = vec![parser.sequence()?];
        while parser.at < chars.len() {
            // sequence() stops only at `|` or the end.
            parser.at += 1;
            alternatives.push(parser.sequence()?);
        }
        Ok(Regex { source: source.to_string(), alternatives })
    }

    /// The expression as written, without the `%` signs.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the expression matches anywhere in `text`.
    pub fn is_match(&self, text: &str) -> bool {
        let chars: Vec<char> = text.chars().collect();
        self.alternatives.iter().any(|pieces| {
            let mut failed = HashSet::new();
            (0..=chars.len()).any(|start| matches_at(pieces, 0, start, &chars, &mut failed))
        })
    }
}

/// Whether `pieces[index..]` matches `text` from `pos` on; a failure does
/// not depend on where the match began, so the memo serves every start.
fn matches_at(pieces: &[Piece], index: usize, pos: usize, text: &[char], failed: &mut HashSet<(usize, usize)>) -> bool {
    let Some(piece) = pieces.get(index) else { return true };
    if failed.contains(&(index, pos)) {
        return false;
    }
    let found = match piece.atom {
        Atom::Start => pos == 0 && matches_at(pieces, index + 1, pos, text, failed),
        Atom::End => pos == text.len() && matches_at(pieces, index + 1, pos, text, failed),
        ref atom => {
            let limit = piece.max.unwrap_or(usize::MAX);
            let mut count = 0;
            while count < limit && pos + count < text.len() && atom.matches(text[pos + count]) {
                count += 1;
            }
            count >= piece.min
                && (piece.min..=count).rev().any(|n| matches_at(pieces, index + 1, pos + n, text, failed))
        }
    };
    if !found {
        failed.insert((index, pos));
    }
    found
}

struct Parser<'a> {
    chars: &'a [char],
    at: usize,
}

const MAX_REPEAT: usize = 1000;

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    /// Pieces up to a top-level `|` or the end.
    fn sequence(&mut self) -> Result<Vec<Piece>, RegexError> {
        let mut pieces: Vec<Piece> = Vec::new();
        while let Some(c) = self.peek() {
            let start = self.at;
            let atom = match c {
                '|' => break,
                '^' => Atom::Start,
                '$' => Atom::End,
                '.' => Atom::Any,
                '[' => {
                    let atom = self.class()?;
                    self.at -= 1; // class() leaves the cursor past `]`; the shared step below moves it.
                    atom
                }
                '\\' => {
                    self.at += 1;
                    let atom = self.escape(start)?;
                    self.at -= 1;
                    atom
                }
                '*' | '+' | '?' => {
                    return Err(error(
                        start,
                        format!("`{c}` has nothing to repeat"),
                        "a character, `.` or a class before it",
                    ));
                }
                '{' => {
                    return Err(error(
                        start,
                        "`{` has nothing to repeat",
                        "a character, `.` or a class before `{m,n}`",
                    ));
                }
                c => Atom::Literal(c),
            };
            self.at += 1;
            let (min, max) = self.quantifier()?;
            if matches!(atom, Atom::Start | Atom::End) && (min, max) != (1, Some(1)) {
                return Err(error(
                    start,
                    format!("`{c}` is an anchor, which cannot repeat"),
                    "a repetition after a character, `.` or a class",
                ));
            }
            pieces.push(Piece { atom, min, max });
        }
        Ok(pieces)
    }

    /// `*`, `+`, `?`, `{m}`, `{m,}`, `{,n}` or `{m,n}` after an atom; none
    /// is `(1, Some(1))`.
    fn quantifier(&mut self) -> Result<(usize, Option<usize>), RegexError> {
        let start = self.at;
        let q = match self.peek() {
            Some('*') => (0, None),
            Some('+') => (1, None),
            Some('?') => (0, Some(1)),
            Some('{') => {
                let close = self.chars[self.at..].iter().position(|&c| c == '}').map(|i| self.at + i);
                let Some(close) = close else {
                    return Err(error(start, "the `{` is never closed", "a repetition like {2,5}"));
                };
                let body: String = self.chars[self.at + 1..close].iter().collect();
                let number = |s: &str| -> Result<Option<usize>, RegexError> {
                    let s = s.trim();
                    if s.is_empty() {
                        return Ok(None);
                    }
                    s.parse::<usize>().map(Some).map_err(|_| {
                        error(
                            start,
                            format!("`{{{body}}}` is not a repetition"),
                            "{m}, {m,}, {,n} or {m,n} with whole numbers",
                        )
                    })
                };
                let (min, max) = match body.split_once(',') {
                    None => {
                        let n = number(&body)?
                            .ok_or_else(|| error(start, "`{}` is not a repetition", "{m}, {m,}, {,n} or {m,n}"))?;
                        (n, Some(n))
                    }
                    Some((lo, hi)) => (number(lo)?.unwrap_or(0), number(hi)?),
                };
                if max.is_some_and(|max| max < min) || min > MAX_REPEAT || max.is_some_and(|m| m > MAX_REPEAT) {
                    return Err(error(
                        start,
                        format!("`{{{body}}}` is not a repetition it can use"),
                        format!("{{m,n}} with m <= n <= {MAX_REPEAT}"),
                    ));
                }
                self.at = close;
                (min, max)
            }
            _ => return Ok((1, Some(1))),
        };
        self.at += 1;
        if let Some(c @ ('*' | '+' | '?' | '{')) = self.peek() {
            return Err(error(
                self.at,
                format!("`{c}` follows a repetition"),
                "one repetition per character, `.` or class",
            ));
        }
        Ok(q)
    }

    /// After a backslash (at `start`); leaves the cursor past the escape.
    fn escape(&mut self, start: usize) -> Result<Atom, RegexError> {
        let Some(c) = self.peek() else {
            return Err(error(start, "the expression ends with `\\`", "a character after `\\`"));
        };
        self.at += 1;
        Ok(match c {
            'd' | 'D' => Atom::Perl(Perl::Digit(c == 'D')),
            's' | 'S' => Atom::Perl(Perl::Space(c == 'S')),
            'w' | 'W' => Atom::Perl(Perl::Word(c == 'W')),
            'x' => Atom::Literal(self.hex(start)?),
            c if !c.is_ascii_alphanumeric() => Atom::Literal(c),
            c => {
                return Err(error(
                    start,
                    format!("`\\{c}` is not a supported escape"),
                    "`\\d`, `\\D`, `\\s`, `\\S`, `\\w`, `\\W`, `\\xhh`, or `\\` before an operator",
                ));
            }
        })
    }

    fn hex(&mut self, start: usize) -> Result<char, RegexError> {
        let digits: String = self.chars.iter().skip(self.at).take(2).collect();
        let value = (digits.len() == 2).then(|| u8::from_str_radix(&digits, 16).ok()).flatten();
        let Some(value) = value else {
            return Err(error(start, "`\\x` is not followed by two hex digits", "`\\xhh`, like `\\x3A` for `:`"));
        };
        self.at += 2;
        Ok(char::from(value))
    }

    /// `[...]`; leaves the cursor past the `]`.
    fn class(&mut self) -> Result<Atom, RegexError> {
        let open = self.at;
        self.at += 1;
        let negated = self.peek() == Some('^');
        if negated {
            self.at += 1;
        }
        let mut items = Vec::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(error(open, "the `[` is never closed", "a `]` after the class's characters"));
            };
            let here = self.at;
            self.at += 1;
            let first = match c {
                ']' if items.is_empty() => {
                    return Err(error(open, "the class `[]` is empty", "characters between `[` and `]`"));
                }
                ']' => return Ok(Atom::Class { negated, items }),
                '\\' => match self.escape(here)? {
                    Atom::Perl(p) => {
                        items.push(ClassItem::Perl(p));
                        continue;
                    }
                    Atom::Literal(l) => l,
                    _ => continue,
                },
                c => c,
            };
            if self.peek() == Some('-') && self.chars.get(self.at + 1).is_some_and(|&n| n != ']') {
                self.at += 1;
                let here = self.at;
                let last = match self.peek() {
                    Some('\\') => {
                        self.at += 1;
                        match self.escape(here)? {
                            Atom::Literal(l) => l,
                            _ => return Err(error(here, "a class like `\\d` cannot end a range", "a character")),
                        }
                    }
                    Some(l) => {
                        self.at += 1;
                        l
                    }
                    None => return Err(error(open, "the `[` is never closed", "a `]` after the class's characters")),
                };
                if last < first {
                    return Err(error(
                        here,
                        format!("the range `{first}-{last}` runs backwards"),
                        "a range from a lower to a higher character",
                    ));
                }
                items.push(ClassItem::Range(first, last));
            } else {
                items.push(ClassItem::Char(first));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn re(s: &str) -> Regex {
        match Regex::new(s) {
            Ok(r) => r,
            Err(e) => panic!("{s}: {e:?}"),
        }
    }

    #[test]
    fn the_documented_examples_match_as_documented() {
        assert!(re("AUTHORIZED").is_match("[ERROR 401] UNAUTHORIZED REQUEST"));
        assert!(re("^[hc]at").is_match("hat trick") && !re("^[hc]at").is_match("that"));
        assert!(re("[hc]at$").is_match("the cat") && !re("[hc]at$").is_match("cats"));
        assert!(re("colou?r").is_match("color") && re("colou?r").is_match("colour"));
        assert!(re("[abcx-z]").is_match("y") && !re("[abcx-z]").is_match("w"));
        assert!(re("a{3,5}").is_match("baaab") && !re("^a{3,5}$").is_match("aa") && !re("^a{3,5}$").is_match("aaaaaa"));
        assert!(re("gra|ey").is_match("gray") && re("gra|ey").is_match("grey"));
        let starts = re("^starting|^initializing|^shutting down");
        assert!(starts.is_match("shutting down now") && !starts.is_match("skipping initializing now"));
        assert!(re("\\[.\\]").is_match("[a]") && re("\\[.\\]").is_match("[ ]") && !re("\\[.\\]").is_match("[]"));
        assert!(re("10\\.10\\.0\\.1").is_match("10.10.0.1") && !re("10\\.10\\.0\\.1").is_match("10010,051"));
        assert!(re("10.10.0.1").is_match("10010,051"));
        assert!(re("ab*c").is_match("ac") && re("ab*c").is_match("abbbc"));
        assert!(re("ab+c").is_match("abc") && !re("ab+c").is_match("ac"));
        assert!(re("\\d").is_match("a1") && !re("\\d").is_match("ab") && re("\\D").is_match("1a"));
        assert!(re("\\s").is_match("a b") && re("\\S").is_match(" a "));
        assert!(re("^\\w+$").is_match("a_1") && !re("^\\w+$").is_match("a-1") && re("\\W").is_match("a-1"));
        assert!(re("\\x3A").is_match("a:b") && re("\\x28").is_match("f(x)"));
        assert!(re("a{,2}b").is_match("b") && re("^a{2,}$").is_match("aaaa") && re("^a{2}$").is_match("aa"));
        assert!(re("a{2, 3}").is_match("aa"));
    }

    #[test]
    fn unsupported_syntax_is_refused() {
        for bad in ["(a|b)", "something!", "a**", "*a", "[]", "[a", "a{3", "a{5,2}", "\\q", "\\x4", "é", "a?*", "^*"] {
            assert!(Regex::new(bad).is_err(), "{bad}");
        }
        let e = Regex::new("a!b").err();
        assert_eq!(e.as_ref().map(|e| e.offset), Some(1));
        assert_eq!(e.and_then(|e| e.suggestion).as_deref(), Some("write `\\x21` to match `!`"));
    }

    #[test]
    fn long_inputs_stay_fast() {
        let text = "a".repeat(500);
        assert!(!re("a*a*a*a*a*b").is_match(&text));
        assert!(re("a*a*a*a*a*$").is_match(&text));
    }
}
