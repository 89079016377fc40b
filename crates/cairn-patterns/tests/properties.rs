//! Properties that hold for every input, not just the tabled examples.

use cairn_patterns::event_pattern::{self, EventPattern, Verdict};
use cairn_patterns::filter_pattern::FilterPattern;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

// ---- event patterns ------------------------------------------------------------

fn key() -> impl Strategy<Value = String> {
    "[a-zA-Z][a-zA-Z0-9_-]{0,7}"
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<String>().prop_map(Value::from),
        (-(1i64 << 53)..(1i64 << 53)).prop_map(Value::from),
        (-1.0e9f64..1.0e9).prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        Just(Value::Null),
    ]
}

fn string_or_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<String>().prop_map(Value::from),
        (-(1i64 << 53)..(1i64 << 53)).prop_map(Value::from),
        (-1.0e9f64..1.0e9).prop_map(Value::from),
    ]
}

/// Events: objects of scalars, non-empty arrays of scalars and nested
/// objects.
fn event() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![4 => scalar(), 1 => prop::collection::vec(scalar(), 1..4).prop_map(Value::Array)];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop::collection::btree_map(key(), inner, 1..5).prop_map(|m| Value::Object(m.into_iter().collect()))
    })
    .prop_filter("an object at the top", Value::is_object)
}

/// The pattern of exact values an event has: each scalar as a one-value
/// list, each array by its first element; `None` when nothing is left.
fn exact_pattern(event: &Value) -> Option<Value> {
    match event {
        Value::Object(m) => {
            let fields: Map<String, Value> =
                m.iter().filter_map(|(k, v)| exact_pattern(v).map(|p| (k.clone(), p))).collect();
            (!fields.is_empty()).then_some(Value::Object(fields))
        }
        Value::Array(items) => items.first().map(|first| json!([first])),
        scalar => Some(json!([scalar])),
    }
}

/// Every path to a leaf of the pattern built by `exact_pattern`.
fn leaf_paths(pattern: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    if let Value::Object(m) = pattern {
        for (k, v) in m {
            path.push(k.clone());
            if v.is_array() {
                out.push(path.clone());
            } else {
                leaf_paths(v, path, out);
            }
            path.pop();
        }
    }
}

fn set_at(event: &mut Value, path: &[String], value: Value) {
    let mut slot = event;
    for k in path {
        slot = &mut slot[k.as_str()];
    }
    *slot = value;
}

fn parse(pattern: &Value) -> EventPattern {
    match EventPattern::parse(pattern) {
        Ok(p) => p,
        Err(e) => panic!("{pattern} should parse: {e:?}"),
    }
}

proptest! {
    #[test]
    fn a_pattern_of_an_events_own_values_matches_it(event in event()) {
        let Some(pattern) = exact_pattern(&event) else { return Ok(()) };
        let p = parse(&pattern);
        assert_eq!(p.matches(&event), Verdict::Match);
        assert_eq!(parse(&p.to_value()), p);
    }

    #[test]
    fn changing_one_value_makes_a_miss_that_names_that_field(event in event(), pick in any::<prop::sample::Index>()) {
        let Some(pattern) = exact_pattern(&event) else { return Ok(()) };
        let mut paths = Vec::new();
        leaf_paths(&pattern, &mut Vec::new(), &mut paths);
        let path = pick.get(&paths).clone();
        let mut changed = event.clone();
        // No event value is an object key's worth of text with this prefix.
        set_at(&mut changed, &path, Value::from("\u{1}changed"));
        match parse(&pattern).matches(&changed) {
            Verdict::Match => panic!("{pattern} should not match {changed}"),
            Verdict::Miss(miss) => assert_eq!(miss.path, path),
        }
    }

    #[test]
    fn anything_but_never_matches_what_it_excludes(excluded in string_or_number(), other in scalar()) {
        let p = parse(&json!({"f": [{"anything-but": excluded}]}));
        assert!(!p.matches(&json!({"f": excluded})).is_match());
        let list = parse(&json!({"f": [{"anything-but": [excluded]}]}));
        assert!(!list.matches(&json!({"f": excluded})).is_match());
        if other != excluded && !(other.is_number() && excluded.is_number() && other.as_f64() == excluded.as_f64()) {
            assert!(p.matches(&json!({"f": other})).is_match());
            assert!(p.matches(&json!({"f": [excluded, other]})).is_match());
        }
        assert!(!p.matches(&json!({})).is_match());
    }

    #[test]
    fn prefix_and_suffix_match_any_extension(p in any::<String>(), s in any::<String>()) {
        let text = format!("{p}{s}");
        assert!(parse(&json!({"f": [{"prefix": p}]})).matches(&json!({"f": text})).is_match());
        assert!(parse(&json!({"f": [{"suffix": s}]})).matches(&json!({"f": text})).is_match());
        if !p.is_empty() {
            assert!(!parse(&json!({"f": [{"anything-but": {"prefix": p}}]})).matches(&json!({"f": text})).is_match());
        }
    }

    #[test]
    fn ignoring_case_matches_any_casing(s in "[a-zA-Z0-9 ._-]{0,12}", extra in "[a-z]{0,4}") {
        let upper = s.to_uppercase();
        let lower = s.to_lowercase();
        assert!(parse(&json!({"f": [{"equals-ignore-case": upper}]})).matches(&json!({"f": lower})).is_match());
        assert!(parse(&json!({"f": [{"prefix": {"equals-ignore-case": lower}}]})).matches(&json!({"f": format!("{upper}{extra}")})).is_match());
        assert!(parse(&json!({"f": [{"suffix": {"equals-ignore-case": upper}}]})).matches(&json!({"f": format!("{extra}{lower}")})).is_match());
    }

    #[test]
    fn numeric_ranges_hold_exactly_their_numbers(a in -1.0e6f64..1.0e6, width in 1.0e-3f64..1.0e6, x in -1.0e6f64..1.0e6, lo_inclusive: bool, hi_inclusive: bool) {
        let b = a + width;
        let lo = if lo_inclusive { ">=" } else { ">" };
        let hi = if hi_inclusive { "<=" } else { "<" };
        let p = parse(&json!({"n": [{"numeric": [lo, a, hi, b]}]}));
        let inside = (if lo_inclusive { x >= a } else { x > a }) && (if hi_inclusive { x <= b } else { x < b });
        assert_eq!(p.matches(&json!({"n": x})).is_match(), inside);
        assert!(p.matches(&json!({"n": a})).is_match() == lo_inclusive);
        assert!(p.matches(&json!({"n": b})).is_match() == hi_inclusive);
        assert!(!p.matches(&json!({"n": x.to_string()})).is_match());
        assert_eq!(parse(&p.to_value()), p);
    }

    #[test]
    fn cidr_blocks_hold_their_hosts_and_not_their_neighbours(address: u32, len in 0u8..32) {
        let ip = std::net::Ipv4Addr::from(address);
        let p = parse(&json!({"ip": [{"cidr": format!("{ip}/{len}")}]}));
        assert!(p.matches(&json!({"ip": ip.to_string()})).is_match());
        let host_bit_flipped = std::net::Ipv4Addr::from(address ^ 1);
        assert!(p.matches(&json!({"ip": host_bit_flipped.to_string()})).is_match());
        if len > 0 {
            let network_bit_flipped = std::net::Ipv4Addr::from(address ^ (1u32 << (32 - u32::from(len))));
            assert!(!p.matches(&json!({"ip": network_bit_flipped.to_string()})).is_match());
        }
    }

    #[test]
    fn wildcards_match_what_their_pieces_spell(a in any::<String>(), middle in any::<String>(), b in any::<String>()) {
        let escape = |s: &str| s.replace('\\', "\\\\").replace('*', "\\*");
        let star = parse(&json!({"f": [{"wildcard": format!("{}*{}", escape(&a), escape(&b))}]}));
        assert!(star.matches(&json!({"f": format!("{a}{middle}{b}")})).is_match());
        let exact = parse(&json!({"f": [{"wildcard": escape(&a)}]}));
        assert!(exact.matches(&json!({"f": a})).is_match());
        assert_eq!(exact.matches(&json!({"f": format!("{a}{middle}")})).is_match(), middle.is_empty());
    }

    #[test]
    fn or_holds_when_either_side_does(x in "[ab]", y in "[ab]") {
        let p = parse(&json!({"$or": [{"x": ["a"]}, {"y": ["a"]}]}));
        assert_eq!(p.matches(&json!({"x": x, "y": y})).is_match(), x == "a" || y == "a");
    }

    #[test]
    fn validation_never_panics(pattern in event(), raw in any::<String>()) {
        let _ = event_pattern::validate(&pattern);
        let _ = EventPattern::from_json(&raw);
    }
}

// ---- filter patterns -----------------------------------------------------------

fn filter(text: &str) -> FilterPattern {
    match FilterPattern::parse(text) {
        Ok(p) => p,
        Err(e) => panic!("{text:?} should parse: {e}"),
    }
}

fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn selector() -> impl Strategy<Value = String> {
    let step = prop_oneof![
        "[a-zA-Z_][a-zA-Z0-9_-]{0,5}".prop_map(|k| format!(".{k}")),
        (0usize..4).prop_map(|i| format!("[{i}]")),
        "[a-z.@ ]{1,6}".prop_map(|k| format!(".['{k}']")),
    ];
    prop::collection::vec(step, 1..4).prop_map(|steps| format!("$.x{}", steps.concat()))
}

fn operand() -> impl Strategy<Value = String> {
    prop_oneof![
        (-1000i64..1000).prop_map(|n| n.to_string()),
        "[a-zA-Z][a-zA-Z0-9_.]{0,6}\\*?".prop_map(|s| s),
        any::<String>().prop_map(|s| quoted(&s)),
        "[a-z0-9]{1,4}".prop_map(|s| format!("%^{s}%")),
    ]
}

fn condition() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (selector(), prop_oneof![Just("="), Just("!=")], operand()).prop_map(|(s, op, v)| format!("{s} {op} {v}")),
        2 => (selector(), prop_oneof![Just("<"), Just("<="), Just(">"), Just(">=")], -1000i64..1000).prop_map(|(s, op, n)| format!("{s}{op}{n}")),
        1 => (selector(), prop_oneof![Just("IS NULL"), Just("is true"), Just("IS FALSE"), Just("NOT EXISTS")]).prop_map(|(s, t)| format!("{s} {t}")),
    ]
}

/// JSON filter patterns with `&&`, `||` and parentheses, at most two
/// regular expressions, as AWS allows.
fn json_pattern() -> impl Strategy<Value = String> {
    condition()
        .prop_recursive(3, 8, 3, |inner| {
            (inner.clone(), prop_oneof![Just(" && "), Just(" || "), Just("&&")], inner, any::<bool>())
                .prop_map(|(a, op, b, wrap)| if wrap { format!("({a}{op}{b})") } else { format!("{a}{op}{b}") })
        })
        .prop_filter("at most two regular expressions", |s| s.matches("%^").count() <= 2)
        .prop_map(|e| format!("{{ {e} }}"))
}

fn terms_pattern() -> impl Strategy<Value = String> {
    let term = prop_oneof!["[A-Za-z0-9_]{1,8}", any::<String>().prop_map(|s| quoted(&s)),];
    prop::collection::vec((prop_oneof![Just(""), Just("-"), Just("?")], term), 1..5)
        .prop_map(|terms| terms.into_iter().map(|(m, t)| format!("{m}{t}")).collect::<Vec<_>>().join(" "))
}

fn delimited_pattern() -> impl Strategy<Value = String> {
    prop::collection::vec(prop_oneof![Just(None), (0usize..3, operand()).prop_map(Some)], 1..6)
        .prop_map(|columns| {
            let fields: Vec<String> = columns
                .iter()
                .enumerate()
                .map(|(i, c)| match c {
                    None if i % 3 == 2 => "...".to_string(),
                    None => format!("f{i}"),
                    Some((_, v)) => format!("f{i} = {v}"),
                })
                .collect();
            format!("[{}]", fields.join(", "))
        })
        .prop_filter("at most two regular expressions", |s| s.matches("%^").count() <= 2)
}

proptest! {
    #[test]
    fn the_canonical_text_parses_back_to_the_same_pattern(text in prop_oneof![json_pattern(), terms_pattern(), delimited_pattern()]) {
        let p = filter(&text);
        let canonical = p.to_string();
        assert_eq!(&filter(&canonical), &p, "{} became {}", text, canonical);
        assert_eq!(filter(&canonical).to_string(), canonical);
    }

    #[test]
    fn parsing_and_matching_never_panic(
        text in prop_oneof![any::<String>(), r#"[{}\[\]()$.*%"'=!<>&|, a-z0-9?^\\-]{0,40}"#, r"\{ \$\.[a-z]{1,3} [=!<>]{1,2} [a-z0-9*%^.\\\[\]{}|]{0,12} \}"],
        line in prop_oneof![any::<String>(), r#"\{"[a-z]{1,3}": ("[a-z0-9]{0,5}"|[0-9]{1,4}|null|true|\[1, "a"\]|\{\})\}"#],
    ) {
        if let Ok(p) = FilterPattern::parse(&text) {
            let _ = p.matches(&line);
            let _ = p.to_string();
        }
    }

    #[test]
    fn generated_patterns_match_without_panicking(text in prop_oneof![json_pattern(), delimited_pattern()], event in event()) {
        let p = filter(&text);
        let _ = p.matches(&event.to_string());
        let _ = p.matches("a b \"c d\" [e f] 12");
    }

    #[test]
    fn every_term_present_matches_and_an_excluded_one_misses(words in prop::collection::vec("[A-Za-z0-9_]{1,8}", 1..5), noise in "[ .:=-]{0,3}", order in any::<prop::sample::Index>()) {
        let mut shuffled = words.clone();
        shuffled.rotate_left(order.index(words.len()));
        let line = shuffled.join(&format!(" {noise} "));
        assert!(filter(&words.join(" ")).matches(&line).is_match());
        let excluded = format!("{} -{}", words[0], words[words.len() - 1]);
        assert!(!filter(&excluded).matches(&line).is_match());
        let any_of: Vec<String> = words.iter().map(|w| format!("?{w}")).collect();
        assert!(filter(&any_of.join(" ")).matches(&line).is_match());
        assert!(filter(&format!("\"{}\"", shuffled[0])).matches(&line).is_match());
    }

    #[test]
    fn a_quoted_string_equals_exactly_itself(v in any::<String>(), other in any::<String>()) {
        prop_assume!(!v.starts_with('*') && !v.ends_with('*'));
        let eq = filter(&format!("{{ $.k = {} }}", quoted(&v)));
        let ne = filter(&format!("{{ $.k != {} }}", quoted(&v)));
        let event = |s: &str| json!({"k": s}).to_string();
        assert!(eq.matches(&event(&v)).is_match());
        assert!(!ne.matches(&event(&v)).is_match());
        if other != v {
            assert!(!eq.matches(&event(&other)).is_match());
            assert!(ne.matches(&event(&other)).is_match());
        }
        // Neither holds when the field is missing.
        assert!(!eq.matches("{}").is_match() && !ne.matches("{}").is_match());
    }

    #[test]
    fn a_leading_or_trailing_star_matches_any_extension(p in "[A-Za-z0-9_.]{1,8}", s in any::<String>()) {
        let event = json!({"k": format!("{p}{s}")}).to_string();
        assert!(filter(&format!("{{ $.k = {p}* }}")).matches(&event).is_match());
        let event = json!({"k": format!("{s}{p}")}).to_string();
        assert!(filter(&format!("{{ $.k = \"*{p}\" }}")).matches(&event).is_match());
    }

    #[test]
    fn numeric_comparisons_agree_with_arithmetic(x in -1.0e9f64..1.0e9, c in -1.0e9f64..1.0e9) {
        let event = json!({"n": x}).to_string();
        for (op, holds) in [(">", x > c), (">=", x >= c), ("<", x < c), ("<=", x <= c), ("=", x == c), ("!=", x != c)] {
            assert_eq!(filter(&format!("{{ $.n {op} {c} }}")).matches(&event).is_match(), holds, "{} {} {}", x, op, c);
        }
    }

    #[test]
    fn a_literal_regex_matches_where_its_text_appears(r in "[a-z0-9]{1,5}", line in "[a-z0-9 ]{0,30}") {
        assert_eq!(filter(&format!("%{r}%")).matches(&line).is_match(), line.contains(&r));
    }

    #[test]
    fn named_fields_hold_the_words_of_the_line(tokens in prop::collection::vec("[a-z0-9][a-z0-9._:/-]{0,6}", 1..7), pick in any::<prop::sample::Index>()) {
        let line = tokens.join(" ");
        let names: Vec<String> = (0..tokens.len()).map(|i| format!("f{i}")).collect();
        assert!(filter(&format!("[{}]", names.join(", "))).matches(&line).is_match());
        let i = pick.index(tokens.len());
        let mut conditions = names.clone();
        conditions[i] = format!("f{i} = {}", quoted(&tokens[i]));
        assert!(filter(&format!("[{}]", conditions.join(", "))).matches(&line).is_match());
        let around = format!("[..., f = {}, ...]", quoted(&tokens[i]));
        assert!(filter(&around).matches(&line).is_match());
        let absent = format!("[..., f = {}, ...]", quoted(&format!("{}#", tokens[i])));
        assert!(!filter(&absent).matches(&line).is_match());
    }
}
