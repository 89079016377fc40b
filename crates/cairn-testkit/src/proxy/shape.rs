//! Error responses in the shape each protocol's SDK deserializer parses.

use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;
use hyper::header::{CONTENT_TYPE, HeaderValue};

use super::classify::{Call, Protocol};

/// The throttling error AWS returns for a protocol: (status, code).
pub fn throttle(protocol: Protocol) -> (u16, &'static str) {
    match protocol {
        Protocol::AwsJson | Protocol::RpcV2Cbor => (400, "ThrottlingException"),
        Protocol::AwsQuery => (400, "Throttling"),
        Protocol::Ec2Query => (503, "RequestLimitExceeded"),
        Protocol::RestJson => (429, "TooManyRequestsException"),
        Protocol::S3 => (503, "SlowDown"),
    }
}

/// A server error: 500 or 503 by the caller's choice.
pub fn server_error(protocol: Protocol, unavailable: bool) -> (u16, &'static str) {
    match (unavailable, protocol) {
        (true, _) => (503, "ServiceUnavailable"),
        (false, Protocol::S3 | Protocol::Ec2Query) => (500, "InternalError"),
        (false, _) => (500, "InternalFailure"),
    }
}

pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// CBOR text string header plus bytes.
fn cbor_text(out: &mut Vec<u8>, s: &str) {
    let len = s.len();
    if len < 24 {
        out.push(0x60 | len as u8);
    } else if let Ok(l) = u8::try_from(len) {
        out.extend([0x78, l]);
    } else if let Ok(l) = u16::try_from(len) {
        out.push(0x79);
        out.extend(l.to_be_bytes());
    } else {
        out.push(0x7a);
        out.extend(u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
    }
    out.extend(s.as_bytes());
}

/// A CBOR map `{"__type": code, "message": message}`.
pub fn cbor_error(code: &str, message: &str) -> Vec<u8> {
    let mut out = vec![0xa2];
    cbor_text(&mut out, "__type");
    cbor_text(&mut out, code);
    cbor_text(&mut out, "message");
    cbor_text(&mut out, message);
    out
}

fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// An error response for `call`'s protocol.
pub fn error_response(call: &Call, status: u16, code: &str, message: &str, request_id: &str) -> Response<Full<Bytes>> {
    let fault = if status < 500 { "Sender" } else { "Receiver" };
    let mut headers: Vec<(&'static str, HeaderValue)> = vec![("x-amzn-requestid", hv(request_id))];
    let json = |code: &str| serde_json::json!({ "__type": code, "message": message }).to_string().into_bytes();
    let body: Vec<u8> = match call.protocol {
        Protocol::AwsJson => {
            let ct = call.content_type.as_deref().unwrap_or("application/x-amz-json-1.1");
            headers.push(("content-type", hv(ct)));
            headers.push(("x-amzn-errortype", hv(code)));
            json(code)
        }
        Protocol::RestJson => {
            headers.push(("content-type", HeaderValue::from_static("application/json")));
            headers.push(("x-amzn-errortype", hv(code)));
            let kind = if status < 500 { "User" } else { "Service" };
            serde_json::json!({ "Type": kind, "message": message }).to_string().into_bytes()
        }
        Protocol::RpcV2Cbor => {
            headers.push(("content-type", HeaderValue::from_static("application/cbor")));
            headers.push(("smithy-protocol", HeaderValue::from_static("rpc-v2-cbor")));
            cbor_error(code, message)
        }
        Protocol::AwsQuery => {
            headers.push(("content-type", HeaderValue::from_static("text/xml")));
            format!(
                "<ErrorResponse><Error><Type>{fault}</Type><Code>{}</Code>\
                 <Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
                xml_escape(code),
                xml_escape(message),
                xml_escape(request_id)
            )
            .into_bytes()
        }
        Protocol::Ec2Query => {
            headers.push(("content-type", HeaderValue::from_static("text/xml;charset=UTF-8")));
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{}</Code>\
                 <Message>{}</Message></Error></Errors><RequestID>{}</RequestID></Response>",
                xml_escape(code),
                xml_escape(message),
                xml_escape(request_id)
            )
            .into_bytes()
        }
        Protocol::S3 => {
            headers.push(("content-type", HeaderValue::from_static("application/xml")));
            headers.push(("x-amz-request-id", hv(request_id)));
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message>\
                 <RequestId>{}</RequestId></Error>",
                xml_escape(code),
                xml_escape(message),
                xml_escape(request_id)
            )
            .into_bytes()
        }
    };
    if call.query_mode {
        headers.push(("x-amzn-query-error", hv(&format!("{code};{fault}"))));
    }
    let body = if call.head { Vec::new() } else { body };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    for (k, v) in headers {
        resp.headers_mut().insert(k, v);
    }
    if !resp.headers().contains_key(CONTENT_TYPE) {
        resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cbor_map_encoding() {
        let b = cbor_error("ThrottlingException", "slow down");
        let mut expected = vec![0xa2, 0x66];
        expected.extend(b"__type");
        expected.push(0x73);
        expected.extend(b"ThrottlingException");
        expected.push(0x67);
        expected.extend(b"message");
        expected.push(0x69);
        expected.extend(b"slow down");
        assert_eq!(b, expected);
        let long = "x".repeat(300);
        let b = cbor_error("C", &long);
        assert_eq!(&b[b.len() - 303..b.len() - 300], &[0x79, 0x01, 0x2c]);
    }

    #[test]
    fn xml_is_escaped() {
        assert_eq!(xml_escape("a<b>&'\""), "a&lt;b&gt;&amp;&apos;&quot;");
    }
}
