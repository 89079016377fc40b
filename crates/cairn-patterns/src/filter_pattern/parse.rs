//! From text to [`Body`]: a hand-written scanner, one method per construct,
//! each error at the character where the pattern stops making sense.

use super::regex::Regex;
use super::{
    Body, Column, Condition, Expr, FieldTest, MAX_LEN, Op, Operand, ParseError, Selector, Step, Term, TermMode, Test,
    Warning,
};
use std::collections::BTreeSet;

const CONDITION: &str =
    "a condition like `$.field = \"value\"`, `$.count > 1`, `$.field IS NULL` or `$.field NOT EXISTS`";
const COMPARISONS: &str = "one of `=`, `!=`, `<`, `<=`, `>`, `>=`, `IS NULL`, `IS TRUE`, `IS FALSE` or `NOT EXISTS`";
const VALUE: &str = "a value: a number, a word, a \"quoted string\" or a %regex%";
const NUMBER: &str = "a number like 500, -1.5 or 1e3";
const UNQUOTED: &str = "_-.*+:/";
const MAX_REGEXES: usize = 2;
const MAX_WILDCARD_SELECTORS: usize = 3;

pub(super) fn parse(text: &str) -> Result<(Body, Vec<Warning>), ParseError> {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() > MAX_LEN {
        return Err(err(
            MAX_LEN,
            format!("the pattern is {} characters long", chars.len()),
            format!("at most {MAX_LEN} characters"),
        ));
    }
    let mut s = Scanner { chars, at: 0, warnings: Vec::new(), regexes: 0, wildcards: 0 };
    s.skip_ws();
    let body = match s.peek() {
        None => Body::Everything,
        Some('{') => Body::Json(s.json()?),
        Some('[') => Body::Delimited(s.delimited()?),
        Some('%') => {
            let r = s.regex()?;
            s.end("the regular expression")?;
            Body::Regex(r)
        }
        Some(_) => Body::Terms(s.terms()?),
    };
    Ok((body, s.warnings))
}

fn err(at: usize, message: impl Into<String>, expected: impl Into<String>) -> ParseError {
    ParseError { offset: at, message: message.into(), expected: expected.into(), suggestion: None }
}

struct Scanner {
    chars: Vec<char>,
    at: usize,
    warnings: Vec<Warning>,
    regexes: usize,
    wildcards: usize,
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Where an unquoted value or term stops.
fn ends_value(c: char) -> bool {
    c.is_whitespace() || ")}&|,]".contains(c)
}

/// A number as filter patterns write one: sign, digits, fraction, exponent.
pub(super) fn number(text: &str) -> Option<f64> {
    let t = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = digits(whole) && digits(fraction) && !(whole.is_empty() && fraction.is_empty());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    if !(mantissa_ok && exponent_ok) {
        return None;
    }
    text.strip_prefix('+').unwrap_or(text).parse::<f64>().ok().filter(|x| x.is_finite())
}

impl Scanner {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
    }

    fn eat(&mut self, text: &str) -> bool {
        let n = text.chars().count();
        if self.chars.iter().skip(self.at).take(n).copied().eq(text.chars()) {
            self.at += n;
            true
        } else {
            false
        }
    }

    /// A keyword in any case, followed by a boundary.
    fn eat_word(&mut self, word: &str) -> bool {
        let n = word.chars().count();
        let here: String = self.chars.iter().skip(self.at).take(n).collect();
        let boundary = self.chars.get(self.at + n).is_none_or(|&c| ends_value(c) || c == '(');
        if here.eq_ignore_ascii_case(word) && boundary {
            self.at += n;
            true
        } else {
            false
        }
    }

    fn found(&self) -> String {
        match self.peek() {
            None => "the end of the pattern".into(),
            Some(c) => format!("`{c}` at character {}", self.at + 1),
        }
    }

    fn text(&self, from: usize, to: usize) -> String {
        self.chars[from..to].iter().collect()
    }

    fn end(&mut self, what: &str) -> Result<(), ParseError> {
        self.skip_ws();
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(err(self.at, format!("unexpected {} after {what}", self.found()), "nothing more")),
        }
    }

    /// `"..."` with `\"` and `\\` escapes; the cursor is on the quote.
    fn quoted(&mut self) -> Result<String, ParseError> {
        let open = self.at;
        self.at += 1;
        let mut out = String::new();
        while let Some(c) = self.peek() {
            self.at += 1;
            match c {
                '"' => return Ok(out),
                '\\' if matches!(self.peek(), Some('"' | '\\')) => {
                    out.extend(self.peek());
                    self.at += 1;
                }
                c => out.push(c),
            }
        }
        Err(err(open, format!("the quote opened at character {} is never closed", open + 1), "a closing `\"`"))
    }

    /// `%...%`; the cursor is on the opening `%`.
    fn regex(&mut self) -> Result<Regex, ParseError> {
        let open = self.at;
        let Some(close) = self.chars[open + 1..].iter().position(|&c| c == '%').map(|i| open + 1 + i) else {
            return Err(err(
                open,
                format!("the regular expression opened at character {} has no closing `%`", open + 1),
                "a `%` after the expression",
            ));
        };
        let source = self.text(open + 1, close);
        if source.is_empty() {
            return Err(err(open, "the regular expression `%%` is empty", "an expression between the `%` signs"));
        }
        let regex = Regex::new(&source).map_err(|e| ParseError {
            offset: open + 1 + e.offset,
            message: format!("in the regular expression at character {}: {}", open + 1, e.message),
            expected: e.expected,
            suggestion: e.suggestion,
        })?;
        self.at = close + 1;
        Ok(regex)
    }

    // ---- terms -------------------------------------------------------------------

    fn terms(&mut self) -> Result<Vec<Term>, ParseError> {
        let mut terms = Vec::new();
        let mut first_optional = None;
        loop {
            self.skip_ws();
            let Some(c) = self.peek() else { break };
            let start = self.at;
            let mode = match c {
                '?' => TermMode::Optional,
                '-' => TermMode::Excluded,
                _ => TermMode::Required,
            };
            if mode != TermMode::Required {
                self.at += 1;
                // The older page writes `"ERROR" - "Exiting"`, a space after the minus.
                self.skip_ws();
            }
            let term = match self.peek() {
                None => {
                    return Err(err(
                        start,
                        format!("`{c}` has no term after it"),
                        "a term or a \"quoted phrase\" after it",
                    ));
                }
                Some('"') => Term { mode, text: self.quoted()?, quoted: true },
                Some('%') => {
                    return Err(err(
                        self.at,
                        "a regular expression among terms",
                        "a regular expression as the whole pattern, a JSON value or a field's value",
                    ));
                }
                Some(_) => Term { mode, text: self.word()?, quoted: false },
            };
            if mode == TermMode::Optional {
                first_optional.get_or_insert(start);
            }
            terms.push(term);
        }
        if let Some(at) = first_optional
            && terms.iter().any(|t| t.mode != TermMode::Optional)
        {
            self.warnings.push(Warning {
                offset: at,
                message: "the `?` terms are ignored: `?` terms count only when every term has `?`, \
                          so this pattern matches on its other terms alone"
                    .into(),
            });
        }
        Ok(terms)
    }

    /// An unquoted term: letters, digits and `_`.
    fn word(&mut self) -> Result<String, ParseError> {
        let start = self.at;
        while self.peek().is_some_and(|c| !c.is_whitespace()) {
            self.at += 1;
        }
        let word = self.text(start, self.at);
        if word.starts_with('$') {
            let mut e = err(
                start,
                format!("`{word}` is a JSON selector outside `{{ }}`"),
                "JSON conditions inside braces, like `{ $.errorCode = \"AccessDenied\" }`",
            );
            e.suggestion = Some(format!("write `{{ {} }}`", self.text(0, self.chars.len()).trim()));
            return Err(e);
        }
        if let Some((i, bad)) = word.chars().enumerate().find(|(_, c)| !is_name_char(*c)) {
            let mut e = if bad == '"' {
                err(
                    start + i,
                    format!("a quote in the middle of a term at character {}", start + i + 1),
                    "quotes around a whole term: `\"exact phrase\"`",
                )
            } else {
                err(
                    start + i,
                    format!("the term `{word}` has `{bad}`, and an unquoted term has only letters, digits and `_`"),
                    "a term of letters, digits and `_`, or a \"quoted phrase\"",
                )
            };
            if bad != '"' {
                e.suggestion = Some(format!("write \"{word}\""));
            }
            return Err(e);
        }
        Ok(word)
    }

    // ---- JSON ----------------------------------------------------------------------

    fn json(&mut self) -> Result<Expr<Condition>, ParseError> {
        self.at += 1;
        let expr = self.or_expr(Self::condition)?;
        self.skip_ws();
        if !self.eat("}") {
            return Err(err(
                self.at,
                format!("expected `&&`, `||` or the closing `}}`, found {}", self.found()),
                "conditions joined by `&&` or `||`, inside `{ }`",
            ));
        }
        self.end("the closing `}`")?;
        Ok(expr)
    }

    /// `a || b || ...`, warning when an unparenthesised `&&` sits beside a `||`.
    fn or_expr<T>(&mut self, leaf: fn(&mut Self) -> Result<T, ParseError>) -> Result<Expr<T>, ParseError> {
        let start = self.at;
        let mut children = Vec::new();
        let mut bare_and = false;
        loop {
            let (child, joined) = self.and_expr(leaf)?;
            bare_and |= joined;
            push_flat(&mut children, child, true);
            self.skip_ws();
            if !self.eat("||") {
                break;
            }
        }
        if children.len() > 1 && bare_and {
            self.warnings.push(Warning {
                offset: start,
                message: "`&&` binds tighter than `||` here: `A || B && C` means `A || (B && C)`; \
                          add parentheses to say which is meant"
                    .into(),
            });
        }
        Ok(if children.len() == 1 { children.remove(0) } else { Expr::Or(children) })
    }

    /// `a && b && ...`; says whether `&&` joined anything.
    fn and_expr<T>(&mut self, leaf: fn(&mut Self) -> Result<T, ParseError>) -> Result<(Expr<T>, bool), ParseError> {
        let mut children = Vec::new();
        let mut joined = false;
        loop {
            let child = self.primary(leaf)?;
            push_flat(&mut children, child, false);
            self.skip_ws();
            if !self.eat("&&") {
                break;
            }
            joined = true;
        }
        Ok((if children.len() > 1 { Expr::And(children) } else { children.remove(0) }, joined))
    }

    fn primary<T>(&mut self, leaf: fn(&mut Self) -> Result<T, ParseError>) -> Result<Expr<T>, ParseError> {
        self.skip_ws();
        if self.peek() != Some('(') {
            return leaf(self).map(Expr::Leaf);
        }
        let open = self.at;
        self.at += 1;
        let inner = self.or_expr(leaf)?;
        self.skip_ws();
        if !self.eat(")") {
            return Err(err(
                self.at,
                format!("the `(` at character {} is never closed: found {} instead of `)`", open + 1, self.found()),
                "a `)` for every `(`",
            ));
        }
        Ok(inner)
    }

    /// `$.selector <test>`.
    fn condition(&mut self) -> Result<Condition, ParseError> {
        if self.peek() != Some('$') {
            let mut e = err(self.at, format!("expected a selector like `$.field`, found {}", self.found()), CONDITION);
            if self.peek().is_some_and(is_name_char) {
                let start = self.at;
                while self.peek().is_some_and(|c| is_name_char(c) || c == '.') {
                    self.at += 1;
                }
                e.suggestion = Some(format!("write `$.{}`", self.text(start, self.at)));
            }
            return Err(e);
        }
        let selector = self.selector()?;
        self.skip_ws();
        let shown = selector.to_string();
        if self.eat_word("IS") {
            self.skip_ws();
            let test = if self.eat_word("NULL") {
                Test::IsNull
            } else if self.eat_word("TRUE") {
                Test::IsTrue
            } else if self.eat_word("FALSE") {
                Test::IsFalse
            } else if self.eat_word("NOT") {
                return Err(err(
                    self.at - 3,
                    "CloudWatch Logs does not support `IS NOT`",
                    "`IS NULL`, `IS TRUE` or `IS FALSE`",
                ));
            } else {
                return Err(err(
                    self.at,
                    format!("expected NULL, TRUE or FALSE after IS, found {}", self.found()),
                    "`IS NULL`, `IS TRUE` or `IS FALSE`",
                ));
            };
            return Ok(Condition { selector, test });
        }
        if self.eat_word("NOT") {
            self.skip_ws();
            if self.eat_word("EXISTS") {
                return Ok(Condition { selector, test: Test::NotExists });
            }
            return Err(err(self.at, format!("expected EXISTS after NOT, found {}", self.found()), "`NOT EXISTS`"));
        }
        let here = self.at;
        if self.eat_word("EXISTS") {
            let mut e = err(
                here,
                "CloudWatch Logs does not support `EXISTS` (only `NOT EXISTS`)",
                "`NOT EXISTS`, or `= *` for a field that has a value",
            );
            e.suggestion = Some(format!("write `{shown} = *`"));
            return Err(e);
        }
        let Some(op) = self.op() else {
            return Err(err(
                self.at,
                format!("expected a comparison after `{shown}`, found {}", self.found()),
                COMPARISONS,
            ));
        };
        let value = self.operand(op, &shown)?;
        Ok(Condition { selector, test: Test::Compare(op, value) })
    }

    fn op(&mut self) -> Option<Op> {
        [("!=", Op::Ne), ("<=", Op::Le), (">=", Op::Ge), ("=", Op::Eq), ("<", Op::Lt), (">", Op::Gt)]
            .into_iter()
            .find(|(text, _)| self.eat(text))
            .map(|(_, op)| op)
    }

    /// The value after `subject op`.
    fn operand(&mut self, op: Op, subject: &str) -> Result<Operand, ParseError> {
        self.skip_ws();
        let start = self.at;
        let numeric_only = !matches!(op, Op::Eq | Op::Ne);
        let value = match self.peek() {
            Some('"') => Operand::Text { text: self.quoted()?, quoted: true },
            Some('%') => {
                self.regexes += 1;
                if self.regexes > MAX_REGEXES {
                    return Err(err(
                        start,
                        "a third regular expression in one pattern",
                        format!("at most {MAX_REGEXES} regular expressions"),
                    ));
                }
                Operand::Regex(self.regex()?)
            }
            _ => {
                while self.peek().is_some_and(|c| !ends_value(c)) {
                    self.at += 1;
                }
                let text = self.text(start, self.at);
                if text.is_empty() {
                    return Err(err(
                        self.at,
                        format!("expected a value after `{subject} {op}`, found {}", self.found()),
                        VALUE,
                    ));
                }
                if let Some(value) = number(&text) {
                    return Ok(Operand::Number { text, value });
                }
                if let Some((i, bad)) =
                    text.chars().enumerate().find(|(_, c)| !(c.is_ascii_alphanumeric() || UNQUOTED.contains(*c)))
                {
                    let mut e = err(
                        start + i,
                        format!("the value `{text}` has `{bad}`, which needs quotes"),
                        "an unquoted value of letters, digits and `_ - . * + : /`, or a \"quoted string\"",
                    );
                    e.suggestion = Some(format!("write \"{text}\""));
                    return Err(e);
                }
                Operand::Text { text, quoted: false }
            }
        };
        if numeric_only && !matches!(value, Operand::Number { .. }) {
            return Err(err(start, format!("`{op}` compares numbers, and `{value}` is not one"), NUMBER));
        }
        Ok(value)
    }

    /// `$`, then `.name`, `.*`, `.['name']`, `[n]` or `[*]` steps.
    fn selector(&mut self) -> Result<Selector, ParseError> {
        let start = self.at;
        self.at += 1;
        let mut steps = Vec::new();
        loop {
            match self.peek() {
                Some('.') => {
                    self.at += 1;
                    match self.peek() {
                        Some('*') => {
                            self.at += 1;
                            steps.push(Step::AnyKey);
                        }
                        Some('[') => steps.push(self.bracket()?),
                        _ => {
                            let name_start = self.at;
                            while self.peek().is_some_and(|c| is_name_char(c) || c == '-') {
                                self.at += 1;
                            }
                            if self.at == name_start {
                                let mut e = err(
                                    self.at,
                                    format!("expected a property name after `.`, found {}", self.found()),
                                    "a name of letters, digits, `-` and `_`, or `['any name']`",
                                );
                                let rest_start = self.at;
                                while self.peek().is_some_and(|c| !ends_value(c) && !"=!<>[.".contains(c)) {
                                    self.at += 1;
                                }
                                let rest = self.text(rest_start, self.at);
                                if !rest.is_empty() {
                                    e.suggestion = Some(format!("write `.['{rest}']`"));
                                }
                                return Err(e);
                            }
                            steps.push(Step::Key(self.text(name_start, self.at)));
                        }
                    }
                }
                Some('[') => steps.push(self.bracket()?),
                _ => break,
            }
        }
        if steps.is_empty() {
            const SELECTOR: &str = "a selector like `$.field`, `$.a.b` or `$.list[0]`";
            let name_start = self.at;
            while self.peek().is_some_and(|c| is_name_char(c) || c == '.') {
                self.at += 1;
            }
            if self.at == name_start {
                return Err(err(
                    start,
                    format!("`$` at character {} alone selects the whole event", start + 1),
                    SELECTOR,
                ));
            }
            let name = self.text(name_start, self.at);
            let mut e = err(start, format!("`${name}` at character {} is not a selector", start + 1), SELECTOR);
            e.suggestion = Some(format!("write `$.{name}`"));
            return Err(e);
        }
        let wildcards = steps.iter().filter(|s| matches!(s, Step::AnyKey | Step::AnyIndex)).count();
        if wildcards > 1 {
            return Err(err(start, "a selector with more than one `*`", "at most one `*` in a selector"));
        }
        self.wildcards += wildcards;
        if self.wildcards > MAX_WILDCARD_SELECTORS {
            return Err(err(
                start,
                "more than three `*` selectors in one pattern",
                format!("at most {MAX_WILDCARD_SELECTORS} `*` selectors"),
            ));
        }
        Ok(Selector { steps })
    }

    /// `[n]`, `[*]`, `['name']` or `["name"]`; the cursor is on `[`.
    fn bracket(&mut self) -> Result<Step, ParseError> {
        let open = self.at;
        self.at += 1;
        let step = match self.peek() {
            Some('*') => {
                self.at += 1;
                Step::AnyIndex
            }
            Some(q @ ('\'' | '"')) => {
                self.at += 1;
                let name_start = self.at;
                while self.peek().is_some_and(|c| c != q) {
                    self.at += 1;
                }
                if self.peek().is_none() {
                    return Err(err(
                        open,
                        format!("the name quoted at character {} is never closed", name_start),
                        format!("a closing `{q}`"),
                    ));
                }
                let name = self.text(name_start, self.at);
                self.at += 1;
                if name.is_empty() {
                    return Err(err(open, "an empty property name", "a name between the quotes"));
                }
                Step::Key(name)
            }
            Some(c) if c.is_ascii_digit() => {
                let digits_start = self.at;
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.at += 1;
                }
                let digits = self.text(digits_start, self.at);
                let index = digits
                    .parse::<usize>()
                    .map_err(|_| err(digits_start, format!("the index {digits} is too large"), "an array index"))?;
                Step::Index(index)
            }
            _ => {
                return Err(err(
                    self.at,
                    format!("expected an index, `*` or a quoted name after `[`, found {}", self.found()),
                    "`[0]`, `[*]` or `['name']`",
                ));
            }
        };
        if !self.eat("]") {
            return Err(err(self.at, format!("expected `]`, found {}", self.found()), "`]` closing the `[`"));
        }
        Ok(step)
    }

    // ---- space-delimited ---------------------------------------------------------------

    fn delimited(&mut self) -> Result<Vec<Column>, ParseError> {
        let open = self.at;
        self.at += 1;
        let mut columns = Vec::new();
        let mut names: Vec<(String, usize)> = Vec::new();
        let mut uses: Vec<(String, usize)> = Vec::new();
        let mut after_comma = false;
        loop {
            self.skip_ws();
            let start = self.at;
            match self.peek() {
                None => {
                    return Err(err(
                        open,
                        format!("the `[` at character {} is never closed", open + 1),
                        "fields inside `[ ]`, separated by commas",
                    ));
                }
                // A trailing comma, as in the older page's `[..., status_code=4*,]`.
                Some(']') if after_comma => {
                    self.at += 1;
                    break;
                }
                Some(',' | ']') => {
                    return Err(err(
                        start,
                        format!("the field at character {} is empty", start + 1),
                        "a name (or `...`) for every field, separated by commas",
                    ));
                }
                _ => {}
            }
            if self.eat("...") {
                columns.push(Column::Ellipsis);
            } else {
                let column = self.column(&mut uses)?;
                if let Column::Field { name, .. } = &column {
                    names.push((name.clone(), start));
                }
                columns.push(column);
            }
            self.skip_ws();
            match self.peek() {
                Some(',') => {
                    self.at += 1;
                    after_comma = true;
                }
                Some(']') => {
                    self.at += 1;
                    break;
                }
                None => {
                    return Err(err(
                        open,
                        format!("the `[` at character {} is never closed", open + 1),
                        "fields inside `[ ]`, separated by commas",
                    ));
                }
                Some(_) => {
                    return Err(err(
                        self.at,
                        format!("expected `,` or `]` after a field, found {}", self.found()),
                        "fields separated by commas",
                    ));
                }
            }
        }
        self.end("the closing `]`")?;
        let mut seen = BTreeSet::new();
        for (name, at) in &names {
            if !seen.insert(name.as_str()) {
                return Err(err(*at, format!("two fields are named `{name}`"), "a different name for each field"));
            }
        }
        for (name, at) in &uses {
            if !seen.contains(name.as_str()) {
                return Err(err(
                    *at,
                    format!("`{name}` names no field of the pattern"),
                    "a condition on one of the pattern's fields",
                ));
            }
        }
        Ok(columns)
    }

    /// `name`, or a condition whose first comparison names the field.
    fn column(&mut self, uses: &mut Vec<(String, usize)>) -> Result<Column, ParseError> {
        let start = self.at;
        while self.peek().is_some_and(is_name_char) {
            self.at += 1;
        }
        let name = self.text(start, self.at);
        self.skip_ws();
        if !name.is_empty() && matches!(self.peek(), None | Some(',' | ']')) {
            return Ok(Column::Field { name, condition: None });
        }
        if name.is_empty() && self.peek() != Some('(') {
            return Err(err(
                start,
                format!("expected a field name, `...` or a condition, found {}", self.found()),
                "a name of letters, digits and `_`",
            ));
        }
        self.at = start;
        let expr = self.or_expr(Self::field_test)?;
        let mut leaves = Vec::new();
        collect(&expr, &mut leaves);
        let Some(first) = leaves.first() else {
            return Err(err(start, "a field with an empty condition", "a condition like `status = 404`"));
        };
        let name = first.field.clone();
        for leaf in &leaves {
            uses.push((leaf.field.clone(), start));
        }
        Ok(Column::Field { name, condition: Some(expr) })
    }

    /// `name <op> value` inside a space-delimited pattern.
    fn field_test(&mut self) -> Result<FieldTest, ParseError> {
        let start = self.at;
        while self.peek().is_some_and(is_name_char) {
            self.at += 1;
        }
        let field = self.text(start, self.at);
        if field.is_empty() {
            return Err(err(
                start,
                format!("expected a field name, found {}", self.found()),
                "a comparison like `status = 404`",
            ));
        }
        self.skip_ws();
        let Some(op) = self.op() else {
            return Err(err(
                self.at,
                format!("expected a comparison after `{field}`, found {}", self.found()),
                "one of `=`, `!=`, `<`, `<=`, `>`, `>=`",
            ));
        };
        let value = self.operand(op, &field)?;
        Ok(FieldTest { field, op, value })
    }
}

fn push_flat<T>(children: &mut Vec<Expr<T>>, child: Expr<T>, or: bool) {
    match (child, or) {
        (Expr::Or(inner), true) | (Expr::And(inner), false) => children.extend(inner),
        (other, _) => children.push(other),
    }
}

fn collect<'a, T>(expr: &'a Expr<T>, out: &mut Vec<&'a T>) {
    match expr {
        Expr::Leaf(t) => out.push(t),
        Expr::And(children) | Expr::Or(children) => children.iter().for_each(|c| collect(c, out)),
    }
}

#[cfg(test)]
mod tests {
    use super::number;

    #[test]
    fn numbers_are_read_as_the_page_writes_them() {
        for (text, value) in [
            ("500", 500.0),
            ("+1000", 1000.0),
            ("-1.5", -1.5),
            ("1e3", 1000.0),
            ("10e-3", 0.01),
            ("1e+3", 1000.0),
            (".5", 0.5),
            ("5.", 5.0),
        ] {
            assert_eq!(number(text), Some(value), "{text}");
        }
        for text in ["", "+", "4*", "1e", "e3", "1.2.3", "0x10", "inf", "NaN", "1_000"] {
            assert_eq!(number(text), None, "{text}");
        }
    }
}
