//! Test support for cairn: the emulator endpoint, a fake provider for engine
//! tests, an in-memory state backend, the fault proxy, and a tripwire for
//! commands that must not call AWS.

pub mod emulator;
pub mod fake;
pub mod policy;
pub mod proxy;
pub mod recording;
pub mod state;
pub mod tripwire;
