//! Seed campaigns of the simulator: safety mode and liveness mode.
//!
//! `SEEDS` sets how many seeds each mode runs (default 1,000);
//! `SIM_SEED=n` (with `SIM_MODE=safety|liveness`) replays one seed with a
//! trace of the run's result. `make sim SEEDS=100000` runs a long campaign.

use consensus::sim::{Mode, Sim, SimConfig};

fn seeds() -> u64 {
    std::env::var("SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000)
}

fn only_seed() -> Option<u64> {
    std::env::var("SIM_SEED").ok().and_then(|s| s.parse().ok())
}

fn only_mode() -> Option<Mode> {
    match std::env::var("SIM_MODE").ok().as_deref() {
        Some("safety") => Some(Mode::Safety),
        Some("liveness") => Some(Mode::Liveness),
        _ => None,
    }
}

/// Runs the `part`-th of `parts` equal shares of the seeds (the shares run
/// as separate tests, so two cores share the campaign).
fn campaign(mode: Mode, part: u64, parts: u64) {
    if let Some(seed) = only_seed() {
        if part != 0 || only_mode().is_some_and(|m| m != mode) {
            return;
        }
        let config = SimConfig::random(seed, mode);
        eprintln!("replaying {config:?}");
        match Sim::random(config).run() {
            Ok(report) => eprintln!("seed {seed}: ok {report:?}"),
            Err(violation) => panic!("{violation}"),
        }
        return;
    }
    let mut failures = Vec::new();
    let share = seeds().div_ceil(parts);
    for seed in part * share..((part + 1) * share).min(seeds()) {
        if let Err(violation) = Sim::random(SimConfig::random(seed, mode)).run() {
            failures.push(violation.to_string());
            if failures.len() >= 5 {
                break;
            }
        }
    }
    assert!(failures.is_empty(), "{} failing seeds:\n{}", failures.len(), failures.join("\n\n"));
}

#[test]
fn safety_mode_seeds_first_half() {
    campaign(Mode::Safety, 0, 2);
}

#[test]
fn safety_mode_seeds_second_half() {
    campaign(Mode::Safety, 1, 2);
}

#[test]
fn liveness_mode_seeds_first_half() {
    campaign(Mode::Liveness, 0, 2);
}

#[test]
fn liveness_mode_seeds_second_half() {
    campaign(Mode::Liveness, 1, 2);
}
