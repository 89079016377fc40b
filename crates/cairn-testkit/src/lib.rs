//! Test support for cairn: the emulator endpoint, a fake provider for engine
//! tests, an in-memory state backend, the fault proxy, and a tripwire for
//! commands that must not call AWS.

pub mod emulator;
pub mod fake;
/// The policy evaluator, now a crate of its own (`cairn check` uses it too).
pub use cairn_policy as policy;
pub mod proxy;
pub mod recording;
pub mod state;
pub mod tripwire;
