//! The `cairn` command line, shared by the `cairn` binary (YAML stacks) and
//! by Rust stack programs through [`run`].
//!
//! This file holds the arguments (clap), [`App`] (one command's context:
//! loading, validating, locking) and the helpers the commands share. Each
//! command has its own file:
//!
//! - `validate.rs`: `cairn validate`
//! - `plan.rs`: `cairn plan`, and the plan making apply and destroy share
//! - `apply.rs`: `cairn apply` (and `apply --plan`), the confirmation and the
//!   execution that destroy and several stacks share
//! - `destroy.rs`: `cairn destroy`
//! - `many.rs`: plan, apply or destroy given several stack files
//! - `refresh.rs`: `plan --refresh-only` and `apply --refresh-only`
//! - `sweep.rs`: `cairn sweep` and `cairn destroy --from-tags`
//! - `import.rs`: `cairn import`
//! - `status.rs`: `cairn status`
//! - `check.rs`: `cairn check`, edge by edge against what is deployed
//! - `state.rs`: `cairn state` (list, show, rm, mv, pull, unlock)
//! - `output.rs`: `cairn output`
//! - `graph.rs`: `cairn graph`
//! - `explain.rs`: `cairn explain`, the kind reference
//!
//! and, besides: `json.rs` (the `--json` documents), `render.rs` (human
//! text), `saved.rs` (saved plans), `lock.rs` (`--lock-timeout`).

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod apply;
mod check;
mod destroy;
mod explain;
mod graph;
mod import;
mod init;
mod json;
mod lock;
mod many;
mod output;
mod plan;
mod refresh;
mod render;
mod saved;
mod state;
mod status;
mod stores;
mod sweep;
mod try_pattern;
mod validate;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use cairn_aws::state::{S3Connection, S3Place};
use cairn_aws::{AwsOptions, AwsProvider};
use cairn_engine::diag::{Locator, NoSource, render as render_diags};
use cairn_engine::kind::{Provider, Registry};
use cairn_engine::plan::Plan;
use cairn_engine::state::StateError;
use cairn_engine::validate::{Validated, params_from_env, validate_with};
use cairn_engine::{Diagnostics, StackSpec, State, StateStore};
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use many::{Many, one_or_many, refuse_many};
use render::Style;

/// Every exit code cairn uses, in one place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Success (with `plan --detailed-exitcode`: no changes).
    Ok = 0,
    /// An operation failed.
    Failed = 1,
    /// Invalid input or usage, or a saved plan refused (with `plan
    /// --detailed-exitcode`: changes present, and invalid input exits 1).
    Invalid = 2,
    /// State locked or unreadable.
    State = 3,
    /// Interrupted (Ctrl-C).
    Interrupted = 130,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

/// Where local state is kept when nothing says otherwise.
const DEFAULT_STATE_DIR: &str = ".cairn";

const EXIT_CODES: &str = "\
Exit codes:
  0    success (plan --detailed-exitcode: no changes)
  1    an operation failed (plan --detailed-exitcode: any error, an invalid stack included)
  2    invalid input or usage, or a saved plan refused (plan --detailed-exitcode: changes present)
  3    state locked, unreadable, or changed by someone else (not overwritten)
  130  interrupted

Parameters: -p name=value, or the environment variable CAIRN_PARAM_<NAME>.
Credentials and region come from the standard AWS chain (environment, profiles, SSO);
AWS_ENDPOINT_URL points cairn at a local emulator.";

#[derive(Parser, Debug)]
#[command(name = "cairn", version, about = "Plan, apply and destroy AWS stacks written in YAML or Rust", after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    global: Global,
}

#[derive(Args, Debug, Clone)]
struct Global {
    /// The stack file (also accepted as the first positional argument).
    #[arg(short = 'f', long = "file", global = true, value_name = "STACK.yaml")]
    file: Option<PathBuf>,
    /// A parameter value, `name=value`; repeatable.
    #[arg(short = 'p', long = "param", global = true, value_name = "NAME=VALUE", value_parser = parse_param)]
    params: Vec<(String, String)>,
    /// Where local state is kept: each stack's is DIR/<stack>.json (default
    /// .cairn). Relative to the working directory, so run cairn from one
    /// place (or set this, or CAIRN_STATE_DIR, to one directory): another
    /// directory means another state, which does not know what this one
    /// deployed. The flag overrides a stack's `state:`; CAIRN_STATE_DIR
    /// does not (an exported variable is easy to forget).
    #[arg(long, global = true, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Keep state in an S3 bucket instead, to share it with a team or a CI
    /// runner: each stack's at PREFIX/<stack>.json, locked by
    /// PREFIX/<stack>.lock (S3's conditional writes: no lock table). Add
    /// `?region=REGION` when the bucket is in another region. The bucket
    /// must exist (versioned, as docs/state.md sets it up); cairn never
    /// creates it. The flag overrides a stack's `state:`; CAIRN_STATE (the
    /// same URL from the environment) applies to stacks that name none.
    #[arg(long = "state", global = true, value_name = "s3://BUCKET/PREFIX", value_parser = parse_state_url)]
    state: Option<S3Place>,
    /// Write the state and lock objects SSE-KMS under this key (its ARN,
    /// id or alias), whatever the bucket's default encryption.
    #[arg(long, global = true, env = "CAIRN_STATE_KMS_KEY", value_name = "KEY", conflicts_with = "state_dir")]
    state_kms_key: Option<String>,
    /// Encrypt the state document before it is stored, wherever it is:
    /// `passphrase_env=NAME` (a key derived with Argon2id from the
    /// passphrase in environment variable NAME) or `kms_key=KEY` (a data key
    /// from that KMS key). Overrides the stack's `state.encryption`. A state
    /// written without encryption is refused until `cairn state encrypt`.
    #[arg(long, global = true, env = "CAIRN_STATE_ENCRYPTION", value_name = "HOW", value_parser = stores::parse_encryption)]
    state_encryption: Option<cairn_engine::spec::StateEncryption>,
    /// AWS region (else the stack's `region`, else the AWS chain's);
    /// `sweep` takes it more than once.
    #[arg(long = "region", global = true, value_name = "REGION", action = clap::ArgAction::Append)]
    regions: Vec<String>,
    /// AWS profile from the shared config files.
    #[arg(long, global = true)]
    profile: Option<String>,
    /// More output: operations as they start, and the raw text of AWS answers cairn could not read.
    #[arg(short, long, global = true)]
    verbose: bool,
    /// Less output: only errors and results.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// When to color output (NO_COLOR is honoured).
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    /// Machine output (JSON) on stdout; human text stays on stderr.
    /// Documented in docs/json.md, `"format_version": "1"`.
    #[arg(long, global = true)]
    json: bool,
    /// How long the stack may live after this apply (90s, 30m, 4h, 2d, 1w),
    /// overriding the stack's `ttl:`: state records the time, and every
    /// taggable resource is tagged `cairn:expires` with it, for `cairn sweep
    /// --expired`. Each apply with a time to live moves it.
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_ttl_arg)]
    ttl: Option<String>,
    /// How long to wait for a stack's lock held by another run (30s, 5m,
    /// 500ms), saying so while waiting; 0 fails at once.
    #[arg(long, global = true, default_value = "0", value_name = "DURATION", value_parser = lock::parse_timeout)]
    lock_timeout: lock::LockTimeout,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// The positional stack file of a command.
#[derive(Args, Debug)]
struct FileArg {
    /// The stack file, e.g. stacks/lab1-notifications.yaml (or -f FILE; none for a Rust stack program).
    #[arg(value_name = "STACK.yaml")]
    file: Option<PathBuf>,
}

/// The stack files of a command that can work on several stacks at once.
#[derive(Args, Debug)]
struct FilesArg {
    /// The stack file, e.g. stacks/lab1-notifications.yaml, or several
    /// (stacks/*.yaml), worked on side by side; or -f FILE; none for a Rust
    /// stack program.
    #[arg(value_name = "STACK.yaml")]
    files: Vec<PathBuf>,
}

/// `--target`, for plan, apply and destroy.
#[derive(Args, Debug, Clone, Default)]
struct TargetArg {
    /// Limit the plan to this resource id and what it needs: for plan and
    /// apply, what it depends on; for destroy, what depends on it.
    /// Repeatable; one stack only. For exceptional repairs: the rest of the
    /// stack is left as it is, so run a whole plan afterwards.
    #[arg(long = "target", id = "target", value_name = "ID")]
    ids: Vec<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check the stack offline: no AWS call, no credentials needed.
    Validate {
        /// Stack files to check, e.g. stacks/*.yaml (or -f FILE; none for a Rust stack program).
        #[arg(value_name = "STACK.yaml")]
        files: Vec<PathBuf>,
    },
    /// Refresh live resources and show what apply would change.
    ///
    /// Given several stack files, plans them side by side; with
    /// --detailed-exitcode, exits 2 if any would change.
    Plan {
        #[command(flatten)]
        files: FilesArg,
        /// Save the plan, for `apply --plan PLAN.json`: it holds the stack,
        /// the parameters (a secret only as a hash) and the state serial it
        /// was made against.
        #[arg(long, value_name = "PLAN.json")]
        out: Option<PathBuf>,
        /// Exit 0 when nothing would change, 2 when something would, and
        /// 1 on an error (an invalid stack included).
        #[arg(long)]
        detailed_exitcode: bool,
        #[command(flatten)]
        target: TargetArg,
        /// Show only what changed in AWS outside cairn (drift, and resources
        /// deleted there) against what state records, and nothing of the
        /// stack's own changes; `apply --refresh-only` writes it into state.
        #[arg(long, conflicts_with_all = ["out", "target"])]
        refresh_only: bool,
        /// Refresh reads in flight at once (for each stack).
        #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
        parallelism: u16,
    },
    /// Show the plan, ask for confirmation (unless --yes), then apply it.
    ///
    /// Given several stack files (e.g. stacks/*.yaml), validates and locks
    /// them all before any AWS call, plans them side by side, asks once, and
    /// applies them side by side; a failure in one stack does not stop the
    /// others. A parameter (-p) goes to every stack that declares it.
    Apply {
        #[command(flatten)]
        files: FilesArg,
        /// Apply without asking; required when there is no terminal.
        #[arg(short, long)]
        yes: bool,
        /// Apply exactly a plan saved with `plan --out`; no stack file or
        /// parameters needed (but a secret parameter, given again). Refused,
        /// with exit 2 and before any AWS call, if state changed since, the
        /// stack file changed, or a parameter given differs.
        #[arg(long, value_name = "PLAN.json")]
        plan: Option<PathBuf>,
        /// Let a create take over a resource tagged for this stack that
        /// another state made (one applied from another directory or
        /// --state-dir); without it, such a create is refused.
        #[arg(long)]
        adopt: bool,
        #[command(flatten)]
        target: TargetArg,
        /// Accept what changed in AWS outside cairn into state (as `plan
        /// --refresh-only` shows it): props and attributes as AWS has them,
        /// and resources deleted there forgotten. AWS is not changed.
        #[arg(long, conflicts_with_all = ["plan", "target", "adopt"])]
        refresh_only: bool,
        /// Operations in flight at once (for each stack).
        #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
        parallelism: u16,
    },
    /// Delete everything the stack owns, dependents first (retained resources are forgotten).
    ///
    /// Given several stack files (e.g. stacks/*.yaml, to tear every lab
    /// down), asks once and destroys them side by side.
    Destroy {
        #[command(flatten)]
        files: FilesArg,
        /// Destroy without asking; required when there is no terminal.
        #[arg(short, long)]
        yes: bool,
        #[command(flatten)]
        target: TargetArg,
        /// Destroy stack NAME from its tags alone, for a stack whose state
        /// is lost: every resource tagged `cairn:stack` = NAME in the
        /// region, dependents first (as `cairn sweep --stack NAME --yes`).
        /// Refused when this state directory has the stack's state.
        #[arg(long, value_name = "NAME", conflicts_with = "target")]
        from_tags: Option<String>,
        /// Operations in flight at once (for each stack).
        #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
        parallelism: u16,
    },
    /// Prove the deployed stack works, edge by edge, and name the broken one
    ///
    ///   cairn check stacks/lab1-notifications.yaml
    ///   cairn check stacks/lab3-access-alerts.yaml --only root-usage
    ///
    /// Each edge of what state says is deployed is tried with AWS's own
    /// hooks, and a temporary SQS subscriber where something must arrive:
    ///   rule -> target        the live rule is enabled and sends to it;
    ///                         TestEventPattern on an event made to match its
    ///                         pattern; the target's policy lets EventBridge
    ///                         send for this rule
    ///   topic -> subscriber   it is confirmed; a message published to the
    ///                         topic reaches a temporary queue (and is sent to
    ///                         the subscriber too: an e-mail arrives)
    ///   log group -> filter   TestMetricFilter on sample CloudTrail records
    ///                         (a trail's log group): it matches some, not all
    ///   alarm -> topic        SetAlarmState ALARM, its notification seen on a
    ///                         temporary queue, then back to OK
    ///   trail                 GetTrailStatus: logging, no delivery error
    ///   function              invoked with a sample event: status, log tail
    ///   queue -> mapping -> function
    ///                         the mapping is enabled; a message sent drains
    ///   instance -> log group the agent's stream (named after the instance)
    ///
    /// Prints pass, fail (what is broken) or skipped (why it could not be
    /// tried: an emulator runs no Lambda code and no alarm actions) per
    /// edge, with timings. The temporary queues are removed at the end and
    /// on Ctrl-C; a killed run leaves them tagged `cairn:check` for `cairn
    /// sweep --stack STACK --tag cairn:check=STACK --yes` (or `--expired`, after an hour).
    /// Exit 0 when nothing failed, 1 when an edge failed, 2 on bad input, 3
    /// when the state cannot be read.
    #[command(verbatim_doc_comment)]
    Check {
        #[command(flatten)]
        file: FileArg,
        /// Only the edges touching this resource id; repeatable.
        #[arg(long = "only", value_name = "ID")]
        only: Vec<String>,
        /// How long to wait for something to arrive (a notification, a queue
        /// to drain, a log stream): 30s, 2m.
        #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = lock::parse_timeout)]
        timeout: lock::LockTimeout,
    },
    /// Show what the stack's state holds (no call to AWS but, for state in S3, reading it).
    Status {
        #[command(flatten)]
        file: FileArg,
    },
    /// Inspect, repair, move and encrypt the state of a stack (no AWS resource is touched).
    #[command(subcommand)]
    State(StateCommand),
    /// Take a resource that exists in AWS under the stack's management.
    ///
    /// ID is the resource's id in the stack; PHYSICAL-ID is how AWS knows
    /// it, in the form `cairn state list` shows (see below). cairn reads it,
    /// refuses it if its tags say another cairn stack or state owns it, adds
    /// the stack's tags (`cairn:stack`, `cairn:resource`, the state's lineage
    /// and the stack's `tags:`; its other tags are kept until its next
    /// update), records it in state, and shows how it differs from the stack:
    /// the next apply makes those changes. Nothing else of it is changed.
    /// Its references must be known: import or apply what it refers to first.
    #[command(after_help = import::PHYSICAL_IDS)]
    Import {
        /// The resource's id in the stack, e.g. `jobs`.
        id: String,
        /// How AWS knows it, e.g. a queue's URL or a role's name.
        #[arg(value_name = "PHYSICAL-ID")]
        physical_id: String,
        /// Take it although its tags say another state of this stack made
        /// it (forget it there afterwards: `cairn state rm ID`).
        #[arg(long)]
        adopt: bool,
        #[command(flatten)]
        file: FileArg,
    },
    /// Find what cairn made in AWS by its tags, whatever state says; with --yes, delete it.
    ///
    /// Lists every resource carrying cairn's `cairn:stack` tag in the region
    /// (IAM roles and instance profiles too), grouped by stack and deployment
    /// (the `cairn:state` lineage: the same stack applied from two state
    /// directories is two groups), each with its age (since its state was
    /// made) and marked expired (its `cairn:expires` time has passed),
    /// orphaned (no state for it in --state-dir, or a state of another
    /// deployment) or live. Nothing without that tag is ever
    /// listed or deleted. Without --yes nothing is deleted. With --yes, every
    /// listed resource is deleted with the same code as destroy, dependents
    /// first (mappings, subscriptions, filters, alarms and rules; then
    /// trails, functions and instances; then the rest; roles last), buckets
    /// emptied of every version; exit 1 names whatever is left. Metric
    /// filters, Lambda permissions and SNS subscriptions carry no tags: they
    /// go with their log group, function or topic.
    #[command(verbatim_doc_comment)]
    Sweep {
        /// Only this stack; repeatable.
        #[arg(long = "stack", value_name = "NAME")]
        stacks: Vec<String>,
        /// Only stacks whose `cairn:expires` time has passed.
        #[arg(long)]
        expired: bool,
        /// Only deployments made at least this long ago (90s, 30m, 4h, 2d,
        /// 1w). Those made before cairn recorded ages (no time in their
        /// `cairn:state` tag) are left out, and the listing says so.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration_arg)]
        older_than: Option<u64>,
        /// Only resources carrying this tag, e.g. `lab=6`; repeatable (all must match).
        #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse_param)]
        tags: Vec<(String, String)>,
        /// Search every region enabled for the account (instead of --region,
        /// which may be given more than once; default: the configured region).
        #[arg(long)]
        all_regions: bool,
        /// Delete what is listed; without it, only list.
        #[arg(short, long)]
        yes: bool,
        /// Deletes in flight at once.
        #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
        parallelism: u16,
    },
    /// Print the stack's outputs, or one output's value (for scripts).
    Output {
        /// `[STACK.yaml] [NAME]` (with -f, or from a Rust program, just `[NAME]`).
        args: Vec<String>,
    },
    /// Print the dependency graph.
    Graph {
        #[command(flatten)]
        file: FileArg,
        #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
        format: GraphFormat,
    },
    /// Start a stack from a template: a YAML file, or a Rust crate.
    ///
    ///   cairn init                      starter.yaml: a topic feeding a queue, to edit
    ///   cairn init --lab 6              lab6-sqs-lambda.yaml, lab 6 as shipped
    ///   cairn init --lab 3 --stack me   lab 3 under the stack name `me`
    ///   cairn init --rust my-stack      a crate: Cargo.toml, src/main.rs (the starter)
    ///   cairn init --rust labs --lab 6  a crate holding lab 6 in Rust
    ///
    /// A YAML file gets cairn.schema.json beside it (for editor completion)
    /// and the files it reads (lab 5's function code). A crate depends on the
    /// cairn library by path (the source tree this cairn was built from, or
    /// --cairn-path) and carries cairn's [profile.dev] settings, which keep a
    /// debug build of the AWS SDK crates to minutes. Nothing is overwritten
    /// without --force.
    #[command(verbatim_doc_comment)]
    Init {
        /// One of the six labs (1-6) instead of the starter.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=6))]
        lab: Option<u8>,
        /// Make a Rust crate in this new directory instead of a YAML file.
        #[arg(long, value_name = "DIR")]
        rust: Option<PathBuf>,
        /// The stack's name (default: the template's; for a crate, its directory's).
        #[arg(long, value_name = "NAME")]
        stack: Option<String>,
        /// Where the YAML file goes (default: STACK.yaml here).
        #[arg(long, value_name = "FILE", conflicts_with = "rust")]
        output: Option<PathBuf>,
        /// The cairn repository (or its crates/cairn) a crate depends on.
        #[arg(long, value_name = "DIR", requires = "rust")]
        cairn_path: Option<PathBuf>,
        /// Overwrite files that exist.
        #[arg(long)]
        force: bool,
    },
    /// Try a rule's event pattern on sample events, offline
    ///
    ///   cairn test-pattern stacks/lab1-notifications.yaml ec2-state event.json
    ///
    /// EVENT.json holds one event, a JSON list of events, or one per line.
    /// For each: `match`, or `no match` and the first field that failed
    /// (`detail.state: "pending" is not one of ["stopped", "terminated"]`).
    /// Parameters are substituted (-p); a pattern naming another resource's
    /// attribute cannot be tried before apply. EventBridge's semantics, as
    /// AWS documents them (prefix, suffix, anything-but, numeric, exists,
    /// wildcard, cidr, $or, arrays). Exit 0 when any event matches, 1 when
    /// none does, 2 on bad input. No AWS call.
    #[command(verbatim_doc_comment)]
    TestPattern {
        /// `[STACK.yaml] RULE-ID EVENT.json`.
        #[arg(value_name = "ARGS", num_args = 1..=3)]
        args: Vec<String>,
    },
    /// Try a metric filter's pattern on log lines, offline
    ///
    ///   cairn test-filter stacks/lab3-access-alerts.yaml root-usage
    ///   cairn test-filter stacks/lab3-access-alerts.yaml root-usage trail.jsonl
    ///   cairn test-filter stacks/lab3-access-alerts.yaml root-usage '{"eventName": "ConsoleLogin"}'
    ///
    /// The last argument is a file of log lines (JSON lines, as CloudTrail
    /// delivers to CloudWatch Logs, or text), or one line itself; without it,
    /// cairn's bundled CloudTrail records (calls refused, root's and failed
    /// sign-ins, policy changes, ordinary calls). For each: `match`, or `no
    /// match` and why. CloudWatch Logs' filter syntax, as AWS documents it.
    /// Exit 0 when any line matches, 1 when none does, 2 on bad input. No
    /// AWS call.
    #[command(verbatim_doc_comment)]
    TestFilter {
        /// `[STACK.yaml] FILTER-ID [LOG.jsonl | LINE]`.
        #[arg(value_name = "ARGS", num_args = 1..=3)]
        args: Vec<String>,
    },
    /// Print the JSON Schema of the stack format, for editors.
    Schema,
    /// Describe a resource kind: its props, attributes, derived glue and the AWS quirks it handles.
    Explain(explain::ExplainArgs),
    /// Print shell completions.
    Completions { shell: clap_complete::Shell },
}

#[derive(Subcommand, Debug)]
enum StateCommand {
    /// Say who holds the stack's lock; remove one a killed run left
    ///
    /// Local state (--state-dir): the lock is an OS lock on
    /// `<state-dir>/<stack>.lock`, released by the OS when its process ends,
    /// even by SIGKILL or a crash: a lock cannot outlive its holder, so there
    /// is never a lock to break. When a live process holds it, this names it
    /// (pid, host, command, since when) and exits 3; end that process, or
    /// wait for it. When nobody holds it, a holder note still in the file
    /// was left by a run that was killed or crashed: this reports it and
    /// clears the note.
    ///
    /// State in S3 (--state s3://…): the lock is the object
    /// PREFIX/<stack>.lock, which S3 cannot tie to a process: a run that was
    /// killed, or whose machine was lost, leaves it. Without --lock-id this
    /// names the holder (with its lock id) and exits 3. With the holder's
    /// --lock-id, it shows the holder and removes that lock, and only that
    /// one: make sure the run is gone first. A plain run never breaks a lock.
    ///
    /// Either way, creates the killed run left unfinished are listed (the
    /// next apply adopts them).
    #[command(verbatim_doc_comment)]
    Unlock {
        /// The id of the lock to remove, as the refusal or this command
        /// without it shows (state in S3; a local lock ends with its process).
        #[arg(long, value_name = "ID")]
        lock_id: Option<String>,
        #[command(flatten)]
        file: FileArg,
    },
    /// List the resources state holds: id, type, physical id
    List {
        #[command(flatten)]
        file: FileArg,
    },
    /// Print what state holds for one resource, as JSON
    Show {
        /// The resource id.
        id: String,
        #[command(flatten)]
        file: FileArg,
    },
    /// Forget a resource without deleting it: it stays in AWS, unmanaged
    Rm {
        /// The resource id.
        id: String,
        #[command(flatten)]
        file: FileArg,
    },
    /// Rename a resource in state (no AWS call); rename it in the stack too
    Mv {
        /// The id state knows it by.
        old: String,
        /// Its new id.
        new: String,
        #[command(flatten)]
        file: FileArg,
    },
    /// Print the whole state as JSON; with --from, move a state here
    ///
    /// Without --from, prints the state as JSON (for scripts and backups).
    ///
    /// With --from PLACE (s3://BUCKET/PREFIX, or a local directory), moves
    /// the stack's state from PLACE to where this command keeps state
    /// (--state, CAIRN_STATE, or --state-dir): the reverse of `state push`,
    /// with the same checks.
    #[command(verbatim_doc_comment)]
    Pull {
        /// Where the state is now: s3://BUCKET/PREFIX, or a directory.
        #[arg(long, value_name = "PLACE")]
        from: Option<String>,
        /// Leave the state at its old place too (a second copy that will
        /// not follow later applies).
        #[arg(long, requires = "from")]
        copy: bool,
        #[command(flatten)]
        file: FileArg,
    },
    /// Encrypt the stack's state where it is, as --state-encryption (or the
    /// stack's `state.encryption`) says
    ///
    /// The way into encryption for a state written without it, which an
    /// encrypting run refuses to read. Under the stack's lock; the state is
    /// rewritten encrypted (a local backup too). Earlier versions a
    /// versioned bucket keeps stay as they were: delete them by hand.
    #[command(verbatim_doc_comment)]
    Encrypt {
        #[command(flatten)]
        file: FileArg,
    },
    /// Decrypt the stack's state where it is (the way out of encryption)
    ///
    /// Needs the key the state is encrypted with (--state-encryption or the
    /// stack's `state.encryption`); afterwards, remove that setting.
    #[command(verbatim_doc_comment)]
    Decrypt {
        #[command(flatten)]
        file: FileArg,
    },
    /// Move the stack's state to another place (local to S3, or back)
    ///
    /// Moves the state from where this command keeps it (--state,
    /// CAIRN_STATE, or --state-dir, default .cairn) to PLACE: both are
    /// locked, the state is written there and read back, and only then
    /// removed here (kept with --copy). The state keeps its lineage, so the
    /// resources it made (tagged with it) stay its own: a plan from the new
    /// place, from any directory, shows no change.
    ///
    /// Refused, with nothing changed (exit 3), when PLACE already holds a
    /// state of this stack of another lineage (another deployment), or the
    /// same state at a serial as new as this one.
    ///
    ///   cairn state push stacks/lab6-sqs-lambda.yaml --to s3://my-cairn-state/labs
    ///   CAIRN_STATE=s3://my-cairn-state/labs cairn plan stacks/lab6-sqs-lambda.yaml
    #[command(verbatim_doc_comment)]
    Push {
        /// Where the state goes: s3://BUCKET/PREFIX, or a directory.
        #[arg(long, value_name = "PLACE")]
        to: String,
        /// Leave the state here too (a second copy that will not follow
        /// later applies).
        #[arg(long)]
        copy: bool,
        #[command(flatten)]
        file: FileArg,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum GraphFormat {
    Dot,
    Mermaid,
    /// `{"stack", "resources": [{"id", "kind", "depends_on"}]}`, for scripts (also `--json`).
    Json,
}

fn parse_duration_arg(s: &str) -> Result<u64, String> {
    cairn_engine::spec::parse_ttl(s)
}

fn parse_ttl_arg(s: &str) -> Result<String, String> {
    cairn_engine::spec::parse_ttl(s).map(|_| s.trim().to_string())
}

fn parse_state_url(s: &str) -> Result<S3Place, String> {
    if !s.starts_with("s3://") {
        return Err(format!(
            "expected s3://BUCKET/PREFIX, got `{s}` (a local directory is --state-dir, or CAIRN_STATE_DIR)"
        ));
    }
    S3Place::parse(s)
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected NAME=VALUE, got `{s}`")),
    }
}

/// Where the stack comes from.
enum Origin {
    Yaml,
    Rust(Box<StackSpec>),
}

/// Runs the `cairn` binary: stacks come from YAML files.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    execute(cli, Origin::Yaml)
}

/// Gives a Rust stack program the same commands as the `cairn` binary:
/// `validate`, `plan`, `apply`, `destroy`, `status`, `output`, `graph`.
pub fn run(stack: impl Into<StackSpec>) -> ExitCode {
    let cli = Cli::parse();
    execute(cli, Origin::Rust(Box::new(stack.into())))
}

fn execute(cli: Cli, origin: Origin) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return Exit::Failed.into();
        }
    };
    runtime
        .block_on(async move {
            let base = tokio::spawn(interrupted_elsewhere());
            let exit = App::new(cli.global, origin).dispatch(cli.command).await;
            base.abort();
            exit
        })
        .into()
}

/// One command's context.
struct App {
    g: Global,
    origin: Origin,
    style: Style,
    registry: Registry,
    /// Several stacks in one command: each takes the parameters it declares
    /// (one declared by none is reported once, by [`App::unclaimed_params`]).
    shared_params: bool,
    /// A plan found changes (for `plan --detailed-exitcode`).
    changes: bool,
    /// `apply --adopt`.
    adopt: bool,
    /// `--target` ids: plans keep only these and what they need.
    targets: Vec<String>,
    /// The stack files loaded, by stack name, to locate diagnostics found
    /// after loading (a `moved` entry that does not fit the state).
    sources: BTreeMap<String, cairn_stack::Source>,
    /// CAIRN_STATE and CAIRN_STATE_DIR: below the flags and a stack's own
    /// `state:` (see `stores.rs`); a CAIRN_STATE that is not a URL is
    /// reported before any command runs.
    env_state: Result<Option<S3Place>, String>,
    env_state_dir: Option<PathBuf>,
    /// For state in S3: one client per region, shared by every stack's
    /// state there.
    s3: std::sync::Mutex<BTreeMap<ConnectionKey, Arc<S3Connection>>>,
}

/// What sets one S3 client for state apart: its region and its SSE-KMS key.
type ConnectionKey = (Option<String>, Option<String>);

/// A loaded stack and where its diagnostics point.
struct Loaded {
    spec: StackSpec,
    locator: Box<dyn Locator>,
}

impl App {
    fn new(g: Global, origin: Origin) -> Self {
        let color = match g.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        };
        App {
            g,
            origin,
            style: Style { color, width: render::width() },
            registry: cairn_aws::registry(),
            shared_params: false,
            changes: false,
            adopt: false,
            targets: Vec::new(),
            sources: BTreeMap::new(),
            env_state: match std::env::var("CAIRN_STATE") {
                Ok(url) if !url.is_empty() => parse_state_url(&url).map(Some).map_err(|e| format!("CAIRN_STATE: {e}")),
                _ => Ok(None),
            },
            env_state_dir: std::env::var_os("CAIRN_STATE_DIR").filter(|d| !d.is_empty()).map(PathBuf::from),
            s3: std::sync::Mutex::default(),
        }
    }

    fn say(&self, text: &str) {
        if !self.g.quiet {
            eprint!("{text}");
        }
    }

    async fn dispatch(mut self, command: Command) -> Exit {
        if let Err(e) = &self.env_state {
            eprintln!("error: {e}");
            return Exit::Invalid;
        }
        if self.g.regions.len() > 1 && !matches!(command, Command::Sweep { .. }) {
            eprintln!(
                "error: --region is given {} times; a stack works in one region\n  = help: only `cairn sweep` searches several",
                self.g.regions.len()
            );
            return Exit::Invalid;
        }
        match command {
            Command::Validate { files } => self.cmd_validate_all(files),
            Command::Plan { files, .. } | Command::Apply { files, .. } | Command::Destroy { files, .. }
                if self.g.file.is_some() && !files.files.is_empty() =>
            {
                eprintln!(
                    "error: a stack file is given both with -f and as an argument\n  = help: list every stack file as an argument, without -f"
                );
                Exit::Invalid
            }
            Command::Plan { files, out, detailed_exitcode, target, refresh_only, parallelism } => {
                let parallelism = usize::from(parallelism);
                self.targets = target.ids;
                let code = match one_or_many(files.files) {
                    Ok(file) if refresh_only => self.cmd_refresh_only(file, None, parallelism).await,
                    Ok(file) => self.cmd_plan(file, out, parallelism).await,
                    Err(_) if out.is_some() => refuse_many("plan --out saves the plan of one stack"),
                    Err(_) if refresh_only => refuse_many("--refresh-only works on one stack"),
                    Err(_) if !self.targets.is_empty() => refuse_many("--target names resources of one stack"),
                    Err(files) => self.cmd_many(Many::Plan, files, false, parallelism).await,
                };
                detailed_exit(code, self.changes, detailed_exitcode)
            }
            Command::Apply { files, yes, plan, parallelism, adopt, target, refresh_only } => {
                self.adopt = adopt;
                self.targets = target.ids;
                let parallelism = usize::from(parallelism);
                match one_or_many(files.files) {
                    Ok(_) if plan.is_some() && !self.targets.is_empty() => {
                        eprintln!(
                            "error: --target cannot change a saved plan\n  = help: make the plan with `cairn plan --target ID --out FILE`"
                        );
                        Exit::Invalid
                    }
                    Ok(file) if refresh_only => self.cmd_refresh_only(file, Some(yes), parallelism).await,
                    Ok(file) => self.cmd_apply(file, yes, plan, parallelism).await,
                    Err(_) if plan.is_some() => refuse_many("apply --plan applies the saved plan of one stack"),
                    Err(_) if refresh_only => refuse_many("--refresh-only works on one stack"),
                    Err(_) if !self.targets.is_empty() => refuse_many("--target names resources of one stack"),
                    Err(files) => self.cmd_many(Many::Apply, files, yes, parallelism).await,
                }
            }
            Command::Destroy { files, yes, from_tags: Some(stack), parallelism, .. } => {
                if !files.files.is_empty() || self.g.file.is_some() {
                    eprintln!(
                        "error: --from-tags destroys by tags, with no stack file\n  = help: `cairn destroy --from-tags {stack} --yes`, or `cairn destroy FILE` to destroy from state"
                    );
                    return Exit::Invalid;
                }
                let store = self.store_named(&stack);
                match store.exists() {
                    Ok(false) => {}
                    Ok(true) => {
                        eprintln!(
                            "error: stack {stack} has state here ({}); --from-tags is for a stack whose state is lost\n  = help: `cairn destroy STACK.yaml` destroys it from its state",
                            store.location()
                        );
                        return Exit::Invalid;
                    }
                    Err(e) => return state_error(&e),
                }
                let sweep = sweep::Sweep {
                    stacks: vec![stack],
                    yes,
                    parallelism: usize::from(parallelism),
                    ..sweep::Sweep::default()
                };
                self.cmd_sweep(sweep).await
            }
            Command::Sweep { stacks, expired, older_than, tags, all_regions, yes, parallelism } => {
                let parallelism = usize::from(parallelism);
                let sweep = sweep::Sweep { stacks, expired, older_than, tags, all_regions, yes, parallelism };
                self.cmd_sweep(sweep).await
            }
            Command::Destroy { files, yes, target, parallelism, .. } => {
                let parallelism = usize::from(parallelism);
                self.targets = target.ids;
                match one_or_many(files.files) {
                    Ok(file) => self.cmd_destroy(file, yes, parallelism).await,
                    Err(_) if !self.targets.is_empty() => refuse_many("--target names resources of one stack"),
                    Err(files) => self.cmd_many(Many::Destroy, files, yes, parallelism).await,
                }
            }
            Command::Import { id, physical_id, adopt, file } => {
                self.adopt = adopt;
                self.cmd_import(file.file, &id, &physical_id).await
            }
            Command::Status { file } => self.cmd_status(file.file),
            Command::Check { file, only, timeout } => self.cmd_check(file.file, only, timeout.wait).await,
            Command::State(StateCommand::Unlock { lock_id, file }) => self.cmd_state_unlock(file.file, lock_id),
            Command::State(StateCommand::List { file }) => self.cmd_state(file.file, state::Op::List),
            Command::State(StateCommand::Show { id, file }) => self.cmd_state(file.file, state::Op::Show(id)),
            Command::State(StateCommand::Rm { id, file }) => self.cmd_state(file.file, state::Op::Rm(id)),
            Command::State(StateCommand::Mv { old, new, file }) => self.cmd_state(file.file, state::Op::Mv(old, new)),
            Command::State(StateCommand::Pull { file, from: None, .. }) => self.cmd_state(file.file, state::Op::Pull),
            Command::State(StateCommand::Pull { file, from: Some(from), copy }) => {
                self.cmd_state_move(file.file, state::Move::Pull { from, copy })
            }
            Command::State(StateCommand::Encrypt { file }) => self.cmd_state_seal(file.file, true),
            Command::State(StateCommand::Decrypt { file }) => self.cmd_state_seal(file.file, false),
            Command::State(StateCommand::Push { file, to, copy }) => {
                self.cmd_state_move(file.file, state::Move::Push { to, copy })
            }
            Command::Output { args } => self.cmd_output(args),
            Command::Graph { file, format } => self.cmd_graph(file.file, format),
            Command::Init { lab, rust, stack, output, cairn_path, force } => {
                self.cmd_init(init::Init { lab, rust, stack, output, cairn_path, force })
            }
            Command::TestPattern { args } => self.cmd_try_pattern(try_pattern::Tester::Rule, args),
            Command::TestFilter { args } => self.cmd_try_pattern(try_pattern::Tester::Filter, args),
            Command::Schema => {
                println!("{}", pretty(&crate::schema::stack_schema(&self.registry)));
                Exit::Ok
            }
            Command::Explain(args) => self.cmd_explain(args),
            Command::Completions { shell } => {
                clap_complete::generate(shell, &mut Cli::command(), "cairn", &mut std::io::stdout());
                Exit::Ok
            }
        }
    }

    /// Loads the stack: from the file (positional or -f) or the Rust program;
    /// a stack whose `state:` cannot be used stops here, before any command
    /// looks for its state.
    fn load(&mut self, file: Option<PathBuf>) -> Result<Loaded, Exit> {
        let loaded = self.load_spec(file)?;
        let place = loaded.spec.state.as_ref().and_then(|s| s.url.as_deref()).map(S3Place::parse);
        if let Some(Err(e)) = place {
            let d = cairn_engine::Diagnostic::error(cairn_engine::At::StackKey { key: "state".into() }, e)
                .expected("s3://BUCKET/PREFIX, with ?region=REGION when the bucket is in another region");
            self.report(&Diagnostics(vec![d]), loaded.locator.as_ref());
            return Err(Exit::Invalid);
        }
        Ok(loaded)
    }

    fn load_spec(&mut self, file: Option<PathBuf>) -> Result<Loaded, Exit> {
        match &self.origin {
            Origin::Rust(spec) => {
                if let Some(f) = file.or_else(|| self.g.file.clone()) {
                    eprintln!(
                        "error: this program defines its stack in Rust; it takes no stack file (got {})",
                        f.display()
                    );
                    return Err(Exit::Invalid);
                }
                Ok(Loaded { spec: (**spec).clone(), locator: Box::new(NoSource) })
            }
            Origin::Yaml => {
                let Some(path) = file.or_else(|| self.g.file.clone()) else {
                    eprintln!(
                        "error: no stack file given\n  = help: name one, e.g. `cairn plan stacks/lab1-notifications.yaml` or `-f FILE`"
                    );
                    return Err(Exit::Invalid);
                };
                let parsed = cairn_stack::load(&path);
                let spec = parsed.spec;
                if parsed.diagnostics.has_errors() || spec.is_none() {
                    eprint!("{}", render_diags(&parsed.diagnostics, &parsed.source, self.style.color));
                    return Err(Exit::Invalid);
                }
                if !parsed.diagnostics.is_empty() {
                    eprint!("{}", render_diags(&parsed.diagnostics, &parsed.source, self.style.color));
                }
                let Some(spec) = spec else { return Err(Exit::Invalid) };
                self.sources.insert(spec.name.clone(), parsed.source.clone());
                Ok(Loaded { spec, locator: Box::new(parsed.source) })
            }
        }
    }

    fn params(&self, spec: &StackSpec) -> BTreeMap<String, String> {
        let given: BTreeMap<String, String> = self
            .g
            .params
            .iter()
            .filter(|(k, _)| !self.shared_params || spec.parameters.contains_key(k))
            .cloned()
            .collect();
        params_from_env(spec, &given, |k| std::env::var(k).ok())
    }

    /// With several stacks: a parameter given that no stack declares is a
    /// mistake (a typo, or the wrong files).
    fn unclaimed_params(&self, specs: &[&StackSpec]) -> Result<(), Exit> {
        let mut unclaimed = Vec::new();
        for (name, _) in &self.g.params {
            if !specs.iter().any(|s| s.parameters.contains_key(name)) {
                unclaimed.push(format!("`{name}`"));
            }
        }
        if unclaimed.is_empty() {
            return Ok(());
        }
        let declared: std::collections::BTreeSet<&str> =
            specs.iter().flat_map(|s| s.parameters.keys().map(String::as_str)).collect();
        eprintln!(
            "error: parameter {} is given but none of the {} stacks declares it\n  = expected: {}",
            unclaimed.join(", "),
            specs.len(),
            if declared.is_empty() {
                "no parameters".to_string()
            } else {
                format!("one of {}", declared.into_iter().collect::<Vec<_>>().join(", "))
            }
        );
        Err(Exit::Invalid)
    }

    /// Loads and validates; reports diagnostics; `Err` means exit 2.
    fn validated(&mut self, file: Option<PathBuf>) -> Result<(Validated, Box<dyn Locator>), Exit> {
        self.validated_with(file, true)
    }

    fn validated_with(
        &mut self,
        file: Option<PathBuf>,
        require_params: bool,
    ) -> Result<(Validated, Box<dyn Locator>), Exit> {
        let loaded = self.load(file)?;
        self.validated_loaded(loaded, require_params)
    }

    fn validated_loaded(
        &mut self,
        loaded: Loaded,
        require_params: bool,
    ) -> Result<(Validated, Box<dyn Locator>), Exit> {
        let params = self.params(&loaded.spec);
        let (v, diags) = validate_with(&loaded.spec, &self.registry, &params, require_params);
        self.report(&diags, loaded.locator.as_ref());
        if self.g.json && v.is_none() {
            let located: Vec<serde_json::Value> = diags
                .0
                .iter()
                .map(|d| {
                    let mut j = serde_json::to_value(d).unwrap_or_default();
                    if let Some(l) = loaded.locator.locate(&d.at) {
                        j["location"] = serde_json::json!({"file": l.file, "line": l.line, "col": l.col});
                    }
                    j
                })
                .collect();
            println!("{}", pretty(&serde_json::json!({"valid": false, "diagnostics": located})));
        }
        match v {
            Some(v) => Ok((v, loaded.locator)),
            None => Err(Exit::Invalid),
        }
    }

    /// Takes the stack's lock (waiting up to --lock-timeout for another
    /// run to release it) and loads its state.
    fn lock_and_load(
        &self,
        store: &StateStore,
        command: &str,
    ) -> Result<(cairn_engine::state::StateLock, State), Exit> {
        let lock = self.lock_only(store, command)?;
        let state = store.load().map_err(|e| state_error(&e))?;
        Ok((lock, state))
    }

    /// [`App::lock_and_load`] without the load.
    fn lock_only(&self, store: &StateStore, command: &str) -> Result<cairn_engine::state::StateLock, Exit> {
        let lock =
            lock::lock_waiting(store, command, &self.g.lock_timeout, |line| eprint!("{line}")).map_err(
                |e| match e {
                    lock::Refused::State(e) => state_error(&e),
                    lock::Refused::TimedOut(message) => {
                        eprintln!("{message}");
                        Exit::State
                    }
                },
            )?;
        if let Some(previous) = lock.previous() {
            eprintln!("note: an earlier run on this stack did not end normally (killed or crashed): {previous}");
        }
        Ok(lock)
    }

    fn report(&self, diags: &Diagnostics, locator: &dyn Locator) {
        if !diags.is_empty() {
            eprint!("{}", render_diags(diags, locator, self.style.color));
        }
    }

    fn provider(&self, spec: &StackSpec) -> AwsProvider {
        AwsProvider::new(AwsOptions {
            region: self.g.regions.last().cloned().or_else(|| spec.region.clone()),
            profile: self.g.profile.clone(),
            ..AwsOptions::default()
        })
    }
}

/// One stack's apply or destroy, for [`App::execute`].
struct Job<'a> {
    provider: &'a dyn Provider,
    v: Option<&'a Validated>,
    plan: &'a Plan,
    state: State,
    store: &'a StateStore,
}

/// `plan --detailed-exitcode`: 2 means changes, so an error that would
/// exit 2 (invalid input) exits 1; without the flag, the code as it is.
fn detailed_exit(code: Exit, changes: bool, detailed: bool) -> Exit {
    match code {
        _ if !detailed => code,
        Exit::Ok if changes => Exit::Invalid,
        Exit::Invalid => Exit::Failed,
        other => other,
    }
}

/// The exit code that says more (codes rank as their numbers: 130 > 3 > 2 > 1 > 0).
fn worse(a: Exit, b: Exit) -> Exit {
    if b as i32 > a as i32 { b } else { a }
}

/// Ctrl-C handling for the length of an apply or destroy (see
/// [`watch_interrupts`]); dropping it stops the watch.
struct Interrupts {
    cancel: Arc<AtomicBool>,
    watcher: tokio::task::JoinHandle<()>,
}

/// What the first Ctrl-C of an apply or destroy says.
const APPLY_STOPPING: &str =
    "interrupt: starting nothing new; in-flight operations finish and state is saved (Ctrl-C again aborts at once)";

impl Interrupts {
    fn watch() -> Self {
        Self::watch_saying(APPLY_STOPPING)
    }

    /// [`Interrupts::watch`], saying `stopping` at the first Ctrl-C.
    fn watch_saying(stopping: &'static str) -> Self {
        let cancel = Arc::new(AtomicBool::new(false));
        WATCHES.fetch_add(1, Ordering::SeqCst);
        let watcher = tokio::spawn(watch_interrupts(cancel.clone(), stopping));
        Interrupts { cancel, watcher }
    }
}

impl Drop for Interrupts {
    fn drop(&mut self) {
        self.watcher.abort();
        WATCHES.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How many [`Interrupts`] watches are on (applies and destroys running).
static WATCHES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Ctrl-C anywhere else (a plan's reads, the question before apply, a
/// `state` command): once Tokio listens for Ctrl-C the OS no longer ends the
/// process, so this does, after removing the locks this run took (a lock
/// record in a bucket would outlive it). During an apply or destroy, their
/// own watch answers instead.
async fn interrupted_elsewhere() {
    while stop_signal().await {
        if WATCHES.load(Ordering::SeqCst) == 0 {
            eprintln!("\ninterrupted");
            lock::release_on_abort(|line| eprint!("{line}"));
            std::process::exit(Exit::Interrupted as i32);
        }
    }
}

fn state_error(e: &StateError) -> Exit {
    eprintln!("error: {e}");
    match e {
        StateError::Io { .. } => Exit::Failed,
        _ => Exit::State,
    }
}

/// The next Ctrl-C (SIGINT) or SIGTERM (a CI job cancelled, `kill`): both
/// ask cairn to stop, and each must remove a lock in a bucket on the way
/// out. Not SIGHUP: listening for it would undo `nohup`, which a run meant
/// to outlive its terminal relies on. `false` if none can be listened for.
async fn stop_signal() -> bool {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            return tokio::signal::ctrl_c().await.is_ok();
        };
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.is_ok(),
            _ = term.recv() => true,
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.is_ok()
    }
}

/// First Ctrl-C: stop scheduling, let in-flight calls finish, save state.
/// Second: abort at once.
async fn watch_interrupts(cancel: Arc<AtomicBool>, stopping: &'static str) {
    if !stop_signal().await {
        return;
    }
    cancel.store(true, Ordering::SeqCst);
    eprintln!("\n{stopping}");
    if stop_signal().await {
        eprintln!("aborted: state may lack the operations that were in flight");
        lock::release_on_abort(|line| eprint!("{line}"));
        std::process::exit(Exit::Interrupted as i32);
    }
}

fn pretty<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// A value for scripts: strings bare, everything else as JSON.
fn plain(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod clap_tests {
    use super::*;

    /// clap checks its own definitions (argument ids named in conflicts,
    /// duplicate flags) only when a command is built: here, not first in a
    /// user's hands.
    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
