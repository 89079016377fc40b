//! Reconciling the tags on a live resource with the tags cairn wants.

use std::collections::BTreeMap;

use cairn_engine::kind::OpError;

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

/// For `cairn import` ([`cairn_engine::kind::Kind::live_tags`]): the tags
/// of `what` (as "SNS topic x") that `list` reads, given what `find` found
/// (such as the ARN tagging takes); an error that says so when `find` finds
/// nothing.
pub(crate) async fn live_tags_of<T, L>(
    what: &str,
    find: impl Future<Output = Result<Option<T>, String>>,
    list: impl FnOnce(T) -> L,
) -> Result<Option<BTreeMap<String, String>>, OpError>
where
    L: Future<Output = Result<BTreeMap<String, String>, String>>,
{
    let action = format!("reading the tags of {what}");
    let found = found(what, &action, find).await?;
    list(found).await.map(Some).map_err(|e| OpError::failed(format!("{action}: {e}")))
}

/// For `cairn import` ([`cairn_engine::kind::Kind::add_tags`]): `set` adds
/// the tags to `what`, given what `find` found and the action its errors
/// start with; an error that says so when `find` finds nothing.
pub(crate) async fn add_tags_to<T, S>(
    what: &str,
    find: impl Future<Output = Result<Option<T>, String>>,
    set: impl FnOnce(T, String) -> S,
) -> Result<(), OpError>
where
    S: Future<Output = Result<(), OpError>>,
{
    let action = format!("tagging {what}");
    let found = found(what, &action, find).await?;
    set(found, action).await
}

async fn found<T>(
    what: &str,
    action: &str,
    find: impl Future<Output = Result<Option<T>, String>>,
) -> Result<T, OpError> {
    match find.await {
        Ok(Some(found)) => Ok(found),
        Ok(None) => Err(OpError::failed(format!("{what} does not exist"))),
        Err(e) => Err(OpError::failed(format!("{action}: {e}"))),
    }
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
