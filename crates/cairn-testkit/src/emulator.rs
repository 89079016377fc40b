//! The local AWS emulator (moto's server) that tests run against.
//!
//! `scripts/test` starts one server for the whole test run and exports its
//! address as `AWS_ENDPOINT_URL` along with test credentials and a region;
//! tests stay independent by using unique stack names.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use cairn_engine::kind::{Environment, OpCtx, TAG_RESOURCE, TAG_STACK};

/// The emulator's endpoint. Panics with instructions when no emulator was
/// started, since emulator tests cannot mean anything without one.
pub fn endpoint() -> String {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "AWS_ENDPOINT_URL is not set: emulator tests need moto running; run them with scripts/test, \
             which starts it and sets AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_DEFAULT_REGION"
        ),
    }
}

/// A stack name no other test (or earlier run against the same emulator)
/// uses: `<prefix>-<pid>-<n>`, kept within the 40-character limit.
pub fn unique_stack(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let mut s = format!("{prefix}-{}{n}{}", std::process::id() % 100_000, nanos % 1000);
    s.truncate(40);
    s
}

/// moto's fixed account id.
pub const ACCOUNT_ID: &str = "123456789012";

/// The environment moto presents.
pub fn environment() -> Environment {
    Environment {
        account_id: ACCOUNT_ID.to_string(),
        region: std::env::var("AWS_DEFAULT_REGION").unwrap_or_else(|_| "us-east-1".into()),
        partition: "aws".into(),
    }
}

/// An operation context for calling a kind directly, as the engine would.
pub fn op_ctx(stack: &str, resource: &str) -> OpCtx {
    let mut tags = BTreeMap::new();
    tags.insert(TAG_STACK.to_string(), stack.to_string());
    tags.insert(TAG_RESOURCE.to_string(), resource.to_string());
    OpCtx {
        stack: stack.into(),
        resource: resource.into(),
        tags,
        env: environment(),
        notify: Arc::new(|_| {}),
        base_dir: std::path::PathBuf::new(),
        absent: false,
        adopt: false,
        state_location: None,
    }
}

/// The URL of a proxy in front of the emulator with every rule of the
/// strict layer on but those named in `off` (see [`crate::proxy::strict`]),
/// started once per test process on a thread of its own, so that tests
/// without a runtime of their own (or with one each) share it; it lives as
/// long as the process. The first call's `off` holds for the process.
pub fn strict_endpoint(off: &[&str]) -> String {
    static URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    URL.get_or_init(|| {
        let upstream = endpoint();
        let strict = match crate::proxy::strict::Strict::all().without(off) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build() {
                Ok(r) => r,
                Err(e) => return drop(tx.send(Err(format!("no runtime for the strict proxy: {e}")))),
            };
            runtime.block_on(async move {
                let faults = crate::proxy::Faults { strict, ..crate::proxy::Faults::default() };
                match crate::proxy::Proxy::start_with(&upstream, faults).await {
                    Ok(proxy) => {
                        let _ = tx.send(Ok(proxy.url()));
                        std::future::pending::<()>().await;
                    }
                    Err(e) => drop(tx.send(Err(format!("the strict proxy did not start: {e}")))),
                }
            });
        });
        match rx.recv() {
            Ok(Ok(url)) => url,
            Ok(Err(e)) => panic!("{e}"),
            Err(_) => panic!("the strict proxy's thread ended before it started"),
        }
    })
    .clone()
}
