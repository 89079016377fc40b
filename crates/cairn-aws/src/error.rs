//! Turning SDK errors into [`OpError`]s that name the action and resource.
//!
//! An [`OpError`] is one line a user reads; when AWS's answer could not be
//! read, a [`RAW_DETAIL`] line after it carries the SDK's full account, which
//! the CLI shows only under `-v`.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, Metadata};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use cairn_engine::kind::{OpError, RAW_DETAIL};

/// Error codes AWS services use for "no such resource".
const NOT_FOUND_CODES: &[&str] = &["NotFound", "NotFoundException", "ResourceNotFoundException", "NoSuchEntity"];

/// The headers AWS services put their request id in (S3 uses the second).
const REQUEST_ID_HEADERS: &[&str] = &["x-amzn-requestid", "x-amz-request-id"];

/// At most this many characters of an unreadable body are quoted.
const BODY_QUOTE_CHARS: usize = 160;

/// `"{action}: {code}: {message}"`, e.g. "creating SNS topic lab1-alerts:
/// AuthorizationError: not authorized". An answer with no code (a proxy's
/// HTML page, a truncated body) is named in one line by its operation, HTTP
/// status, request id and the first line of its text; a call that got no
/// answer (timeout, connection refused) by the first line of its cause. The
/// SDK's whole account follows on a [`RAW_DETAIL`] line in both cases.
pub(crate) fn aws_error<E, R>(action: &str, err: &SdkError<E, R>) -> OpError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: Answer,
{
    let msg = match (err.code(), err.message()) {
        (Some(code), Some(message)) => format!("{action}: {code}: {message}"),
        (Some(code), None) => format!("{action}: {code}"),
        _ => {
            let detail = DisplayErrorContext(err).to_string();
            let line = match err.raw_response().and_then(Answer::http) {
                Some(raw) => unreadable_answer(raw),
                None => causes(err),
            };
            // One line of detail, whatever the SDK's text holds.
            let detail = detail.split_whitespace().collect::<Vec<_>>().join(" ");
            format!("{action}: {line}\n  {RAW_DETAIL}{detail}")
        }
    };
    OpError::failed(msg)
}

/// A raw answer an SDK error may carry: the HTTP response of a real call
/// (tests' fakes carry `()`).
pub(crate) trait Answer: std::fmt::Debug + 'static {
    fn http(&self) -> Option<&HttpResponse>;
}

impl Answer for HttpResponse {
    fn http(&self) -> Option<&HttpResponse> {
        Some(self)
    }
}

impl Answer for () {
    fn http(&self) -> Option<&HttpResponse> {
        None
    }
}

/// "SNS.CreateTopic answered HTTP 502 that is not an AWS answer (request id
/// r-1): Bad Gateway".
fn unreadable_answer(raw: &HttpResponse) -> String {
    let call = raw.extension::<CallName>().map_or("AWS", |c| c.0.as_str());
    let status = raw.status().as_u16();
    let id = REQUEST_ID_HEADERS
        .iter()
        .find_map(|h| raw.headers().get(*h))
        .map(|id| format!(" (request id {id})"))
        .unwrap_or_default();
    let text = raw.body().bytes().map(body_text).unwrap_or_default();
    let text = if text.is_empty() { "empty body".to_string() } else { text };
    format!("{call} answered HTTP {status} that is not an AWS answer{id}: {text}")
}

/// The first line with text in a body, tags dropped (HTML error pages), cut
/// to [`BODY_QUOTE_CHARS`].
fn body_text(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut plain = String::with_capacity(text.len());
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                plain.push('\n');
            }
            _ if !in_tag => plain.push(c),
            _ => {}
        }
    }
    let line = first_line(&plain);
    match line.char_indices().nth(BODY_QUOTE_CHARS) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line,
    }
}

/// "dispatch failure: io error: connection refused": the error's text and
/// each of its causes', without the SDK's debug account.
fn causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = first_line(&e.to_string());
        if !text.is_empty() && !parts.last().is_some_and(|p| p.ends_with(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

fn first_line(text: &str) -> String {
    text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default().to_string()
}

/// Whether AWS said the resource does not exist.
pub(crate) fn is_not_found<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.code().is_some_and(|c| NOT_FOUND_CODES.contains(&c))
}

/// `Service.Operation` of a call, kept on its request and raw response by
/// [`NameCalls`].
#[derive(Clone, Debug)]
pub(crate) struct CallName(pub(crate) String);

/// Puts the service and operation on every request, for the pacing of
/// [`crate::pace`], and on every response, so that an answer the SDK cannot
/// read can still be named (the SDK's error does not say which operation it
/// came from). Added to every client in [`crate::clients`].
#[derive(Debug)]
pub(crate) struct NameCalls;

impl Intercept for NameCalls {
    fn name(&self) -> &'static str {
        "cairn::NameCalls"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>() {
            context.request_mut().add_extension(CallName(format!("{}.{}", m.service(), m.name())));
        }
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>() {
            let name = CallName(format!("{}.{}", m.service(), m.name()));
            context.response_mut().add_extension(name);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_html_page_reads_as_its_first_line_of_text() {
        let page = b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>nginx</body></html>";
        assert_eq!(body_text(page), "502 Bad Gateway");
        assert_eq!(body_text(b"  \n\n upstream timed out \n more"), "upstream timed out");
        assert_eq!(body_text(b""), "");
        let long = "x".repeat(500);
        assert_eq!(body_text(long.as_bytes()).chars().count(), BODY_QUOTE_CHARS + 1);
    }

    /// An error whose text may repeat its cause's, as the SDK's do.
    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);
    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|l| l as &(dyn std::error::Error + 'static))
        }
    }

    #[test]
    fn no_answer_reads_as_its_causes_on_one_line() {
        let refused = Layer("Connection refused (os error 111)", None);
        let io = Layer("io error: Connection refused (os error 111)", Some(Box::new(refused)));
        let dispatch = Layer("dispatch failure\nsee below", Some(Box::new(io)));
        assert_eq!(causes(&dispatch), "dispatch failure: io error: Connection refused (os error 111)");
    }
}
