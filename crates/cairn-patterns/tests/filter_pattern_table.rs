//! One table per construct of CloudWatch Logs filter patterns, after the
//! examples on AWS's "Filter pattern syntax" page (written afresh from the
//! semantics it states), plus the syntax errors and warnings.

use cairn_patterns::filter_pattern::{self, FilterPattern, Verdict};

fn parsed(text: &str) -> FilterPattern {
    match FilterPattern::parse(text) {
        Ok(p) => p,
        Err(e) => panic!("{text:?} should parse: {e}"),
    }
}

/// The indices of `lines` that `pattern` matches.
fn selects(pattern: &str, lines: &[&str]) -> Vec<usize> {
    let p = parsed(pattern);
    // The canonical text parses back to the same pattern.
    assert_eq!(parsed(&p.to_string()), p, "{pattern:?} round-trips through {:?}", p.to_string());
    lines.iter().enumerate().filter(|(_, l)| p.matches(l).is_match()).map(|(i, _)| i).collect()
}

fn miss(pattern: &str, event: &str) -> String {
    match parsed(pattern).matches(event) {
        Verdict::Match => panic!("{pattern:?} should not match {event:?}"),
        Verdict::Miss(m) => m.to_string(),
    }
}

const APP_LOG: &[&str] = &[
    "2024-04-18T10:00:00.000Z  [INFO 200] SUCCESSFUL REQUEST",
    "2024-04-18T10:00:02.000Z  [ERROR 401] UNAUTHORIZED REQUEST",
    "2024-04-18T10:00:06.000Z  [ERROR 400] BAD REQUEST",
    "2024-04-18T10:02:00.000Z  [ERROR 419] MISSING ARGUMENTS",
    "2024-04-18T10:02:06.000Z [ERROR 420] INVALID ARGUMENTS",
    "2024-04-18T10:04:01.000Z [ERROR 500] INTERNAL SERVER ERROR",
    "2024-04-18T10:10:00.000Z [SUCCESS 200] AUTHORIZED REQUEST",
    "2024-04-18T10:10:07.000Z [INFO] REQUEST FAILED",
    "2024-04-18T10:10:10.000Z [WARN] UNAUTHORIZED REQUEST",
    "2024-04-18T10:11:07.000Z [WARNING 404] PAGE NOT FOUND",
    "2024-04-18T10:12:03.000Z [DEBUG 500] DEBUGGING INTERNAL INVALID",
];

#[test]
fn terms_phrases_exclusions_and_optional_terms() {
    let cases: &[(&str, &[usize])] = &[
        ("ERROR", &[1, 2, 3, 4, 5]),
        ("ERROR ARGUMENTS", &[3, 4]),
        ("?ERROR ?ARGUMENTS", &[1, 2, 3, 4, 5]),
        // `?` terms beside a plain term are ignored: REQUEST alone decides.
        ("?ERROR ?ARGUMENTS REQUEST", &[0, 1, 2, 6, 7, 8]),
        ("\"INTERNAL SERVER ERROR\"", &[5]),
        ("ERROR -ARGUMENTS", &[1, 2, 5]),
        ("-ERROR", &[0, 6, 7, 8, 9, 10]),
        ("\" \"", &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]),
        ("", &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]),
        ("   ", &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]),
        // Terms are case-sensitive.
        ("error", &[]),
        ("%AUTHORIZED%", &[1, 6, 8]),
        ("%^2024-04-18T10:1%", &[6, 7, 8, 9, 10]),
        ("%\\[(ERROR|WARN)%", &[]),
    ];
    for (pattern, want) in cases {
        if pattern.contains('(') {
            assert!(FilterPattern::parse(pattern).is_err(), "{pattern}");
            continue;
        }
        assert_eq!(selects(pattern, APP_LOG), *want, "{pattern}");
    }
}

#[test]
fn terms_from_the_older_page() {
    let lines = ["[ERROR] A fatal exception has occurred", "Exiting with ERRORCODE: -1"];
    assert_eq!(selects("\"ERROR\"", &lines), [0, 1]);
    assert_eq!(selects("\"ERROR\" - \"Exiting\"", &lines), [0]);
    assert_eq!(
        selects(
            "ERROR Exception",
            &["[ERROR] Caught IllegalArgumentException", "[ERROR] Unhandled Exception", "[WARN] Exception"]
        ),
        [0, 1]
    );
    assert_eq!(
        selects("Failed to process the request", &["[WARN] Failed to process the request", "request Failed"]),
        [0]
    );
    let three = ["ERROR WARN message", "ERROR message", "WARN message"];
    assert_eq!(selects("ERROR", &three), [0, 1]);
    assert_eq!(selects("?ERROR ?WARN", &three), [0, 1, 2]);
    assert_eq!(selects("ERROR WARN", &three), [0]);
    assert_eq!(selects("ERROR -WARN", &three), [1]);
}

#[test]
fn term_misses_name_the_term() {
    assert_eq!(miss("ERROR ARGUMENTS", APP_LOG[1]), "the term `ARGUMENTS` does not appear");
    assert_eq!(miss("ERROR -ARGUMENTS", APP_LOG[3]), "the excluded term `ARGUMENTS` appears");
    assert_eq!(miss("?ERROR ?WARN", APP_LOG[0]), "none of the terms `ERROR`, `WARN` appears");
    assert_eq!(miss("\"SERVER ERROR\"", APP_LOG[2]), "the term `\"SERVER ERROR\"` does not appear");
    assert_eq!(miss("%^ERROR%", APP_LOG[2]), "the event does not match %^ERROR%");
}

const TRAIL_EVENT: &str = r#"{"eventType": "UpdateTrail", "sourceIPAddress": "111.111.111.111",
  "arrayKey": ["value", "another value"], "objectList": [{"name": "a", "id": 1}, {"name": "b", "id": 2}],
  "SomeObject": null, "cluster.name": "c", "ThisFlag": true}"#;

#[test]
fn json_string_conditions() {
    let matching = [
        r#"{ $.eventType = "UpdateTrail" }"#,
        "{ $.eventType = UpdateTrail }",
        "{ $.sourceIPAddress != 123.123.* }",
        r#"{ $.arrayKey[0] = "value" }"#,
        "{ $.eventType = %Trail% }",
        "{ $.arrayKey[*] = %val.{2}% }",
        r"{ $.* = %111\.111\.111\.1[0-9]{1,2}% }",
        r#"{ $.['cluster.name'] = "c" }"#,
        "{ $.objectList[1].id = 2 }",
        "{ $.objectList[*].name = b }",
        "{ $.SomeObject IS NULL }",
        "{ $.SomeOtherObject NOT EXISTS }",
        "{ $.ThisFlag IS TRUE }",
        "{ $.eventType = *Trail }",
        "{ $.eventType = Update* }",
        "{ $.eventType = *date* }",
        "{ $.eventType = * }",
        "{ $.ThisFlag = true }",
        "{$.eventType=\"UpdateTrail\"}",
        "{ $.eventType = \"UpdateTrail\" && $.ThisFlag is true }",
    ];
    for pattern in matching {
        assert_eq!(selects(pattern, &[TRAIL_EVENT]), [0], "{pattern}");
    }
    let missing = [
        (r#"{ $.eventType = "CreateTrail" }"#, r#"$.eventType: "UpdateTrail" is not "CreateTrail""#),
        (
            "{ $.sourceIPAddress != 111.111.* }",
            r#"$.sourceIPAddress: "111.111.111.111" is 111.111.*, which `!=` excludes"#,
        ),
        (r#"{ $.arrayKey = "value" }"#, "$.arrayKey: is an array, not a value, so no comparison matches it"),
        (r#"{ $.arrayKey != "value" }"#, "$.arrayKey: is an array, not a value, so no comparison matches it"),
        (r#"{ $.arrayKey[5] = "value" }"#, r#"$.arrayKey[5]: is absent; the pattern wants = "value""#),
        ("{ $.SomeObject NOT EXISTS }", "$.SomeObject: is present (null); the pattern wants it absent"),
        ("{ $.SomeObject = * }", "$.SomeObject: is null, which no comparison matches (`IS NULL` tests for it)"),
        ("{ $.Missing IS NULL }", "$.Missing: is absent; the pattern wants null"),
        ("{ $.eventType IS NULL }", r#"$.eventType: "UpdateTrail" is not null"#),
        ("{ $.ThisFlag IS FALSE }", "$.ThisFlag: true is not false"),
        // A `*` in the middle is a literal star (the older page's `Ev*ent`).
        ("{ $.eventType = Up*Trail }", r#"$.eventType: "UpdateTrail" is not Up*Trail"#),
        ("{ $.missing != x }", "$.missing: is absent; the pattern wants != x"),
    ];
    for (pattern, why) in missing {
        assert_eq!(miss(pattern, TRAIL_EVENT), why, "{pattern}");
    }
    assert_eq!(
        miss("{ $.eventType = UpdateTrail }", "UpdateTrail happened"),
        "the event is not a JSON object, and a JSON pattern matches only JSON objects"
    );
}

#[test]
fn json_numeric_conditions() {
    let event = r#"{"bandwidth": 80, "latency": 20, "refreshRate": 60, "responseTime": 5, "errorCode": 400,
        "number": [1000, 0.001], "slow": "1500", "sci": "1.5e3", "big": 1e3}"#;
    let matching = [
        "{ $.bandwidth > 75 }",
        "{ $.latency < 50 }",
        "{ $.refreshRate >= 60 }",
        "{ $.responseTime <= 5 }",
        "{ $.errorCode = 400}",
        "{ $.errorCode != 500 }",
        "{ $.number[0] = 1e+3 }",
        "{ $.number[0] != 1e-3 }",
        "{ $.number[1] = 1e-3 }",
        "{ $.bandwidth > +10 }",
        "{ $.latency > -1.5 }",
        "{ $.slow > 1000 }",
        "{ $.errorCode = 4* }",
        "{ $.errorCode = \"400\" }",
        "{ $.big = 1000 }",
        "{ $.latency = * }",
    ];
    for pattern in matching {
        assert_eq!(selects(pattern, &[event]), [0], "{pattern}");
    }
    let missing = [
        ("{ $.bandwidth > 80 }", "$.bandwidth: 80 is not > 80"),
        ("{ $.errorCode != 400 }", "$.errorCode: 400 is 400, which `!=` excludes"),
        ("{ $.errorCode = 500 }", "$.errorCode: 400 is not 500"),
        // Strings in scientific notation are not numbers.
        ("{ $.sci > 1000 }", r#"$.sci: "1.5e3" is not > 1000"#),
    ];
    for (pattern, why) in missing {
        assert_eq!(miss(pattern, event), why, "{pattern}");
    }
}

const USERS_EVENT: &str = r#"{"user": {"id": 1, "email": "John.Stiles@example.com"},
  "users": [{"id": 2, "email": "John.Doe@example.com"}, {"id": 3, "email": "Jane.Doe@example.com"}],
  "actions": ["GET", "PUT", "DELETE"], "coordinates": [[0, 1, 2], [4, 5, 6], [7, 8, 9]]}"#;

#[test]
fn compound_conditions_follow_the_documented_precedence() {
    let cases: &[(&str, bool)] = &[
        (r#"{ ($.user.id = 1) && ($.users[0].email = "John.Doe@example.com") }"#, true),
        (
            r#"{ $.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = "nonmatch" && $.actions[2] = "nonmatch" }"#,
            true,
        ),
        (
            r#"{ ($.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = "nonmatch") && $.actions[2] = "nonmatch" }"#,
            false,
        ),
        (r#"{ ($.user.id = 2 && $.users[0].email = "nonmatch") || $.actions[2] = "GET" }"#, false),
        ("{ $.coordinates[2][0] = 7 && $.users[1].id = 3 }", true),
    ];
    for (pattern, want) in cases {
        assert_eq!(parsed(pattern).matches(USERS_EVENT).is_match(), *want, "{pattern}");
        assert_eq!(selects(pattern, &[USERS_EVENT]).len(), usize::from(*want), "{pattern}");
    }
    assert_eq!(
        miss(
            r#"{ ($.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = "nonmatch") && $.actions[2] = "nonmatch" }"#,
            USERS_EVENT
        ),
        r#"$.actions[2]: "DELETE" is not "nonmatch""#
    );
    assert_eq!(
        miss(r#"{ ($.user.id = 2 && $.users[0].email = "nonmatch") || $.actions[2] = "GET" }"#, USERS_EVENT),
        r#"no alternative matched: (1) $.user.id: 1 is not 2; (2) $.actions[2]: "DELETE" is not "GET""#
    );
    assert_eq!(
        miss("{ $.actions[0] = POST || $.actions[0] = PATCH || $.actions[0] = %^DEL% }", USERS_EVENT),
        r#"$.actions[0]: "GET" is not one of POST, PATCH, %^DEL%"#
    );
}

#[test]
fn mixing_and_and_or_without_parentheses_is_flagged() {
    let mixed = parsed(r#"{ $.a = 1 || $.b = 2 && $.c = 3 }"#);
    assert_eq!(mixed.warnings().len(), 1);
    assert!(mixed.warnings()[0].message.starts_with("`&&` binds tighter than `||` here"));
    // The canonical form spells the precedence out.
    assert_eq!(mixed.to_string(), "{ $.a = 1 || ($.b = 2 && $.c = 3) }");
    assert!(parsed(&mixed.to_string()).warnings().is_empty());
    for clear in [
        "{ ($.a = 1 || $.b = 2) && $.c = 3 }",
        "{ $.a = 1 || ($.b = 2 && $.c = 3) }",
        "{ $.a = 1 && $.b = 2 }",
        "{ $.a = 1 || $.b = 2 }",
    ] {
        assert!(parsed(clear).warnings().is_empty(), "{clear}");
    }
    let optional = parsed("?ERROR ?WARN REQUEST");
    assert_eq!(optional.warnings().len(), 1);
    assert_eq!(optional.warnings()[0].offset, 0);
    assert!(parsed("?ERROR ?WARN").warnings().is_empty());
}

const ACCESS_LOG: &[&str] = &[
    r#"127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /apache_pb.gif HTTP/1.0" 200 1534"#,
    r#"127.0.0.1 - frank [10/Oct/2000:13:35:22 -0700] "GET /apache_pb.gif HTTP/1.0" 500 5324"#,
    r#"127.0.0.1 - frank [10/Oct/2000:13:50:35 -0700] "GET /apache_pb.gif HTTP/1.0" 200 4355"#,
    r#"127.0.0.1 Prod frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534"#,
    r#"10.0.0.9 Prod jane [10/Oct/2000:13:26:00 -0700] "GET /about.html HTTP/1.0" 410 800"#,
    r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /index.html HTTP/1.0" 403 2326"#,
];

#[test]
fn space_delimited_fields() {
    let cases: &[(&str, &[usize])] = &[
        ("[ip, user, username, timestamp, request, status_code, bytes]", &[0, 1, 2, 3, 4, 5]),
        ("[..., status_code, bytes]", &[0, 1, 2, 3, 4, 5]),
        ("[ip, user, ..., status_code, bytes]", &[0, 1, 2, 3, 4, 5]),
        ("[ip, user, ...]", &[0, 1, 2, 3, 4, 5]),
        ("[ip, user, username, timestamp, request, status_code, bytes > 1000]", &[0, 1, 2, 3, 5]),
        ("[ip, user, username, timestamp, request, status_code = 200, bytes]", &[0, 2]),
        ("[ip, user, username, timestamp, request, status_code = 4*, bytes]", &[3, 4, 5]),
        ("[ip, user, username, timestamp, request = *html*, status_code = 4*, bytes]", &[3, 4, 5]),
        ("[ip, user, username, timestamp, request, status_code = 4* && status_code != 403, bytes]", &[3, 4]),
        (r"[ip=%127\.0\.0\.[1-9]%, user, username, timestamp, request =*.html*, status_code = 4*, bytes]", &[3, 5]),
        ("[..., request =*.html*, status_code = 4*, bytes]", &[3, 4, 5]),
        ("[ip, user, username, timestamp, request =*.html*, status_code = 404 || status_code = 410, bytes]", &[3, 4]),
        ("[..., request=*.html*, status_code=4*,]", &[]),
        ("[..., request=*.html*, status_code=4*, bytes]", &[3, 4, 5]),
        ("[ip, user = Prod, ...]", &[3, 4]),
        ("[ip, user, username = jane, ..., bytes < 1000]", &[4]),
        ("[ip, ..., status_code = 500, ...]", &[1]),
    ];
    for (pattern, want) in cases {
        assert_eq!(selects(pattern, ACCESS_LOG), *want, "{pattern}");
    }
    assert_eq!(
        miss("[ip, user, username, timestamp, request, status_code = 4*, bytes]", ACCESS_LOG[0]),
        r#"status_code: "200" is not 4*"#
    );
    assert_eq!(
        miss("[ip, user, username, timestamp, request, status_code = 404 || status_code = 410, bytes]", ACCESS_LOG[0]),
        r#"status_code: "200" is not one of 404, 410"#
    );
    assert_eq!(miss("[a, b, c, d, e, f, g, h]", ACCESS_LOG[0]), "the event has 7 fields; the pattern names 8");
    assert_eq!(
        miss("[a, ..., b, c, d, e, f, g, h]", ACCESS_LOG[0]),
        "the event has 7 fields; the pattern needs at least 8"
    );
}

#[test]
fn space_delimited_words_in_order() {
    let log = [
        "INFO 09/25/2014 12:00:00 GET /service/resource/67 1200",
        "INFO 09/25/2014 12:00:01 POST /service/resource/67/part/111 1310",
        "WARNING 09/25/2014 12:00:02 Invalid user request",
        "ERROR 09/25/2014 12:00:02 Failed to process request",
    ];
    assert_eq!(selects("[w1=ERROR, w2]", &log), [3]);
    // Without a second field the first takes the whole line, as the page warns.
    assert_eq!(selects("[w1=ERROR]", &log), Vec::<usize>::new());
    assert_eq!(miss("[w1=ERROR]", log[3]), r#"w1: "ERROR 09/25/2014 12:00:02 Failed to process request" is not ERROR"#);
    assert_eq!(selects("[w1=ERROR || w1=WARNING, w2]", &log), [2, 3]);
    assert_eq!(selects("[w1!=ERROR && w1!=WARNING, w2]", &log), [0, 1]);
    assert_eq!(selects("[logLevel, date, time, method, url=%/service/resource/[0-9]+$%, response_time]", &log), [0]);
    assert_eq!(
        selects("[logLevel, date, time, method, url=%/service/resource/[0-9]+/part/[0-9]+$%, response_time]", &log),
        [1]
    );
    let three = ["ERROR WARN message", "ERROR message", "WARN message"];
    assert_eq!(selects("[w1=ERROR, w2]", &three), [0, 1]);
    assert_eq!(selects("[w1=ERROR || w1=WARN, w2]", &three), [0, 1, 2]);
}

/// `(pattern, character offset, message)`.
#[test]
fn syntax_errors_say_where_and_what_was_expected() {
    let cases: &[(&str, usize, &str)] = &[
        ("{ $.x = 1", 9, "expected `&&`, `||` or the closing `}`, found the end of the pattern"),
        ("{ $.x = 1 } extra", 12, "unexpected `e` at character 13 after the closing `}`"),
        ("{ x = 1 }", 2, "expected a selector like `$.field`, found `x` at character 3"),
        ("{ $ = 1 }", 2, "`$` at character 3 alone selects the whole event"),
        ("{ $x = 1 }", 2, "`$x` at character 3 is not a selector"),
        ("{ $.x }", 6, "expected a comparison after `$.x`, found `}` at character 7"),
        ("{ $.x = }", 8, "expected a value after `$.x =`, found `}` at character 9"),
        ("{ $.x IS MAYBE }", 9, "expected NULL, TRUE or FALSE after IS, found `M` at character 10"),
        ("{ $.x IS NOT NULL }", 9, "CloudWatch Logs does not support `IS NOT`"),
        ("{ $.x NOT THERE }", 10, "expected EXISTS after NOT, found `T` at character 11"),
        ("{ $.x EXISTS }", 6, "CloudWatch Logs does not support `EXISTS` (only `NOT EXISTS`)"),
        ("{ $.x = 1 && }", 13, "expected a selector like `$.field`, found `}` at character 14"),
        ("{ $.x = \"open }", 8, "the quote opened at character 9 is never closed"),
        ("{ ($.x = 1 }", 11, "the `(` at character 3 is never closed: found `}` at character 12 instead of `)`"),
        ("{ $.x > abc }", 8, "`>` compares numbers, and `abc` is not one"),
        ("{ $.x = a@b }", 9, "the value `a@b` has `@`, which needs quotes"),
        ("{ $.@timestamp = 1 }", 4, "expected a property name after `.`, found `@` at character 5"),
        ("{ $.a[*].b[*] = 1 }", 2, "a selector with more than one `*`"),
        ("{ $.a[*] = 1 && $.b[*] = 1 && $.c[*] = 1 && $.d.* = 1 }", 44, "more than three `*` selectors in one pattern"),
        ("{ $.a = %a% && $.b = %b% && $.c = %c% }", 34, "a third regular expression in one pattern"),
        ("{ $.a[x] = 1 }", 6, "expected an index, `*` or a quoted name after `[`, found `x` at character 7"),
        (
            "%(a|b)%",
            1,
            "in the regular expression at character 1: `(` is not supported: regular expressions here have no groups",
        ),
        ("%abc", 0, "the regular expression opened at character 1 has no closing `%`"),
        ("%something!%", 10, "in the regular expression at character 1: `!` is not supported in a regular expression"),
        ("%ab% ERROR", 5, "unexpected `E` at character 6 after the regular expression"),
        ("\"never closed", 0, "the quote opened at character 1 is never closed"),
        ("ERR\"OR", 3, "a quote in the middle of a term at character 4"),
        ("user=test", 4, "the term `user=test` has `=`, and an unquoted term has only letters, digits and `_`"),
        ("$.errorCode = \"AccessDenied\"", 0, "`$.errorCode` is a JSON selector outside `{ }`"),
        ("ERROR %ERR.R%", 6, "a regular expression among terms"),
        ("ERROR -", 6, "`-` has no term after it"),
        ("[ip, , user]", 5, "the field at character 6 is empty"),
        ("[]", 1, "the field at character 2 is empty"),
        ("[ip, user", 0, "the `[` at character 1 is never closed"),
        ("[ip] x", 5, "unexpected `x` at character 6 after the closing `]`"),
        ("[a, a]", 4, "two fields are named `a`"),
        ("[a, b = 1 && c = 2]", 4, "`c` names no field of the pattern"),
        ("[a, b c]", 6, "expected a comparison after `b`, found `c` at character 7"),
        ("[a, b > x]", 8, "`>` compares numbers, and `x` is not one"),
    ];
    for (pattern, offset, message) in cases {
        let e = match FilterPattern::parse(pattern) {
            Ok(p) => panic!("{pattern:?} should be refused, parsed as {p:?}"),
            Err(e) => e,
        };
        assert_eq!((e.offset, e.message.as_str()), (*offset, *message), "{pattern}");
        assert!(!e.expected.is_empty(), "{pattern}");
        assert_eq!(filter_pattern::validate(pattern), Err(e));
    }
}

#[test]
fn likely_fixes_are_suggested() {
    let suggestion = |p: &str| FilterPattern::parse(p).err().and_then(|e| e.suggestion);
    assert_eq!(
        suggestion("$.errorCode = \"AccessDenied\"").as_deref(),
        Some("write `{ $.errorCode = \"AccessDenied\" }`")
    );
    assert_eq!(suggestion("{ $.x EXISTS }").as_deref(), Some("write `$.x = *`"));
    assert_eq!(suggestion("{ errorCode = 1 }").as_deref(), Some("write `$.errorCode`"));
    assert_eq!(suggestion("{ $errorCode = 1 }").as_deref(), Some("write `$.errorCode`"));
    assert_eq!(suggestion("{ $.@timestamp = 1 }").as_deref(), Some("write `.['@timestamp']`"));
    assert_eq!(suggestion("user=test").as_deref(), Some("write \"user=test\""));
    assert_eq!(suggestion("{ $.x = a@b }").as_deref(), Some("write \"a@b\""));
    assert_eq!(suggestion("%a!b%").as_deref(), Some("write `\\x21` to match `!`"));
}

#[test]
fn long_patterns_are_refused() {
    let long = format!("\"{}\"", "x".repeat(1023));
    let e = FilterPattern::parse(&long).err();
    assert_eq!(e.map(|e| e.message), Some("the pattern is 1025 characters long".to_string()));
    assert!(FilterPattern::parse(&format!("\"{}\"", "x".repeat(1022))).is_ok());
}

#[test]
fn the_display_form_is_canonical() {
    let cases = [
        (
            "{($.eventName=DeleteGroupPolicy)||($.eventName=DeleteRolePolicy)}",
            "{ $.eventName = DeleteGroupPolicy || $.eventName = DeleteRolePolicy }",
        ),
        ("{ (($.a = 1)) && ($.b = 2 || $.c = 3) }", "{ $.a = 1 && ($.b = 2 || $.c = 3) }"),
        ("{ $.['cluster.name'] = \"c\" && $.x is null }", "{ $.['cluster.name'] = \"c\" && $.x IS NULL }"),
        ("[ip,user , ...,status_code=4*]", "[ip, user, ..., status_code = 4*]"),
        ("  ERROR   -\"a b\"  ?x", "ERROR -\"a b\" ?x"),
        ("%a|b%", "%a|b%"),
        ("", ""),
    ];
    for (text, canonical) in cases {
        assert_eq!(parsed(text).to_string(), canonical, "{text}");
    }
}

/// The patterns cairn-aws's metric filter kind accepted and refused before
/// it used this crate: its verdicts changed only where AWS's page says
/// they should (the kind's own test now checks only the wiring).
#[test]
fn what_cairn_checked_before_is_judged_the_same() {
    for ok in [
        "",
        "   ",
        "ERROR",
        "ERROR -DEBUG",
        "?ERROR ?WARN",
        "\"Failed authentication\" -\"user=test\"",
        "%AUTHORIZED%",
        "%^[hc]at$%",
        "{ $.x = 1 }",
        "{$.eventType=\"AwsApiCall\"}",
        r#"{ ($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*") }"#,
        r#"{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType != "AwsServiceEvent" }"#,
        r#"{ ($.eventName = ConsoleLogin) && ($.errorMessage = "Failed authentication") }"#,
        "{ $.latency >= 500 && ($.a[0].b IS NULL || $.ok IS TRUE) }",
        "{ $.name = %[A-Z]+% }",
        "[ip, user, username, timestamp, request = \"GET *\", status_code = 4*, bytes]",
        "[..., status_code != 200, size > 1000]",
        "[w1=ERROR || w1=WARN, ...]",
    ] {
        assert_eq!(filter_pattern::validate(ok), Ok(()), "{ok}");
    }
    // The one change: AWS's page says `EXISTS` is not supported.
    assert!(filter_pattern::validate("{ $.value EXISTS }").is_err());
    for bad in [
        "{ $.x = 1",
        "{ $.x = 1 } extra",
        "{ x = 1 }",
        "{ $ = 1 }",
        "{ $.x }",
        "{ $.x = }",
        "{ $.x IS MAYBE }",
        "{ $.x NOT THERE }",
        "{ $.x = 1 && }",
        "{ $.x = \"open }",
        "%(a|b)%",
        "%abc",
        "\"never closed",
        "ERR\"OR",
        "[ip, , user]",
        "[ip, user",
        "[ip] x",
    ] {
        assert!(filter_pattern::validate(bad).is_err(), "{bad}");
    }
}
