//! One table per construct of EventBridge event patterns, after the
//! examples on AWS's "Event patterns", "Content filtering" and "Arrays in
//! event patterns" pages (written afresh from the semantics they state),
//! plus the validation errors EventBridge reports.

use cairn_patterns::event_pattern::{self, EventPattern, PathSeg, Verdict};
use serde_json::{Value, json};

fn parsed(pattern: &Value) -> EventPattern {
    match EventPattern::parse(pattern) {
        Ok(p) => p,
        Err(errors) => panic!("{pattern} should parse: {errors:?}"),
    }
}

/// Each event in `matching` matches; each `(event, miss)` misses with that
/// explanation.
fn table(pattern: Value, matching: &[Value], missing: &[(Value, &str)]) {
    let p = parsed(&pattern);
    for event in matching {
        assert_eq!(p.matches(event), Verdict::Match, "{pattern} should match {event}");
    }
    for (event, why) in missing {
        match p.matches(event) {
            Verdict::Match => panic!("{pattern} should not match {event}"),
            Verdict::Miss(miss) => assert_eq!(miss.to_string(), *why, "{pattern} against {event}"),
        }
    }
    // The typed pattern turns back into the JSON it came from.
    assert_eq!(parsed(&p.to_value()), p, "{pattern} round-trips");
}

fn ec2(state: &str) -> Value {
    json!({
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2",
        "account": "111122223333",
        "time": "2017-12-22T18:43:48Z",
        "region": "us-west-1",
        "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
        "detail": {"instance-id": "i-1234567890abcdef0", "state": state}
    })
}

#[test]
fn exact_values_select_ec2_terminations() {
    table(
        json!({
            "source": ["aws.ec2"],
            "detail-type": ["EC2 Instance State-change Notification"],
            "detail": {"state": ["terminated"]}
        }),
        &[ec2("terminated")],
        &[
            (ec2("running"), r#"detail.state: "running" is not one of ["terminated"]"#),
            (json!({"source": "aws.s3"}), r#"source: "aws.s3" is not one of ["aws.ec2"]"#),
            (
                json!({"source": "aws.ec2"}),
                r#"detail-type: is absent; the pattern wants one of ["EC2 Instance State-change Notification"]"#,
            ),
        ],
    );
}

#[test]
fn lab1_rule_matches_the_states_it_lists() {
    // stacks/lab1-notifications.yaml, with its default `states`.
    table(
        json!({
            "source": ["aws.ec2"],
            "detail-type": ["EC2 Instance State-change Notification"],
            "detail": {"state": ["pending", "running", "stopping", "stopped", "shutting-down", "terminated"]}
        }),
        &[ec2("pending"), ec2("stopped"), ec2("terminated")],
        &[(
            ec2("rebooting"),
            r#"detail.state: "rebooting" is not one of ["pending", "running", "stopping", "stopped", "shutting-down", "terminated"]"#,
        )],
    );
}

#[test]
fn exact_values_are_typed() {
    table(
        json!({"detail": {"count": [5], "flag": [true], "name": ["5"]}}),
        &[
            json!({"detail": {"count": 5, "flag": true, "name": "5"}}),
            json!({"detail": {"count": 5.0, "flag": true, "name": "5"}}),
        ],
        &[
            (json!({"detail": {"count": "5", "flag": true, "name": "5"}}), r#"detail.count: "5" is not one of [5]"#),
            (
                json!({"detail": {"count": 5, "flag": "true", "name": "5"}}),
                r#"detail.flag: "true" is not one of [true]"#,
            ),
            (json!({"detail": {"count": 5, "flag": true, "name": 5}}), r#"detail.name: 5 is not one of ["5"]"#),
        ],
    );
}

#[test]
fn null_and_empty_strings_match_only_themselves() {
    table(
        json!({"responseElements": [null], "LastName": [""]}),
        &[json!({"responseElements": null, "LastName": ""})],
        &[
            (json!({"LastName": ""}), "responseElements: is absent; the pattern wants one of [null]"),
            (json!({"responseElements": null, "LastName": "Doe"}), r#"LastName: "Doe" is not one of [""]"#),
        ],
    );
}

#[test]
fn event_arrays_match_when_they_share_a_value() {
    table(
        json!({"resources": [
            "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
            "arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f"
        ]}),
        &[json!({"resources": [
            "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b:autoScalingGroupName/ASGTerminate",
            "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f"
        ]})],
        &[
            (
                json!({"resources": ["arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f"]}),
                r#"resources: "arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f" is not one of ["arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f", "arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f"]"#,
            ),
            (
                json!({"resources": []}),
                r#"resources: is an empty list; the pattern wants one of ["arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f", "arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f"]"#,
            ),
        ],
    );
}

#[test]
fn arrays_of_objects_match_within_one_element() {
    let employees = json!({"employees": [
        {"firstName": "John", "lastName": "Doe"},
        {"firstName": "Anna", "lastName": "Smith"},
        {"firstName": "Peter", "lastName": "Jones"}
    ]});
    table(json!({"employees": {"firstName": ["Anna"]}}), std::slice::from_ref(&employees), &[]);
    table(json!({"employees": {"firstName": ["Anna"], "lastName": ["Smith"]}}), std::slice::from_ref(&employees), &[]);
    table(
        json!({"employees": {"firstName": ["Anna"], "lastName": ["Jones"]}}),
        &[],
        &[(
            employees,
            r#"employees.firstName: "John" is not one of ["Anna"] (in the first of 3 elements of employees; no element matched)"#,
        )],
    );
    // Nested arrays are flattened.
    table(
        json!({"employees": {"firstName": ["Peter"]}}),
        &[json!({"employees": [[{"firstName": "John"}, {"firstName": "Anna"}], [{"firstName": "Peter"}]]})],
        &[],
    );
}

#[test]
fn prefix_matching() {
    table(
        json!({"time": [{"prefix": "2017-10-02"}]}),
        &[json!({"time": "2017-10-02T18:43:48Z"})],
        &[
            (
                json!({"time": "2017-10-03T00:00:00Z"}),
                r#"time: "2017-10-03T00:00:00Z" matches none of [{"prefix":"2017-10-02"}]"#,
            ),
            (json!({"time": 20171002}), r#"time: 20171002 matches none of [{"prefix":"2017-10-02"}]"#),
        ],
    );
    table(
        json!({"source": ["aws.autoscaling"], "region": [{"prefix": "eu-"}]}),
        &[json!({"source": "aws.autoscaling", "region": "eu-west-1"})],
        &[(
            json!({"source": "aws.autoscaling", "region": "us-east-1"}),
            r#"region: "us-east-1" matches none of [{"prefix":"eu-"}]"#,
        )],
    );
    table(
        json!({"service": [{"prefix": {"equals-ignore-case": "EventB"}}]}),
        &[json!({"service": "EventBridge"}), json!({"service": "eventbridge"}), json!({"service": "EVENTBRIDGE"})],
        &[(
            json!({"service": "Event Bridge"}),
            r#"service: "Event Bridge" matches none of [{"prefix":{"equals-ignore-case":"EventB"}}]"#,
        )],
    );
}

#[test]
fn suffix_matching() {
    table(
        json!({"FileName": [{"suffix": ".png"}]}),
        &[json!({"FileName": "image.png"})],
        &[(json!({"FileName": "image.PNG"}), r#"FileName: "image.PNG" matches none of [{"suffix":".png"}]"#)],
    );
    table(
        json!({"service": [{"suffix": {"equals-ignore-case": "tBridge"}}]}),
        &[json!({"service": "EventBridge"}), json!({"service": "EVENTBRIDGE"})],
        &[(
            json!({"service": "EventBus"}),
            r#"service: "EventBus" matches none of [{"suffix":{"equals-ignore-case":"tBridge"}}]"#,
        )],
    );
}

#[test]
fn equals_ignore_case_matching() {
    table(
        json!({"detail-type": [{"equals-ignore-case": "ec2 instance state-change notification"}]}),
        &[ec2("running")],
        &[(
            json!({"detail-type": "EC2 Instance State-change"}),
            r#"detail-type: "EC2 Instance State-change" matches none of [{"equals-ignore-case":"ec2 instance state-change notification"}]"#,
        )],
    );
}

#[test]
fn anything_but_matching() {
    table(
        json!({"detail": {"state": [{"anything-but": "initializing"}]}}),
        &[ec2("running"), json!({"detail": {"state": 5}}), json!({"detail": {"state": null}})],
        &[
            (ec2("initializing"), r#"detail.state: "initializing" matches none of [{"anything-but":"initializing"}]"#),
            (json!({"detail": {}}), r#"detail.state: is absent; the pattern wants [{"anything-but":"initializing"}]"#),
        ],
    );
    table(
        json!({"detail": {"x-limit": [{"anything-but": 123}]}}),
        &[json!({"detail": {"x-limit": 124}}), json!({"detail": {"x-limit": "123"}})],
        &[(json!({"detail": {"x-limit": 123.0}}), r#"detail.x-limit: 123.0 matches none of [{"anything-but":123}]"#)],
    );
    table(
        json!({"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}}),
        &[ec2("running"), json!({"detail": {"state": ["stopped", "running"]}})],
        &[(
            ec2("overloaded"),
            r#"detail.state: "overloaded" matches none of [{"anything-but":["stopped","overloaded"]}]"#,
        )],
    );
    table(
        json!({"detail": {"x-limit": [{"anything-but": [100, 200, 300]}]}}),
        &[json!({"detail": {"x-limit": 301.8}}), json!({"detail": {"x-limit": [100, 50]}})],
        &[(
            json!({"detail": {"x-limit": 200}}),
            r#"detail.x-limit: 200 matches none of [{"anything-but":[100,200,300]}]"#,
        )],
    );
    table(
        json!({"detail": {"state": [{"anything-but": {"prefix": "init"}}]}}),
        &[ec2("running")],
        &[(
            ec2("initializing"),
            r#"detail.state: "initializing" matches none of [{"anything-but":{"prefix":"init"}}]"#,
        )],
    );
    table(
        json!({"FileName": [{"anything-but": {"suffix": [".png", ".jpg"]}}]}),
        &[json!({"FileName": "notes.txt"})],
        &[(
            json!({"FileName": "cat.jpg"}),
            r#"FileName: "cat.jpg" matches none of [{"anything-but":{"suffix":[".png",".jpg"]}}]"#,
        )],
    );
    table(
        json!({"state": [{"anything-but": {"equals-ignore-case": ["Stopped", "OverLoaded"]}}]}),
        &[json!({"state": "running"})],
        &[(
            json!({"state": "STOPPED"}),
            r#"state: "STOPPED" matches none of [{"anything-but":{"equals-ignore-case":["Stopped","OverLoaded"]}}]"#,
        )],
    );
    table(
        json!({"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}),
        &[json!({"FilePath": "/usr/bin/cairn"})],
        &[(
            json!({"FilePath": "/usr/lib/libc.so"}),
            r#"FilePath: "/usr/lib/libc.so" matches none of [{"anything-but":{"wildcard":"*/lib/*"}}]"#,
        )],
    );
}

#[test]
fn numeric_matching() {
    let pattern = json!({"detail": {
        "c-count": [{"numeric": [">", 0, "<=", 5]}],
        "d-count": [{"numeric": ["<", 10]}],
        "x-limit": [{"numeric": ["=", 3.018e2]}]
    }});
    let event = |c: Value, d: Value, x: Value| json!({"detail": {"c-count": c, "d-count": d, "x-limit": x}});
    table(
        pattern,
        &[event(json!(5), json!(3), json!(301.8)), event(json!(0.5), json!(-4), json!(301.8))],
        &[
            (
                event(json!(0), json!(3), json!(301.8)),
                r#"detail.c-count: 0 matches none of [{"numeric":[">",0,"<=",5]}]"#,
            ),
            (
                event(json!(6), json!(3), json!(301.8)),
                r#"detail.c-count: 6 matches none of [{"numeric":[">",0,"<=",5]}]"#,
            ),
            (event(json!(5), json!(10), json!(301.8)), r#"detail.d-count: 10 matches none of [{"numeric":["<",10]}]"#),
            (
                event(json!("5"), json!(3), json!(301.8)),
                r#"detail.c-count: "5" matches none of [{"numeric":[">",0,"<=",5]}]"#,
            ),
            (
                event(json!(5), json!(3), json!(301.9)),
                r#"detail.x-limit: 301.9 matches none of [{"numeric":["=",301.8]}]"#,
            ),
        ],
    );
    table(
        json!({"price": [{"numeric": [">=", 10, "<", 20]}]}),
        &[json!({"price": 10}), json!({"price": 19.99}), json!({"price": [5, 15]})],
        &[(json!({"price": 20}), r#"price: 20 matches none of [{"numeric":[">=",10,"<",20]}]"#)],
    );
}

#[test]
fn exists_matching() {
    table(
        json!({"detail": {"c-count": [{"exists": true}]}}),
        &[json!({"detail": {"c-count": 5}}), json!({"detail": {"c-count": null}}), json!({"detail": {"c-count": [1]}})],
        &[
            (json!({"detail": {}}), "detail.c-count: is absent; the pattern wants it present"),
            (
                json!({"detail": {"c-count": {"c1": 100}}}),
                "detail.c-count: is an object, not a value; the pattern wants it present",
            ),
            (json!({"detail": {"c-count": []}}), "detail.c-count: is an empty list; the pattern wants it present"),
        ],
    );
    table(
        json!({"detail": {"c-count": [{"exists": false}]}}),
        // event-ruler's README: an object is not a leaf, so it counts as absent.
        &[json!({"detail": {}}), json!({}), json!({"detail": {"c-count": {"c1": 100}}})],
        &[(json!({"detail": {"c-count": 5}}), "detail.c-count: is present (5); the pattern wants it absent")],
    );
}

#[test]
fn wildcard_matching() {
    table(
        json!({"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]}),
        &[json!({"EventBusArn": "arn:aws:events:us-east-1:123456789012:event-bus/default"})],
        &[(
            json!({"EventBusArn": "arn:aws:events:us-west-2:123456789012:event-bus/default"}),
            r#"EventBusArn: "arn:aws:events:us-west-2:123456789012:event-bus/default" matches none of [{"wildcard":"arn:aws:events:us-east-1:*:event-bus/*"}]"#,
        )],
    );
    table(
        json!({"FileName": [{"wildcard": "dir/*.png"}]}),
        &[json!({"FileName": "dir/cat.png"}), json!({"FileName": "dir/sub/cat.png"})],
        &[(
            json!({"FileName": "other/cat.png"}),
            r#"FileName: "other/cat.png" matches none of [{"wildcard":"dir/*.png"}]"#,
        )],
    );
}

#[test]
fn cidr_matching() {
    table(
        json!({"detail": {"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]}}),
        &[json!({"detail": {"sourceIPAddress": "10.0.0.255"}}), json!({"detail": {"sourceIPAddress": "10.0.0.0"}})],
        &[
            (
                json!({"detail": {"sourceIPAddress": "10.0.1.0"}}),
                r#"detail.sourceIPAddress: "10.0.1.0" matches none of [{"cidr":"10.0.0.0/24"}]"#,
            ),
            (
                json!({"detail": {"sourceIPAddress": "not an ip"}}),
                r#"detail.sourceIPAddress: "not an ip" matches none of [{"cidr":"10.0.0.0/24"}]"#,
            ),
        ],
    );
    table(
        json!({"ip": [{"cidr": "2001:db8::/32"}]}),
        &[json!({"ip": "2001:db8:1::1"}), json!({"ip": "2001:DB8::ffff"})],
        &[
            (json!({"ip": "2001:db9::1"}), r#"ip: "2001:db9::1" matches none of [{"cidr":"2001:db8::/32"}]"#),
            (json!({"ip": "10.0.0.1"}), r#"ip: "10.0.0.1" matches none of [{"cidr":"2001:db8::/32"}]"#),
        ],
    );
    // An exact address matches the same address written another way.
    table(json!({"ip": ["2001:db8::1"]}), &[json!({"ip": "2001:0db8:0:0:0:0:0:1"})], &[]);
}

#[test]
fn or_matching() {
    // source && (metricName || namespace)
    let pattern = json!({
        "source": ["aws.cloudwatch"],
        "$or": [
            {"metricName": ["CPUUtilization", "ReadLatency"]},
            {"namespace": ["AWS/EC2", "AWS/ES"]}
        ]
    });
    table(
        pattern,
        &[
            json!({"source": "aws.cloudwatch", "metricName": "ReadLatency"}),
            json!({"source": "aws.cloudwatch", "namespace": "AWS/ES"}),
        ],
        &[(
            json!({"source": "aws.cloudwatch", "metricName": "WriteLatency", "namespace": "AWS/S3"}),
            r#"none of the 2 alternatives of `$or` matched: 1) metricName: "WriteLatency" is not one of ["CPUUtilization", "ReadLatency"]; 2) namespace: "AWS/S3" is not one of ["AWS/EC2", "AWS/ES"]"#,
        )],
    );
    // source && (metricName || (metricType && namespace && (metricId || spaceId)) || scope)
    let nested = json!({
        "source": ["aws.cloudwatch"],
        "$or": [
            {"metricName": ["CPUUtilization"]},
            {"metricType": ["MetricType"], "namespace": ["AWS/EC2"], "$or": [{"metricId": [1234]}, {"spaceId": [1000]}]},
            {"scope": ["Service"]}
        ]
    });
    table(
        nested,
        &[
            json!({"source": "aws.cloudwatch", "metricType": "MetricType", "namespace": "AWS/EC2", "spaceId": 1000}),
            json!({"source": "aws.cloudwatch", "scope": "Service"}),
        ],
        &[(
            json!({"source": "aws.cloudwatch", "metricType": "MetricType", "namespace": "AWS/EC2", "spaceId": 1}),
            r#"none of the 3 alternatives of `$or` matched: 1) metricName: is absent; the pattern wants one of ["CPUUtilization"]; 2) none of the 2 alternatives of `$or` matched: 1) metricId: is absent; the pattern wants one of [1234]; 2) spaceId: 1 is not one of [1000]; 3) scope: is absent; the pattern wants one of ["Service"]"#,
        )],
    );
    // `$or` inside a nested object.
    table(
        json!({"detail": {"$or": [{"source": ["aws.cloudwatch"]}, {"detail-type": ["CloudWatch Alarm State Change"]}]}}),
        &[json!({"detail": {"detail-type": "CloudWatch Alarm State Change"}})],
        &[(
            json!({"detail": {"source": "aws.s3"}}),
            r#"detail: none of the 2 alternatives of `$or` matched: 1) detail.source: "aws.s3" is not one of ["aws.cloudwatch"]; 2) detail.detail-type: is absent; the pattern wants one of ["CloudWatch Alarm State Change"]"#,
        )],
    );
}

#[test]
fn cloudtrail_api_calls_via_eventbridge() {
    table(
        json!({
            "source": ["aws.iam"],
            "detail-type": ["AWS API Call via CloudTrail"],
            "detail": {
                "eventSource": ["iam.amazonaws.com"],
                "eventName": ["CreateAccessKey", "DeleteAccessKey"],
                "userIdentity": {"type": ["Root"]},
                "errorCode": [{"exists": false}],
                "sourceIPAddress": [{"anything-but": {"prefix": "10."}}]
            }
        }),
        &[json!({
            "source": "aws.iam",
            "detail-type": "AWS API Call via CloudTrail",
            "detail": {
                "eventSource": "iam.amazonaws.com",
                "eventName": "CreateAccessKey",
                "userIdentity": {"type": "Root", "arn": "arn:aws:iam::111122223333:root"},
                "sourceIPAddress": "203.0.113.7"
            }
        })],
        &[(
            json!({
                "source": "aws.iam",
                "detail-type": "AWS API Call via CloudTrail",
                "detail": {
                    "eventSource": "iam.amazonaws.com",
                    "eventName": "CreateAccessKey",
                    "userIdentity": {"type": "IAMUser"},
                    "sourceIPAddress": "203.0.113.7"
                }
            }),
            r#"detail.userIdentity.type: "IAMUser" is not one of ["Root"]"#,
        )],
    );
}

/// `(pattern, path, message)`: what EventBridge refuses, and where.
#[test]
fn invalid_patterns_are_reported_at_their_path() {
    let key = |k: &str| PathSeg::Key(k.into());
    let cases: Vec<(Value, Vec<PathSeg>, &str)> = vec![
        (json!({}), vec![], "the event pattern is empty"),
        (json!(["aws.ec2"]), vec![], "the event pattern is not a JSON object"),
        (json!({"source": "aws.ec2"}), vec![key("source")], "pattern field `source` is a single value, not a list"),
        (json!({"source": []}), vec![key("source")], "pattern field `source` lists no values"),
        (json!({"detail": {}}), vec![key("detail")], "pattern field `detail` is an empty object"),
        (
            json!({"source": [["a"]]}),
            vec![key("source"), PathSeg::Index(0)],
            "pattern field `source` has a list inside its list",
        ),
        (
            json!({"detail": {"state": [{"anything_but": ["running"]}]}}),
            vec![key("detail"), key("state"), PathSeg::Index(0)],
            "unknown content filter operator `anything_but`",
        ),
        (
            json!({"a": [{"prefix": "a", "suffix": "b"}]}),
            vec![key("a"), PathSeg::Index(0)],
            "a content filter has 2 operators (`prefix`, `suffix`)",
        ),
        (json!({"a": [{}]}), vec![key("a"), PathSeg::Index(0)], "a content filter is an empty object"),
        (
            json!({"a": [{"prefix": 1}]}),
            vec![key("a"), PathSeg::Index(0), key("prefix")],
            "`prefix` takes a string or {\"equals-ignore-case\": <string>}, not a number",
        ),
        (
            json!({"a": [{"prefix": {"exactly": "x"}}]}),
            vec![key("a"), PathSeg::Index(0), key("prefix")],
            "`prefix` takes a string or {\"equals-ignore-case\": <string>}, not an object",
        ),
        (
            json!({"a": [{"equals-ignore-case": ["x"]}]}),
            vec![key("a"), PathSeg::Index(0), key("equals-ignore-case")],
            "`equals-ignore-case` takes a string, not a list",
        ),
        (
            json!({"a": [{"exists": "yes"}]}),
            vec![key("a"), PathSeg::Index(0), key("exists")],
            "`exists` takes true or false, not a string",
        ),
        (
            json!({"a": [{"numeric": 5}]}),
            vec![key("a"), PathSeg::Index(0), key("numeric")],
            "`numeric` takes a list, not a number",
        ),
        (
            json!({"a": [{"numeric": [">"]}]}),
            vec![key("a"), PathSeg::Index(0), key("numeric")],
            "`numeric` has 1 item, not 2 or 4",
        ),
        (
            json!({"a": [{"numeric": ["~", 5]}]}),
            vec![key("a"), PathSeg::Index(0), key("numeric"), PathSeg::Index(0)],
            "`~` is not a numeric operator",
        ),
        (
            json!({"a": [{"numeric": [">", "5"]}]}),
            vec![key("a"), PathSeg::Index(0), key("numeric"), PathSeg::Index(1)],
            "`>` must be followed by a number, not a string",
        ),
        (
            json!({"a": [{"numeric": ["<", 5, ">", 1]}]}),
            vec![key("a"), PathSeg::Index(0), key("numeric")],
            "the range's bounds are out of order",
        ),
        (
            json!({"a": [{"numeric": ["=", 5, "<", 9]}]}),
            vec![key("a"), PathSeg::Index(0), key("numeric")],
            "`=` takes one number and nothing after it",
        ),
        (
            json!({"a": [{"numeric": [">", 5, "<", 5]}]}),
            vec![key("a"), PathSeg::Index(0), key("numeric")],
            "the range's lower bound 5 is not below its upper bound 5",
        ),
        (
            json!({"a": [{"numeric": [">", 9_007_199_254_740_993_u64]}]}),
            vec![key("a"), PathSeg::Index(0), key("numeric"), PathSeg::Index(1)],
            "9007199254740993 cannot be compared exactly: it is not a double",
        ),
        (
            json!({"a": [{"anything-but": {"numeric": [">", 1]}}]}),
            vec![key("a"), PathSeg::Index(0), key("anything-but")],
            "`anything-but` cannot take `numeric`",
        ),
        (
            json!({"a": [{"anything-but": ["a", 1]}]}),
            vec![key("a"), PathSeg::Index(0), key("anything-but")],
            "`anything-but` lists values that are not all strings or all numbers",
        ),
        (
            json!({"a": [{"anything-but": []}]}),
            vec![key("a"), PathSeg::Index(0), key("anything-but")],
            "`anything-but` lists no values",
        ),
        (
            json!({"a": [{"anything-but": true}]}),
            vec![key("a"), PathSeg::Index(0), key("anything-but")],
            "`anything-but` cannot take a boolean",
        ),
        (
            json!({"a": [{"anything-but": {"prefix": ""}}]}),
            vec![key("a"), PathSeg::Index(0), key("anything-but"), key("prefix")],
            "an empty prefix inside `anything-but`",
        ),
        (
            json!({"a": [{"wildcard": "a**b"}]}),
            vec![key("a"), PathSeg::Index(0), key("wildcard")],
            "wildcard `a**b`: consecutive `*` at character 2",
        ),
        (
            json!({"a": [{"wildcard": "a\\b"}]}),
            vec![key("a"), PathSeg::Index(0), key("wildcard")],
            "wildcard `a\\b`: `\\` at character 2 escapes neither `*` nor `\\`",
        ),
        (
            json!({"a": [{"cidr": "10.0.0.0"}]}),
            vec![key("a"), PathSeg::Index(0), key("cidr")],
            "cidr `10.0.0.0`: a CIDR block has exactly one `/`",
        ),
        (
            json!({"a": [{"cidr": "10.0.0.1/32"}]}),
            vec![key("a"), PathSeg::Index(0), key("cidr")],
            "cidr `10.0.0.1/32`: the prefix length 32 is over 31",
        ),
        (
            json!({"a": [{"cidr": "example.com/8"}]}),
            vec![key("a"), PathSeg::Index(0), key("cidr")],
            "cidr `example.com/8`: `example.com` is not an IP address",
        ),
        (json!({"$or": [{"a": ["1"]}]}), vec![key("$or")], "`$or` has 1 alternative"),
        (json!({"$or": {"a": ["1"]}}), vec![key("$or")], "`$or` is not a list"),
        (
            json!({"$or": [{"a": ["1"]}, "b"]}),
            vec![key("$or"), PathSeg::Index(1)],
            "an alternative of `$or` is not a pattern object",
        ),
        (
            json!({"$or": [{"a": ["1"]}, {"numeric": ["2"]}]}),
            vec![key("$or"), PathSeg::Index(1), key("numeric")],
            "`numeric` cannot name a field inside `$or`: EventBridge reserves it",
        ),
    ];
    for (pattern, path, message) in cases {
        let errors = event_pattern::validate(&pattern);
        assert!(!errors.is_empty(), "{pattern} should be refused");
        assert_eq!(errors[0].message, message, "{pattern}");
        assert_eq!(errors[0].path, path, "{pattern}");
        assert!(!errors[0].unsupported, "{pattern}");
        assert!(!errors[0].expected.is_empty(), "{pattern}");
        assert!(EventPattern::parse(&pattern).is_err());
    }
}

#[test]
fn every_error_is_reported_not_just_the_first() {
    let errors =
        event_pattern::validate(&json!({"source": "aws.ec2", "detail": {"state": [], "size": [{"numeric": [">"]}]}}));
    let paths: Vec<String> = errors.iter().map(|e| e.path_text()).collect();
    assert_eq!(paths, ["source", "detail.state", "detail.size[0].numeric"]);
    assert_eq!(
        errors[0].to_string(),
        "source: pattern field `source` is a single value, not a list; expected a list of values to match (EventBridge matches \
         only lists), or an object of fields (write `\"source\": [\"aws.ec2\"]`)"
    );
}

#[test]
fn near_misses_get_a_suggestion() {
    let errors = event_pattern::validate(&json!({"a": [{"prefx": "i-"}], "b": [{"exists": "true"}]}));
    assert_eq!(errors[0].suggestion.as_deref(), Some("did you mean `prefix`?"));
    assert_eq!(errors[1].suggestion.as_deref(), Some("write {\"exists\": true} without quotes"));
}

#[test]
fn what_this_matcher_cannot_reproduce_is_reported_as_unsupported() {
    let errors = event_pattern::validate(&json!({"detail.state": ["running"]}));
    assert_eq!(errors.len(), 1);
    assert!(errors[0].unsupported);
    assert_eq!(errors[0].message, "the field name `detail.state` contains `.`");

    let errors = event_pattern::validate(&json!({"state": ["a"], "$or": [{"state": ["b"]}, {"size": [1]}]}));
    assert_eq!(errors.len(), 1);
    assert!(errors[0].unsupported);
    assert_eq!(errors[0].message, "`state` is matched both outside `$or` and inside one of its alternatives");
    // Different leaves under one object do not clash.
    assert!(
        event_pattern::validate(&json!({"d": {"a": ["1"]}, "$or": [{"d": {"b": ["2"]}}, {"c": ["3"]}]})).is_empty()
    );
}

#[test]
fn placeholders_pass_where_values_go() {
    let placeholder = |s: &str| s.starts_with("${");
    let lab1 = json!({"source": ["aws.ec2"], "detail": {"state": "${param.states}"}});
    assert!(event_pattern::validate_with(&lab1, &placeholder).is_empty());
    assert!(!event_pattern::validate(&lab1).is_empty());
    assert!(event_pattern::validate_with(&json!("${param.pattern}"), &placeholder).is_empty());
    assert!(
        event_pattern::validate_with(&json!({"size": [{"numeric": [">", "${param.min}"]}]}), &placeholder).is_empty()
    );
    // A placeholder does not excuse a real mistake beside it.
    assert_eq!(event_pattern::validate_with(&json!({"a": "${x}", "b": []}), &placeholder).len(), 1);
}

#[test]
fn patterns_parse_from_json_text() {
    let p: EventPattern = match r#"{"source": ["aws.ec2"]}"#.parse() {
        Ok(p) => p,
        Err(e) => panic!("{e:?}"),
    };
    assert_eq!(p.to_string(), r#"{"source":["aws.ec2"]}"#);
    let errors = EventPattern::from_json("{source: [aws.ec2]}").err().unwrap_or_default();
    assert!(errors[0].message.starts_with("the event pattern is not valid JSON"), "{errors:?}");
}

/// The patterns cairn-aws's rule kind accepted and refused before it used
/// this crate, whose verdicts it keeps (the kind's own test now checks only
/// the wiring).
#[test]
fn what_cairn_checked_before_is_judged_the_same() {
    let placeholder = |s: &str| s.contains("${");
    for ok in [
        json!({"source": ["aws.ec2"], "detail": {"state": ["stopped", "terminated"]}}),
        json!({"detail": {"instance-id": [{"prefix": "i-"}], "size": [{"numeric": [">", 0, "<=", 5]}]}}),
        json!({"detail": {"state": [{"anything-but": ["running"]}], "x": [{"anything-but": {"prefix": "a"}}]}}),
        json!({"detail": {"ip": [{"cidr": "10.0.0.0/24"}], "e": [{"exists": false}], "n": [null, true, 1]}}),
        json!({"detail": {"c": [{"equals-ignore-case": "ok"}], "w": [{"wildcard": "a*b"}]}}),
        json!({"source": [{"suffix": {"equals-ignore-case": ".EC2"}}], "$or": [{"a": ["1"]}, {"b": ["2"]}]}),
        json!({"detail": {"state": "${param.states}"}}),
    ] {
        assert_eq!(event_pattern::validate_with(&ok, &placeholder), vec![], "{ok}");
    }
    for bad in [
        json!({"source": []}),
        json!({"detail": {}}),
        json!({"source": [["a"]]}),
        json!({"a": [{"prefix": 1}]}),
        json!({"a": [{"exists": "yes"}]}),
        json!({"a": [{"numeric": [">"]}]}),
        json!({"a": [{"numeric": ["<", 5, ">", 1]}]}),
        json!({"a": [{"numeric": ["~", 5]}]}),
        json!({"a": [{"prefix": "a", "suffix": "b"}]}),
        json!({"a": [{"anything-but": {"numeric": [">", 1]}}]}),
        json!({"$or": [{"a": ["1"]}, "b"]}),
        json!({"source": "aws.ec2"}),
        json!({}),
    ] {
        assert!(!event_pattern::validate_with(&bad, &placeholder).is_empty(), "{bad}");
    }
}
