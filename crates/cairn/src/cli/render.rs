//! Human-readable rendering of plans, progress and summaries.

use std::fmt::Write as _;

use cairn_engine::exec::{Event, OpKind, Outcome};
use cairn_engine::plan::{FieldChange, Plan, PlannedResource, Step};
use cairn_engine::value::{Json, as_unknown};

/// ANSI styles, or none, and the width text wraps at.
#[derive(Clone, Copy)]
pub struct Style {
    pub color: bool,
    /// Columns: the terminal's, else [`DEFAULT_WIDTH`].
    pub width: usize,
}

/// The width plans wrap at when stderr is not a terminal.
pub const DEFAULT_WIDTH: usize = 100;

/// The width of the terminal stderr goes to, else [`DEFAULT_WIDTH`].
pub fn width() -> usize {
    terminal_size::terminal_size_of(std::io::stderr())
        .map(|(w, _)| usize::from(w.0))
        .filter(|w| *w >= 40)
        .unwrap_or(DEFAULT_WIDTH)
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

/// A value for display, in full: unknowns as `(known after apply)`.
pub fn show_value(v: &Json) -> String {
    if let Some(what) = as_unknown(v) {
        return format!("(known after apply: ${{{what}}})");
    }
    match v {
        Json::Object(m) => {
            format!("{{{}}}", m.iter().map(|(k, v)| format!("{k}: {}", show_value(v))).collect::<Vec<_>>().join(", "))
        }
        Json::Array(a) => format!("[{}]", a.iter().map(show_value).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}

/// Writes `text` at `indent`, wrapped to the style's width: a line too
/// long is broken (at a space or comma when there is one near the end of
/// the piece) and continued four columns further in.
fn push_wrapped(out: &mut String, indent: usize, text: &str, width: usize) {
    let mut rest: Vec<char> = text.chars().collect();
    let mut pad = indent;
    loop {
        let room = width.saturating_sub(pad).max(20);
        if rest.len() <= room {
            let _ = writeln!(out, "{:pad$}{}", "", rest.iter().collect::<String>());
            return;
        }
        let cut = rest[..room]
            .iter()
            .rposition(|c| *c == ' ' || *c == ',')
            .filter(|i| *i >= room / 2)
            .map_or(room, |i| i + 1);
        let piece: String = rest[..cut].iter().collect();
        let _ = writeln!(out, "{:pad$}{}", "", piece.trim_end());
        rest.drain(..cut);
        while rest.first() == Some(&' ') {
            rest.remove(0);
        }
        pad = indent + 4;
    }
}

/// A JSON document (a policy, an event pattern) held by a value: an
/// object, an array, or a string that parses as one.
fn document(v: &Json) -> Option<Json> {
    if as_unknown(v).is_some() || cairn_engine::value::has_unknown(v) {
        return None;
    }
    match v {
        Json::Object(_) | Json::Array(_) => Some(v.clone()),
        Json::String(s) if s.trim_start().starts_with(['{', '[']) => {
            serde_json::from_str::<Json>(s).ok().filter(|d| d.is_object() || d.is_array())
        }
        _ => None,
    }
}

/// A document as lines, keys sorted, so that the two sides line up.
fn document_lines(doc: &Json) -> Vec<String> {
    fn sorted(v: &Json) -> Json {
        match v {
            Json::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Json::Object(keys.into_iter().map(|k| (k.clone(), sorted(&m[k]))).collect())
            }
            Json::Array(a) => Json::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    serde_json::to_string_pretty(&sorted(doc)).unwrap_or_default().lines().map(str::to_string).collect()
}

/// A line diff (longest common subsequence): each line with ' ', '-' or '+'.
fn line_diff<'a>(old: &'a [String], new: &'a [String]) -> Vec<(char, &'a str)> {
    let (n, m) = (old.len(), new.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if old[i] == new[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < n || j < m {
        if i < n && j < m && old[i] == new[j] {
            out.push((' ', old[i].as_str()));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push(('-', old[i].as_str()));
            i += 1;
        } else {
            out.push(('+', new[j].as_str()));
            j += 1;
        }
    }
    out
}

/// Lines of context kept around each changed line of a long document.
const CONTEXT: usize = 3;

/// A changed document, key by key and line by line: `-` what is live, `+`
/// what apply sends; a long one keeps only the lines near a change.
fn document_diff(out: &mut String, style: Style, field: &str, old: Option<&Json>, new: Option<&Json>) {
    let _ = writeln!(out, "      {field}: (document: - now, + after apply)");
    let old = old.map(document_lines).unwrap_or_default();
    let new = new.map(document_lines).unwrap_or_default();
    let diff = line_diff(&old, &new);
    let near =
        |i: usize| diff[i.saturating_sub(CONTEXT)..(i + CONTEXT + 1).min(diff.len())].iter().any(|(c, _)| *c != ' ');
    let mut elided = false;
    for (i, (mark, line)) in diff.iter().enumerate() {
        if diff.len() > 40 && !near(i) {
            if !elided {
                let _ = writeln!(out, "{:10}{}", "", style.dim("…"));
            }
            elided = true;
            continue;
        }
        elided = false;
        let text = format!("{mark} {line}");
        let mut wrapped = String::new();
        push_wrapped(&mut wrapped, 8, &text, style.width);
        let painted = match mark {
            '-' => style.red(wrapped.trim_end_matches('\n')),
            '+' => style.green(wrapped.trim_end_matches('\n')),
            _ => wrapped.trim_end_matches('\n').to_string(),
        };
        let _ = writeln!(out, "{painted}");
    }
}

pub(super) fn change_lines(out: &mut String, style: Style, c: &FieldChange) {
    let (old, new) = (c.old.as_ref(), c.new.as_ref());
    let docs = (old.map(document), new.map(document));
    let is_doc = |d: &Option<Option<Json>>| matches!(d, Some(Some(_)));
    let absent = |d: &Option<Option<Json>>| d.is_none();
    if (is_doc(&docs.0) || absent(&docs.0))
        && (is_doc(&docs.1) || absent(&docs.1))
        && (is_doc(&docs.0) || is_doc(&docs.1))
    {
        let (o, n) = (docs.0.flatten(), docs.1.flatten());
        document_diff(out, style, &c.field, o.as_ref(), n.as_ref());
        return;
    }
    let text = match (old, new) {
        (Some(o), Some(n)) => format!("{}: {} -> {}", c.field, show_value(o), show_value(n)),
        (None, Some(n)) => format!("{}: (unset) -> {}", c.field, show_value(n)),
        (Some(o), None) => format!("{}: {} -> (unset)", c.field, show_value(o)),
        (None, None) => c.field.clone(),
    };
    push_wrapped(out, 6, &text, style.width);
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
        // The engine deletes the old one before it creates the new one
        // (names are kept, and most are unique): say so, since what
        // depends on it is without it meanwhile.
        Step::Replace { because } => {
            format!("  replace because {} cannot change in place (deleted first, then created)", because.join(", "))
        }
        Step::Forget if r.drift.as_ref().is_some_and(|d| d.iter().any(|x| x == cairn_engine::plan::VANISHED)) => {
            format!("  forget: {}, removed from state", cairn_engine::plan::VANISHED)
        }
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
                    push_wrapped(out, 6, &format!("{k}: {}", show_value(v)), style.width);
                }
            }
        }
        Step::Update { .. } | Step::Replace { .. } => {
            for c in &r.changes {
                change_lines(out, style, c);
            }
        }
        _ => {}
    }
    // Why cairn set a prop the stack does not: on a create, each; on a
    // change, those the change touches.
    let touches = |field: &str| r.changes.iter().any(|c| c.field == field || c.field.starts_with(&format!("{field}.")));
    for (field, why) in &r.derived_props {
        let shown = match &r.step {
            Step::Create => true,
            Step::Update { .. } | Step::Replace { .. } => touches(field),
            _ => false,
        };
        if shown {
            push_wrapped(out, 6, &format!("(derived) {field}: {why}"), style.width);
        }
    }
}

/// The plan as text: one block per change, then a summary line.
pub fn plan_text(plan: &Plan, style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {} {}",
        style.bold(if plan.refresh_only { "refresh-only plan for stack" } else { "plan for stack" }),
        style.bold(&plan.stack),
        style.dim(&match &plan.state_location {
            Some(at) => format!("(account {}, {}; state {at})", plan.env.account_id, plan.env.region),
            None => format!("(account {}, {})", plan.env.account_id, plan.env.region),
        })
    );
    for w in &plan.warnings {
        let _ = writeln!(out, "{} {w}", style.yellow("warning:"));
    }
    if let Some(at) = &plan.expires {
        let _ = writeln!(
            out,
            "{} {at}: apply sets it on state and tags every taggable resource `cairn:expires`",
            style.yellow("expires:")
        );
    }
    let width = plan.resources.iter().map(|r| r.id.len()).max().unwrap_or(0);
    let changes: Vec<&PlannedResource> = plan.resources.iter().filter(|r| r.step.is_change()).collect();
    if !plan.moves.is_empty() {
        out.push('\n');
        for m in &plan.moves {
            let _ = writeln!(out, "{} moved {} -> {}  (in state only, no AWS call)", style.yellow("  >"), m.from, m.to);
        }
    }
    if plan.refresh_only {
        return refresh_only_text(out, plan, style, &changes, width);
    }
    if changes.is_empty() {
        let what = if plan.moves.is_empty() { "No changes" } else { "No changes in AWS" };
        let _ = writeln!(out, "\n{what}: {} resource(s) match the stack.", plan.resources.len());
        if plan.expires.is_some() {
            let _ = writeln!(out, "Apply moves their expiry (a tag on each), nothing else.");
        }
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

/// The body of a refresh-only plan: what changed in AWS outside cairn,
/// each change shown as state now (`-`) and after (`+`, what AWS has).
fn refresh_only_text(mut out: String, plan: &Plan, style: Style, changes: &[&PlannedResource], width: usize) -> String {
    if changes.is_empty() {
        let _ = writeln!(
            out,
            "\nNo changes outside cairn: AWS matches what state records for {} resource(s).",
            plan.resources.len()
        );
        return out;
    }
    out.push('\n');
    for r in changes {
        resource_block(&mut out, style, r, width);
    }
    let (_, updated, _, forgotten) = plan.counts();
    let _ = writeln!(
        out,
        "\nRefresh only: {updated} changed outside cairn (state takes what AWS has), {forgotten} deleted outside \
         cairn (state forgets them). `apply --refresh-only` writes this into state; AWS is not changed."
    );
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

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_engine::kind::Environment;
    use cairn_engine::plan::PlannedResource;

    fn plan_with(changes: Vec<FieldChange>) -> Plan {
        let fields = changes.iter().map(|c| c.field.clone()).collect();
        Plan {
            stack: "s1".into(),
            state_serial: 1,
            env: Environment { account_id: "123456789012".into(), region: "us-east-1".into(), partition: "aws".into() },
            resources: vec![PlannedResource {
                id: "role".into(),
                kind: "aws:iam:Role".into(),
                step: Step::Update { fields },
                derived: false,
                derived_props: Default::default(),
                physical_id: Some("s1-role".into()),
                changes,
                desired: None,
                drift: Some(vec!["inline_policies".into()]),
                moved_from: None,
            }],
            live: Default::default(),
            warnings: Vec::new(),
            moves: Vec::new(),
            state_location: None,
            refresh_only: false,
            expires: None,
        }
    }

    const NO_COLOR: Style = Style { color: false, width: DEFAULT_WIDTH };

    /// A diff line with its indentation squeezed: `-     "*"` reads `- "*"`.
    fn squeeze(line: &str) -> String {
        line.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// Seen: every value was cut at 160 characters, so a drifted inline
    /// policy read the same on both sides while `--json` showed an added
    /// `Action: "*"`.
    #[test]
    fn a_drifted_policy_is_shown_as_a_line_diff_in_full() {
        let statement = |actions: &str| {
            format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"ReadTheBucketOfTheLabAndNothingElse","Effect":"Allow","Resource":["arn:aws:s3:::s1-lab-bucket","arn:aws:s3:::s1-lab-bucket/*"],"Action":[{actions}]}}]}}"#
            )
        };
        let stack = statement(r#""s3:GetObject","s3:ListBucket""#);
        let live = statement(r#""s3:GetObject","s3:ListBucket","*""#);
        let text = plan_text(
            &plan_with(vec![FieldChange {
                field: "policy".into(),
                old: Some(Json::String(live)),
                new: Some(Json::String(stack)),
            }]),
            NO_COLOR,
        );
        let changed: Vec<&str> =
            text.lines().filter(|l| l.trim_start().starts_with(['-', '+']) && !l.contains("-/+")).collect();
        assert_eq!(changed.len(), 3, "{text}");
        assert!(changed[0].trim_start().starts_with("- ") && changed[0].contains(r#""s3:ListBucket","#), "{text}");
        assert_eq!(squeeze(changed[1]), r#"- "*""#, "the added action is not shown:\n{text}");
        assert!(changed[2].trim_start().starts_with("+ ") && changed[2].ends_with(r#""s3:ListBucket""#), "{text}");
        assert!(text.contains(r#""Sid": "ReadTheBucketOfTheLabAndNothingElse""#), "{text}");
        assert!(!text.contains('…'), "{text}");
    }

    #[test]
    fn an_event_pattern_object_is_diffed_key_by_key() {
        let old = serde_json::json!({"source": ["aws.ec2"], "detail": {"state": ["running"]}});
        let new = serde_json::json!({"source": ["aws.ec2"], "detail": {"state": ["running", "stopped"]}});
        let text = plan_with(vec![FieldChange { field: "event_pattern".into(), old: Some(old), new: Some(new) }]);
        let text = plan_text(&text, NO_COLOR);
        assert!(text.contains("event_pattern: (document: - now, + after apply)"), "{text}");
        assert!(text.lines().any(|l| squeeze(l) == r#"- "running""#), "{text}");
        assert!(text.lines().any(|l| squeeze(l) == r#"+ "running","#), "{text}");
        assert!(text.lines().any(|l| squeeze(l) == r#"+ "stopped""#), "{text}");
    }

    /// Seen: the plan did not say in which order a replace happens.
    #[test]
    fn a_replace_says_it_deletes_first() {
        let mut plan = plan_with(Vec::new());
        plan.resources[0].step = Step::Replace { because: vec!["name".into()] };
        let text = plan_text(&plan, NO_COLOR);
        assert!(text.contains("replace because name cannot change in place (deleted first, then created)"), "{text}");
    }

    #[test]
    fn long_scalars_wrap_to_the_width_and_keep_every_character() {
        let long: String = (0..30).map(|i| format!("word{i:02} ")).collect::<String>().trim_end().to_string();
        let change = FieldChange {
            field: "description".into(),
            old: Some(Json::String("short".into())),
            new: Some(Json::String(long.clone())),
        };
        let text = plan_text(&plan_with(vec![change]), Style { color: false, width: 60 });
        // Every line of the resource (the summary line is fixed text).
        assert!(text.lines().filter(|l| l.starts_with(' ')).all(|l| l.chars().count() <= 60), "{text}");
        let joined: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(joined.contains(&long), "{text}");
        assert!(!text.contains('…'), "{text}");
    }
}
