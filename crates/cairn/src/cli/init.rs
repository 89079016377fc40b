//! `cairn init`: a new stack from a template, as a YAML file or as a Rust
//! crate that builds with the settings cairn needs.
//!
//! The templates are the repository's own stacks and examples, compiled in:
//! `stacks/starter.yaml` and the six labs, `examples/starter.rs` and the six
//! labs in Rust. The tests validate and build those, so what `init` writes
//! is known to work.

use std::path::{Path, PathBuf};

use super::{App, Exit};

/// What to make.
pub(super) struct Init {
    /// One of the six labs, or the starter.
    pub lab: Option<u8>,
    /// A Rust crate in this directory, instead of a YAML file.
    pub rust: Option<PathBuf>,
    /// The stack's name, if not the template's.
    pub stack: Option<String>,
    /// Where the YAML file goes.
    pub output: Option<PathBuf>,
    /// The cairn source tree a crate depends on.
    pub cairn_path: Option<PathBuf>,
    pub force: bool,
}

/// A template: its stack name, the YAML, the Rust program, and the files
/// it reads (beside the YAML file, or in the crate's directory).
struct Template {
    stack: &'static str,
    yaml: &'static str,
    rust: &'static str,
    files: &'static [(&'static str, &'static str)],
}

macro_rules! template {
    ($stack:literal, $rust:literal) => {
        template!($stack, $rust, &[])
    };
    ($stack:literal, $rust:literal, $files:expr) => {
        Template {
            stack: $stack,
            yaml: include_str!(concat!("../../../../stacks/", $stack, ".yaml")),
            rust: include_str!(concat!("../../../../examples/", $rust, ".rs")),
            files: $files,
        }
    };
}

fn template(lab: Option<u8>) -> Template {
    match lab {
        None => template!("starter", "starter"),
        Some(1) => template!("lab1-notifications", "lab1_notifications"),
        Some(2) => template!("lab2-ec2-logging", "lab2_ec2_logging"),
        Some(3) => template!("lab3-access-alerts", "lab3_access_alerts"),
        Some(4) => template!("lab4-simple-lambda", "lab4_simple_lambda"),
        Some(5) => template!(
            "lab5-lambda-cli",
            "lab5_lambda_cli",
            &[
                ("lab5-function/app.py", include_str!("../../../../stacks/lab5-function/app.py")),
                ("lab5-function/greet.py", include_str!("../../../../stacks/lab5-function/greet.py")),
            ]
        ),
        Some(_) => template!("lab6-sqs-lambda", "lab6_sqs_lambda"),
    }
}

/// The schema modeline the repository's stacks start with, pointing at the
/// schema file `init` writes beside the stack.
const MODELINE: &str = "# yaml-language-server: $schema=../docs/cairn.schema.json";
const SCHEMA_FILE: &str = "cairn.schema.json";

/// The source tree this cairn was built from, where a new crate finds the
/// `cairn` library by default.
fn built_from() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// Cargo's rule for a package name, checked before anything is written.
fn valid_crate_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The new crate's manifest: cairn by path, and cairn's own build profile.
/// Without `[profile.dev]` a debug build of the AWS SDK crates carries full
/// debug info: several times slower to link, and gigabytes of target.
fn manifest(package: &str, cairn: &Path) -> String {
    let cairn = cairn.display().to_string().replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        r#"[package]
name = "{package}"
version = "0.1.0"
edition = "2024"
publish = false

[dependencies]
cairn = {{ path = "{cairn}" }}

# cairn's build settings, which a library cannot pass on to the crates that
# use it: debug info for your code's line numbers only, none for the AWS
# SDK crates. A first debug build then takes minutes, not tens of them, and
# the target directory stays small. `--release` builds are not needed to
# deploy.
[profile.dev]
debug = "line-tables-only"

[profile.dev.package."*"]
debug = false
"#
    )
}

impl App {
    pub(super) fn cmd_init(&self, init: Init) -> Exit {
        let t = template(init.lab);
        let stack = init.stack.clone().unwrap_or_else(|| match &init.rust {
            Some(dir) if init.lab.is_none() => {
                dir.file_name().map_or_else(|| t.stack.to_string(), |n| n.to_string_lossy().to_lowercase())
            }
            _ => t.stack.to_string(),
        });
        if !cairn_engine::spec::valid_stack_name(&stack) {
            eprintln!(
                "error: `{stack}` is not a valid stack name: 1 to 40 of a-z, 0-9 and -, starting with a letter\n  = help: name it with --stack NAME"
            );
            return Exit::Invalid;
        }
        let written = match &init.rust {
            Some(dir) => self.init_crate(&init, &t, dir, &stack),
            None => self.init_yaml(&init, &t, &stack),
        };
        match written {
            Ok(next) => {
                self.say(&next);
                Exit::Ok
            }
            Err(e) => {
                eprintln!("error: {e}");
                Exit::Invalid
            }
        }
    }

    /// `STACK.yaml` (and the schema and files it needs) in the directory asked for.
    fn init_yaml(&self, init: &Init, t: &Template, stack: &str) -> Result<String, String> {
        let file = init.output.clone().unwrap_or_else(|| PathBuf::from(format!("{stack}.yaml")));
        let dir = file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
        let yaml = t.yaml.replacen(MODELINE, &format!("# yaml-language-server: $schema={SCHEMA_FILE}"), 1).replacen(
            &format!("\nstack: {}\n", t.stack),
            &format!("\nstack: {stack}\n"),
            1,
        );
        let mut files = vec![(file.clone(), yaml)];
        files.extend(t.files.iter().map(|(name, text)| (dir.join(name), (*text).to_string())));
        write_all(&files, init.force)?;
        let schema = dir.join(SCHEMA_FILE);
        if !schema.exists() {
            let text = super::pretty(&crate::schema::stack_schema(&self.registry));
            std::fs::write(&schema, format!("{text}\n")).map_err(|e| format!("writing {}: {e}", schema.display()))?;
        }
        let params = if t.yaml.contains("${param.email}") { " -p email=you@example.com" } else { "" };
        let f = file.display();
        Ok(format!(
            "Wrote {f} (stack {stack}){}.\n\nNext:\n  cairn validate {f}\n  cairn plan {f}{params}\n  cairn apply {f}{params}\n  cairn destroy {f}\n",
            if t.files.is_empty() { String::new() } else { format!(" and {} file(s) it reads", t.files.len()) }
        ))
    }

    /// A crate: Cargo.toml, Cargo.lock, src/main.rs, .gitignore, and the files the stack reads.
    fn init_crate(&self, init: &Init, t: &Template, dir: &Path, stack: &str) -> Result<String, String> {
        let package = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if !valid_crate_name(&package) {
            return Err(format!(
                "`{package}` is not a valid crate name: letters, digits, - and _, starting with a letter"
            ));
        }
        let cairn = init.cairn_path.clone().unwrap_or_else(built_from);
        let cairn = if cairn.join("Cargo.toml").exists() && cairn.join("src/lib.rs").exists() {
            cairn.canonicalize().unwrap_or(cairn)
        } else if cairn.join("crates/cairn/Cargo.toml").exists() {
            cairn.join("crates/cairn").canonicalize().unwrap_or_else(|_| cairn.join("crates/cairn"))
        } else {
            return Err(format!(
                "no cairn source tree at {}: the crate depends on the `cairn` library by path\n  = help: give the cairn repository with --cairn-path DIR",
                cairn.display()
            ));
        };
        let program = t
            .rust
            .replacen(&format!("Stack::new(\"{}\")", t.stack), &format!("Stack::new(\"{stack}\")"), 1)
            // The examples find their files in the repository's stacks/; the crate has them beside it.
            .replacen(r#"concat!(env!("CARGO_MANIFEST_DIR"), "/../../stacks")"#, r#"env!("CARGO_MANIFEST_DIR")"#, 1);
        let mut files = vec![
            (dir.join("Cargo.toml"), manifest(&package, &cairn)),
            (dir.join("src/main.rs"), program),
            (dir.join(".gitignore"), "/target\n".to_string()),
            // The versions cairn was built and tested with (the CloudWatch SDK is pinned, for one).
            (dir.join("Cargo.lock"), include_str!("../../../../Cargo.lock").to_string()),
        ];
        files.extend(t.files.iter().map(|(name, text)| (dir.join(name), (*text).to_string())));
        write_all(&files, init.force)?;
        let d = dir.display();
        Ok(format!(
            "Wrote crate {package} in {d} (stack {stack}), using cairn from {}.\n\nNext:\n  cd {d}\n  cargo run -- plan\n  cargo run -- apply\n  cargo run -- destroy\n\nThe first build compiles the AWS SDK crates (a few minutes); later ones take seconds.\n",
            cairn.display()
        ))
    }
}

/// Writes every file, or none when one exists and `force` is off.
fn write_all(files: &[(PathBuf, String)], force: bool) -> Result<(), String> {
    if !force {
        let existing: Vec<String> =
            files.iter().filter(|(p, _)| p.exists()).map(|(p, _)| p.display().to_string()).collect();
        if !existing.is_empty() {
            return Err(format!(
                "{} already exist(s); nothing was written\n  = help: --force overwrites",
                existing.join(", ")
            ));
        }
    }
    for (path, text) in files {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
        }
        std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    Ok(())
}
