//! Measurements: HdrHistograms of the three stages (accepted, final on the
//! first node, final on every node) and of the send lag, in microseconds
//! from each transaction's intended send time, plus a per-second series.
//!
//! Only measured transactions (not the warm-up) enter the histograms; the
//! per-second series covers the whole run, warm-up included, so a plot
//! shows it. In the series, `offered` and the latency percentiles are
//! counted by intended second, `sent` by actual send second, and
//! `accepted`, `final` and `rejected` by the second they happened in.

use std::time::Duration;

use hdrhistogram::Histogram;

/// A histogram of microseconds.
pub type Hist = Histogram<u64>;

/// The largest value histograms keep (longer ones are clamped): 1 hour.
pub const HIGHEST_US: u64 = 3_600_000_000;

/// "Not yet" in the microsecond fields of a record.
pub const NONE: u64 = u64::MAX;

/// Microseconds of a duration (saturating).
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX - 1)
}

/// An empty histogram of microseconds with `sigfig` significant digits.
pub fn new_hist(sigfig: u8) -> Hist {
    Histogram::new_with_bounds(1, HIGHEST_US, sigfig.clamp(1, 5))
        .expect("constant bounds and 1..=5 significant digits are valid")
}

/// A value at a quantile, in milliseconds; `None` for an empty histogram.
pub fn quantile_ms(h: &Hist, quantile: f64) -> Option<f64> {
    if h.is_empty() {
        return None;
    }
    let us = if quantile >= 1.0 { h.max() } else { h.value_at_quantile(quantile) };
    Some(us as f64 / 1_000.0)
}

/// One second of the run.
#[derive(Clone, Debug)]
pub struct Second {
    /// Slots scheduled in it.
    pub offered: u64,
    /// Transactions actually sent in it.
    pub sent: u64,
    /// RPC acceptances that arrived in it.
    pub accepted: u64,
    /// Transactions that became final (on a first node) in it.
    pub finals: u64,
    /// Transactions rejected in it.
    pub rejected: u64,
    /// Largest send lag of the slots scheduled in it, µs.
    pub lag_max_us: u64,
    /// Accepted latencies of the transactions scheduled in it.
    pub accepted_hist: Hist,
    /// Final-on-first-node latencies of the transactions scheduled in it.
    pub final_first: Hist,
    /// Final-on-every-node latencies of the transactions scheduled in it.
    pub final_all: Hist,
}

impl Second {
    fn new() -> Second {
        Second {
            offered: 0,
            sent: 0,
            accepted: 0,
            finals: 0,
            rejected: 0,
            lag_max_us: 0,
            accepted_hist: new_hist(2),
            final_first: new_hist(2),
            final_all: new_hist(2),
        }
    }
}

/// The histograms and the series of one run.
#[derive(Debug)]
pub struct Recorder {
    accepted: Hist,
    final_first: Hist,
    final_all: Hist,
    send_lag: Hist,
    seconds: Vec<Second>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

impl Recorder {
    /// Empty.
    pub fn new() -> Recorder {
        Recorder {
            accepted: new_hist(3),
            final_first: new_hist(3),
            final_all: new_hist(3),
            send_lag: new_hist(3),
            seconds: Vec::new(),
        }
    }

    fn second(&mut self, at_us: u64) -> &mut Second {
        // A run lasts far less than 2^32 s: the cast is exact.
        let index = (at_us / 1_000_000) as usize;
        if self.seconds.len() <= index {
            self.seconds.resize_with(index + 1, Second::new);
        }
        &mut self.seconds[index]
    }

    /// A slot was scheduled at `intended_us`.
    pub fn record_offered(&mut self, intended_us: u64) {
        self.second(intended_us).offered += 1;
    }

    /// A transaction scheduled at `intended_us` was sent at `sent_us`.
    pub fn record_sent(&mut self, intended_us: u64, sent_us: u64, measured: bool) {
        let lag = sent_us.saturating_sub(intended_us);
        if measured {
            self.send_lag.saturating_record(lag.max(1));
        }
        self.second(sent_us).sent += 1;
        let second = self.second(intended_us);
        second.lag_max_us = second.lag_max_us.max(lag);
    }

    /// The RPC accepted a transaction at `at_us`.
    pub fn record_stage_accepted(&mut self, intended_us: u64, at_us: u64, measured: bool) {
        let latency = at_us.saturating_sub(intended_us).max(1);
        if measured {
            self.accepted.saturating_record(latency);
        }
        self.second(at_us).accepted += 1;
        self.second(intended_us).accepted_hist.saturating_record(latency);
    }

    /// A transaction became final on its first node at `at_us`.
    pub fn record_final_first(&mut self, intended_us: u64, at_us: u64, measured: bool) {
        let latency = at_us.saturating_sub(intended_us).max(1);
        if measured {
            self.final_first.saturating_record(latency);
        }
        self.second(at_us).finals += 1;
        self.second(intended_us).final_first.saturating_record(latency);
    }

    /// A transaction became final on every node at `at_us`.
    pub fn record_final_all(&mut self, intended_us: u64, at_us: u64, measured: bool) {
        let latency = at_us.saturating_sub(intended_us).max(1);
        if measured {
            self.final_all.saturating_record(latency);
        }
        self.second(intended_us).final_all.saturating_record(latency);
    }

    /// A transaction was rejected at `at_us`.
    pub fn record_rejected(&mut self, at_us: u64) {
        self.second(at_us).rejected += 1;
    }

    /// Accepted latencies (measured transactions), µs.
    pub fn accepted(&self) -> &Hist {
        &self.accepted
    }

    /// Final-on-first-node latencies, µs.
    pub fn final_first(&self) -> &Hist {
        &self.final_first
    }

    /// Final-on-every-node latencies, µs.
    pub fn final_all(&self) -> &Hist {
        &self.final_all
    }

    /// Send lag behind schedule, µs.
    pub fn send_lag(&self) -> &Hist {
        &self.send_lag
    }

    /// The per-second series.
    pub fn seconds(&self) -> &[Second] {
        &self.seconds
    }

    /// The histogram of a stage by name (`accepted`, `final_first`,
    /// `final_all`).
    pub fn stage(&self, name: &str) -> Option<&Hist> {
        match name {
            "accepted" => Some(&self.accepted),
            "final_first" => Some(&self.final_first),
            "final_all" => Some(&self.final_all),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_known_data() {
        let mut r = Recorder::new();
        // 1..=1000 ms, one of each, intended at 0.
        for ms in 1..=1_000u64 {
            r.record_final_first(0, ms * 1_000, true);
        }
        let h = r.final_first();
        assert_eq!(h.len(), 1_000);
        let within = |got: Option<f64>, want: f64| {
            let got = got.unwrap();
            assert!((got - want).abs() <= want * 0.001 + 0.001, "got {got}, want {want}");
        };
        within(quantile_ms(h, 0.50), 500.0);
        within(quantile_ms(h, 0.90), 900.0);
        within(quantile_ms(h, 0.99), 990.0);
        within(quantile_ms(h, 0.999), 999.0);
        within(quantile_ms(h, 1.0), 1_000.0);
        assert_eq!(quantile_ms(r.final_all(), 0.5), None, "empty: not measured");
    }

    #[test]
    fn warmup_transactions_stay_out_of_the_histograms_but_not_the_series() {
        let mut r = Recorder::new();
        r.record_offered(10);
        r.record_sent(10, 20, false);
        r.record_stage_accepted(10, 2_000, false);
        r.record_final_first(10, 5_000, false);
        assert!(r.accepted().is_empty() && r.final_first().is_empty() && r.send_lag().is_empty());
        let s = &r.seconds()[0];
        assert_eq!((s.offered, s.sent, s.accepted, s.finals), (1, 1, 1, 1));
    }

    #[test]
    fn the_series_buckets_by_second() {
        let mut r = Recorder::new();
        r.record_offered(999_999);
        r.record_sent(999_999, 1_200_000, true);
        r.record_final_first(999_999, 2_500_000, true);
        assert_eq!(r.seconds().len(), 3);
        assert_eq!(r.seconds()[0].offered, 1);
        assert_eq!(r.seconds()[0].lag_max_us, 200_001);
        assert_eq!(r.seconds()[1].sent, 1);
        assert_eq!(r.seconds()[2].finals, 1);
        assert_eq!(r.seconds()[0].final_first.len(), 1, "latency by intended second");
    }
}
