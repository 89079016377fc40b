//! Turning SDK errors into [`OpError`]s that name the action and resource.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use cairn_engine::kind::OpError;

/// Error codes AWS services use for "no such resource".
const NOT_FOUND_CODES: &[&str] = &["NotFound", "NotFoundException", "ResourceNotFoundException", "NoSuchEntity"];

/// `"{action}: {code}: {message}"`, e.g. "creating SNS topic lab1-alerts:
/// AuthorizationError: not authorized"; falls back to the full error chain
/// when AWS sent no code (timeouts, connection failures).
pub(crate) fn aws_error<E, R>(action: &str, err: &SdkError<E, R>) -> OpError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let msg = match (err.code(), err.message()) {
        (Some(code), Some(message)) => format!("{action}: {code}: {message}"),
        (Some(code), None) => format!("{action}: {code}"),
        _ => format!("{action}: {}", DisplayErrorContext(err)),
    };
    OpError::failed(msg)
}

/// Whether AWS said the resource does not exist.
pub(crate) fn is_not_found<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.code().is_some_and(|c| NOT_FOUND_CODES.contains(&c))
}
