//! What the property-test files share: one way to configure proptest.

use proptest::test_runner::{Config, RngSeed};

/// The seed every property test starts from unless `PROPTEST_RNG_SEED` says
/// otherwise, so a run is reproducible.
const DEFAULT_SEED: u64 = 0x7113_c011;

/// proptest's configuration for these files: `default_cases` cases unless
/// `PROPTEST_CASES` is set (`make fuzz` sets it to a million), a fixed seed
/// unless `PROPTEST_RNG_SEED` is set, and no regression files written next
/// to the sources. The seed is printed; the test harness shows it when a
/// test fails.
pub(crate) fn proptest_config(default_cases: u32) -> Config {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = default_cases;
    }
    if config.rng_seed == RngSeed::Random {
        config.rng_seed = RngSeed::Fixed(DEFAULT_SEED);
    }
    config.failure_persistence = None;
    if let RngSeed::Fixed(seed) = config.rng_seed {
        eprintln!(
            "proptest: {} cases, seed {seed} (replay with PROPTEST_RNG_SEED={seed})",
            config.cases
        );
    }
    config
}
