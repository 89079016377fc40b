//! `cairn-proxy`: the testkit's fault proxy as a process, for the benchmark
//! script. Prints its URL on stdout, then runs until SIGTERM or Ctrl-C and
//! writes its stats as JSON to `--stats-file`.
#![allow(clippy::print_stdout)]

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use cairn_testkit::proxy::strict::Strict;
use cairn_testkit::proxy::{Faults, Proxy};
use clap::Parser;
use tokio::signal::unix::{SignalKind, signal};

/// Fault-injecting reverse proxy in front of an AWS emulator.
#[derive(Parser, Debug)]
#[command(name = "cairn-proxy", version)]
struct Args {
    /// The emulator's URL, e.g. http://127.0.0.1:45999.
    #[arg(long)]
    upstream: String,
    /// Fixed latency added to every request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Uniform random extra latency per request, up to this many milliseconds.
    #[arg(long, default_value_t = 0)]
    jitter_ms: u64,
    /// Probability of answering a throttling error without forwarding.
    #[arg(long, default_value_t = 0.0)]
    throttle_rate: f64,
    /// Probability of answering 500/503 without forwarding.
    #[arg(long, default_value_t = 0.0)]
    error_5xx_rate: f64,
    /// Probability of closing the connection without forwarding.
    #[arg(long, default_value_t = 0.0)]
    reset_rate: f64,
    /// Probability of forwarding, then dropping the answer.
    #[arg(long, default_value_t = 0.0)]
    lost_response_rate: f64,
    /// Limit the random faults to these operations/services (repeatable).
    #[arg(long)]
    scope: Vec<String>,
    /// Seed of the random faults.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Rules of the strict layer to turn on: `all`, `none`, names separated
    /// by commas, or `all,-NAME` (the rules are listed in the testkit's
    /// proxy::strict::RULES and docs/real-aws.md).
    #[arg(long, default_value = "none")]
    strict: String,
    /// Where to write the stats as JSON on exit.
    #[arg(long)]
    stats_file: Option<PathBuf>,
}

fn rate(name: &str, value: f64) -> Result<f64, String> {
    if (0.0..=1.0).contains(&value) { Ok(value) } else { Err(format!("--{name} must be within 0..=1, got {value}")) }
}

async fn run(args: Args) -> Result<(), String> {
    let faults = Faults {
        latency: Duration::from_millis(args.latency_ms),
        jitter: Duration::from_millis(args.jitter_ms),
        throttle_rate: rate("throttle-rate", args.throttle_rate)?,
        error_5xx_rate: rate("error-5xx-rate", args.error_5xx_rate)?,
        reset_rate: rate("reset-rate", args.reset_rate)?,
        lost_response_rate: rate("lost-response-rate", args.lost_response_rate)?,
        scope: args.scope,
        scripted: Vec::new(),
        seed: args.seed,
        strict: Strict::parse(&args.strict).map_err(|e| format!("--strict: {e}"))?,
    };
    // Watch the signals before the URL is printed, so that a caller killing
    // the proxy right after reading it still gets the stats.
    let watch = |kind: SignalKind, name: &str| signal(kind).map_err(|e| format!("cannot watch {name}: {e}"));
    let mut term = watch(SignalKind::terminate(), "SIGTERM")?;
    let mut int = watch(SignalKind::interrupt(), "SIGINT")?;
    let proxy = Proxy::start_with(&args.upstream, faults).await.map_err(|e| format!("cannot start: {e}"))?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", proxy.url()).and_then(|()| out.flush()).map_err(|e| format!("stdout: {e}"))?;
    }

    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }

    if let Some(path) = args.stats_file {
        let json = serde_json::to_string_pretty(&proxy.stats().to_json()).map_err(|e| format!("stats: {e}"))?;
        std::fs::write(&path, json + "\n").map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    drop(proxy);
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cairn-proxy: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cairn-proxy: {e}");
            ExitCode::FAILURE
        }
    }
}
