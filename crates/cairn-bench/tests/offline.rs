//! The offline benchmark still runs: a small generated stack validates,
//! plans, applies from memory and re-plans with no change. (Its timings are
//! printed by scripts/bench, never asserted.)

use std::process::Command;

#[test]
fn a_small_generated_stack_goes_through_every_phase() -> Result<(), Box<dyn std::error::Error>> {
    let out = Command::new(env!("CARGO_BIN_EXE_cairn-bench-offline")).arg("50").output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let figures: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(figures["resources"], 50, "{figures}");
    for phase in ["validate_s", "plan_create_s", "apply_offline_s", "plan_noop_s"] {
        assert!(figures[phase].as_f64().is_some_and(|s| s >= 0.0), "{phase}: {figures}");
    }
    Ok(())
}
