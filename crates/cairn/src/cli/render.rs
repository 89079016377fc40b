//! Human-readable rendering of plans, progress and summaries.

use std::fmt::Write as _;

use cairn_engine::exec::{Event, OpKind, Outcome};
use cairn_engine::plan::{FieldChange, Plan, PlannedResource, Step};
use cairn_engine::value::{Json, as_unknown};

/// ANSI styles, or none.
#[derive(Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
    fn paint(self, code: &str, text: &str) -> String {
        if self.color { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_string() }
    }
    pub fn green(self, t: &str) -> String {
        self.paint("32", t)
    }
    pub fn yellow(self, t: &str) -> String {
        self.paint("33", t)
    }
    pub fn red(self, t: &str) -> String {
        self.paint("31", t)
    }
    pub fn bold(self, t: &str) -> String {
        self.paint("1", t)
    }
    pub fn dim(self, t: &str) -> String {
        self.paint("2", t)
    }
}

/// A value for display: unknowns as `(known after apply)`, long values cut.
pub fn show_value(v: &Json) -> String {
    fn go(v: &Json) -> String {
        if let Some(what) = as_unknown(v) {
            return format!("(known after apply: ${{{what}}})");
        }
        match v {
            Json::Object(m) => {
                format!("{{{}}}", m.iter().map(|(k, v)| format!("{k}: {}", go(v))).collect::<Vec<_>>().join(", "))
            }
            Json::Array(a) => format!("[{}]", a.iter().map(go).collect::<Vec<_>>().join(", ")),
            other => other.to_string(),
        }
    }
    let s = go(v);
    if s.chars().count() > 160 { format!("{}…", s.chars().take(157).collect::<String>()) } else { s }
}

fn change_line(c: &FieldChange) -> String {
    match (&c.old, &c.new) {
        (Some(o), Some(n)) => format!("{}: {} -> {}", c.field, show_value(o), show_value(n)),
        (None, Some(n)) => format!("{}: (unset) -> {}", c.field, show_value(n)),
        (Some(o), None) => format!("{}: {} -> (unset)", c.field, show_value(o)),
        (None, None) => c.field.clone(),
    }
}

fn symbol(style: Style, step: &Step) -> String {
    match step {
        Step::Create => style.green("  +"),
        Step::Update { .. } => style.yellow("  ~"),
        Step::Replace { .. } => style.red("-/+"),
        Step::Delete => style.red("  -"),
        Step::Forget => style.yellow("  ~"),
        Step::NoOp => "   ".to_string(),
    }
}

fn resource_block(out: &mut String, style: Style, r: &PlannedResource, width: usize) {
    let derived = if r.derived { " (derived)" } else { "" };
    let note = match &r.step {
        Step::Replace { because } => format!("  replace because {} cannot change in place", because.join(", ")),
        Step::Forget => "  forget: retained in AWS, removed from state".to_string(),
        Step::Delete if r.drift.is_some() => "  already gone".to_string(),
        Step::Create if r.vanished() => format!("  create ({})", cairn_engine::plan::VANISHED),
        _ => String::new(),
    };
    let _ = writeln!(out, "{} {:width$}  {}{}{}", symbol(style, &r.step), r.id, style.dim(&r.kind), derived, note);
    if let Some(drift) = &r.drift {
        match r.step {
            Step::Delete => {}
            Step::Create if r.vanished() => {}
            // On a create, it says why the resource is created (again).
            Step::Create => {
                let _ = writeln!(out, "      {}", style.yellow(&format!("note: {}", drift.join("; "))));
            }
            _ => {
                let text = format!("drift: {} changed outside cairn", drift.join(", "));
                let _ = writeln!(out, "      {}", style.yellow(&text));
            }
        }
    }
    match &r.step {
        Step::Create => {
            if let Some(Json::Object(m)) = &r.desired {
                for (k, v) in m.iter().filter(|(_, v)| !v.is_null()) {
                    let _ = writeln!(out, "      {k}: {}", show_value(v));
                }
            }
        }
        Step::Update { .. } | Step::Replace { .. } => {
            for c in &r.changes {
                let _ = writeln!(out, "      {}", change_line(c));
            }
        }
        _ => {}
    }
}

/// The plan as text: one block per change, then a summary line.
pub fn plan_text(plan: &Plan, style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {} {}",
        style.bold("plan for stack"),
        style.bold(&plan.stack),
        style.dim(&match &plan.state_location {
            Some(at) => format!("(account {}, {}; state {at})", plan.env.account_id, plan.env.region),
            None => format!("(account {}, {})", plan.env.account_id, plan.env.region),
        })
    );
    for w in &plan.warnings {
        let _ = writeln!(out, "{} {w}", style.yellow("warning:"));
    }
    let width = plan.resources.iter().map(|r| r.id.len()).max().unwrap_or(0);
    let changes: Vec<&PlannedResource> = plan.resources.iter().filter(|r| r.step.is_change()).collect();
    if !plan.moves.is_empty() {
        out.push('\n');
        for m in &plan.moves {
            let _ = writeln!(out, "{} moved {} -> {}  (in state only, no AWS call)", style.yellow("  >"), m.from, m.to);
        }
    }
    if changes.is_empty() {
        let what = if plan.moves.is_empty() { "No changes" } else { "No changes in AWS" };
        let _ = writeln!(out, "\n{what}: {} resource(s) match the stack.", plan.resources.len());
        return out;
    }
    out.push('\n');
    for r in changes {
        resource_block(&mut out, style, r, width);
    }
    let (c, u, r, d) = plan.counts();
    let same = plan.resources.len() - c - u - r - d;
    let _ = writeln!(out, "\nPlan: {c} to create, {u} to update, {r} to replace, {d} to delete, {same} unchanged.");
    out
}

/// One progress line per event; `scope` goes before each resource id
/// (`stack/` when several stacks are applied at once, else nothing).
pub fn event_line(e: &Event, style: Style, verbose: bool, scope: &str) -> Option<String> {
    match e {
        Event::Started { id, kind, op } if verbose => Some(format!("  {} {scope}{id} ({kind})…", op.verb())),
        Event::Started { .. } => None,
        Event::Waiting { id, message } => Some(format!("  {} {scope}{id}: {message}", style.yellow("…"))),
        Event::Finished { id, op, elapsed_ms, physical_id, .. } => {
            let pid = physical_id
                .as_deref()
                .filter(|_| *op != OpKind::Delete)
                .map(|p| format!("  {}", style.dim(p)))
                .unwrap_or_default();
            Some(format!(
                "  {} {} {scope}{id} in {:.1}s{pid}",
                style.green("✓"),
                op.past(),
                *elapsed_ms as f64 / 1000.0
            ))
        }
        Event::Failed { id, op, error, .. } => {
            let error = if verbose { error.clone() } else { cairn_engine::kind::brief(error) };
            Some(format!("  {} {} {scope}{id} failed: {error}", style.red("✗"), op.verb()))
        }
        Event::Skipped { id, op, because } => {
            Some(format!("  {} skipped {} {scope}{id}: {because}", style.yellow("-"), op.verb()))
        }
    }
}

/// The closing summary of an apply or destroy.
pub fn outcome_text(o: &Outcome, what: &str, style: Style) -> String {
    let mut out = String::new();
    let secs = o.elapsed_ms as f64 / 1000.0;
    if o.ok() {
        let _ =
            writeln!(out, "{} {} operation(s) in {secs:.1}s.", style.green(&format!("{what} complete:")), o.done.len());
        return out;
    }
    let _ = writeln!(
        out,
        "{} {} done, {} failed, {} skipped in {secs:.1}s.",
        style.red(&format!("{what} incomplete:")),
        o.done.len(),
        o.failed.len(),
        o.skipped.len()
    );
    for (id, op, e) in &o.failed {
        let _ = writeln!(out, "  failed: {} {id}: {}", op.verb(), cairn_engine::kind::brief(&e.to_string()));
    }
    for (id, op, why) in &o.skipped {
        let _ = writeln!(out, "  skipped: {} {id}: {why}", op.verb());
    }
    if o.interrupted {
        let _ = writeln!(out, "Interrupted: state holds everything that finished; run the command again to continue.");
    } else {
        let _ =
            writeln!(out, "State holds everything that succeeded; fix the cause and run the command again to finish.");
    }
    out
}
