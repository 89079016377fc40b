//! The `cairn` command line, shared by the `cairn` binary (YAML stacks) and
//! by Rust stack programs through [`run`].

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod import;
mod json;
mod lock;
mod refresh;
mod render;
mod saved;
mod state;
mod sweep;

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use cairn_aws::{AwsOptions, AwsProvider};
use cairn_engine::diag::{Locator, NoSource, did_you_mean, render as render_diags};
use cairn_engine::exec::{self, ExecOptions};
use cairn_engine::kind::{Provider, Registry};
use cairn_engine::plan::{self, Plan};
use cairn_engine::state::{LockStatus, StateError};
use cairn_engine::validate::{Validated, params_from_env, validate_with};
use cairn_engine::{Diagnostics, StackSpec, State, StateStore};
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

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

const EXIT_CODES: &str = "\
Exit codes:
  0    success (plan --detailed-exitcode: no changes)
  1    an operation failed (plan --detailed-exitcode: any error, an invalid stack included)
  2    invalid input or usage, or a saved plan refused (plan --detailed-exitcode: changes present)
  3    state locked or unreadable
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
    /// Where local state is kept: each stack's is DIR/<stack>.json. Relative
    /// to the working directory, so run cairn from one place (or set this, or
    /// CAIRN_STATE_DIR, to one directory): another directory means another
    /// state, which does not know what this one deployed.
    #[arg(long, global = true, default_value = ".cairn", env = "CAIRN_STATE_DIR", value_name = "DIR")]
    state_dir: PathBuf,
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
    /// How long the stack may live after this apply (30m, 4h, 2d, 1w),
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
    /// Show what the local state holds for the stack (no AWS call).
    Status {
        #[command(flatten)]
        file: FileArg,
    },
    /// Inspect and repair the local state of a stack (no AWS call).
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
    /// (IAM roles and instance profiles too), grouped by stack, each stack
    /// marked expired (its `cairn:expires` time has passed), orphaned (no
    /// state for it in --state-dir) or live. Nothing without that tag is ever
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
    /// Print the JSON Schema of the stack format, for editors.
    Schema,
    /// Print shell completions.
    Completions { shell: clap_complete::Shell },
}

#[derive(Subcommand, Debug)]
enum StateCommand {
    /// Say who holds the stack's lock; if nobody does, clear a leftover note
    ///
    /// The lock is an OS lock on `<state-dir>/<stack>.lock`, released by the
    /// OS when its process ends, even by SIGKILL or a crash: a lock cannot
    /// outlive its holder, so there is never a lock to break. When a live
    /// process holds it, this names it (pid, host, command, since when) and
    /// exits 3; end that process, or wait for it. When nobody holds it, a
    /// holder note still in the file was left by a run that was killed or
    /// crashed: this reports it, with any creates that run left unfinished
    /// (the next apply adopts them), and clears the note.
    #[command(verbatim_doc_comment)]
    Unlock {
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
    /// Print the whole state as JSON
    Pull {
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

fn parse_ttl_arg(s: &str) -> Result<String, String> {
    cairn_engine::spec::parse_ttl(s).map(|_| s.trim().to_string())
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
    runtime.block_on(async move { App::new(cli.global, origin).dispatch(cli.command).await }).into()
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
}

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
        }
    }

    fn say(&self, text: &str) {
        if !self.g.quiet {
            eprint!("{text}");
        }
    }

    async fn dispatch(mut self, command: Command) -> Exit {
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
                let state = StateStore::new(&self.g.state_dir, &stack).path();
                if state.exists() {
                    eprintln!(
                        "error: stack {stack} has state here ({}); --from-tags is for a stack whose state is lost\n  = help: `cairn destroy STACK.yaml` destroys it from its state",
                        state.display()
                    );
                    return Exit::Invalid;
                }
                let sweep = sweep::Sweep {
                    stacks: vec![stack],
                    yes,
                    parallelism: usize::from(parallelism),
                    ..sweep::Sweep::default()
                };
                self.cmd_sweep(sweep).await
            }
            Command::Sweep { stacks, expired, tags, all_regions, yes, parallelism } => {
                let parallelism = usize::from(parallelism);
                let sweep = sweep::Sweep { stacks, expired, tags, all_regions, yes, parallelism };
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
            Command::State(StateCommand::Unlock { file }) => self.cmd_state_unlock(file.file),
            Command::State(StateCommand::List { file }) => self.cmd_state(file.file, state::Op::List),
            Command::State(StateCommand::Show { id, file }) => self.cmd_state(file.file, state::Op::Show(id)),
            Command::State(StateCommand::Rm { id, file }) => self.cmd_state(file.file, state::Op::Rm(id)),
            Command::State(StateCommand::Mv { old, new, file }) => self.cmd_state(file.file, state::Op::Mv(old, new)),
            Command::State(StateCommand::Pull { file }) => self.cmd_state(file.file, state::Op::Pull),
            Command::Output { args } => self.cmd_output(args),
            Command::Graph { file, format } => self.cmd_graph(file.file, format),
            Command::Schema => {
                println!("{}", pretty(&crate::schema::stack_schema(&self.registry)));
                Exit::Ok
            }
            Command::Completions { shell } => {
                clap_complete::generate(shell, &mut Cli::command(), "cairn", &mut std::io::stdout());
                Exit::Ok
            }
        }
    }

    /// Loads the stack: from the file (positional or -f) or the Rust program.
    fn load(&mut self, file: Option<PathBuf>) -> Result<Loaded, Exit> {
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
        let state = store.load().map_err(|e| state_error(&e))?;
        Ok((lock, state))
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

    fn store(&self, spec: &StackSpec) -> StateStore {
        StateStore::new(&self.g.state_dir, &spec.name)
    }

    /// Validates each file in turn (all are reported), exiting with the worst.
    fn cmd_validate_all(&mut self, files: Vec<PathBuf>) -> Exit {
        if files.len() <= 1 {
            return self.cmd_validate(files.into_iter().next());
        }
        self.shared_params = true;
        let mut worst = Exit::Ok;
        let mut specs = Vec::new();
        for file in files {
            let code = match self.validated_with(Some(file), false) {
                Ok((v, _)) => {
                    self.report_valid(&v);
                    specs.push(v.spec);
                    Exit::Ok
                }
                Err(e) => e,
            };
            worst = worse(worst, code);
        }
        if worst == Exit::Ok
            && let Err(e) = self.unclaimed_params(&specs.iter().collect::<Vec<_>>())
        {
            worst = e;
        }
        worst
    }

    fn cmd_validate(&mut self, file: Option<PathBuf>) -> Exit {
        match self.validated_with(file, false) {
            Ok((v, _)) => {
                self.report_valid(&v);
                Exit::Ok
            }
            Err(e) => e,
        }
    }

    fn report_valid(&self, v: &Validated) {
        if self.g.json {
            println!("{}", pretty(&serde_json::json!({"valid": true, "stack": v.spec.name, "resources": v.order})));
        }
        self.say(&format!("{} is valid: {} resource(s).\n", v.spec.name, v.order.len()));
    }

    async fn make_plan(
        &self,
        provider: &AwsProvider,
        v: Option<&Validated>,
        name: &str,
        state: &State,
        parallelism: usize,
    ) -> Result<Plan, Exit> {
        let location = StateStore::new(&self.g.state_dir, name).path().display().to_string();
        self.check_targets(v, state)?;
        match plan::make_targeted(provider, v, name, state, parallelism, &self.targets).await {
            Ok(mut p) => {
                p.state_location = Some(location);
                // The time to live runs from now: each apply with one moves it.
                let ttl = self.g.ttl.as_ref().or_else(|| v.and_then(|v| v.spec.ttl.as_ref()));
                if let Some(v) = v.filter(|_| ttl.is_some() || state.expires.is_some())
                    && let Some(d) = cairn_engine::tags::check_expiry_room(&v.spec.tags)
                {
                    eprintln!("error: {}\n  = expected: {}", d.message, d.expected.unwrap_or_default());
                    return Err(Exit::Invalid);
                }
                if let Some(secs) = ttl.and_then(|t| cairn_engine::spec::parse_ttl(t).ok()) {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs())
                        .unwrap_or(0);
                    let at = i64::try_from(now.saturating_add(secs)).unwrap_or(i64::MAX);
                    p.expires = Some(cairn_engine::state::format_utc(at));
                }
                Ok(p)
            }
            Err(e) => Err(self.plan_error(name, &location, e)),
        }
    }

    /// Reports why a plan could not be made; the exit code to end with.
    fn plan_error(&self, name: &str, location: &str, e: plan::PlanError) -> Exit {
        match e {
            plan::PlanError::Moves(diags) => {
                match self.sources.get(name) {
                    Some(source) => self.report(&diags, source),
                    None => self.report(&diags, &NoSource),
                }
                eprintln!("error: planning {name}: the stack's `moved` entries do not fit its state ({location})");
                Exit::Invalid
            }
            e => {
                let e = if self.g.verbose { e.to_string() } else { cairn_engine::kind::brief(&e.to_string()) };
                eprintln!("error: planning {name}: {e}");
                Exit::Failed
            }
        }
    }

    /// Every `--target` must name a resource of the stack or of its state
    /// (of state only, for destroy).
    fn check_targets(&self, v: Option<&Validated>, state: &State) -> Result<(), Exit> {
        let mut known: Vec<&str> = state.resources.keys().map(String::as_str).collect();
        if let Some(v) = v {
            known.extend(v.spec.resources.iter().map(|r| r.id.as_str()));
        }
        for t in &self.targets {
            if known.contains(&t.as_str()) {
                continue;
            }
            let hint = did_you_mean(t, known.iter().copied())
                .map(|c| format!("\n  = help: did you mean `{c}`?"))
                .unwrap_or_default();
            let place = if v.is_some() { "the stack or its state" } else { "the stack's state" };
            eprintln!(
                "error: --target `{t}` is not a resource of {place}\n  = expected: one of {}{hint}",
                if known.is_empty() { "(none)".to_string() } else { known.join(", ") }
            );
            return Err(Exit::Invalid);
        }
        Ok(())
    }

    async fn cmd_plan(&mut self, file: Option<PathBuf>, out: Option<PathBuf>, parallelism: usize) -> Exit {
        let file = file.or_else(|| self.g.file.clone());
        let loaded = match self.load(file.clone()) {
            Ok(l) => l,
            Err(e) => return e,
        };
        let (written, given) = (loaded.spec.clone(), self.params(&loaded.spec));
        let (v, _) = match self.validated_loaded(loaded, true) {
            Ok(x) => x,
            Err(e) => return e,
        };
        let provider = self.provider(&v.spec);
        let store = self.store(&v.spec);
        let (_lock, mut state) = match self.lock_and_load(&store, "plan") {
            Ok(x) => x,
            Err(e) => return e,
        };
        let plan = match self.make_plan(&provider, Some(&v), &v.spec.name, &state, parallelism).await {
            Ok(p) => p,
            Err(e) => return e,
        };
        self.changes = plan.has_changes();
        state::note_vanished(&store, &mut state, &plan);
        let shown = plan.masked(&v.secrets());
        if self.g.json {
            println!("{}", pretty(&json::planned("plan", &shown, &state, &store.path())));
        } else {
            self.say(&render::plan_text(&shown, self.style));
        }
        if let Some(path) = out {
            let making = saved::Making {
                spec: &written,
                file: file.as_deref().filter(|_| matches!(self.origin, Origin::Yaml)),
                given: &given,
                state: &state,
                state_path: store.path(),
                plan: &plan,
                secrets: &v.secrets(),
            };
            let written = saved::SavedPlan::new(&making).and_then(|s| {
                std::fs::write(&path, pretty(&s)).map_err(|e| format!("writing plan to {}: {e}", path.display()))
            });
            if let Err(e) = written {
                eprintln!("error: {e}");
                return Exit::Failed;
            }
            self.say(&format!(
                "Saved the plan to {}; apply exactly this plan with `cairn apply --plan {}`.\n",
                path.display(),
                path.display()
            ));
        }
        Exit::Ok
    }

    fn confirm(&self, question: &str, yes: bool) -> Result<(), Exit> {
        if yes {
            return Ok(());
        }
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
        if ci || !std::io::stdin().is_terminal() {
            eprintln!(
                "error: refusing to {question} without --yes: there is no terminal to confirm on\n  = help: review the plan above, then run again with --yes"
            );
            return Err(Exit::Invalid);
        }
        eprint!("Do you want to {question}? Only `yes` is accepted: ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        if std::io::stdin().lock().read_line(&mut line).is_err() || line.trim() != "yes" {
            eprintln!("Cancelled; nothing was changed.");
            return Err(Exit::Failed);
        }
        Ok(())
    }

    async fn cmd_apply(
        &mut self,
        file: Option<PathBuf>,
        yes: bool,
        saved: Option<PathBuf>,
        parallelism: usize,
    ) -> Exit {
        if let Some(path) = saved {
            return self.cmd_apply_saved(file, yes, &path, parallelism).await;
        }
        let (v, _) = match self.validated(file) {
            Ok(x) => x,
            Err(e) => return e,
        };
        let provider = self.provider(&v.spec);
        let store = self.store(&v.spec);
        let (_lock, mut state) = match self.lock_and_load(&store, "apply") {
            Ok(x) => x,
            Err(e) => return e,
        };
        let plan = match self.make_plan(&provider, Some(&v), &v.spec.name, &state, parallelism).await {
            Ok(p) => p,
            Err(e) => return e,
        };
        state::note_vanished(&store, &mut state, &plan);
        let job = Job { provider: &provider, v: Some(&v), plan: &plan, state, store: &store };
        self.apply_planned(job, yes, parallelism).await
    }

    /// `apply --plan`: the saved stack and parameters, checked against
    /// what is given and against state, then exactly the saved plan.
    async fn cmd_apply_saved(&mut self, file: Option<PathBuf>, yes: bool, path: &Path, parallelism: usize) -> Exit {
        let refuse = |e: String| {
            eprintln!("error: {e}");
            Exit::Invalid
        };
        let saved = match saved::SavedPlan::read(path) {
            Ok(s) => s,
            Err(e) => return refuse(e),
        };
        let file = file.or_else(|| self.g.file.clone());
        let checked = match &self.origin {
            Origin::Rust(spec) => match &file {
                Some(f) => {
                    Err(format!("this program defines its stack in Rust; it takes no stack file (got {})", f.display()))
                }
                None => saved.check_spec(spec),
            },
            Origin::Yaml => saved.check_stack_file(file.as_deref()),
        };
        if let Err(e) = checked {
            return refuse(e);
        }
        let given = match saved.parameters(&self.g.params, |k| std::env::var(k).ok()) {
            Ok(g) => g,
            Err(e) => return refuse(e),
        };
        let (v, diags) = validate_with(&saved.spec, &self.registry, &given, true);
        self.report(&diags, &NoSource);
        let Some(v) = v else {
            return refuse(format!("the stack saved in {} is not valid with this cairn", path.display()));
        };
        let provider = self.provider(&v.spec);
        let store = self.store(&v.spec);
        let (_lock, mut state) = match self.lock_and_load(&store, "apply") {
            Ok(x) => x,
            Err(e) => return e,
        };
        if let Err(e) = saved.check_state(&state, &store.path()) {
            return refuse(e);
        }
        let plan = saved.plan_for(&state);
        state::note_vanished(&store, &mut state, &plan);
        let job = Job { provider: &provider, v: Some(&v), plan: &plan, state, store: &store };
        self.apply_planned(job, yes, parallelism).await
    }

    /// Shows a plan, asks, and applies it.
    async fn apply_planned(&self, job: Job<'_>, yes: bool, parallelism: usize) -> Exit {
        let shown = match job.v {
            Some(v) => job.plan.masked(&v.secrets()),
            None => job.plan.clone(),
        };
        self.say(&render::plan_text(&shown, self.style));
        if !job.plan.has_changes() {
            if self.g.json {
                let doc = json::planned("apply", &shown, &job.state, &job.store.path());
                println!("{}", pretty(&json::applied(doc, &exec::Outcome::default(), &job.state)));
            }
            return Exit::Ok;
        }
        if let Err(e) = self.confirm("apply these changes", yes) {
            return e;
        }
        self.execute_one(job, &shown, parallelism, "Apply").await
    }

    async fn cmd_destroy(&mut self, file: Option<PathBuf>, yes: bool, parallelism: usize) -> Exit {
        // Destroy needs the stack's name and region only: parameters need not be given.
        let loaded = match self.load(file) {
            Ok(l) => l,
            Err(e) => return e,
        };
        let spec = loaded.spec;
        let store = self.store(&spec);
        let (_lock, mut state) = match self.lock_and_load(&store, "destroy") {
            Ok(x) => x,
            Err(e) => return e,
        };
        // protect and retain as the stack says now.
        state.take_options(&spec);
        if state.resources.is_empty() {
            if !state.intents.is_empty() {
                eprintln!("{}", unfinished_creates(&state));
                return Exit::Failed;
            }
            if self.g.json {
                println!("{}", pretty(&json::recorded("destroy", &spec.name, &state, &store.path())));
            }
            self.say(&nothing_to_destroy(&spec.name, &store));
            return Exit::Ok;
        }
        let provider = self.provider(&spec);
        let plan = match self.make_plan(&provider, None, &spec.name, &state, parallelism).await {
            Ok(p) => p,
            Err(e) => return e,
        };
        self.say(&render::plan_text(&plan, self.style));
        let question = if self.targets.is_empty() {
            format!("destroy every resource of stack {}", spec.name)
        } else {
            format!("destroy the resources of stack {} listed above", spec.name)
        };
        if let Err(e) = self.confirm(&question, yes) {
            return e;
        }
        let job = Job { provider: &provider, v: None, plan: &plan, state, store: &store };
        self.execute_one(job, &plan, parallelism, "Destroy").await
    }

    /// Applies or destroys one stack, printing progress and its outcome;
    /// `scope` goes before resource ids (`stack/` when several run at once).
    async fn execute(
        &self,
        job: Job<'_>,
        parallelism: usize,
        what: &str,
        scope: &str,
        cancel: &Arc<AtomicBool>,
    ) -> (Exit, exec::Outcome, State) {
        let (style, verbose, quiet) = (self.style, self.g.verbose, self.g.quiet);
        let scope_owned = scope.to_string();
        let on_event: exec::EventSink = Arc::new(move |e| {
            if !quiet && let Some(line) = render::event_line(&e, style, verbose, &scope_owned) {
                eprintln!("{line}");
            }
        });
        let opts = ExecOptions { parallelism, on_event, cancel: Some(cancel.clone()), adopt: self.adopt };
        let (state, outcome) = exec::apply(job.provider, job.v, job.plan, job.state, job.store, &opts).await;
        // A destroy keeps the state while it records unfinished creates:
        // removing it would lose the only trace of what they may have made.
        let untracked = job.v.is_none() && !state.intents.is_empty();
        if job.v.is_none()
            && state.resources.is_empty()
            && !untracked
            && outcome.ok()
            && let Err(e) = job.store.remove()
        {
            eprintln!("warning: {e}");
        }
        self.say(&render::outcome_text(&outcome, what, self.style));
        if untracked {
            match scope.strip_suffix('/') {
                Some(stack) => eprintln!("{stack}: {}", unfinished_creates(&state)),
                None => eprintln!("{}", unfinished_creates(&state)),
            }
        }
        let exit = if outcome.interrupted {
            Exit::Interrupted
        } else if outcome.ok() && !untracked {
            Exit::Ok
        } else {
            Exit::Failed
        };
        (exit, outcome, state)
    }

    /// [`App::execute`] for a command on one stack, with its own Ctrl-C
    /// watch and JSON outcome; `shown` is the plan as shown (masked).
    async fn execute_one(&self, job: Job<'_>, shown: &Plan, parallelism: usize, what: &str) -> Exit {
        let interrupts = Interrupts::watch();
        let path = job.store.path();
        let (exit, outcome, after) = self.execute(job, parallelism, what, "", &interrupts.cancel).await;
        if self.g.json {
            let command = if what == "Destroy" { "destroy" } else { "apply" };
            println!("{}", pretty(&json::applied(json::planned(command, shown, &after, &path), &outcome, &after)));
        }
        exit
    }

    /// `plan`, `apply` or `destroy` of several stacks in one command. Every
    /// stack is loaded (validated, for plan and apply) and locked before any
    /// AWS call: one bad file or held lock stops them all with nothing done.
    /// Then they are planned side by side, confirmed once, and applied side
    /// by side, each with its own state, provider (region) and parallelism;
    /// one stack failing does not stop the others. Exits with the worst code.
    async fn cmd_many(&mut self, what: Many, files: Vec<PathBuf>, yes: bool, parallelism: usize) -> Exit {
        self.shared_params = true;
        let mut loaded: Vec<(PathBuf, Option<Validated>, StackSpec)> = Vec::new();
        let mut worst = Exit::Ok;
        for file in files {
            let r = if what == Many::Destroy {
                // Destroy needs the stack's name and region only.
                self.load(Some(file.clone())).map(|l| (None, l.spec))
            } else {
                self.validated(Some(file.clone())).map(|(v, _)| {
                    let spec = v.spec.clone();
                    (Some(v), spec)
                })
            };
            match r {
                Ok((v, spec)) => loaded.push((file, v, spec)),
                Err(e) => worst = worse(worst, e),
            }
        }
        if worst != Exit::Ok {
            eprintln!("error: nothing was done: every stack must be valid before any is worked on");
            return worst;
        }
        if what != Many::Destroy
            && let Err(e) = self.unclaimed_params(&loaded.iter().map(|(_, _, s)| s).collect::<Vec<_>>())
        {
            return e;
        }
        let mut seen: BTreeMap<&str, &Path> = BTreeMap::new();
        for (file, _, spec) in &loaded {
            if let Some(first) = seen.insert(spec.name.as_str(), file.as_path()) {
                eprintln!(
                    "error: {} and {} are both stack `{}`; a command works on each stack once\n  = help: give each stack file once, or rename one stack",
                    first.display(),
                    file.display(),
                    spec.name
                );
                return Exit::Invalid;
            }
        }
        let verb = match what {
            Many::Plan => "plan",
            Many::Apply => "apply",
            Many::Destroy => "destroy",
        };
        let mut targets = Vec::new();
        for (_, v, spec) in loaded {
            let store = self.store(&spec);
            let (lock, state) = match self.lock_and_load(&store, verb) {
                Ok(x) => x,
                Err(e) => return e,
            };
            targets.push(Target { provider: self.provider(&spec), v, spec, store, _lock: lock, state });
        }
        // The JSON document lists every stack given, in the order given.
        let order: Vec<String> = targets.iter().map(|t| t.spec.name.clone()).collect();
        let mut early: Vec<json::StackDoc> = Vec::new();
        if what == Many::Destroy {
            for t in &mut targets {
                t.state.take_options(&t.spec);
            }
            // A stack with nothing in state has nothing to plan; one whose
            // state holds only unfinished creates cannot be destroyed yet.
            targets.retain(|t| {
                if !t.state.resources.is_empty() {
                    return true;
                }
                let mut doc = json::recorded(verb, &t.spec.name, &t.state, &t.store.path());
                if t.state.intents.is_empty() {
                    self.say(&nothing_to_destroy(&t.spec.name, &t.store));
                } else {
                    let why = unfinished_creates(&t.state);
                    eprintln!("{}: {why}", t.spec.name);
                    doc.ok = false;
                    doc.warnings.push(why);
                    worst = Exit::Failed;
                }
                early.push(doc);
                false
            });
        }
        let in_order = |docs: Vec<json::StackDoc>| {
            let mut all: Vec<json::StackDoc> = early.iter().cloned().chain(docs).collect();
            all.sort_by_key(|d| order.iter().position(|n| *n == d.stack));
            json::many(verb, all)
        };
        let plans = futures::future::join_all(
            targets.iter().map(|t| self.make_plan(&t.provider, t.v.as_ref(), &t.spec.name, &t.state, parallelism)),
        )
        .await;
        let mut planned = Vec::new();
        let mut unplanned = Exit::Ok;
        for (t, p) in targets.into_iter().zip(plans) {
            match p {
                Ok(p) => planned.push((t, p)),
                Err(e) => unplanned = worse(unplanned, e),
            }
        }
        worst = worse(worst, unplanned);
        if unplanned != Exit::Ok && what != Many::Plan {
            eprintln!("error: nothing was changed: every stack must be planned before any is changed");
            return worst;
        }
        let shown: Vec<Plan> = planned
            .iter()
            .map(|(t, p)| match &t.v {
                Some(v) => p.masked(&v.secrets()),
                None => p.clone(),
            })
            .collect();
        let docs: Vec<json::StackDoc> =
            planned.iter().zip(&shown).map(|((t, _), p)| json::planned(verb, p, &t.state, &t.store.path())).collect();
        for p in &shown {
            if what != Many::Plan || !self.g.json {
                self.say(&render::plan_text(p, self.style));
            }
        }
        if what == Many::Plan {
            if self.g.json {
                println!("{}", pretty(&in_order(docs)));
            }
            self.changes = planned.iter().any(|(_, p)| p.has_changes());
            return worst;
        }
        // Stacks with nothing to do are reported as they are.
        let mut docs: Vec<json::StackDoc> = docs
            .into_iter()
            .zip(&planned)
            .map(|(d, (t, _))| json::applied(d, &exec::Outcome::default(), &t.state))
            .collect();
        let todo: Vec<usize> = (0..planned.len()).filter(|&i| planned[i].1.has_changes()).collect();
        if todo.is_empty() {
            if self.g.json {
                println!("{}", pretty(&in_order(docs)));
            }
            return worst;
        }
        let names: Vec<&str> = todo.iter().map(|&i| planned[i].0.spec.name.as_str()).collect();
        let question = match what {
            Many::Destroy => format!("destroy every resource of stacks {}", names.join(", ")),
            _ => format!("apply these changes to stacks {}", names.join(", ")),
        };
        if let Err(e) = self.confirm(&question, yes) {
            return e;
        }
        let interrupts = Interrupts::watch();
        let label = if what == Many::Destroy { "Destroy" } else { "Apply" };
        let app = &*self;
        let runs = planned.iter_mut().filter(|(_, p)| p.has_changes()).map(|(t, p)| {
            let job = Job {
                provider: &t.provider,
                v: t.v.as_ref(),
                plan: p,
                state: std::mem::take(&mut t.state),
                store: &t.store,
            };
            let what = format!("{label} of stack {}", t.spec.name);
            let scope = format!("{}/", t.spec.name);
            let cancel = &interrupts.cancel;
            async move { app.execute(job, parallelism, &what, &scope, cancel).await }
        });
        let results = futures::future::join_all(runs).await;
        for (&i, (exit, outcome, after)) in todo.iter().zip(results) {
            worst = worse(worst, exit);
            let doc = json::planned(verb, &shown[i], &after, &planned[i].0.store.path());
            docs[i] = json::applied(doc, &outcome, &after);
        }
        if self.g.json {
            println!("{}", pretty(&in_order(docs)));
        }
        worst
    }

    fn cmd_status(&mut self, file: Option<PathBuf>) -> Exit {
        let loaded = match self.load(file) {
            Ok(l) => l,
            Err(e) => return e,
        };
        let store = self.store(&loaded.spec);
        let state = match store.load() {
            Ok(s) => s,
            Err(e) => return state_error(&e),
        };
        if self.g.json {
            println!("{}", pretty(&json::recorded("status", &loaded.spec.name, &state, &store.path())));
            return Exit::Ok;
        }
        if state.resources.is_empty() {
            println!("stack {}: nothing deployed (no resources in {})", loaded.spec.name, store.path().display());
            return Exit::Ok;
        }
        println!(
            "stack {} ({} resources, state serial {}, {})",
            state.stack,
            state.resources.len(),
            state.serial,
            store.path().display()
        );
        if let Some(at) = &state.expires {
            println!("expires {at}: `cairn sweep --expired` removes it after that");
        }
        let width = state.resources.keys().map(String::len).max().unwrap_or(0);
        for (id, r) in &state.resources {
            let mut flags = Vec::new();
            if r.derived {
                flags.push("derived");
            }
            if r.retain {
                flags.push("retain");
            }
            if r.protect {
                flags.push("protect");
            }
            if r.vanished {
                flags.push("deleted outside cairn");
            }
            let flags = if flags.is_empty() { String::new() } else { format!("  [{}]", flags.join(", ")) };
            println!("  {id:width$}  {:24}  {}{flags}", r.kind, r.physical_id);
        }
        if !state.outputs.is_empty() {
            println!("outputs:");
            for (k, v) in &state.outputs {
                // Made from a resource found gone: shown, but not as live.
                let written = loaded.spec.outputs.iter().find(|(name, _)| name == k).map(|(_, w)| w);
                let stale = written
                    .and_then(|w| state::stale_because(w, &state))
                    .map(|id| format!("  (stale: `{id}` was deleted outside cairn)"))
                    .unwrap_or_default();
                println!("  {k} = {}{stale}", plain(v));
            }
        }
        Exit::Ok
    }

    fn cmd_state_unlock(&mut self, file: Option<PathBuf>) -> Exit {
        let loaded = match self.load(file) {
            Ok(l) => l,
            Err(e) => return e,
        };
        let name = loaded.spec.name.clone();
        let store = self.store(&loaded.spec);
        let status = match store.unlock() {
            Ok(s) => s,
            Err(e) => return state_error(&e),
        };
        let (holder, stale) = match &status {
            LockStatus::Held { holder } => (Some(holder.as_str()), None),
            LockStatus::Free { stale } => (None, stale.as_deref()),
        };
        // Interrupted creates, for a lock left by a killed run; state that
        // cannot be read is reported but does not change the answer.
        let intents: Vec<String> = match store.load() {
            Ok(state) => state.intents.into_keys().collect(),
            Err(e) => {
                eprintln!("warning: {e}");
                Vec::new()
            }
        };
        if self.g.json {
            println!(
                "{}",
                pretty(&serde_json::json!({
                    "stack": name, "locked": holder.is_some(), "holder": holder, "stale": stale,
                    "cleared": stale.is_some(), "interrupted_creates": intents,
                }))
            );
        }
        if let Some(holder) = holder {
            eprintln!(
                "error: stack `{name}` is locked by a running cairn: {holder}\n  = help: nothing was changed; wait for that run to finish, or end that process (the OS releases the lock when it ends)"
            );
            return Exit::State;
        }
        match stale {
            Some(note) => self.say(&format!(
                "Stack {name} is not locked. The lock file still named a run that did not end normally (killed or crashed): {note}. Cleared that note.\n"
            )),
            None => self.say(&format!("Stack {name} is not locked; there was nothing to clear.\n")),
        }
        if !intents.is_empty() {
            self.say(&format!(
                "State records {} create(s) that did not finish: {}; `cairn apply` adopts what they made.\n",
                intents.len(),
                intents.join(", ")
            ));
        }
        Exit::Ok
    }

    fn cmd_output(&mut self, mut args: Vec<String>) -> Exit {
        let file = match (&self.origin, &self.g.file) {
            (Origin::Yaml, None) if !args.is_empty() => Some(PathBuf::from(args.remove(0))),
            _ => None,
        };
        let loaded = match self.load(file) {
            Ok(l) => l,
            Err(e) => return e,
        };
        let state = match self.store(&loaded.spec).load() {
            Ok(s) => s,
            Err(e) => return state_error(&e),
        };
        match args.first() {
            Some(name) => match state.outputs.get(name) {
                Some(v) => {
                    println!("{}", if self.g.json { v.to_string() } else { plain(v) });
                    Exit::Ok
                }
                None => {
                    let known: Vec<&str> = loaded.spec.outputs.iter().map(|(k, _)| k.as_str()).collect();
                    let hint = cairn_engine::diag::did_you_mean(name, known.iter().copied())
                        .map(|c| format!("\n  = help: did you mean `{c}`?"))
                        .unwrap_or_default();
                    let why = if known.contains(&name.as_str()) {
                        "has no value yet (apply the stack first)"
                    } else {
                        "is not an output of this stack"
                    };
                    eprintln!("error: output `{name}` {why}{hint}");
                    Exit::Invalid
                }
            },
            None => {
                if self.g.json {
                    println!("{}", pretty(&state.outputs));
                } else {
                    for (k, v) in &state.outputs {
                        println!("{k} = {}", plain(v));
                    }
                }
                Exit::Ok
            }
        }
    }

    fn cmd_graph(&mut self, file: Option<PathBuf>, format: GraphFormat) -> Exit {
        let (v, _) = match self.validated(file) {
            Ok(x) => x,
            Err(e) => return e,
        };
        let mut out = String::new();
        let format = if self.g.json { GraphFormat::Json } else { format };
        match format {
            GraphFormat::Json => {
                let resources: Vec<_> = v
                    .order
                    .iter()
                    .map(|id| {
                        let kind = v.spec.resource(id).map_or("", |r| r.kind.as_str());
                        serde_json::json!({"id": id, "kind": kind, "depends_on": v.graph.deps_of(id).collect::<Vec<_>>()})
                    })
                    .collect();
                out = pretty(&serde_json::json!({"stack": v.spec.name, "resources": resources}));
                out.push('\n');
            }
            GraphFormat::Dot => {
                out.push_str(&format!("digraph \"{}\" {{\n  rankdir=LR;\n", v.spec.name));
                for id in &v.order {
                    let kind = v.spec.resource(id).map_or("", |r| r.kind.as_str());
                    out.push_str(&format!("  \"{id}\" [label=\"{id}\\n{kind}\"];\n"));
                    for d in v.graph.deps_of(id) {
                        out.push_str(&format!("  \"{id}\" -> \"{d}\";\n"));
                    }
                }
                out.push_str("}\n");
            }
            GraphFormat::Mermaid => {
                out.push_str("graph LR\n");
                for id in &v.order {
                    let kind = v.spec.resource(id).map_or("", |r| r.kind.as_str());
                    out.push_str(&format!("  {id}[\"{id}<br/>{kind}\"]\n"));
                    for d in v.graph.deps_of(id) {
                        out.push_str(&format!("  {id} --> {d}\n"));
                    }
                }
            }
        }
        print!("{out}");
        Exit::Ok
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

/// The commands that work on several stacks at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Many {
    Plan,
    Apply,
    Destroy,
}

/// One stack of [`App::cmd_many`], loaded and locked.
struct Target {
    provider: AwsProvider,
    v: Option<Validated>,
    spec: StackSpec,
    store: StateStore,
    _lock: cairn_engine::state::StateLock,
    state: State,
}

/// The one stack file given (or none: -f or the Rust program), else all of them.
fn one_or_many(files: Vec<PathBuf>) -> Result<Option<PathBuf>, Vec<PathBuf>> {
    if files.len() <= 1 { Ok(files.into_iter().next()) } else { Err(files) }
}

fn refuse_many(why: &str) -> Exit {
    eprintln!("error: several stack files given, but {why}\n  = help: give one stack file");
    Exit::Invalid
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

impl Interrupts {
    fn watch() -> Self {
        let cancel = Arc::new(AtomicBool::new(false));
        let watcher = tokio::spawn(watch_interrupts(cancel.clone()));
        Interrupts { cancel, watcher }
    }
}

impl Drop for Interrupts {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

/// What a destroy cannot remove: creates a killed or failed run left
/// unfinished, whose resources may exist in AWS with only an intent in
/// state naming them (no physical id to delete).
fn unfinished_creates(state: &State) -> String {
    let ids: Vec<String> = state.intents.iter().map(|(id, i)| format!("{id} ({})", i.kind)).collect();
    format!(
        "error: state records {} create(s) that did not finish: {}; what they made may exist in AWS, where destroy cannot find it\n  = help: run `cairn apply` (it adopts what they made, by its tags), then `cairn destroy` again; state is kept until then",
        ids.len(),
        ids.join(", ")
    )
}

/// A destroy with no state: maybe there is none, maybe it is elsewhere.
fn nothing_to_destroy(stack: &str, store: &StateStore) -> String {
    format!(
        "Nothing to destroy: stack {stack} has no resources in {}.\n  = note: state is local to --state-dir (default \
         .cairn in the working directory); if it was applied with another state (from another directory, or another \
         --state-dir or CAIRN_STATE_DIR), run destroy there\n",
        store.path().display()
    )
}

fn state_error(e: &StateError) -> Exit {
    eprintln!("error: {e}");
    match e {
        StateError::Io { .. } => Exit::Failed,
        _ => Exit::State,
    }
}

/// First Ctrl-C: stop scheduling, let in-flight calls finish, save state.
/// Second: abort at once.
async fn watch_interrupts(cancel: Arc<AtomicBool>) {
    if tokio::signal::ctrl_c().await.is_err() {
        return;
    }
    cancel.store(true, Ordering::SeqCst);
    eprintln!(
        "\ninterrupt: starting nothing new; in-flight operations finish and state is saved (Ctrl-C again aborts at once)"
    );
    if tokio::signal::ctrl_c().await.is_ok() {
        eprintln!("aborted: state may lack the operations that were in flight");
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
