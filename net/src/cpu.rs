//! CPU time by component, from the kernel's per-thread CPU clock.
//!
//! A future's poll runs on one thread from start to end, without another
//! task in between, so the thread's CPU time across a poll is that future's
//! own: [`metered`] charges every poll of a future to a [`CpuCounter`]. The
//! network layer meters its tasks with it (`NetStats::cpu_nanos`); `timed`
//! meters its driver, RPC connections and store writes the same way, and
//! synchronous work (a verification batch on a blocking thread) with
//! [`CpuCounter::measure`]. Reading the clock is one `clock_gettime`
//! (well under a microsecond), taken twice per poll.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use nix::time::{ClockId, clock_gettime};

/// CPU time the calling thread has used so far (user and system); zero
/// where the clock cannot be read.
pub fn thread_time() -> Duration {
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).map_or(Duration::ZERO, Duration::from)
}

/// CPU time this process has used so far, every thread (user and system);
/// zero where it cannot be read.
pub fn process_time() -> Duration {
    clock_gettime(ClockId::CLOCK_PROCESS_CPUTIME_ID).map_or(Duration::ZERO, Duration::from)
}

/// CPU time charged to one component, in nanoseconds; only ever grows.
#[derive(Debug, Default)]
pub struct CpuCounter(AtomicU64);

impl CpuCounter {
    /// Charges `spent`.
    pub fn add(&self, spent: Duration) {
        let nanos = u64::try_from(spent.as_nanos()).unwrap_or(u64::MAX);
        self.0.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Everything charged so far.
    pub fn total(&self) -> Duration {
        Duration::from_nanos(self.0.load(Ordering::Relaxed))
    }

    /// Runs `work` on this thread and charges its CPU time.
    pub fn measure<T>(&self, work: impl FnOnce() -> T) -> T {
        let started = thread_time();
        let result = work();
        self.add(thread_time().saturating_sub(started));
        result
    }
}

/// `future`, with the CPU time of each of its polls charged to `counter`.
pub async fn metered<F: Future>(counter: Arc<CpuCounter>, future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(move |cx| counter.measure(|| future.as_mut().poll(cx))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Work the optimiser cannot drop.
    fn spin(rounds: u64) -> u64 {
        (0..rounds).fold(0u64, |acc, i| std::hint::black_box(acc.wrapping_mul(31).wrapping_add(i)))
    }

    #[test]
    fn work_is_charged_and_waiting_is_not() {
        let counter = CpuCounter::default();
        counter.measure(|| std::thread::sleep(Duration::from_millis(50)));
        let slept = counter.total();
        counter.measure(|| spin(20_000_000));
        let spun = counter.total() - slept;
        assert!(slept < Duration::from_millis(25), "sleeping was charged {slept:?}");
        assert!(spun > slept, "spinning was charged {spun:?}, sleeping {slept:?}");
    }

    #[tokio::test]
    async fn a_metered_future_is_charged_for_its_polls() {
        let reference = CpuCounter::default();
        std::hint::black_box(reference.measure(|| spin(20_000_000)));
        let counter = Arc::new(CpuCounter::default());
        let output = metered(counter.clone(), async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            spin(20_000_000)
        })
        .await;
        std::hint::black_box(output);
        let (charged, spun) = (counter.total(), reference.total());
        assert!(charged >= spun / 2, "charged {charged:?} for work that took {spun:?}");
        assert!(
            charged < spun * 2 + Duration::from_millis(25),
            "the wait was charged: {charged:?}"
        );
        assert!(process_time() >= charged);
    }
}
