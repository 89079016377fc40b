//! Test support for cairn: the emulator endpoint, a fake provider for engine
//! tests, and (later) the fault proxy.

pub mod emulator;
pub mod fake;
pub mod recording;
