//! Redial delays: capped exponential backoff with jitter, so a restarted
//! network does not redial in lockstep. The sequence is `backon`'s
//! [`ExponentialBuilder`]; this module only configures it.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// The delay sequence of one dial target: the step starts at `min` and
/// doubles up to `max`; each delay is drawn between half the step and the
/// full step, and is never below `min` nor above `max`. Unlimited: it never
/// runs out. To start again from `min` (after a connection that worked for a
/// while), take a new sequence.
pub(crate) fn delays(min: Duration, max: Duration) -> impl Iterator<Item = Duration> + Send {
    let max = max.max(min);
    // backon's jitter adds a random part of the step on top of it (the delay
    // is in [step, 2 * step)), so half-size steps give delays between half
    // the step and the full step, as before, and never above `max`.
    ExponentialBuilder::new()
        .with_min_delay(min / 2)
        .with_max_delay(max / 2)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build()
        // The only hand-written part: backon has no floor below the jitter,
        // and a redial sooner than `min` is what `backoff_min` rules out.
        .map(move |delay| delay.clamp(min, max))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_millis(1000);

    #[test]
    fn delays_stay_within_min_and_the_cap_and_never_run_out() {
        for _ in 0..50 {
            let taken: Vec<Duration> = delays(MIN, MAX).take(1000).collect();
            assert_eq!(taken.len(), 1000, "unlimited");
            for d in taken {
                assert!(d >= MIN && d <= MAX, "{d:?}");
            }
        }
    }

    #[test]
    fn the_step_doubles_up_to_the_cap_with_jitter_below_it() {
        // Step k is min * 2^k capped at max; a delay lies in [step / 2, step]
        // (and not below min). A tolerance of 1 ms absorbs backon's f32 sums.
        let steps = [100u64, 200, 400, 800, 1000, 1000, 1000];
        let tolerance = Duration::from_millis(1);
        let mut lowest = [Duration::MAX; 7];
        let mut highest = [Duration::ZERO; 7];
        for _ in 0..200 {
            for (i, d) in delays(MIN, MAX).take(steps.len()).enumerate() {
                let step = Duration::from_millis(steps[i]);
                assert!(d <= step + tolerance, "delay {i}: {d:?} above step {step:?}");
                assert!(
                    d + tolerance >= (step / 2).max(MIN),
                    "delay {i}: {d:?} below half {step:?}"
                );
                lowest[i] = lowest[i].min(d);
                highest[i] = highest[i].max(d);
            }
        }
        // It grows: late delays are longer than the first step allows.
        assert!(lowest[3] > MIN * 3, "{lowest:?}");
        assert!(lowest[6] >= MAX / 2 - tolerance, "{lowest:?}");
        // It is jittered: 200 draws of a capped step are not all the same.
        assert!(highest[6] - lowest[6] > Duration::from_millis(100), "{lowest:?} {highest:?}");
    }

    #[test]
    fn a_new_sequence_starts_at_min_again() {
        let mut grown = delays(MIN, MAX);
        let late = grown.nth(10).expect("unlimited");
        assert!(late >= MAX / 2, "{late:?}");
        let first = delays(MIN, MAX).next().expect("unlimited");
        assert_eq!(first, MIN, "the first step is min; its lower half is floored at min");
    }

    #[test]
    fn an_inverted_range_is_held_at_min() {
        for d in delays(MAX, MIN).take(20) {
            assert_eq!(d, MAX);
        }
    }
}
