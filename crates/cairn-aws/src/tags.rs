//! Reconciling the tags on a live resource with the tags cairn wants.

use std::collections::BTreeMap;

/// What to change so that a resource carries exactly the wanted tags.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct TagChanges {
    pub set: BTreeMap<String, String>,
    pub remove: Vec<String>,
}

/// Tags to add or change and keys to remove. Keys under `aws:` are AWS's own
/// and cannot be removed, so they are left alone.
pub(crate) fn tag_changes(live: &BTreeMap<String, String>, want: &BTreeMap<String, String>) -> TagChanges {
    let set = want.iter().filter(|(k, v)| live.get(*k) != Some(*v)).map(|(k, v)| (k.clone(), v.clone())).collect();
    let remove = live.keys().filter(|k| !want.contains_key(*k) && !k.starts_with("aws:")).cloned().collect();
    TagChanges { set, remove }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect()
    }

    #[test]
    fn changes_set_what_differs_and_remove_what_is_extra() {
        let live =
            tags(&[("cairn:stack", "s"), ("team", "old"), ("gone", "x"), ("aws:cloudformation:stack-name", "cf")]);
        let want = tags(&[("cairn:stack", "s"), ("team", "new"), ("cost", "1")]);
        let c = tag_changes(&live, &want);
        assert_eq!(c.set, tags(&[("team", "new"), ("cost", "1")]));
        assert_eq!(c.remove, vec!["gone".to_string()]);
        assert_eq!(tag_changes(&want, &want), TagChanges::default());
    }
}
