//! Shared set-up for the conformance tests: a provider pointed at the
//! emulator and the engine's way of calling a kind (check, then JSON ops).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use cairn_aws::{AwsOptions, AwsProvider};
use cairn_engine::kind::{Kind, NameCtx, Provider};
use serde_json::Value;

/// A provider for the emulator; fails clearly when none is running.
pub fn provider() -> AwsProvider {
    cairn_testkit::emulator::endpoint();
    AwsProvider::new(AwsOptions::default())
}

pub fn kind(p: &AwsProvider, type_name: &str) -> Arc<dyn Kind> {
    Arc::clone(p.registry().get(type_name).expect("kind is registered"))
}

/// The canonical desired props, as the engine computes them.
pub fn checked(kind: &dyn Kind, stack: &str, id: &str, props: Value) -> Value {
    match kind.check(&props, &NameCtx { stack, id, base_dir: std::path::Path::new("") }) {
        Ok(v) => v,
        Err(errors) => panic!("props do not check: {errors:?}"),
    }
}
