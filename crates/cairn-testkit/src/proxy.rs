//! A fault-injecting HTTP/1.1 reverse proxy in front of the emulator.
//!
//! [`Proxy::start`] listens on an ephemeral loopback port and forwards every
//! request unchanged (headers, signature and `Host` included: moto does not
//! verify signatures) to the upstream emulator. It names the AWS operation
//! of each request for every protocol the SDKs use (see
//! [`classify::Protocol`]), counts calls in [`Stats`], and can add latency,
//! answer throttling or 5xx errors in the shape the SDK parses for that
//! protocol, close the connection without answering, or forward the request
//! and then drop the answer (the "lost response" case), all per [`Faults`],
//! which can be changed at any time with [`Proxy::set`].
//!
//! [`Fault::Hold`] freezes a call instead: the client never gets an answer,
//! and a test awaiting [`Proxy::wait_held`] learns the moment the call is
//! stuck (after AWS has acted on it, with `forward: true`), which is when
//! the kill tests SIGKILL the `cairn` process.
//!
//! The proxy and every connection it serves stop when the [`Proxy`] is
//! dropped.

pub mod classify;
mod shape;
pub mod strict;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, HeaderName};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use classify::Call;

/// How long the proxy waits for the upstream before answering 504.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(300);

/// What to do to a call, for [`Scripted`] faults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer this error without forwarding, in the call's protocol shape.
    Error { status: u16, code: String, message: String },
    /// The protocol's throttling error (`ThrottlingException`, `Throttling`,
    /// `TooManyRequestsException`, `SlowDown`, `RequestLimitExceeded`).
    Throttle,
    /// A 503 `ServiceUnavailable`.
    Unavailable,
    /// Close the connection without forwarding or answering.
    Reset,
    /// Forward, wait for the upstream's answer, then close the connection
    /// without passing it on.
    LostResponse,
    /// Never answer: with `forward`, first pass the call on and wait for the
    /// upstream's answer (so the call has taken effect), else leave it
    /// unsent; then count it as held (see [`Proxy::wait_held`]) and keep the
    /// connection open without answering until the client goes away or the
    /// proxy stops.
    Hold { forward: bool },
}

/// The first `times` calls matching `operation` get `fault`.
///
/// `operation` is a full label (`sns:Subscribe`), a bare operation name
/// (`CreateFunction`), a service (`lambda` or `lambda:*`) or `*`; an
/// operation ending in `*` matches by prefix (`Delete*`, `lambda:Create*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scripted {
    pub operation: String,
    pub times: u32,
    pub fault: Fault,
    /// Matching calls let through untouched before the first one that gets
    /// the fault (see [`Scripted::after`]).
    pub skip: u32,
}

impl Scripted {
    /// The first `times` calls of `operation` fail with this error.
    pub fn error(operation: &str, times: u32, status: u16, code: &str, message: &str) -> Scripted {
        Scripted {
            operation: operation.into(),
            times,
            fault: Fault::Error { status, code: code.into(), message: message.into() },
            skip: 0,
        }
    }

    /// The first `times` calls of `operation` get `fault`.
    pub fn new(operation: &str, times: u32, fault: Fault) -> Scripted {
        Scripted { operation: operation.into(), times, fault, skip: 0 }
    }

    /// The same, once `n` matching calls have gone through untouched: the
    /// fault lands on a later call of an operation (the third PutObject, not
    /// the first).
    pub fn after(mut self, n: u32) -> Scripted {
        self.skip = n;
        self
    }
}

/// The proxy's behaviour. `Faults::default()` forwards everything at once.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Added to every request (injected errors included) before it is
    /// answered or forwarded.
    pub latency: Duration,
    /// A uniformly random extra delay in `0..=jitter` per request.
    pub jitter: Duration,
    /// Probability of answering the protocol's throttling error without
    /// forwarding.
    pub throttle_rate: f64,
    /// Probability of answering 500 or 503 without forwarding.
    pub error_5xx_rate: f64,
    /// Probability of closing the connection without forwarding or
    /// answering.
    pub reset_rate: f64,
    /// Probability of forwarding, waiting for the answer, then closing the
    /// connection instead of passing it on.
    pub lost_response_rate: f64,
    /// When not empty, the random faults above apply only to calls matching
    /// one of these patterns (same syntax as [`Scripted::operation`]);
    /// latency and scripted faults are not limited by it.
    pub scope: Vec<String>,
    /// Faults for the first N calls of an operation; checked before the
    /// random ones, in order, each entry counting down on its own.
    pub scripted: Vec<Scripted>,
    /// Seed of the proxy's random numbers (reset by every [`Proxy::set`]).
    pub seed: u64,
    /// The strict layer's rules that are on (see [`strict`]): applied to
    /// the calls the faults above let through.
    pub strict: strict::Strict,
}

impl Faults {
    /// Only a fixed latency per request.
    pub fn latency(latency: Duration) -> Faults {
        Faults { latency, ..Faults::default() }
    }

    /// Only scripted faults.
    pub fn scripted(scripted: Vec<Scripted>) -> Faults {
        Faults { scripted, ..Faults::default() }
    }

    /// Every rule of the strict layer, and no fault.
    pub fn strict() -> Faults {
        Faults { strict: strict::Strict::all(), ..Faults::default() }
    }
}

/// Injected-fault keys in [`Stats::injected`].
pub mod injected {
    pub const LATENCY: &str = "latency";
    pub const THROTTLE: &str = "throttle";
    pub const ERROR_5XX: &str = "error_5xx";
    pub const RESET: &str = "reset";
    pub const LOST_RESPONSE: &str = "lost_response";
    pub const SCRIPTED: &str = "scripted";
    pub const HOLD: &str = "hold";
}

/// What the proxy has seen since it started or since [`Proxy::reset_stats`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// Requests by label (`sns:CreateTopic`, `lambda:GetFunction`,
    /// `s3:PutObject`), injected faults included.
    pub by_operation: BTreeMap<String, u64>,
    /// All requests received.
    pub total: u64,
    /// Requests whose operation changes something: names not starting with
    /// Get/List/Describe/Head/BatchGet/Lookup, and REST methods other than
    /// GET and HEAD.
    pub writes: u64,
    /// Requests passed on to the upstream (lost responses included).
    pub forwarded: u64,
    /// Requests the upstream did not answer (connection error or timeout),
    /// answered 502/504 by the proxy.
    pub upstream_failures: u64,
    /// Injected faults by kind (keys in [`injected`]); `latency` counts the
    /// requests that were delayed.
    pub injected: BTreeMap<String, u64>,
    /// The sum of all delays the proxy added.
    pub injected_latency: Duration,
    /// Labels of the calls held by [`Fault::Hold`], in the order they were
    /// held (after forwarding, for `forward: true`).
    pub held: Vec<String>,
    /// Every request's label with its arrival time since the proxy started
    /// (or since [`Proxy::reset_stats`]): chains of dependent calls show up
    /// as arrivals a round trip apart.
    pub arrivals: Vec<(Duration, String)>,
}

impl Stats {
    /// Requests matching `pattern`: a full label (`sns:CreateTopic`), a bare
    /// operation (`CreateTopic`) or a service (`sns`).
    pub fn calls(&self, pattern: &str) -> u64 {
        self.by_operation
            .iter()
            .filter(|(label, _)| {
                label.as_str() == pattern
                    || label.split_once(':').is_some_and(|(service, op)| service == pattern || op == pattern)
            })
            .map(|(_, n)| n)
            .sum()
    }

    /// Injected faults of one kind (see [`injected`]).
    pub fn injected(&self, kind: &str) -> u64 {
        self.injected.get(kind).copied().unwrap_or(0)
    }

    /// The stats as JSON (`injected_latency_ms` in milliseconds).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "total": self.total,
            "writes": self.writes,
            "forwarded": self.forwarded,
            "upstream_failures": self.upstream_failures,
            "injected_latency_ms": self.injected_latency.as_micros() as f64 / 1000.0,
            "injected": self.injected,
            "by_operation": self.by_operation,
            "held": self.held,
            "arrivals": self
                .arrivals
                .iter()
                .map(|(at, label)| serde_json::json!([at.as_micros() as f64 / 1000.0, label]))
                .collect::<Vec<_>>(),
        })
    }
}

/// What the proxy decided for one request.
enum Action {
    Forward,
    Respond { status: u16, code: String, message: String },
    Reset,
    LostResponse,
    Hold { forward: bool },
}

struct State {
    faults: Faults,
    /// Remaining count of each `faults.scripted` entry.
    remaining: Vec<u32>,
    /// Matching calls each entry still lets through before it fires.
    skipping: Vec<u32>,
    rng: u64,
    stats: Stats,
    /// When the stats were last zeroed, for [`Stats::arrivals`].
    since: std::time::Instant,
    next_request: u64,
    /// What the strict layer's rules remember.
    strict: strict::Memory,
}

impl State {
    fn new(faults: Faults) -> State {
        let mut state = State {
            faults: Faults::default(),
            remaining: Vec::new(),
            skipping: Vec::new(),
            rng: 0,
            stats: Stats::default(),
            since: std::time::Instant::now(),
            next_request: 0,
            strict: strict::Memory::default(),
        };
        state.set(faults);
        state
    }

    fn set(&mut self, faults: Faults) {
        self.remaining = faults.scripted.iter().map(|s| s.times).collect();
        self.skipping = faults.scripted.iter().map(|s| s.skip).collect();
        self.rng = faults.seed;
        self.faults = faults;
    }

    /// splitmix64: a uniform f64 in [0, 1).
    fn random(&mut self) -> f64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Whether an event of probability `rate` happens; draws a random number
    /// only for rates strictly between 0 and 1.
    fn roll(&mut self, rate: f64) -> bool {
        if rate <= 0.0 || rate.is_nan() {
            false
        } else if rate >= 1.0 {
            true
        } else {
            self.random() < rate
        }
    }

    fn count(&mut self, kind: &str) {
        *self.stats.injected.entry(kind.to_string()).or_default() += 1;
    }

    fn decide(&mut self, call: &Call) -> (Duration, Action, String) {
        self.next_request += 1;
        let request_id = format!("cairn-proxy-{:08}", self.next_request);
        self.stats.total += 1;
        *self.stats.by_operation.entry(call.label()).or_default() += 1;
        self.stats.arrivals.push((self.since.elapsed(), call.label()));
        if call.write {
            self.stats.writes += 1;
        }

        let mut delay = self.faults.latency;
        if !self.faults.jitter.is_zero() {
            delay += self.faults.jitter.mul_f64(self.random());
        }
        if !delay.is_zero() {
            self.count(injected::LATENCY);
            self.stats.injected_latency += delay;
        }

        let scripted = self
            .faults
            .scripted
            .iter()
            .zip(self.remaining.iter_mut().zip(self.skipping.iter_mut()))
            .find(|(s, (left, _))| **left > 0 && call.matches(&s.operation))
            .and_then(|(s, (left, skip))| {
                if *skip > 0 {
                    *skip -= 1;
                    return None;
                }
                *left -= 1;
                Some(s.fault.clone())
            });
        if let Some(fault) = scripted {
            self.count(injected::SCRIPTED);
            let action = match fault {
                Fault::Error { status, code, message } => Action::Respond { status, code, message },
                Fault::Throttle => throttle(call),
                Fault::Unavailable => server_error(call, true),
                Fault::Reset => Action::Reset,
                Fault::LostResponse => Action::LostResponse,
                Fault::Hold { forward } => Action::Hold { forward },
            };
            return (delay, action, request_id);
        }

        let in_scope = self.faults.scope.is_empty() || self.faults.scope.iter().any(|p| call.matches(p));
        let action = if !in_scope {
            Action::Forward
        } else if self.roll(self.faults.reset_rate) {
            self.count(injected::RESET);
            Action::Reset
        } else if self.roll(self.faults.throttle_rate) {
            self.count(injected::THROTTLE);
            throttle(call)
        } else if self.roll(self.faults.error_5xx_rate) {
            self.count(injected::ERROR_5XX);
            let unavailable = self.random() < 0.5;
            server_error(call, unavailable)
        } else if self.roll(self.faults.lost_response_rate) {
            self.count(injected::LOST_RESPONSE);
            Action::LostResponse
        } else {
            Action::Forward
        };
        (delay, action, request_id)
    }
}

fn throttle(call: &Call) -> Action {
    let (status, code) = shape::throttle(call.protocol);
    Action::Respond { status, code: code.into(), message: "Rate exceeded (injected by cairn proxy)".into() }
}

fn server_error(call: &Call, unavailable: bool) -> Action {
    let (status, code) = shape::server_error(call.protocol, unavailable);
    Action::Respond { status, code: code.into(), message: "Service error (injected by cairn proxy)".into() }
}

struct Shared {
    state: Mutex<State>,
    client: Client<HttpConnector, Full<Bytes>>,
    /// `http://host:port` of the emulator.
    upstream: String,
    /// How many calls are being held (see [`Fault::Hold`]).
    held: tokio::sync::watch::Sender<u64>,
}

/// Held while a conditional write or delete (`If-Match`, `If-None-Match`)
/// is upstream: S3 checks the condition and writes as one step, moto checks
/// and then writes, so two such requests at the same moment could both
/// pass there. One at a time, they cannot. One for the whole process, so
/// that two proxies in front of one emulator (one per `cairn` run, each
/// counting its own calls) serialize them too.
static CONDITIONAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The error that makes hyper close a connection without answering.
#[derive(Debug)]
struct Dropped(&'static str);

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cairn proxy: {}", self.0)
    }
}

impl std::error::Error for Dropped {}

/// Hop-by-hop headers not passed on (bodies are buffered, so lengths are
/// set anew).
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
            | "expect"
            | "content-length"
    )
}

/// A running proxy. Dropping it stops the listener and every connection.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy").field("addr", &self.addr).field("upstream", &self.shared.upstream).finish()
    }
}

impl Proxy {
    /// Start a proxy to `upstream` (`http://127.0.0.1:PORT`) with no faults.
    /// Must be called inside a Tokio runtime.
    pub async fn start(upstream: &str) -> std::io::Result<Proxy> {
        Proxy::start_with(upstream, Faults::default()).await
    }

    /// Start a proxy with initial faults.
    pub async fn start_with(upstream: &str, faults: Faults) -> std::io::Result<Proxy> {
        let invalid =
            |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("upstream {upstream:?}: {why}"));
        let uri: Uri = upstream.parse().map_err(|e| invalid(&format!("{e}")))?;
        if uri.scheme_str() != Some("http") {
            return Err(invalid("only http:// upstreams are supported"));
        }
        let authority = uri.authority().ok_or_else(|| invalid("no host"))?;
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;

        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        let client = Client::builder(TokioExecutor::new()).build(connector);
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(faults)),
            client,
            upstream: format!("http://{authority}"),
            held: tokio::sync::watch::Sender::new(0),
        });
        let task = tokio::spawn(serve(listener, Arc::clone(&shared)));
        Ok(Proxy { addr, shared, task })
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, to use as `AWS_ENDPOINT_URL`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The upstream the proxy forwards to (`http://host:port`).
    pub fn upstream(&self) -> &str {
        &self.shared.upstream
    }

    /// Replace the faults; scripted counts and the random sequence restart.
    /// Requests already being delayed or forwarded are not affected.
    pub fn set(&self, faults: Faults) {
        self.shared.state().set(faults);
    }

    /// The current faults.
    pub fn faults(&self) -> Faults {
        self.shared.state().faults.clone()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.shared.state().stats.clone()
    }

    /// Zero the counters (the count of [`Proxy::held`] calls is kept).
    pub fn reset_stats(&self) {
        let mut state = self.shared.state();
        state.stats = Stats::default();
        state.since = std::time::Instant::now();
    }

    /// How many calls [`Fault::Hold`] has held since the proxy started.
    pub fn held(&self) -> u64 {
        *self.shared.held.borrow()
    }

    /// Waits until at least `n` calls are held in all (for a call held with
    /// `forward: true`, the upstream has answered it by then). Never
    /// finishes if no call gets that far: put a timeout around it.
    pub async fn wait_held(&self, n: u64) {
        let mut rx = self.shared.held.subscribe();
        // The sender lives in `self.shared`, so it outlives this borrow.
        let _ = rx.wait_for(|held| *held >= n).await;
    }
}

async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    // Owned here so that aborting this task (Proxy::drop) drops, and so
    // aborts, every connection task.
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // EMFILE and the like: back off briefly rather than spin.
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        connections.spawn(async move {
            let service = service_fn(move |req| handle(Arc::clone(&shared), req));
            // Errors here are the connection closing, by the client or by an
            // injected reset / lost response.
            let _ = http1::Builder::new().keep_alive(true).serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Dropped> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map_err(|_| Dropped("request body unreadable"))?.to_bytes();
    let call = classify::classify(&parts, &body);
    let (delay, action, request_id) = shared.state().decide(&call);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    match action {
        Action::Respond { status, code, message } => {
            Ok(shape::error_response(&call, status, &code, &message, &request_id))
        }
        Action::Reset => Err(Dropped("connection reset (injected)")),
        Action::Forward => {
            let rules = shared.state().faults.strict.clone();
            if rules.is_empty() {
                Ok(forward(&shared, &call, parts, body, &request_id).await)
            } else {
                Ok(strict::serve(&shared, &rules, &call, parts, body, &request_id).await)
            }
        }
        Action::LostResponse => {
            let _answer = forward(&shared, &call, parts, body, &request_id).await;
            Err(Dropped("response lost (injected)"))
        }
        Action::Hold { forward: first } => {
            if first {
                let _answer = forward(&shared, &call, parts, body, &request_id).await;
            }
            {
                let mut state = shared.state();
                state.count(injected::HOLD);
                state.stats.held.push(call.label());
            }
            shared.held.send_modify(|n| *n += 1);
            std::future::pending::<()>().await;
            Err(Dropped("held (injected)"))
        }
    }
}

/// Send the request upstream and return its buffered answer, or a 502/504
/// in the call's protocol shape when the upstream fails.
async fn forward(
    shared: &Shared,
    call: &Call,
    parts: hyper::http::request::Parts,
    body: Bytes,
    request_id: &str,
) -> Response<Full<Bytes>> {
    shared.state().stats.forwarded += 1;
    let conditional = matches!(parts.method.as_str(), "PUT" | "DELETE" | "POST")
        && (parts.headers.contains_key("if-match") || parts.headers.contains_key("if-none-match"));
    let _one_at_a_time = if conditional { Some(CONDITIONAL.lock().await) } else { None };
    let path = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let failed = |status: u16, why: String| {
        shared.state().stats.upstream_failures += 1;
        shape::error_response(call, status, "ProxyUpstreamFailure", &why, request_id)
    };
    let uri: Uri = match format!("{}{path}", shared.upstream).parse() {
        Ok(uri) => uri,
        Err(e) => return failed(502, format!("bad upstream uri: {e}")),
    };
    let mut builder = Request::builder().method(parts.method).uri(uri).version(hyper::Version::HTTP_11);
    for (name, value) in parts.headers.iter().filter(|(n, _)| !hop_by_hop(n)) {
        builder = builder.header(name, value);
    }
    if !body.is_empty() || matches!(builder.method_ref().map(|m| m.as_str()), Some("POST" | "PUT" | "PATCH")) {
        builder = builder.header(CONTENT_LENGTH, body.len());
    }
    let request = match builder.body(Full::new(body)) {
        Ok(r) => r,
        Err(e) => return failed(502, format!("cannot rebuild request: {e}")),
    };
    let response = match tokio::time::timeout(UPSTREAM_TIMEOUT, shared.client.request(request)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return failed(502, format!("upstream {} failed: {e}", shared.upstream)),
        Err(_) => return failed(504, format!("upstream {} did not answer in {UPSTREAM_TIMEOUT:?}", shared.upstream)),
    };
    let (parts, body) = response.into_parts();
    let body = match tokio::time::timeout(UPSTREAM_TIMEOUT, body.collect()).await {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(e)) => return failed(502, format!("upstream body failed: {e}")),
        Err(_) => return failed(504, "upstream body timed out".into()),
    };
    let mut out = Response::new(Full::new(body));
    *out.status_mut() = parts.status;
    for (name, value) in parts.headers.iter() {
        // Keep the upstream's content-length (HEAD answers carry the
        // object's size with no body); drop the other hop-by-hop headers.
        if name == CONTENT_LENGTH || !hop_by_hop(name) {
            out.headers_mut().append(name, value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use classify::Protocol;

    fn call(label: &str, write: bool) -> Call {
        let (service, operation) = label.split_once(':').unwrap_or(("", label));
        Call {
            service: (!service.is_empty()).then(|| service.to_string()),
            operation: operation.into(),
            protocol: Protocol::AwsJson,
            query_mode: false,
            content_type: None,
            head: false,
            write,
        }
    }

    #[test]
    fn scripted_counts_down_then_forwards() {
        let mut s = State::new(Faults::scripted(vec![Scripted::error("sns:Subscribe", 2, 400, "X", "m")]));
        let c = call("sns:Subscribe", true);
        assert!(matches!(s.decide(&c).1, Action::Respond { status: 400, .. }));
        assert!(matches!(s.decide(&c).1, Action::Respond { .. }));
        assert!(matches!(s.decide(&c).1, Action::Forward));
        assert!(matches!(s.decide(&call("sns:CreateTopic", true)).1, Action::Forward));
        assert_eq!(s.stats.calls("Subscribe"), 3);
        assert_eq!(s.stats.calls("sns"), 4);
        assert_eq!(s.stats.injected(injected::SCRIPTED), 2);
        assert_eq!(s.stats.writes, 4);
    }

    #[test]
    fn prefix_patterns_and_hold() {
        let mut s = State::new(Faults::scripted(vec![Scripted::new("Delete*", 1, Fault::Hold { forward: true })]));
        assert!(matches!(s.decide(&call("lambda:CreateFunction", true)).1, Action::Forward));
        assert!(matches!(s.decide(&call("sqs:DeleteQueue", true)).1, Action::Hold { forward: true }));
        assert!(matches!(s.decide(&call("lambda:DeleteFunction", true)).1, Action::Forward));
        let c = call("lambda:CreateEventSourceMapping", true);
        assert!(c.matches("lambda:Create*") && c.matches("Create*") && c.matches("CreateEventSourceMapping"));
        assert!(!c.matches("sqs:Create*") && !c.matches("Delete*") && !c.matches("lambda:CreateF*"));
        assert!(!c.matches("lambda:CreateEventSource") && !c.matches("*Mapping"));
    }

    #[test]
    fn random_faults_are_deterministic_and_scoped() {
        let faults = Faults { throttle_rate: 0.5, seed: 7, scope: vec!["lambda".into()], ..Faults::default() };
        let run = |faults: Faults| {
            let mut s = State::new(faults);
            (0..200)
                .map(|_| matches!(s.decide(&call("lambda:GetFunction", false)).1, Action::Respond { .. }))
                .collect::<Vec<_>>()
        };
        let a = run(faults.clone());
        assert_eq!(a, run(faults.clone()));
        let hits = a.iter().filter(|h| **h).count();
        assert!((60..140).contains(&hits), "{hits}");
        let mut s = State::new(faults);
        assert!((0..50).all(|_| matches!(s.decide(&call("sns:Publish", true)).1, Action::Forward)));
    }

    #[test]
    fn latency_and_jitter_are_recorded() {
        let mut s = State::new(Faults {
            latency: Duration::from_millis(10),
            jitter: Duration::from_millis(5),
            ..Faults::default()
        });
        for _ in 0..10 {
            let (d, _, _) = s.decide(&call("sqs:GetQueueUrl", false));
            assert!(d >= Duration::from_millis(10) && d <= Duration::from_millis(15));
        }
        assert!(s.stats.injected_latency >= Duration::from_millis(100));
        assert!(s.stats.injected_latency <= Duration::from_millis(150));
        assert_eq!((s.stats.injected(injected::LATENCY), s.stats.writes), (10, 0));
    }
}
