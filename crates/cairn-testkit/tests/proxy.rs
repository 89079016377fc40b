//! The fault proxy against the emulator, seen through real SDK clients.
//!
//! Needs moto: run with `AWS_ENDPOINT_URL` set (scripts/test does it).

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sns::error::ProvideErrorMetadata;
use cairn_testkit::emulator;
use cairn_testkit::proxy::{Fault, Faults, Proxy, Scripted, injected};

async fn config(endpoint: &str, retry: RetryConfig) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .retry_config(retry)
        .timeout_config(TimeoutConfig::builder().operation_timeout(Duration::from_secs(60)).build())
        .load()
        .await
}

struct Clients {
    sns: aws_sdk_sns::Client,
    sqs: aws_sdk_sqs::Client,
}

async fn clients(endpoint: &str, retry: RetryConfig) -> Clients {
    let c = config(endpoint, retry).await;
    Clients { sns: aws_sdk_sns::Client::new(&c), sqs: aws_sdk_sqs::Client::new(&c) }
}

/// A proxy in front of the emulator, clients through it (retries off), and
/// clients straight to the emulator.
async fn setup() -> (Proxy, Clients, Clients) {
    let upstream = emulator::endpoint();
    let proxy = Proxy::start(&upstream).await.unwrap_or_else(|e| panic!("proxy: {e}"));
    let via = clients(&proxy.url(), RetryConfig::disabled()).await;
    let direct = clients(&upstream, RetryConfig::disabled()).await;
    (proxy, via, direct)
}

fn name(prefix: &str) -> String {
    emulator::unique_stack(prefix)
}

async fn topic_exists(direct: &Clients, name: &str) -> bool {
    let arn = format!("arn:aws:sns:us-east-1:{}:{name}", emulator::ACCOUNT_ID);
    direct.sns.get_topic_attributes().topic_arn(arn).send().await.is_ok()
}

#[tokio::test]
async fn counts_operations_by_name_for_query_and_json_protocols() {
    let (proxy, via, _) = setup().await;
    let topic = name("px-count");
    let arn = via.sns.create_topic().name(&topic).send().await.unwrap_or_else(|e| panic!("{e:?}")).topic_arn;
    let arn = arn.unwrap_or_default();
    via.sns.get_topic_attributes().topic_arn(&arn).send().await.unwrap_or_else(|e| panic!("{e:?}"));
    via.sns.list_topics().send().await.unwrap_or_else(|e| panic!("{e:?}"));
    let queue = name("px-count");
    via.sqs.create_queue().queue_name(&queue).send().await.unwrap_or_else(|e| panic!("{e:?}"));
    via.sqs.get_queue_url().queue_name(&queue).send().await.unwrap_or_else(|e| panic!("{e:?}"));
    via.sqs.get_queue_url().queue_name(&queue).send().await.unwrap_or_else(|e| panic!("{e:?}"));

    let s = proxy.stats();
    let count = |label: &str| s.by_operation.get(label).copied().unwrap_or(0);
    assert_eq!(count("sns:CreateTopic"), 1, "{s:?}");
    assert_eq!(count("sns:GetTopicAttributes"), 1, "{s:?}");
    assert_eq!(count("sns:ListTopics"), 1, "{s:?}");
    assert_eq!(count("sqs:CreateQueue"), 1, "{s:?}");
    assert_eq!(count("sqs:GetQueueUrl"), 2, "{s:?}");
    assert_eq!((s.total, s.writes, s.forwarded), (6, 2, 6), "{s:?}");
    assert_eq!((s.calls("sns"), s.calls("GetQueueUrl")), (3, 2));
    assert!(s.injected.is_empty(), "{s:?}");

    proxy.reset_stats();
    assert_eq!(proxy.stats().total, 0);
    via.sns.delete_topic().topic_arn(&arn).send().await.unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!((proxy.stats().total, proxy.stats().writes), (1, 1));
}

#[tokio::test]
async fn fixed_latency_is_added_to_every_request() {
    let (proxy, via, _) = setup().await;
    proxy.set(Faults::latency(Duration::from_millis(40)));
    for _ in 0..3 {
        via.sns.list_topics().send().await.unwrap_or_else(|e| panic!("{e:?}"));
    }
    let queue = name("px-lat");
    via.sqs.create_queue().queue_name(&queue).send().await.unwrap_or_else(|e| panic!("{e:?}"));
    let s = proxy.stats();
    assert_eq!(s.total, 4);
    assert_eq!(s.injected(injected::LATENCY), 4);
    assert_eq!(s.injected_latency, Duration::from_millis(160));

    // Jitter adds between 0 and its value, deterministically per seed.
    proxy.reset_stats();
    proxy.set(Faults {
        latency: Duration::from_millis(10),
        jitter: Duration::from_millis(20),
        seed: 3,
        ..Faults::default()
    });
    for _ in 0..3 {
        via.sns.list_topics().send().await.unwrap_or_else(|e| panic!("{e:?}"));
    }
    let s = proxy.stats();
    assert!(
        s.injected_latency >= Duration::from_millis(30) && s.injected_latency <= Duration::from_millis(90),
        "{s:?}"
    );

    // Back to no faults: nothing more is added.
    proxy.reset_stats();
    proxy.set(Faults::default());
    via.sns.list_topics().send().await.unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(proxy.stats().injected_latency, Duration::ZERO);
}

#[tokio::test]
async fn scripted_errors_reach_the_sdk_then_calls_pass() {
    let (proxy, via, direct) = setup().await;
    proxy.set(Faults::scripted(vec![
        Scripted::error("sns:CreateTopic", 2, 400, "InvalidParameter", "not yet (scripted)"),
        Scripted::error("CreateQueue", 1, 400, "QueueDeletedRecently", "wait 60 s (scripted)"),
    ]));
    let topic = name("px-script");
    for attempt in 0..2 {
        let err =
            via.sns.create_topic().name(&topic).send().await.err().unwrap_or_else(|| panic!("call {attempt} passed"));
        assert_eq!(err.code(), Some("InvalidParameter"), "{err:?}");
        assert_eq!(err.message(), Some("not yet (scripted)"));
        assert!(err.as_service_error().is_some_and(|e| e.is_invalid_parameter_exception()), "{err:?}");
    }
    assert!(!topic_exists(&direct, &topic).await, "scripted errors must not be forwarded");
    via.sns.create_topic().name(&topic).send().await.unwrap_or_else(|e| panic!("third call: {e:?}"));
    assert!(topic_exists(&direct, &topic).await);

    let queue = name("px-script");
    let err = via.sqs.create_queue().queue_name(&queue).send().await.err().unwrap_or_else(|| panic!("passed"));
    assert_eq!(err.code(), Some("QueueDeletedRecently"), "{err:?}");
    via.sqs.create_queue().queue_name(&queue).send().await.unwrap_or_else(|e| panic!("{e:?}"));

    let s = proxy.stats();
    assert_eq!(s.injected(injected::SCRIPTED), 3, "{s:?}");
    assert_eq!((s.calls("sns:CreateTopic"), s.calls("sqs:CreateQueue"), s.forwarded), (3, 2, 2), "{s:?}");
}

#[tokio::test]
async fn throttling_is_seen_as_throttling_by_the_sdk() {
    let (proxy, via, _) = setup().await;
    proxy.set(Faults { throttle_rate: 1.0, ..Faults::default() });
    let err = via.sns.list_topics().send().await.err().unwrap_or_else(|| panic!("passed"));
    assert_eq!(err.code(), Some("Throttling"), "{err:?}");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(400));
    let err = via.sqs.list_queues().send().await.err().unwrap_or_else(|| panic!("passed"));
    assert_eq!(err.code(), Some("ThrottlingException"), "{err:?}");
    let s = proxy.stats();
    assert_eq!((s.injected(injected::THROTTLE), s.forwarded), (2, 0), "{s:?}");

    // With the SDK's standard retries, a throttled call is retried and
    // passes once the throttling stops.
    let retrying = clients(
        &proxy.url(),
        RetryConfig::standard().with_max_attempts(3).with_initial_backoff(Duration::from_millis(5)),
    )
    .await;
    proxy.reset_stats();
    proxy.set(Faults::scripted(vec![
        Scripted::new("sns:ListTopics", 2, Fault::Throttle),
        Scripted::new("sqs:ListQueues", 2, Fault::Throttle),
    ]));
    retrying.sns.list_topics().send().await.unwrap_or_else(|e| panic!("{e:?}"));
    retrying.sqs.list_queues().send().await.unwrap_or_else(|e| panic!("{e:?}"));
    let s = proxy.stats();
    assert_eq!(
        (s.calls("sns:ListTopics"), s.calls("sqs:ListQueues"), s.injected(injected::SCRIPTED)),
        (3, 3, 4),
        "{s:?}"
    );
}

#[tokio::test]
async fn server_errors_have_5xx_status() {
    let (proxy, via, _) = setup().await;
    proxy.set(Faults { error_5xx_rate: 1.0, seed: 11, ..Faults::default() });
    for _ in 0..4 {
        let err = via.sns.list_topics().send().await.err().unwrap_or_else(|| panic!("passed"));
        let status = err.raw_response().map(|r| r.status().as_u16());
        assert!(matches!(status, Some(500 | 503)), "{err:?}");
        assert!(matches!(err.code(), Some("InternalFailure" | "ServiceUnavailable")), "{err:?}");
        let err = via.sqs.list_queues().send().await.err().unwrap_or_else(|| panic!("passed"));
        assert!(matches!(err.raw_response().map(|r| r.status().as_u16()), Some(500 | 503)), "{err:?}");
    }
    let s = proxy.stats();
    assert_eq!((s.injected(injected::ERROR_5XX), s.forwarded), (8, 0), "{s:?}");
}

#[tokio::test]
async fn lost_response_does_the_work_but_the_client_fails() {
    let (proxy, via, direct) = setup().await;
    proxy.set(Faults { lost_response_rate: 1.0, ..Faults::default() });
    let topic = name("px-lost");
    let err = via.sns.create_topic().name(&topic).send().await.err().unwrap_or_else(|| panic!("passed"));
    assert!(err.raw_response().is_none(), "no answer expected: {err:?}");
    let queue = name("px-lost");
    let err = via.sqs.create_queue().queue_name(&queue).send().await.err().unwrap_or_else(|| panic!("passed"));
    assert!(err.raw_response().is_none(), "no answer expected: {err:?}");

    assert!(topic_exists(&direct, &topic).await, "the upstream must have created the topic");
    direct.sqs.get_queue_url().queue_name(&queue).send().await.unwrap_or_else(|e| panic!("queue missing: {e:?}"));
    let s = proxy.stats();
    assert_eq!((s.injected(injected::LOST_RESPONSE), s.forwarded), (2, 2), "{s:?}");

    // The same client works again once the fault is gone.
    proxy.set(Faults::default());
    via.sns.create_topic().name(&topic).send().await.unwrap_or_else(|e| panic!("{e:?}"));
}

#[tokio::test]
async fn reset_fails_the_client_without_forwarding() {
    let (proxy, via, direct) = setup().await;
    proxy.set(Faults { reset_rate: 1.0, ..Faults::default() });
    let topic = name("px-reset");
    let err = via.sns.create_topic().name(&topic).send().await.err().unwrap_or_else(|| panic!("passed"));
    assert!(err.raw_response().is_none(), "no answer expected: {err:?}");
    let queue = name("px-reset");
    let err = via.sqs.create_queue().queue_name(&queue).send().await.err().unwrap_or_else(|| panic!("passed"));
    assert!(err.raw_response().is_none(), "no answer expected: {err:?}");

    assert!(!topic_exists(&direct, &topic).await);
    assert!(direct.sqs.get_queue_url().queue_name(&queue).send().await.is_err());
    let s = proxy.stats();
    assert_eq!((s.injected(injected::RESET), s.forwarded, s.total), (2, 0, 2), "{s:?}");

    proxy.set(Faults::default());
    via.sns.create_topic().name(&topic).send().await.unwrap_or_else(|e| panic!("{e:?}"));
    assert!(topic_exists(&direct, &topic).await);
}

#[tokio::test]
async fn scope_limits_random_faults() {
    let (proxy, via, _) = setup().await;
    proxy.set(Faults { throttle_rate: 1.0, scope: vec!["sqs".into()], ..Faults::default() });
    via.sns.list_topics().send().await.unwrap_or_else(|e| panic!("{e:?}"));
    let err = via.sqs.list_queues().send().await.err().unwrap_or_else(|| panic!("passed"));
    assert_eq!(err.code(), Some("ThrottlingException"));
}

#[tokio::test]
async fn dropping_the_proxy_stops_it() {
    let (proxy, _, _) = setup().await;
    let addr = proxy.addr();
    drop(proxy);
    // The listener is closed once the aborted task has been dropped.
    let mut refused = false;
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "proxy still listening on {addr}");
}

#[tokio::test]
async fn rejects_non_http_upstreams() {
    assert!(Proxy::start("https://127.0.0.1:1").await.is_err());
    assert!(Proxy::start("not a url").await.is_err());
}

#[tokio::test]
async fn the_binary_prints_its_url_and_writes_stats_on_sigterm() {
    use std::io::BufRead;
    let upstream = emulator::endpoint();
    let stats_file = std::env::temp_dir().join(format!("{}.json", name("px-bin")));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cairn-proxy"))
        .args(["--upstream", &upstream, "--latency-ms", "5", "--stats-file"])
        .arg(&stats_file)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn: {e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let mut url = String::new();
    std::io::BufReader::new(stdout).read_line(&mut url).unwrap_or_else(|e| panic!("read: {e}"));
    let url = url.trim().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url:?}");

    let via = clients(&url, RetryConfig::disabled()).await;
    via.sns.list_topics().send().await.unwrap_or_else(|e| panic!("{e:?}"));
    via.sqs.list_queues().send().await.unwrap_or_else(|e| panic!("{e:?}"));

    let killed = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    assert!(killed.is_ok_and(|s| s.success()));
    let mut status = None;
    for _ in 0..100 {
        status = child.try_wait().unwrap_or_else(|e| panic!("wait: {e}"));
        if status.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("cairn-proxy did not stop on SIGTERM");
    };
    assert!(status.success(), "{status:?}");
    let text = std::fs::read_to_string(&stats_file).unwrap_or_else(|e| panic!("stats file: {e}"));
    let _ = std::fs::remove_file(&stats_file);
    let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(json["total"], 2, "{json}");
    assert_eq!(json["writes"], 0, "{json}");
    assert_eq!(json["by_operation"]["sns:ListTopics"], 1, "{json}");
    assert_eq!(json["by_operation"]["sqs:ListQueues"], 1, "{json}");
    assert_eq!(json["injected"]["latency"], 2, "{json}");
    assert_eq!(json["injected_latency_ms"], 10.0, "{json}");
}

#[tokio::test]
async fn held_calls_never_answer_and_are_signalled_after_taking_effect() {
    let (proxy, via, direct) = setup().await;
    proxy.set(Faults::scripted(vec![
        Scripted::new("sns:CreateTopic", 1, Fault::Hold { forward: true }),
        Scripted::new("sqs:CreateQueue", 1, Fault::Hold { forward: false }),
    ]));
    let topic = name("px-hold");
    let create = via.sns.create_topic().name(&topic).send();
    tokio::pin!(create);
    tokio::select! {
        r = &mut create => panic!("a held call was answered: {r:?}"),
        () = proxy.wait_held(1) => {}
    }
    // Forwarded first: the topic exists although the client has no answer.
    assert!(topic_exists(&direct, &topic).await);
    assert!(tokio::time::timeout(Duration::from_millis(300), &mut create).await.is_err(), "answered late");

    let queue = name("px-hold");
    let create = via.sqs.create_queue().queue_name(&queue).send();
    tokio::pin!(create);
    tokio::select! {
        r = &mut create => panic!("a held call was answered: {r:?}"),
        () = proxy.wait_held(2) => {}
    }
    // Not forwarded: the queue was never made.
    assert!(direct.sqs.get_queue_url().queue_name(&queue).send().await.is_err());
    let s = proxy.stats();
    assert_eq!(s.held, vec!["sns:CreateTopic".to_string(), "sqs:CreateQueue".to_string()], "{s:?}");
    assert_eq!((proxy.held(), s.injected(injected::HOLD), s.forwarded), (2, 2, 1), "{s:?}");

    // Later calls of the same operations pass.
    via.sns.create_topic().name(&topic).send().await.unwrap_or_else(|e| panic!("{e:?}"));
    direct
        .sns
        .delete_topic()
        .topic_arn(format!("arn:aws:sns:us-east-1:{}:{topic}", emulator::ACCOUNT_ID))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
}

// ---- the strict layer ---------------------------------------------------------

mod strict {
    use super::*;
    use aws_sdk_lambda::primitives::Blob;
    use aws_sdk_lambda::types::{FunctionCode, LastUpdateStatus, Runtime, State, StateReasonCode};
    use cairn_testkit::proxy::strict::{Strict, rule};

    /// A proxy with only `rules` on, and SDK config through it and direct.
    async fn with_rules(rules: &[&str]) -> (Proxy, SdkConfig, SdkConfig) {
        let strict = Strict::only(rules).unwrap_or_else(|e| panic!("{e}"));
        let upstream = emulator::endpoint();
        let proxy = Proxy::start_with(&upstream, Faults { strict, ..Faults::default() })
            .await
            .unwrap_or_else(|e| panic!("proxy: {e}"));
        let via = config(&proxy.url(), RetryConfig::disabled()).await;
        let direct = config(&upstream, RetryConfig::disabled()).await;
        (proxy, via, direct)
    }

    fn strict_count(proxy: &Proxy, rule: &str) -> u64 {
        proxy.stats().injected(&format!("strict:{rule}"))
    }

    /// An empty zip archive (its end-of-directory record alone).
    fn empty_zip() -> Blob {
        let mut zip = vec![0x50, 0x4b, 0x05, 0x06];
        zip.extend([0u8; 18]);
        Blob::new(zip)
    }

    /// A function made straight on the emulator (its role too): its name.
    async fn function(direct: &SdkConfig, prefix: &str) -> String {
        let iam = aws_sdk_iam::Client::new(direct);
        let name = name(prefix);
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        let role = iam.create_role().role_name(&name).assume_role_policy_document(trust).send().await;
        let role = role.unwrap_or_else(|e| panic!("{e:?}"));
        let lambda = aws_sdk_lambda::Client::new(direct);
        lambda
            .create_function()
            .function_name(&name)
            .runtime(Runtime::Python312)
            .handler("index.handler")
            .role(role.role().map(|r| r.arn()).unwrap_or_default())
            .code(FunctionCode::builder().zip_file(empty_zip()).build())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        name
    }

    #[tokio::test]
    async fn a_function_is_pending_then_in_progress_and_refuses_changes_meanwhile() {
        let (proxy, via, direct) = with_rules(&[rule::LAMBDA_PENDING]).await;
        let lambda = aws_sdk_lambda::Client::new(&via);
        let iam = aws_sdk_iam::Client::new(&direct);
        let name = name("px-pending");
        let trust = r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        let role = iam.create_role().role_name(&name).assume_role_policy_document(trust).send().await;
        let role_arn = role.unwrap_or_else(|e| panic!("{e:?}")).role().map(|r| r.arn().to_string()).unwrap_or_default();
        let made = lambda
            .create_function()
            .function_name(&name)
            .runtime(Runtime::Python312)
            .handler("index.handler")
            .role(role_arn)
            .code(FunctionCode::builder().zip_file(empty_zip()).build())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!((made.state(), made.state_reason_code()), (Some(&State::Pending), Some(&StateReasonCode::Creating)));

        let update = || lambda.update_function_configuration().function_name(&name).description("next").send();
        let err = update().await.err().unwrap_or_else(|| panic!("an update of a pending function passed"));
        assert_eq!(err.code(), Some("ResourceConflictException"), "{err:?}");
        assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(409));
        assert!(err.message().is_some_and(|m| m.contains("following state: Pending")), "{err:?}");

        let state = async || {
            let out = lambda.get_function().function_name(&name).send().await.unwrap_or_else(|e| panic!("{e:?}"));
            let config = out.configuration().cloned().unwrap_or_else(|| panic!("no configuration"));
            (config.state().cloned(), config.last_update_status().cloned())
        };
        assert_eq!(state().await, (Some(State::Pending), Some(LastUpdateStatus::InProgress)));
        assert_eq!(state().await.0, Some(State::Pending));
        assert_eq!(state().await, (Some(State::Active), Some(LastUpdateStatus::Successful)));

        let updated = update().await.unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(updated.last_update_status(), Some(&LastUpdateStatus::InProgress));
        let code = lambda.update_function_code().function_name(&name).zip_file(empty_zip()).send().await;
        let err = code.err().unwrap_or_else(|| panic!("an update during an update passed"));
        assert!(err.message().is_some_and(|m| m.contains("An update is in progress for resource")), "{err:?}");
        let config = async || {
            let out = lambda.get_function_configuration().function_name(&name).send().await;
            out.unwrap_or_else(|e| panic!("{e:?}")).last_update_status().cloned()
        };
        assert_eq!(config().await, Some(LastUpdateStatus::InProgress));
        assert_eq!(config().await, Some(LastUpdateStatus::InProgress));
        assert_eq!(config().await, Some(LastUpdateStatus::Successful));
        lambda
            .update_function_code()
            .function_name(&name)
            .zip_file(empty_zip())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert!(strict_count(&proxy, rule::LAMBDA_PENDING) >= 6, "{:?}", proxy.stats().injected);
        lambda.delete_function().function_name(&name).send().await.unwrap_or_else(|e| panic!("{e:?}"));
    }

    #[tokio::test]
    async fn a_mapping_moves_through_creating_enabling_and_deleting() {
        let (proxy, via, direct) = with_rules(&[rule::LAMBDA_MAPPING_STATES]).await;
        let function = function(&direct, "px-esm").await;
        let sqs = aws_sdk_sqs::Client::new(&direct);
        let url = sqs.create_queue().queue_name(&function).send().await.unwrap_or_else(|e| panic!("{e:?}"));
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(url.queue_url().unwrap_or_default())
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        let queue_arn = attrs
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
            .cloned()
            .unwrap_or_default();
        let lambda = aws_sdk_lambda::Client::new(&via);
        let made = lambda
            .create_event_source_mapping()
            .function_name(&function)
            .event_source_arn(&queue_arn)
            .batch_size(1)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(made.state(), Some("Creating"));
        let uuid = made.uuid().unwrap_or_default().to_string();

        let err = lambda.update_event_source_mapping().uuid(&uuid).batch_size(2).send().await.err();
        let err = err.unwrap_or_else(|| panic!("an update of a mapping being created passed"));
        assert_eq!(err.code(), Some("ResourceInUseException"), "{err:?}");
        let err = lambda.delete_event_source_mapping().uuid(&uuid).send().await.err();
        let err = err.unwrap_or_else(|| panic!("a delete of a mapping being created passed"));
        assert!(err.message().is_some_and(|m| m.contains("Cannot delete the event source mapping")), "{err:?}");

        let state = async || {
            let out = lambda.get_event_source_mapping().uuid(&uuid).send().await;
            out.map(|m| m.state().unwrap_or_default().to_string())
        };
        assert_eq!(state().await.ok().as_deref(), Some("Creating"));
        assert_eq!(state().await.ok().as_deref(), Some("Enabling"));
        assert_eq!(state().await.ok().as_deref(), Some("Enabled"));

        let deleted = lambda.delete_event_source_mapping().uuid(&uuid).send().await.unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(deleted.state(), Some("Deleting"));
        assert_eq!(state().await.ok().as_deref(), Some("Deleting"));
        assert_eq!(state().await.ok().as_deref(), Some("Deleting"));
        let gone = state().await.err().unwrap_or_else(|| panic!("the mapping is still there"));
        assert_eq!(gone.code(), Some("ResourceNotFoundException"), "{gone:?}");
        assert!(strict_count(&proxy, rule::LAMBDA_MAPPING_STATES) >= 7, "{:?}", proxy.stats().injected);
    }

    #[tokio::test]
    async fn an_email_subscription_stays_pending_and_cannot_be_unsubscribed() {
        let (proxy, via, direct) = with_rules(&[rule::SNS_PENDING_EMAIL]).await;
        let sns = aws_sdk_sns::Client::new(&via);
        let topic = sns.create_topic().name(name("px-email")).send().await.unwrap_or_else(|e| panic!("{e:?}"));
        let topic = topic.topic_arn().unwrap_or_default().to_string();
        let subscribe = |arn: bool| {
            sns.subscribe()
                .topic_arn(&topic)
                .protocol("email")
                .endpoint("ops@example.com")
                .return_subscription_arn(arn)
                .send()
        };
        let out = subscribe(false).await.unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(out.subscription_arn(), Some("pending confirmation"));
        let out = subscribe(true).await.unwrap_or_else(|e| panic!("{e:?}"));
        let arn = out.subscription_arn().unwrap_or_default().to_string();
        assert!(arn.starts_with(&format!("{topic}:")), "{arn}");

        let listed =
            sns.list_subscriptions_by_topic().topic_arn(&topic).send().await.unwrap_or_else(|e| panic!("{e:?}"));
        let arns: Vec<&str> = listed.subscriptions().iter().filter_map(|s| s.subscription_arn()).collect();
        assert_eq!(arns, vec!["PendingConfirmation"]);
        let attrs = sns.get_subscription_attributes().subscription_arn(&arn).send().await;
        let attrs = attrs.unwrap_or_else(|e| panic!("{e:?}")).attributes().cloned().unwrap_or_default();
        assert_eq!(attrs.get("PendingConfirmation").map(String::as_str), Some("true"), "{attrs:?}");

        let err = sns.unsubscribe().subscription_arn(&arn).send().await.err();
        let err = err.unwrap_or_else(|| panic!("a pending subscription was unsubscribed"));
        assert_eq!(err.code(), Some("InvalidParameter"), "{err:?}");
        assert!(err.message().is_some_and(|m| m.contains("pending confirmation")), "{err:?}");
        // Its topic takes it along.
        sns.delete_topic().topic_arn(&topic).send().await.unwrap_or_else(|e| panic!("{e:?}"));
        let left =
            aws_sdk_sns::Client::new(&direct).list_subscriptions().send().await.unwrap_or_else(|e| panic!("{e:?}"));
        assert!(left.subscriptions().iter().all(|s| s.subscription_arn() != Some(arn.as_str())));
        assert!(strict_count(&proxy, rule::SNS_PENDING_EMAIL) >= 5, "{:?}", proxy.stats().injected);
    }

    #[tokio::test]
    async fn account_principals_read_back_as_root_arns() {
        let (proxy, via, _) = with_rules(&[rule::ACCOUNT_PRINCIPAL_REWRITE]).await;
        let account = emulator::ACCOUNT_ID;
        let root = format!("arn:aws:iam::{account}:root");
        let policy = |resource: &str, action: &str| {
            serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"AWS": account}, "Action": action, "Resource": resource}]})
            .to_string()
        };
        let principal = |text: Option<&str>| {
            let doc: serde_json::Value = serde_json::from_str(text.unwrap_or("null")).unwrap_or_default();
            doc["Statement"][0]["Principal"]["AWS"].as_str().unwrap_or_default().to_string()
        };

        let sqs = aws_sdk_sqs::Client::new(&via);
        let queue = sqs.create_queue().queue_name(name("px-root")).send().await.unwrap_or_else(|e| panic!("{e:?}"));
        let url = queue.queue_url().unwrap_or_default();
        let key = aws_sdk_sqs::types::QueueAttributeName::Policy;
        let written = sqs.set_queue_attributes().queue_url(url).attributes(key.clone(), policy("*", "sqs:SendMessage"));
        written.send().await.unwrap_or_else(|e| panic!("{e:?}"));
        let read = sqs.get_queue_attributes().queue_url(url).attribute_names(key.clone()).send().await;
        let read = read.unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(principal(read.attributes().and_then(|a| a.get(&key)).map(String::as_str)), root);

        let sns = aws_sdk_sns::Client::new(&via);
        let topic = sns.create_topic().name(name("px-root")).send().await.unwrap_or_else(|e| panic!("{e:?}"));
        let topic = topic.topic_arn().unwrap_or_default();
        let set = sns.set_topic_attributes().topic_arn(topic).attribute_name("Policy");
        set.attribute_value(policy(topic, "sns:Publish")).send().await.unwrap_or_else(|e| panic!("{e:?}"));
        let read = sns.get_topic_attributes().topic_arn(topic).send().await.unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(principal(read.attributes().and_then(|a| a.get("Policy")).map(String::as_str)), root);

        let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&via).force_path_style(true).build());
        let bucket = name("px-root");
        s3.create_bucket().bucket(&bucket).send().await.unwrap_or_else(|e| panic!("{e:?}"));
        let doc = policy(&format!("arn:aws:s3:::{bucket}/*"), "s3:GetObject");
        s3.put_bucket_policy().bucket(&bucket).policy(doc).send().await.unwrap_or_else(|e| panic!("{e:?}"));
        let read = s3.get_bucket_policy().bucket(&bucket).send().await.unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(principal(read.policy()), root);
        assert_eq!(strict_count(&proxy, rule::ACCOUNT_PRINCIPAL_REWRITE), 3, "{:?}", proxy.stats().injected);
    }

    #[tokio::test]
    async fn invalid_tags_are_refused_with_each_services_error() {
        let (proxy, via, direct) = with_rules(&[rule::INVALID_TAGS]).await;
        let sns = aws_sdk_sns::Client::new(&via);
        let topic = name("px-tags");
        let tag = |k: &str, v: &str| aws_sdk_sns::types::Tag::builder().key(k).value(v).build().ok();
        let err = sns.create_topic().name(&topic).set_tags(tag("aws:team", "ops").map(|t| vec![t])).send().await.err();
        let err = err.unwrap_or_else(|| panic!("a reserved tag key passed"));
        assert_eq!(err.code(), Some("InvalidParameter"), "{err:?}");
        assert!(
            !topic_exists(
                &Clients { sns: aws_sdk_sns::Client::new(&direct), sqs: aws_sdk_sqs::Client::new(&direct) },
                &topic
            )
            .await
        );

        let sqs = aws_sdk_sqs::Client::new(&via);
        let mut create = sqs.create_queue().queue_name(name("px-tags"));
        for i in 0..51 {
            create = create.tags(format!("k{i}"), "v");
        }
        let err = create.send().await.err().unwrap_or_else(|| panic!("51 tags passed"));
        assert_eq!(err.code(), Some("InvalidParameterValue"), "{err:?}");

        let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&via).force_path_style(true).build());
        let bucket = name("px-tags");
        s3.create_bucket().bucket(&bucket).send().await.unwrap_or_else(|e| panic!("{e:?}"));
        let long = aws_sdk_s3::types::Tag::builder().key("note").value("v".repeat(257)).build();
        let tagging = aws_sdk_s3::types::Tagging::builder().set_tag_set(long.ok().map(|t| vec![t])).build();
        let err = s3.put_bucket_tagging().bucket(&bucket).set_tagging(tagging.ok()).send().await.err();
        let err = err.unwrap_or_else(|| panic!("a 257-character value passed"));
        assert_eq!(err.code(), Some("InvalidTag"), "{err:?}");

        // Good tags pass.
        sns.create_topic()
            .name(&topic)
            .set_tags(tag("team", "ops").map(|t| vec![t]))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(strict_count(&proxy, rule::INVALID_TAGS), 3, "{:?}", proxy.stats().injected);
    }

    #[tokio::test]
    async fn bucket_settings_written_together_answer_operation_aborted() {
        let (proxy, via, _) = with_rules(&[rule::S3_ONE_WRITE_PER_BUCKET]).await;
        let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&via).force_path_style(true).build());
        let bucket = name("px-abort");
        s3.create_bucket().bucket(&bucket).send().await.unwrap_or_else(|e| panic!("{e:?}"));
        let versioning = aws_sdk_s3::types::VersioningConfiguration::builder()
            .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
            .build();
        let tag = aws_sdk_s3::types::Tag::builder().key("team").value("ops").build().ok();
        let tagging = aws_sdk_s3::types::Tagging::builder().set_tag_set(tag.map(|t| vec![t])).build().ok();
        let (a, b) = tokio::join!(
            s3.put_bucket_versioning().bucket(&bucket).versioning_configuration(versioning.clone()).send(),
            s3.put_bucket_tagging().bucket(&bucket).set_tagging(tagging.clone()).send(),
        );
        let codes =
            [a.err().and_then(|e| e.code().map(str::to_string)), b.err().and_then(|e| e.code().map(str::to_string))];
        assert_eq!(codes.iter().flatten().collect::<Vec<_>>(), vec!["OperationAborted"], "{codes:?}");
        // One after the other, both pass.
        s3.put_bucket_versioning()
            .bucket(&bucket)
            .versioning_configuration(versioning)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        s3.put_bucket_tagging().bucket(&bucket).set_tagging(tagging).send().await.unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(strict_count(&proxy, rule::S3_ONE_WRITE_PER_BUCKET), 1);
    }

    /// For a while after DeleteQueue the name is refused and the dying
    /// queue still answers its reads, old tags included; then the name is
    /// free again.
    #[tokio::test]
    async fn a_deleted_queue_holds_its_name_and_still_answers_reads() {
        let (proxy, via, direct) = with_rules(&[rule::SQS_DELETED_RECENTLY]).await;
        let sqs = aws_sdk_sqs::Client::new(&via);
        let queue = name("px-dying");
        let made = sqs.create_queue().queue_name(&queue).tags("team", "ops").send().await;
        let url = made.unwrap_or_else(|e| panic!("{e:?}")).queue_url().unwrap_or_default().to_string();
        sqs.delete_queue().queue_url(&url).send().await.unwrap_or_else(|e| panic!("{e:?}"));

        let refused =
            sqs.create_queue().queue_name(&queue).send().await.err().and_then(|e| e.code().map(str::to_string));
        assert_eq!(refused.as_deref(), Some("AWS.SimpleQueueService.QueueDeletedRecently"));
        let found = sqs.get_queue_url().queue_name(&queue).send().await.unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(found.queue_url(), Some(url.as_str()));
        let tags = sqs.list_queue_tags().queue_url(&url).send().await.unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(tags.tags().and_then(|t| t.get("team")).map(String::as_str), Some("ops"));
        // The emulator itself has deleted it.
        let gone = aws_sdk_sqs::Client::new(&direct).get_queue_url().queue_name(&queue).send().await;
        assert!(gone.is_err(), "{gone:?}");
        assert_eq!(strict_count(&proxy, rule::SQS_DELETED_RECENTLY), 3);

        tokio::time::sleep(cairn_testkit::proxy::strict::queues::HOLD).await;
        let again = sqs.create_queue().queue_name(&queue).send().await.unwrap_or_else(|e| panic!("{e:?}"));
        let url = again.queue_url().unwrap_or_default().to_string();
        sqs.delete_queue().queue_url(&url).send().await.unwrap_or_else(|e| panic!("{e:?}"));
    }

    /// Past 15 control-plane calls a second per API, Lambda answers 429
    /// TooManyRequestsException; other APIs have their own allowance.
    #[tokio::test]
    async fn lambda_calls_past_the_quota_are_throttled() {
        let (proxy, via, _) = with_rules(&[rule::LAMBDA_RATE]).await;
        let lambda = aws_sdk_lambda::Client::new(&via);
        let mut calls = tokio::task::JoinSet::new();
        for _ in 0..30 {
            calls.spawn(lambda.list_event_source_mappings().send());
        }
        let answers = calls.join_all().await;
        let codes: Vec<Option<String>> =
            answers.iter().map(|a| a.as_ref().err().and_then(|e| e.code().map(str::to_string))).collect();
        let passed = codes.iter().filter(|c| c.is_none()).count();
        assert!((15..=16).contains(&passed), "{codes:?}");
        assert!(codes.iter().flatten().all(|c| c == "TooManyRequestsException"), "{codes:?}");
        assert_eq!(strict_count(&proxy, rule::LAMBDA_RATE), (30 - passed) as u64);
        lambda.list_functions().send().await.unwrap_or_else(|e| panic!("another API: {e:?}"));
        // A second later the allowance is back.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        lambda.list_event_source_mappings().send().await.unwrap_or_else(|e| panic!("{e:?}"));
    }
}
