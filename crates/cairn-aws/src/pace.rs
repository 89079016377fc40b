//! Pacing calls to APIs with a low request-rate quota, so that a wide
//! apply does not spend its retries on throttling.
//!
//! Lambda's control plane allows 15 requests a second per API and region
//! (GetFunction 100; Lambda quotas, "API requests"), and answers
//! TooManyRequestsException past it. The SDK's retry modes only react to
//! throttling once it happened, and its interceptors cannot wait, so the
//! pacing sits in the HTTP client: every attempt takes a token from the
//! bucket of its (endpoint host, operation) before it is sent. The buckets
//! are shared by the whole process, since several stacks applied side by
//! side share the account's quota.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::{Builder, ConnectorBuilder, tls};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

use crate::error::CallName;

/// A rate: `per_second` tokens a second, at most `burst` saved up.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Rate {
    pub per_second: f64,
    pub burst: f64,
}

/// The share of a quota cairn uses: the rest is headroom for clock jitter
/// between cairn and AWS, and for other clients of the same account.
const SHARE: f64 = 0.8;

/// The rate cairn keeps to for a call, or `None` for no pacing. `name` is
/// `Service.Operation` as the SDK names it (`Lambda.CreateFunction`).
pub(crate) fn rate_for(name: &str) -> Option<Rate> {
    let (service, operation) = name.split_once('.')?;
    let quota = match (service, operation) {
        ("Lambda" | "lambda", "Invoke" | "InvokeAsync" | "InvokeWithResponseStream") => return None,
        ("Lambda" | "lambda", "GetFunction") => 100.0,
        ("Lambda" | "lambda", _) => 15.0,
        _ => return None,
    };
    Some(Rate { per_second: quota * SHARE, burst: quota * SHARE })
}

/// Token buckets by key.
#[derive(Debug, Default)]
pub(crate) struct Buckets {
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Buckets {
    /// Takes a token from `key`'s bucket: how long to wait before sending
    /// (zero when one is there). The token is spent now, so callers that
    /// come later queue behind it.
    pub(crate) fn take(&self, key: &str, rate: Rate, now: Instant) -> Duration {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let b = buckets.entry(key.to_string()).or_insert(Bucket { tokens: rate.burst, at: now });
        if now > b.at {
            let refill = now.duration_since(b.at).as_secs_f64() * rate.per_second;
            b.tokens = (b.tokens + refill).min(rate.burst);
            b.at = now;
        }
        b.tokens -= 1.0;
        if b.tokens >= 0.0 { Duration::ZERO } else { Duration::from_secs_f64(-b.tokens / rate.per_second) }
    }
}

/// The process's buckets.
static BUCKETS: LazyLock<Buckets> = LazyLock::new(Buckets::default);

/// The default HTTPS client (rustls with aws-lc, proxy settings from the
/// environment, as the SDK builds its own), each attempt paced by
/// [`rate_for`].
pub(crate) fn paced_https_client() -> SharedHttpClient {
    let inner = Builder::new().build_with_connector_fn(|settings, components| {
        let mut conn =
            ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc));
        conn.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            conn.set_sleep_impl(components.sleep_impl());
        }
        conn.set_proxy_config(Some(ProxyConfig::from_env()));
        conn.build()
    });
    SharedHttpClient::new(Paced { inner, buckets: &BUCKETS })
}

/// An HTTP client whose connectors pace their calls.
#[derive(Debug)]
struct Paced {
    inner: SharedHttpClient,
    buckets: &'static Buckets,
}

impl HttpClient for Paced {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        let inner = self.inner.http_connector(settings, components);
        SharedHttpConnector::new(PacedConnector { inner: Arc::new(inner), buckets: self.buckets })
    }
}

#[derive(Debug)]
struct PacedConnector {
    inner: Arc<SharedHttpConnector>,
    buckets: &'static Buckets,
}

impl HttpConnector for PacedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let wait = request.extension::<CallName>().and_then(|name| {
            let rate = rate_for(&name.0)?;
            let host = request.uri().split('/').nth(2).unwrap_or("");
            Some(self.buckets.take(&format!("{host} {}", name.0), rate, Instant::now()))
        });
        let inner = Arc::clone(&self.inner);
        HttpConnectorFuture::new(async move {
            if let Some(wait) = wait.filter(|w| !w.is_zero()) {
                tokio::time::sleep(wait).await;
            }
            inner.call(request).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_control_plane_calls_are_paced_below_the_quota_and_invokes_are_not() {
        let rate = rate_for("Lambda.CreateFunction").map(|r| r.per_second);
        assert_eq!(rate, Some(12.0));
        assert_eq!(rate_for("Lambda.GetFunction").map(|r| r.per_second), Some(80.0));
        assert_eq!(rate_for("Lambda.Invoke"), None);
        assert_eq!(rate_for("SQS.CreateQueue"), None);
        assert_eq!(rate_for("nonsense"), None);
    }

    #[test]
    fn a_bucket_lets_its_burst_through_then_spaces_calls_by_the_rate() {
        let buckets = Buckets::default();
        let rate = Rate { per_second: 10.0, burst: 3.0 };
        let t0 = Instant::now();
        let waits: Vec<Duration> = (0..5).map(|_| buckets.take("k", rate, t0)).collect();
        let ms: Vec<u128> = waits.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, vec![0, 0, 0, 100, 200]);
        // Another key has its own bucket.
        assert_eq!(buckets.take("other", rate, t0), Duration::ZERO);
        // 100 ms on, one token came back, and two are still owed.
        assert_eq!(buckets.take("k", rate, t0 + Duration::from_millis(100)).as_millis(), 200);
        // A second on, the bucket is full again, to its burst and no more.
        let later = t0 + Duration::from_secs(1);
        let ms: Vec<u128> = (0..4).map(|_| buckets.take("k", rate, later).as_millis()).collect();
        assert_eq!(ms, vec![0, 0, 0, 100]);
    }
}
