//! Waiting out AWS's eventual consistency: how long each kind of wait may
//! last, the doubling pauses between tries, and the retry loop the kinds
//! share, which reports every wait through [`OpCtx::notify`] and, when the
//! bound runs out, fails with AWS's own message and what cairn waited for.
//!
//! These retries come on top of the SDK's own (throttling, 5xx, lost
//! connections), for errors that mean "not yet" rather than "no".

use std::future::Future;
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use cairn_engine::kind::{OpCtx, OpError};

use crate::error::{Answer, aws_error};

/// How long cairn keeps trying while AWS catches up, and how often.
///
/// The defaults are for real use. They are part of [`crate::AwsOptions`] so
/// that a caller (in practice a test, against an emulator that never lags)
/// can shorten them without slowing anyone else down.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waits {
    /// The pause before the first retry; each next one doubles, up to
    /// `max_delay`. Short, since most waits end within a few tries.
    pub first_delay: Duration,
    /// The longest pause between two tries.
    pub max_delay: Duration,
    /// A fresh IAM role or bucket policy not yet usable by another service
    /// (Lambda's "cannot be assumed", CloudTrail's
    /// `InvalidCloudWatchLogsRoleArnException`, its "access denied"
    /// `InvalidCloudWatchLogsLogGroupArnException` and
    /// `InsufficientS3BucketPolicyException` and
    /// `InsufficientEncryptionPolicyException`; S3's `NoSuchBucket` right
    /// after its CreateBucket). Default 2 minutes, as
    /// terraform-provider-aws waits for IAM propagation.
    pub propagation: Duration,
    /// A Lambda function or event source mapping busy with an earlier change
    /// (`ResourceConflictException`, `ResourceInUseException`), or settling
    /// into a stable state. Default 5 minutes, as terraform-provider-aws.
    pub busy: Duration,
    /// An SQS queue name AWS holds for 60 s after the queue's deletion
    /// (`QueueDeletedRecently`). Default 70 s.
    pub queue_name_reuse: Duration,
    /// A fresh role Lambda cannot assume yet, or whose permissions it does
    /// not see yet ("cannot be assumed by Lambda", "execution role does not
    /// have permissions"), which can take minutes. Default 5 minutes, as
    /// terraform-provider-aws waits for Lambda's IAM propagation.
    pub lambda_role: Duration,
}

impl Default for Waits {
    fn default() -> Self {
        Waits {
            first_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            propagation: Duration::from_secs(120),
            busy: Duration::from_secs(300),
            queue_name_reuse: Duration::from_secs(70),
            lambda_role: Duration::from_secs(300),
        }
    }
}

/// Which of the [`Waits`] bounds applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bound {
    Propagation,
    Busy,
    QueueNameReuse,
    LambdaRole,
}

impl Waits {
    pub(crate) fn bound(&self, bound: Bound) -> Duration {
        match bound {
            Bound::Propagation => self.propagation,
            Bound::Busy => self.busy,
            Bound::QueueNameReuse => self.queue_name_reuse,
            Bound::LambdaRole => self.lambda_role,
        }
    }
}

/// Why an error is worth waiting out, and for how long at most.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Wait {
    /// What cairn waits for, as progress output says it ("waiting for the
    /// IAM role to propagate").
    pub why: &'static str,
    pub bound: Bound,
}

impl Wait {
    pub(crate) const fn new(why: &'static str, bound: Bound) -> Wait {
        Wait { why, bound }
    }
}

/// Doubling pauses from [`Waits::first_delay`] up to [`Waits::max_delay`],
/// counted from the backoff's creation: the last pause is cut so that the
/// last try happens at the bound, not after it.
#[derive(Debug)]
pub(crate) struct Backoff {
    start: Instant,
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub(crate) fn new(waits: &Waits) -> Backoff {
        Backoff { start: Instant::now(), next: waits.first_delay, max: waits.max_delay.max(waits.first_delay) }
    }

    /// The next pause, or `None` once `bound` has passed since the start.
    pub(crate) fn next_delay(&mut self, bound: Duration) -> Option<Duration> {
        let elapsed = self.start.elapsed();
        if elapsed >= bound {
            return None;
        }
        let delay = self.next.min(bound - elapsed);
        self.next = (self.next * 2).min(self.max);
        Some(delay)
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}

/// A call that failed for good: AWS's error, and, when cairn gave up
/// waiting, what it waited for and how long.
#[derive(Debug)]
pub(crate) struct Failed<E, R> {
    pub error: SdkError<E, R>,
    pub gave_up: Option<String>,
}

impl<E, R> Failed<E, R>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: Answer,
{
    /// `"{action}: {code}: {message}"`, then what cairn waited for when it
    /// gave up waiting (on the first line, before any raw detail).
    pub(crate) fn op_error(&self, action: &str) -> OpError {
        let e = aws_error(action, &self.error).to_string();
        match &self.gave_up {
            Some(waited) => {
                let (first, rest) = e.split_once('\n').map_or((e.as_str(), None), |(f, r)| (f, Some(r)));
                let rest = rest.map(|r| format!("\n{r}")).unwrap_or_default();
                OpError::failed(format!("{first} ({waited}){rest}"))
            }
            None => OpError::failed(e),
        }
    }
}

/// How a wait that ran out is described: "gave up after 2m 0s of waiting
/// for the IAM role to propagate".
pub(crate) fn gave_up(why: &str, waited: Duration) -> String {
    format!("gave up after {} of {why}", human(waited))
}

/// `1.2s`, `45s`, `2m 0s`.
pub(crate) fn human(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 60 {
        format!("{}m {}s", secs / 60, secs % 60)
    } else if secs >= 10 {
        format!("{secs}s")
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// Runs `call` until it succeeds, fails with an error `classify` does not
/// name, or the bound of the [`Wait`] it names passes (counted from the
/// first try). Every wait is reported through `cx.notify` with AWS's
/// message.
pub(crate) async fn retrying<T, E, R, F, Fut, C>(
    cx: &OpCtx,
    waits: &Waits,
    action: &str,
    classify: C,
    mut call: F,
) -> Result<T, Failed<E, R>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, R>>>,
    E: ProvideErrorMetadata,
    C: Fn(Option<&str>, Option<&str>) -> Option<Wait>,
{
    let mut backoff = Backoff::new(waits);
    loop {
        let error = match call().await {
            Ok(out) => return Ok(out),
            Err(error) => error,
        };
        let Some(wait) = classify(error.code(), error.message()) else {
            return Err(Failed { error, gave_up: None });
        };
        let Some(delay) = backoff.next_delay(waits.bound(wait.bound)) else {
            let gave_up = Some(gave_up(wait.why, backoff.elapsed()));
            return Err(Failed { error, gave_up });
        };
        (cx.notify)(&format!(
            "{action}: {} ({}: {}); trying again in {}",
            wait.why,
            error.code().unwrap_or("error"),
            error.message().unwrap_or("no message"),
            human(delay)
        ));
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use aws_smithy_types::error::ErrorMetadata;

    /// A service error carrying a code and message, as an operation's error does.
    #[derive(Debug)]
    struct Refused(ErrorMetadata);
    impl std::fmt::Display for Refused {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{:?}", self.0.code())
        }
    }
    impl std::error::Error for Refused {}
    impl ProvideErrorMetadata for Refused {
        fn meta(&self) -> &ErrorMetadata {
            &self.0
        }
    }

    fn refused(code: &str) -> SdkError<Refused, ()> {
        SdkError::service_error(Refused(ErrorMetadata::builder().code(code).message("not yet").build()), ())
    }

    fn cx(seen: Arc<Mutex<Vec<String>>>) -> OpCtx {
        OpCtx {
            stack: "s".into(),
            resource: "r".into(),
            tags: BTreeMap::new(),
            env: cairn_engine::kind::Environment {
                account_id: "1".into(),
                region: "us-east-1".into(),
                partition: "aws".into(),
            },
            notify: Arc::new(move |m: &str| seen.lock().unwrap().push(m.to_string())),
            base_dir: std::path::PathBuf::new(),
            absent: false,
            adopt: false,
            state_location: None,
        }
    }

    fn quick() -> Waits {
        Waits {
            first_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(4),
            propagation: Duration::from_millis(60),
            busy: Duration::from_millis(60),
            queue_name_reuse: Duration::from_millis(60),
            lambda_role: Duration::from_millis(60),
        }
    }

    fn classify(code: Option<&str>, _: Option<&str>) -> Option<Wait> {
        (code == Some("NotYet")).then_some(Wait::new("waiting for it", Bound::Propagation))
    }

    #[test]
    fn backoff_doubles_to_the_cap_and_ends_at_the_bound() {
        let waits = Waits::default();
        let mut b = Backoff::new(&waits);
        let delays: Vec<u128> = (0..8).map(|_| b.next_delay(waits.busy).unwrap().as_millis()).collect();
        assert_eq!(delays, [200, 400, 800, 1600, 3200, 6400, 10_000, 10_000]);
        let mut b = Backoff::new(&waits);
        assert_eq!(b.next_delay(Duration::ZERO), None);
        // The last pause is cut to what is left of the bound.
        assert!(b.next_delay(Duration::from_millis(50)).unwrap() <= Duration::from_millis(50));
        assert!(b.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn named_errors_are_waited_out_and_reported() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut calls = 0;
        let out = retrying(&cx(Arc::clone(&seen)), &quick(), "doing x", classify, || {
            calls += 1;
            let r = if calls < 3 { Err(refused("NotYet")) } else { Ok(calls) };
            async move { r }
        })
        .await;
        assert_eq!(out.ok(), Some(3));
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert!(seen[0].starts_with("doing x: waiting for it (NotYet: not yet); trying again in"), "{seen:?}");
    }

    #[tokio::test]
    async fn other_errors_fail_at_once_with_the_aws_message() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut calls = 0;
        let out: Result<(), _> = retrying(&cx(Arc::clone(&seen)), &quick(), "doing x", classify, || {
            calls += 1;
            async { Err(refused("No")) }
        })
        .await;
        assert_eq!(calls, 1);
        let failed = out.unwrap_err();
        assert_eq!(failed.gave_up, None);
        assert_eq!(failed.op_error("doing x").to_string(), "doing x: No: not yet");
        assert!(seen.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_wait_that_runs_out_says_what_it_waited_for() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let out: Result<(), _> =
            retrying(&cx(Arc::clone(&seen)), &quick(), "doing x", classify, || async { Err(refused("NotYet")) }).await;
        let msg = out.unwrap_err().op_error("doing x").to_string();
        assert!(msg.starts_with("doing x: NotYet: not yet (gave up after "), "{msg}");
        assert!(msg.ends_with(" of waiting for it)"), "{msg}");
        assert!(!seen.lock().unwrap().is_empty());
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human(Duration::from_millis(1234)), "1.2s");
        assert_eq!(human(Duration::from_secs(45)), "45s");
        assert_eq!(human(Duration::from_secs(120)), "2m 0s");
    }
}
