//! Open-loop pacing: slot `i` of the schedule is due at exactly
//! `i / rate` after the start, whatever happened before. A sender that
//! stalls does not move the schedule: when it wakes, every slot that fell
//! due meanwhile is due at once, and each keeps its own intended time, from
//! which its latencies are measured (no coordinated omission).
//!
//! Time comes from a [`Clock`], so tests can simulate stalls without
//! sleeping.

use std::future::Future;
use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Where the pacer reads the time and how it waits.
pub trait Clock: Send + Sync {
    /// Time since the run's origin.
    fn now(&self) -> Duration;
    /// Waits until `at` (since the origin); returns at once if it is past.
    fn sleep_until(&self, at: Duration) -> impl Future<Output = ()> + Send;
}

/// The real clock: tokio's monotonic time from an origin.
#[derive(Clone, Copy, Debug)]
pub struct SystemClock {
    origin: tokio::time::Instant,
}

impl SystemClock {
    /// A clock whose zero is `origin`.
    pub fn new(origin: std::time::Instant) -> SystemClock {
        SystemClock { origin: tokio::time::Instant::from_std(origin) }
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn sleep_until(&self, at: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep_until(self.origin + at)
    }
}

/// A clock that moves only when told to (tests): sleeping jumps to the
/// wake-up time, and [`ManualClock::advance`] simulates a stall.
#[derive(Clone, Debug, Default)]
pub struct ManualClock {
    now: Arc<Mutex<Duration>>,
}

impl ManualClock {
    /// A clock at zero.
    pub fn new() -> ManualClock {
        ManualClock::default()
    }

    /// Moves the time forward by `by` (a stall of whoever reads it next).
    pub fn advance(&self, by: Duration) {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn sleep_until(&self, at: Duration) -> impl Future<Output = ()> + Send {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        if *now < at {
            *now = at;
        }
        std::future::ready(())
    }
}

/// The schedule: `warmup_slots` slots of warm-up, then `measured_slots`,
/// one every `1 / rate` seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    /// Slots per second.
    pub rate: f64,
    /// Slots of the warm-up (excluded from the statistics).
    pub warmup_slots: u64,
    /// Slots of the measured part.
    pub measured_slots: u64,
}

impl Schedule {
    /// Every slot.
    pub fn total(&self) -> u64 {
        self.warmup_slots + self.measured_slots
    }

    /// When slot `i` is due, since the origin.
    pub fn intended(&self, slot: u64) -> Duration {
        Duration::from_nanos((slot as f64 * 1e9 / self.rate) as u64)
    }

    /// True for a warm-up slot.
    pub fn is_warmup(&self, slot: u64) -> bool {
        slot < self.warmup_slots
    }

    /// When the measured part starts.
    pub fn measure_start(&self) -> Duration {
        self.intended(self.warmup_slots)
    }

    /// When the last slot is due.
    pub fn last(&self) -> Duration {
        self.intended(self.total().saturating_sub(1))
    }
}

/// Hands out due slots in order.
#[derive(Debug)]
pub struct Pacer<C> {
    clock: C,
    schedule: Schedule,
    next: u64,
    max_burst: u64,
}

impl<C: Clock> Pacer<C> {
    /// A pacer at slot 0. At most `max_burst` slots are handed out at once
    /// when behind, so the caller can interleave other work.
    pub fn new(clock: C, schedule: Schedule, max_burst: u64) -> Pacer<C> {
        Pacer { clock, schedule, next: 0, max_burst: max_burst.max(1) }
    }

    /// The clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// The schedule.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// Waits until the next slot is due and returns every slot due now
    /// (at least one); `None` once the schedule is done.
    pub async fn next_due(&mut self) -> Option<Range<u64>> {
        let total = self.schedule.total();
        if self.next >= total {
            return None;
        }
        let first = self.next;
        self.clock.sleep_until(self.schedule.intended(first)).await;
        let now = self.clock.now();
        let mut end = first + 1;
        while end < total && end - first < self.max_burst && self.schedule.intended(end) <= now {
            end += 1;
        }
        self.next = end;
        Some(first..end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::{Recorder, micros};

    fn schedule(rate: f64, measured: u64) -> Schedule {
        Schedule { rate, warmup_slots: 0, measured_slots: measured }
    }

    #[tokio::test]
    async fn slots_are_due_at_exact_intervals() {
        let clock = ManualClock::new();
        let mut pacer = Pacer::new(clock.clone(), schedule(1_000.0, 5), 64);
        let mut seen = Vec::new();
        while let Some(due) = pacer.next_due().await {
            assert_eq!(due.end - due.start, 1, "on time, one slot at a time");
            seen.push(clock.now());
        }
        let expected: Vec<Duration> = (0..5).map(Duration::from_millis).collect();
        assert_eq!(seen, expected);
    }

    #[tokio::test]
    async fn a_sender_stall_shows_in_the_latencies_of_the_delayed_transactions() {
        // 1,000 tx/s; the sender stalls 500 ms at slot 100; every answer
        // takes 1 ms after the actual send.
        let clock = ManualClock::new();
        let sched = schedule(1_000.0, 1_000);
        let mut pacer = Pacer::new(clock.clone(), sched, 10_000);
        let mut recorder = Recorder::new();
        let mut from_actual_send = Recorder::new();
        let mut delayed = Vec::new();
        while let Some(due) = pacer.next_due().await {
            for slot in due {
                if slot == 100 {
                    clock.advance(Duration::from_millis(500));
                }
                let intended = micros(sched.intended(slot));
                let sent = micros(clock.now());
                let answered = sent + 1_000;
                recorder.record_stage_accepted(intended, answered, true);
                from_actual_send.record_stage_accepted(sent, answered, true);
                if (100..600).contains(&slot) {
                    delayed.push(answered - intended);
                }
            }
        }
        // Slot 100 was due at 100 ms and sent at 600 ms: 501 ms from its
        // intended time; the 500 slots due during the stall are late by
        // 500 ms down to ~1 ms.
        assert_eq!(delayed[0], 501_000);
        assert!(delayed.iter().all(|&l| l >= 1_000));
        let total = recorder.accepted();
        assert_eq!(total.len(), 1_000);
        assert!(total.value_at_quantile(0.5) >= 1_000);
        assert!(
            total.value_at_quantile(0.99) >= 490_000,
            "p99 {} µs must show the stall",
            total.value_at_quantile(0.99)
        );
        assert!(total.max() >= 500_000);
        // Measured from the actual send, the stall would be invisible.
        assert!(from_actual_send.accepted().max() < 2_000);
    }

    #[tokio::test]
    async fn bursts_are_capped_and_the_schedule_ends() {
        let clock = ManualClock::new();
        let mut pacer = Pacer::new(clock.clone(), schedule(1_000.0, 10), 4);
        clock.advance(Duration::from_secs(1));
        assert_eq!(pacer.next_due().await, Some(0..4));
        assert_eq!(pacer.next_due().await, Some(4..8));
        assert_eq!(pacer.next_due().await, Some(8..10));
        assert_eq!(pacer.next_due().await, None);
    }
}
