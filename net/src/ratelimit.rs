//! Per-peer inbound rate limits: token buckets on messages and on bytes.
//!
//! Time is passed in, so the buckets are tested without a clock.

use std::time::Instant;

/// A token bucket: `rate` tokens per second, at most `capacity` saved up.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub(crate) fn new(rate: f64, capacity: f64, now: Instant) -> Self {
        TokenBucket { rate, capacity, tokens: capacity, updated: now }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.updated = now;
    }

    /// Whether `cost` tokens are available. A cost above the capacity needs a
    /// full bucket (and then empties it), so one large frame is never refused
    /// forever.
    fn has(&self, cost: f64) -> bool {
        self.tokens >= cost.min(self.capacity)
    }

    fn take(&mut self, cost: f64) {
        self.tokens = (self.tokens - cost).max(0.0);
    }
}

/// The two buckets of one peer.
#[derive(Debug, Clone)]
pub(crate) struct RateLimiter {
    messages: TokenBucket,
    bytes: TokenBucket,
}

impl RateLimiter {
    /// Limits of `msgs_per_sec` (burst `msg_burst`) and `bytes_per_sec`
    /// (burst `byte_burst`), starting full.
    pub(crate) fn new(
        msgs_per_sec: u32,
        msg_burst: u32,
        bytes_per_sec: u64,
        byte_burst: u64,
        now: Instant,
    ) -> Self {
        RateLimiter {
            messages: TokenBucket::new(f64::from(msgs_per_sec), f64::from(msg_burst), now),
            bytes: TokenBucket::new(bytes_per_sec as f64, byte_burst as f64, now),
        }
    }

    /// Admits one message of `bytes` bytes, or refuses it without charging
    /// anything (a refused message costs the sender its misbehaviour points,
    /// not its budget).
    pub(crate) fn admit(&mut self, bytes: usize, now: Instant) -> bool {
        self.messages.refill(now);
        self.bytes.refill(now);
        let bytes = bytes as f64;
        if self.messages.has(1.0) && self.bytes.has(bytes) {
            self.messages.take(1.0);
            self.bytes.take(bytes);
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn burst_then_sustained_rate() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(10, 5, 1_000_000, 1_000_000, start);
        let admitted = (0..20).filter(|_| limiter.admit(1, start)).count();
        assert_eq!(admitted, 5, "the burst");
        let later = start + Duration::from_millis(500);
        let admitted = (0..20).filter(|_| limiter.admit(1, later)).count();
        assert_eq!(admitted, 5, "half a second at 10/s");
    }

    #[test]
    fn bytes_limit_and_frames_larger_than_the_burst() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(1000, 1000, 100, 100, start);
        assert!(limiter.admit(60, start));
        assert!(!limiter.admit(60, start), "only 40 bytes left");
        assert!(limiter.admit(40, start));
        // A 500-byte frame needs a full bucket, then empties it.
        assert!(!limiter.admit(500, start + Duration::from_millis(500)));
        assert!(limiter.admit(500, start + Duration::from_secs(2)));
        assert!(!limiter.admit(1, start + Duration::from_secs(2)));
    }
}
