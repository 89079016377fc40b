//! Naming the AWS operation a request calls, for every protocol the SDKs
//! speak to moto.

use hyper::http::request::Parts;
use hyper::{HeaderMap, Method};

/// The wire protocol of a request, which decides the shape of an injected
/// error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// `awsJson1_0` / `awsJson1_1`: `X-Amz-Target: Service.Operation`
    /// (events, logs, ssm, cloudtrail, sqs).
    AwsJson,
    /// `awsQuery`: form body with `Action=Operation` (sns, iam, sts).
    AwsQuery,
    /// `ec2Query`: like `awsQuery` with EC2's own error document.
    Ec2Query,
    /// `rpcv2Cbor`: `smithy-protocol: rpc-v2-cbor`, operation in the path
    /// `/service/X/operation/Y` (cloudwatch).
    RpcV2Cbor,
    /// `restJson1`: operation from method and path (lambda).
    RestJson,
    /// `restXml` as S3 speaks it.
    S3,
}

/// What the proxy knows about one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// The service, from the SigV4 credential scope (`monitoring` is shown as
    /// `cloudwatch`); `None` for unsigned requests.
    pub service: Option<String>,
    /// The operation name (`CreateTopic`), or for an unrecognised REST call
    /// `METHOD /first/segments`.
    pub operation: String,
    pub protocol: Protocol,
    /// The request declared `x-amzn-query-mode: true` (awsQuery-compatible
    /// services: sqs, cloudwatch), so errors also carry `x-amzn-query-error`.
    pub query_mode: bool,
    /// The request's content type, echoed on JSON errors.
    pub content_type: Option<String>,
    /// `true` for HEAD requests (no error body allowed).
    pub head: bool,
    /// Whether the call changes anything.
    pub write: bool,
}

impl Call {
    /// `service:Operation`, or the bare operation when the service is unknown.
    pub fn label(&self) -> String {
        match &self.service {
            Some(s) => format!("{s}:{}", self.operation),
            None => self.operation.clone(),
        }
    }

    /// Whether a pattern names this call: the full label
    /// (`sns:CreateTopic`), the bare operation (`CreateTopic`), the service
    /// (`sns` or `sns:*`), or `*`; an operation ending in `*` is a prefix
    /// (`Delete*`, `lambda:Create*`).
    pub fn matches(&self, pattern: &str) -> bool {
        if pattern == "*" || self.operation_matches(pattern) {
            return true;
        }
        match &self.service {
            Some(s) => {
                pattern == s.as_str()
                    || pattern
                        .strip_prefix(s.as_str())
                        .and_then(|rest| rest.strip_prefix(':'))
                        .is_some_and(|op| op == "*" || self.operation_matches(op))
            }
            None => false,
        }
    }

    fn operation_matches(&self, op: &str) -> bool {
        match op.strip_suffix('*') {
            Some(prefix) if !prefix.is_empty() => self.operation.starts_with(prefix),
            _ => op == self.operation,
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The signing name from `Authorization: AWS4-HMAC-SHA256
/// Credential=AKID/DATE/REGION/SERVICE/aws4_request, ...`.
fn signing_service(headers: &HeaderMap) -> Option<String> {
    let auth = header(headers, "authorization")?;
    let cred = auth.split("Credential=").nth(1)?;
    let cred = cred.split([',', ' ']).next()?;
    let service = cred.split('/').nth(3)?;
    if service.is_empty() {
        return None;
    }
    Some(match service {
        "monitoring" => "cloudwatch".to_string(),
        other => other.to_string(),
    })
}

/// A value of a form-encoded (`a=b&c=d`) string.
fn form_value<'a>(form: &'a str, key: &str) -> Option<&'a str> {
    form.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then_some(v)
    })
}

/// Operations that only read. `writes` counts the rest.
fn is_read_name(op: &str) -> bool {
    ["Get", "List", "Describe", "Head", "BatchGet", "Lookup"].iter().any(|p| op.starts_with(p))
}

/// Classify a request from its head and (buffered) body.
pub fn classify(parts: &Parts, body: &[u8]) -> Call {
    let headers = &parts.headers;
    let service = signing_service(headers);
    let query_mode = header(headers, "x-amzn-query-mode").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let content_type = header(headers, "content-type").map(str::to_string);
    let head = parts.method == Method::HEAD;
    let path = parts.uri.path();
    let query = parts.uri.query().unwrap_or("");

    let rpc = |protocol: Protocol, operation: String| {
        let write = !is_read_name(&operation);
        Call {
            service: service.clone(),
            operation,
            protocol,
            query_mode,
            content_type: content_type.clone(),
            head,
            write,
        }
    };

    if header(headers, "smithy-protocol").is_some_and(|v| v.eq_ignore_ascii_case("rpc-v2-cbor"))
        && let Some(op) = path.split("/operation/").nth(1)
    {
        return rpc(Protocol::RpcV2Cbor, op.trim_end_matches('/').to_string());
    }
    if let Some(target) = header(headers, "x-amz-target") {
        let op = target.rsplit('.').next().unwrap_or(target);
        return rpc(Protocol::AwsJson, op.to_string());
    }
    let form = std::str::from_utf8(body).ok().filter(|_| {
        header(headers, "content-type").is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"))
    });
    if let Some(action) = form.and_then(|f| form_value(f, "Action")).or_else(|| form_value(query, "Action")) {
        let protocol = if service.as_deref() == Some("ec2") { Protocol::Ec2Query } else { Protocol::AwsQuery };
        return rpc(protocol, action.to_string());
    }

    let method = &parts.method;
    let write = !(method == Method::GET || method == Method::HEAD);
    let (protocol, operation) = if service.as_deref() == Some("s3") {
        (Protocol::S3, s3_operation(method, path, query, headers))
    } else {
        let op = if service.as_deref() == Some("lambda") { lambda_operation(method, path) } else { None };
        (Protocol::RestJson, op.map(str::to_string).unwrap_or_else(|| rest_fallback(method, path)))
    };
    Call { service, operation, protocol, query_mode, content_type, head, write }
}

/// `METHOD /first/two` for a REST call with no known name.
fn rest_fallback(method: &Method, path: &str) -> String {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).take(2).collect();
    format!("{method} /{}", segs.join("/"))
}

/// Lambda's REST API (`/{version}/...`).
fn lambda_operation(method: &Method, path: &str) -> Option<&'static str> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let rest = segs.get(1..)?;
    let m = method.as_str();
    Some(match (rest, m) {
        (["functions"], "POST") => "CreateFunction",
        (["functions"], "GET") => "ListFunctions",
        (["functions", _], "GET") => "GetFunction",
        (["functions", _], "DELETE") => "DeleteFunction",
        (["functions", _, "code"], "PUT") => "UpdateFunctionCode",
        (["functions", _, "configuration"], "GET") => "GetFunctionConfiguration",
        (["functions", _, "configuration"], "PUT") => "UpdateFunctionConfiguration",
        (["functions", _, "policy"], "POST") => "AddPermission",
        (["functions", _, "policy"], "GET") => "GetPolicy",
        (["functions", _, "policy", _], "DELETE") => "RemovePermission",
        (["functions", _, "versions"], "GET") => "ListVersionsByFunction",
        (["functions", _, "versions"], "POST") => "PublishVersion",
        (["functions", _, "aliases"], "POST") => "CreateAlias",
        (["functions", _, "aliases"], "GET") => "ListAliases",
        (["functions", _, "aliases", _], "GET") => "GetAlias",
        (["functions", _, "aliases", _], "PUT") => "UpdateAlias",
        (["functions", _, "aliases", _], "DELETE") => "DeleteAlias",
        (["functions", _, "concurrency"], "GET") => "GetFunctionConcurrency",
        (["functions", _, "concurrency"], "PUT") => "PutFunctionConcurrency",
        (["functions", _, "concurrency"], "DELETE") => "DeleteFunctionConcurrency",
        (["functions", _, "invocations"], "POST") => "Invoke",
        (["functions", _, "event-invoke-config"], "GET") => "GetFunctionEventInvokeConfig",
        (["functions", _, "event-invoke-config"], "PUT") => "PutFunctionEventInvokeConfig",
        (["functions", _, "event-invoke-config"], "POST") => "UpdateFunctionEventInvokeConfig",
        (["functions", _, "event-invoke-config"], "DELETE") => "DeleteFunctionEventInvokeConfig",
        (["event-source-mappings"], "POST") => "CreateEventSourceMapping",
        (["event-source-mappings"], "GET") => "ListEventSourceMappings",
        (["event-source-mappings", _], "GET") => "GetEventSourceMapping",
        (["event-source-mappings", _], "PUT") => "UpdateEventSourceMapping",
        (["event-source-mappings", _], "DELETE") => "DeleteEventSourceMapping",
        (["tags", _], "GET") => "ListTags",
        (["tags", _], "POST") => "TagResource",
        (["tags", _], "DELETE") => "UntagResource",
        (["account-settings"], "GET") => "GetAccountSettings",
        _ => return None,
    })
}

/// S3 (path-style addressing, as the SDK uses against an IP endpoint), by
/// method, path depth and the sub-resource query key.
fn s3_operation(method: &Method, path: &str, query: &str, headers: &HeaderMap) -> String {
    let mut segs = path.splitn(3, '/').skip(1).filter(|s| !s.is_empty());
    let bucket = segs.next();
    let has_key = segs.next().is_some();
    let keys: Vec<&str> =
        query.split('&').filter(|s| !s.is_empty()).map(|p| p.split_once('=').map_or(p, |(k, _)| k)).collect();
    let has = |k: &str| keys.contains(&k);
    let m = method.as_str();
    let named = |s: &str| s.to_string();

    let Some(bucket) = bucket else {
        return if m == "GET" { named("ListBuckets") } else { rest_fallback(method, path) };
    };
    if has_key {
        let op = if has("uploads") && m == "POST" {
            "CreateMultipartUpload"
        } else if has("uploadId") {
            match m {
                "PUT" => "UploadPart",
                "POST" => "CompleteMultipartUpload",
                "DELETE" => "AbortMultipartUpload",
                _ => "ListParts",
            }
        } else if has("tagging") {
            match m {
                "PUT" => "PutObjectTagging",
                "DELETE" => "DeleteObjectTagging",
                _ => "GetObjectTagging",
            }
        } else if has("acl") {
            if m == "PUT" { "PutObjectAcl" } else { "GetObjectAcl" }
        } else if has("attributes") {
            "GetObjectAttributes"
        } else {
            match m {
                "PUT" if headers.contains_key("x-amz-copy-source") => "CopyObject",
                "PUT" => "PutObject",
                "GET" => "GetObject",
                "HEAD" => "HeadObject",
                "DELETE" => "DeleteObject",
                _ => return format!("{m} /{bucket}/{{key}}"),
            }
        };
        return named(op);
    }
    // Bucket-level sub-resources: (query key, name stem).
    const SUB: &[(&str, &str)] = &[
        ("policy", "BucketPolicy"),
        ("policyStatus", "BucketPolicyStatus"),
        ("tagging", "BucketTagging"),
        ("versioning", "BucketVersioning"),
        ("encryption", "BucketEncryption"),
        ("lifecycle", "BucketLifecycleConfiguration"),
        ("notification", "BucketNotificationConfiguration"),
        ("acl", "BucketAcl"),
        ("cors", "BucketCors"),
        ("website", "BucketWebsite"),
        ("logging", "BucketLogging"),
        ("ownershipControls", "BucketOwnershipControls"),
        ("publicAccessBlock", "PublicAccessBlock"),
        ("object-lock", "ObjectLockConfiguration"),
        ("replication", "BucketReplication"),
        ("accelerate", "BucketAccelerateConfiguration"),
        ("requestPayment", "BucketRequestPayment"),
    ];
    if has("delete") && m == "POST" {
        return named("DeleteObjects");
    }
    if m == "GET" {
        for (k, op) in [
            ("versions", "ListObjectVersions"),
            ("uploads", "ListMultipartUploads"),
            ("location", "GetBucketLocation"),
            ("list-type", "ListObjectsV2"),
        ] {
            if has(k) {
                return named(op);
            }
        }
    }
    if let Some((_, stem)) = SUB.iter().find(|(k, _)| has(k)) {
        let verb = match m {
            "PUT" => "Put",
            "GET" => "Get",
            "DELETE" => "Delete",
            _ => return format!("{m} /{bucket}?{}", keys.join("&")),
        };
        return format!("{verb}{stem}");
    }
    match m {
        "PUT" => named("CreateBucket"),
        "DELETE" => named("DeleteBucket"),
        "HEAD" => named("HeadBucket"),
        "GET" => named("ListObjects"),
        _ => format!("{m} /{bucket}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::Request;

    fn auth(service: &str) -> String {
        format!(
            "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/{service}/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature=abc"
        )
    }

    fn call(method: &str, uri: &str, service: &str, headers: &[(&str, &str)], body: &str) -> Call {
        let mut b = Request::builder().method(method).uri(uri).header("authorization", auth(service));
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let (parts, ()) = b.body(()).map(Request::into_parts).unwrap_or_else(|e| panic!("{e}"));
        classify(&parts, body.as_bytes())
    }

    #[test]
    fn json_protocols_use_the_target() {
        let c = call("POST", "/", "events", &[("x-amz-target", "AWSEvents.PutRule")], "{}");
        assert_eq!((c.label(), c.protocol, c.write), ("events:PutRule".into(), Protocol::AwsJson, true));
        let c = call(
            "POST",
            "/",
            "cloudtrail",
            &[("x-amz-target", "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.GetTrailStatus")],
            "{}",
        );
        assert_eq!((c.label(), c.write), ("cloudtrail:GetTrailStatus".into(), false));
        let c = call(
            "POST",
            "/",
            "sqs",
            &[("x-amz-target", "AmazonSQS.GetQueueAttributes"), ("x-amzn-query-mode", "true")],
            "{}",
        );
        assert_eq!((c.label(), c.query_mode, c.write), ("sqs:GetQueueAttributes".into(), true, false));
    }

    #[test]
    fn query_protocols_use_the_action() {
        let form = [("content-type", "application/x-www-form-urlencoded; charset=utf-8")];
        let c = call("POST", "/", "sns", &form, "Action=CreateTopic&Version=2010-03-31&Name=t");
        assert_eq!((c.label(), c.protocol, c.write), ("sns:CreateTopic".into(), Protocol::AwsQuery, true));
        let c = call("POST", "/", "ec2", &form, "Action=DescribeInstances&Version=2016-11-15");
        assert_eq!((c.label(), c.protocol, c.write), ("ec2:DescribeInstances".into(), Protocol::Ec2Query, false));
        let c = call("POST", "/", "iam", &form, "Version=2010-05-08&Action=GetRole&RoleName=r");
        assert_eq!(c.label(), "iam:GetRole");
    }

    #[test]
    fn cbor_uses_the_path() {
        let c = call(
            "POST",
            "/service/GraniteServiceVersion20100801/operation/PutMetricAlarm",
            "monitoring",
            &[("smithy-protocol", "rpc-v2-cbor"), ("x-amzn-query-mode", "true")],
            "",
        );
        assert_eq!((c.label(), c.protocol, c.write), ("cloudwatch:PutMetricAlarm".into(), Protocol::RpcV2Cbor, true));
        assert!(c.matches("cloudwatch") && c.matches("cloudwatch:*") && c.matches("PutMetricAlarm"));
        assert!(!c.matches("sns") && !c.matches("cloudwatch:DeleteAlarms"));
    }

    #[test]
    fn lambda_rest_paths() {
        let cases = [
            ("POST", "/2015-03-31/functions", "CreateFunction"),
            ("GET", "/2015-03-31/functions/f1", "GetFunction"),
            ("PUT", "/2015-03-31/functions/f1/code", "UpdateFunctionCode"),
            ("PUT", "/2015-03-31/functions/f1/configuration", "UpdateFunctionConfiguration"),
            ("DELETE", "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Af1", "DeleteFunction"),
            ("POST", "/2015-03-31/event-source-mappings", "CreateEventSourceMapping"),
            ("GET", "/2015-03-31/event-source-mappings/uuid-1", "GetEventSourceMapping"),
            ("DELETE", "/2015-03-31/event-source-mappings/uuid-1", "DeleteEventSourceMapping"),
            ("POST", "/2015-03-31/functions/f1/policy", "AddPermission"),
            ("DELETE", "/2015-03-31/functions/f1/policy/sid1", "RemovePermission"),
            ("GET", "/2015-03-31/functions/f1/policy", "GetPolicy"),
            ("PUT", "/2017-10-31/functions/f1/concurrency", "PutFunctionConcurrency"),
            ("GET", "/2017-03-31/tags/arn%3Ax", "ListTags"),
        ];
        for (m, p, op) in cases {
            let c = call(m, p, "lambda", &[("content-type", "application/json")], "{}");
            assert_eq!(c.label(), format!("lambda:{op}"), "{m} {p}");
            assert_eq!(c.protocol, Protocol::RestJson);
            assert_eq!(c.write, m != "GET");
        }
        let c = call("GET", "/2099-01-01/unknown/x/y", "lambda", &[], "");
        assert_eq!(c.label(), "lambda:GET /2099-01-01/unknown");
    }

    #[test]
    fn s3_rest_paths() {
        let cases = [
            ("GET", "/", "ListBuckets"),
            ("PUT", "/b1", "CreateBucket"),
            ("HEAD", "/b1", "HeadBucket"),
            ("PUT", "/b1?policy", "PutBucketPolicy"),
            ("GET", "/b1?policy", "GetBucketPolicy"),
            ("PUT", "/b1?publicAccessBlock", "PutPublicAccessBlock"),
            ("GET", "/b1?list-type=2&prefix=x", "ListObjectsV2"),
            ("GET", "/b1?versions", "ListObjectVersions"),
            ("POST", "/b1?delete", "DeleteObjects"),
            ("PUT", "/b1/k/with/slashes", "PutObject"),
            ("GET", "/b1/k?x-id=GetObject", "GetObject"),
            ("DELETE", "/b1/k", "DeleteObject"),
            ("DELETE", "/b1", "DeleteBucket"),
        ];
        for (m, p, op) in cases {
            let c = call(m, p, "s3", &[], "");
            assert_eq!(c.label(), format!("s3:{op}"), "{m} {p}");
            assert_eq!(c.protocol, Protocol::S3);
        }
    }

    #[test]
    fn unsigned_requests_have_no_service() {
        let (parts, ()) = Request::builder()
            .uri("/moto-api/reset")
            .method("POST")
            .body(())
            .unwrap_or_else(|e| panic!("{e}"))
            .into_parts();
        let c = classify(&parts, b"");
        assert_eq!((c.label(), c.service), ("POST /moto-api/reset".to_string(), None));
    }
}
