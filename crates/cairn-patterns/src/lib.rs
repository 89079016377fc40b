//! The two pattern languages the labs use, offline: parse, validate as AWS
//! does, and match a sample event or log line, saying which field failed
//! on a miss.
//!
//! - [`event_pattern`]: EventBridge event patterns (JSON), matched against
//!   events (JSON), following AWS's documentation and its reference
//!   implementation, aws/event-ruler.
//! - [`filter_pattern`]: CloudWatch Logs filter patterns (text), matched
//!   against log events (a line of text, read as JSON when it is a JSON
//!   object), following AWS's "Filter pattern syntax" page.
//!
//! Neither module knows about cairn's stacks or AWS's SDK: errors are this
//! crate's own values, with a JSON path (event patterns) or a character
//! offset (filter patterns), a message and what was expected. Each module's
//! documentation lists the semantics chosen where AWS's documentation is
//! silent and what is not supported; an unsupported pattern is reported as
//! such, never accepted and then matched wrongly.

pub mod event_pattern;
pub mod filter_pattern;

pub use event_pattern::EventPattern;
pub use filter_pattern::FilterPattern;

/// Sample records to try patterns on (see `samples/README.md`).
pub mod samples {
    /// CloudTrail records, one JSON object per line, as CloudTrail delivers
    /// them to CloudWatch Logs: calls refused, root's and failed sign-ins,
    /// policy changes and ordinary calls, for the CIS and lab 3 filters.
    pub const CLOUDTRAIL: &str = include_str!("../samples/cloudtrail.jsonl");

    /// Which of [`CLOUDTRAIL`]'s records (numbered from 1, in order) a
    /// metric of the CIS AWS Foundations monitoring set must count, by the
    /// metric's conventional name (lab 3 and `stacks/cis-monitoring.yaml`
    /// use these names); every other record it must not count. A test
    /// checks both stacks' filters against this table.
    pub const CLOUDTRAIL_COUNTS: &[(&str, &[usize])] = &[
        ("UnauthorizedAPICalls", &[2, 3]),
        ("RootAccountUsage", &[4]),
        ("ConsoleSigninFailures", &[6]),
        // The benchmark's pattern does not ask for success: a failed sign-in
        // without MFA counts too.
        ("ConsoleSigninWithoutMFA", &[6, 7]),
        ("IAMPolicyChanges", &[8, 9]),
        ("CloudTrailConfigChanges", &[10]),
        ("SecurityGroupChanges", &[11]),
    ];

    /// The records a metric named `metric` must count, if cairn knows it.
    pub fn cloudtrail_counts(metric: &str) -> Option<&'static [usize]> {
        CLOUDTRAIL_COUNTS.iter().find(|(name, _)| *name == metric).map(|(_, records)| *records)
    }
}

/// Close spellings of a misspelt keyword: the candidate within two edits,
/// closest first.
pub(crate) fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (edit_distance(&word, &c.to_ascii_lowercase()), c))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb { diagonal } else { 1 + diagonal.min(above).min(row[j]) };
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_misses_are_suggested() {
        assert_eq!(did_you_mean("anything_but", ["prefix", "anything-but"]), Some("anything-but"));
        assert_eq!(did_you_mean("Prefx", ["prefix", "suffix"]), Some("prefix"));
        assert_eq!(did_you_mean("zzzz", ["prefix", "suffix"]), None);
    }
}
