//! The provider against the emulator: the environment comes from STS and
//! the region, and is cached.

#![allow(clippy::unwrap_used)]

use cairn_aws::{AwsOptions, AwsProvider};
use cairn_engine::kind::Provider;
use cairn_testkit::emulator::ACCOUNT_ID;

#[tokio::test]
async fn environment_from_sts_and_region() {
    cairn_testkit::emulator::endpoint();
    let provider = AwsProvider::new(AwsOptions { region: Some("eu-west-1".into()), ..AwsOptions::default() });
    let env = provider.environment().await.unwrap();
    assert_eq!(env.account_id, ACCOUNT_ID);
    assert_eq!(env.region, "eu-west-1");
    assert_eq!(env.partition, "aws");
    assert_eq!(provider.environment().await.unwrap(), env);
}

/// A server that answers every request with `status` and `body`, as a
/// corporate proxy or a load balancer in front of AWS might.
async fn answering(status: &'static str, content_type: &'static str, body: &'static str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                // Read the request's head and body (STS posts a form).
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let Ok(n) = conn.read(&mut buf).await else { return };
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&seen).to_lowercase();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if seen.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                let answer = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nx-amzn-RequestId: req-4711\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(answer.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}

async fn account_error(endpoint: String) -> String {
    cairn_testkit::emulator::endpoint(); // credentials and region in the environment
    let provider = AwsProvider::new(AwsOptions {
        region: Some("eu-west-1".into()),
        endpoint_url: Some(endpoint),
        ..AwsOptions::default()
    });
    provider.environment().await.unwrap_err().to_string()
}

#[tokio::test]
async fn an_answer_that_is_not_from_aws_reads_as_one_line_and_keeps_the_raw_text_apart() {
    let page = "<html>\r\n<head><title>Request blocked by the gateway</title></head>\r\n<body><h1>403</h1>\
                <p>policy 17</p></body></html>";
    let error = account_error(answering("403 Forbidden", "text/html", page).await).await;
    let brief = cairn_engine::kind::brief(&error);
    assert!(!brief.contains('\n'), "one line without -v: {brief}");
    for part in
        ["reading the AWS account id", "GetCallerIdentity", "HTTP 403", "req-4711", "Request blocked by the gateway"]
    {
        assert!(brief.contains(part), "`{part}` missing from: {brief}");
    }
    assert!(!brief.contains("policy 17") && !brief.contains("Unhandled"), "only the first line of text: {brief}");
    let raw = error.lines().nth(1).unwrap_or_default();
    assert!(raw.trim_start().starts_with(cairn_engine::kind::RAW_DETAIL), "raw detail on its own line: {error}");
}

#[tokio::test]
async fn a_success_status_with_a_body_that_is_not_xml_reads_as_one_line() {
    let error =
        account_error(answering("200 OK", "text/plain", "upstream closed the connection\nretry later").await).await;
    let brief = cairn_engine::kind::brief(&error);
    assert!(!brief.contains('\n'), "one line without -v: {brief}");
    for part in ["GetCallerIdentity", "HTTP 200", "req-4711", "upstream closed the connection"] {
        assert!(brief.contains(part), "`{part}` missing from: {brief}");
    }
}
