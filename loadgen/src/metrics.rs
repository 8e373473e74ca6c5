//! The metric names: one table used by the summary, `summary.json`,
//! `--slo` and `loadgen compare`. Latencies are in milliseconds, measured
//! from each transaction's intended send time.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a metric measures, which decides its units in `--slo`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Milliseconds (`--slo` takes `ms` or `s`).
    Latency,
    /// Seconds (`--slo` takes `s`, `ms`, or a plain number of seconds).
    Seconds,
    /// A plain number (rate, ratio, count).
    Number,
}

/// Which way is better, for `loadgen compare`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    /// Higher is better (throughput, final ratio).
    Higher,
    /// Lower is better (latency, failures).
    Lower,
    /// Neither (descriptive counts).
    Neither,
}

/// One metric.
#[derive(Clone, Copy, Debug)]
pub struct MetricDef {
    /// Its name, as printed, in JSON and in `--slo`.
    pub name: &'static str,
    /// Its kind.
    pub kind: Kind,
    /// Which way is better.
    pub better: Better,
    /// What it is.
    pub help: &'static str,
}

const fn def(name: &'static str, kind: Kind, better: Better, help: &'static str) -> MetricDef {
    MetricDef { name, kind, better, help }
}

use Better::{Higher, Lower, Neither};
use Kind::{Latency, Number, Seconds};

/// The percentiles of each latency stage, as suffixes.
pub const PERCENTILES: [(&str, f64); 5] =
    [("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p999", 99.9), ("max", 100.0)];

/// The latency stages.
pub const STAGES: [&str; 3] = ["accepted", "final_first", "final_all"];

/// Every metric, in the order the summary prints them.
pub const METRICS: &[MetricDef] = &[
    def("offered_tps", Number, Neither, "scheduled sends per second of the measured part"),
    def("achieved_tps", Number, Higher, "measured transactions that became final, per second"),
    def("send_tps", Number, Higher, "measured transactions actually sent, per second"),
    def("final_ratio", Number, Higher, "final / sent (measured transactions)"),
    def("accepted.p50", Latency, Lower, "intended send to the RPC's answer, ms"),
    def("accepted.p90", Latency, Lower, ""),
    def("accepted.p99", Latency, Lower, ""),
    def("accepted.p999", Latency, Lower, ""),
    def("accepted.max", Latency, Lower, ""),
    def("final_first.p50", Latency, Lower, "intended send to final on the first node, ms"),
    def("final_first.p90", Latency, Lower, ""),
    def("final_first.p99", Latency, Lower, ""),
    def("final_first.p999", Latency, Lower, ""),
    def("final_first.max", Latency, Lower, ""),
    def("final_all.p50", Latency, Lower, "intended send to final on every node, ms"),
    def("final_all.p90", Latency, Lower, ""),
    def("final_all.p99", Latency, Lower, ""),
    def("final_all.p999", Latency, Lower, ""),
    def("final_all.max", Latency, Lower, ""),
    def("send_lag.p99", Latency, Lower, "actual send behind intended send, ms"),
    def("send_lag.max", Latency, Lower, ""),
    def("sent", Number, Neither, "measured transactions sent"),
    def("final", Number, Higher, "of which final"),
    def("rejected", Number, Lower, "of which rejected (any reason, busy included)"),
    def("conflicted", Number, Lower, "of which conflicted"),
    def("lost", Number, Lower, "of which lost (a conflicting transaction is final)"),
    def("timed_out", Number, Lower, "of which without a fate within --timeout"),
    def("warmup_excluded", Number, Neither, "transactions of the warm-up, excluded"),
    def("double_spend_pairs", Number, Neither, "conflicting pairs sent"),
    def("double_spend_both_final", Number, Lower, "conflicting pairs with both final (must be 0)"),
    def("view_changes", Number, Lower, "BFT rounds beyond 0 during the run (most on one node)"),
    def("rounds_per_block", Number, Lower, "mean rounds per block committed during the run"),
    def("max_height_spread", Number, Lower, "largest height difference between nodes"),
    def("max_no_block_s", Seconds, Lower, "longest time without a new block, s"),
    def("max_no_final_s", Seconds, Lower, "longest time without a finality while sending, s"),
    def("cpu_percent", Number, Lower, "loadgen's own CPU, % of one core"),
];

/// The metric called `name`.
pub fn find(name: &str) -> Option<&'static MetricDef> {
    METRICS.iter().find(|m| m.name == name)
}

/// Every metric name, for error messages.
pub fn names() -> Vec<&'static str> {
    METRICS.iter().map(|m| m.name).collect()
}

/// Metric values by name; `None` when there was nothing to measure (e.g.
/// no transaction became final on every node).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics(pub BTreeMap<String, Option<f64>>);

impl Metrics {
    /// Sets a value.
    pub fn set(&mut self, name: &str, value: Option<f64>) {
        debug_assert!(find(name).is_some(), "unknown metric {name}");
        self.0.insert(name.to_string(), value);
    }

    /// A value (None when absent or not measured).
    pub fn get(&self, name: &str) -> Option<f64> {
        self.0.get(name).copied().flatten()
    }
}
