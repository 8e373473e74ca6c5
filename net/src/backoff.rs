//! Redial delays: capped exponential backoff with jitter, so a restarted
//! network does not redial in lockstep.

use std::time::Duration;

/// The delay sequence of one dial target.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// Starts at `min`, doubles up to `max`.
    pub(crate) fn new(min: Duration, max: Duration) -> Self {
        Backoff { min, max: max.max(min), next: min }
    }

    /// The next delay; `jitter` in `[0, 1]` picks it between half the
    /// current step and the full step (never below `min`).
    pub(crate) fn next_delay(&mut self, jitter: f64) -> Duration {
        let step = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        let jitter = jitter.clamp(0.0, 1.0);
        step.mul_f64(0.5 + 0.5 * jitter).max(self.min)
    }

    /// Back to `min` (after a connection that worked for a while).
    pub(crate) fn reset(&mut self) {
        self.next = self.min;
    }

    /// The cap.
    pub(crate) fn max(&self) -> Duration {
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_within_jitter_bounds() {
        let min = Duration::from_millis(100);
        let max = Duration::from_millis(1000);
        let mut backoff = Backoff::new(min, max);
        let full: Vec<_> = (0..6).map(|_| backoff.next_delay(1.0)).collect();
        assert_eq!(
            full.iter().map(|d| d.as_millis()).collect::<Vec<_>>(),
            [100, 200, 400, 800, 1000, 1000]
        );
        let mut backoff = Backoff::new(min, max);
        for _ in 0..10 {
            let d = backoff.next_delay(0.0);
            assert!(d >= min && d <= max, "{d:?}");
        }
        backoff.reset();
        assert_eq!(backoff.next_delay(1.0), min);
    }
}
