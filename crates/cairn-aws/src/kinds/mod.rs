//! The resource kinds, one file each, in the order props, validate, create,
//! read, update, delete, then waiters and finders.

use std::sync::Arc;

use cairn_engine::kind::{Registry, typed};

use crate::clients::Clients;

#[cfg(feature = "events")]
pub mod events_rule;
#[cfg(feature = "sns")]
pub mod sns_subscription;
#[cfg(feature = "sns")]
pub mod sns_topic;

/// Every kind this build offers, sharing one set of lazily built clients.
pub(crate) fn registry(clients: &Arc<Clients>) -> Registry {
    let mut r = Registry::new();
    #[cfg(feature = "sns")]
    r.add(typed(sns_topic::Topic::new(Arc::clone(clients))));
    #[cfg(feature = "sns")]
    r.add(typed(sns_subscription::Subscription::new(Arc::clone(clients))));
    #[cfg(feature = "events")]
    r.add(typed(events_rule::Rule::new(Arc::clone(clients))));
    r
}

/// Whether a string still holds a `${…}` reference, so that checks on its
/// final value must wait.
pub(crate) fn unresolved(s: &str) -> bool {
    cairn_engine::kind::is_ref(s)
}
