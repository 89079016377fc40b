//! Test support for cairn: the emulator endpoint, a fake provider for engine
//! tests, and the fault proxy.

pub mod emulator;
pub mod fake;
pub mod proxy;
pub mod recording;
