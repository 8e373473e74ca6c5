//! Prometheus metrics (`GET /metrics`), with prometheus-client.
//!
//! Counters and histograms are fed as things happen (node events, RPC
//! calls); gauges (height, pool sizes, peers, store, RSS) are read when
//! scraped, so a scrape costs one driver query and no work in between.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use consensus::Event;

use crate::node::{NodeEvent, NodeHandle, Query};

type Labels = Vec<(String, String)>;

/// All metrics of one node.
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    tx_states: Family<Labels, Counter>,
    finality_latency: Histogram,
    blocks: Counter,
    block_txs: Counter,
    equivocations: Counter,
    rpc_requests: Family<Labels, Counter>,
    rpc_latency: Histogram,
    gauges: Family<Labels, Gauge<f64, AtomicU64>>,
    refused: Family<Labels, Counter>,
    cpu: Family<Labels, Counter<f64, AtomicU64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

impl Metrics {
    /// Registers every family.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("timed");
        let tx_states = Family::<Labels, Counter>::default();
        registry.register(
            "transactions",
            "Transactions entering each state, by state",
            tx_states.clone(),
        );
        // 1 ms .. ~33 s.
        let finality_latency = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        registry.register(
            "finality_latency_seconds",
            "Time from first seeing a transaction to it being final here",
            finality_latency.clone(),
        );
        let blocks = Counter::default();
        registry.register("blocks_committed", "Blocks committed", blocks.clone());
        let block_txs = Counter::default();
        registry.register(
            "block_transactions",
            "Transactions committed in blocks (coinbase excluded)",
            block_txs.clone(),
        );
        let equivocations = Counter::default();
        registry.register("equivocations", "Equivocations seen", equivocations.clone());
        let rpc_requests = Family::<Labels, Counter>::default();
        registry.register(
            "rpc_requests",
            "JSON-RPC requests by method and outcome",
            rpc_requests.clone(),
        );
        let rpc_latency = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        registry.register(
            "rpc_request_duration_seconds",
            "JSON-RPC request handling time",
            rpc_latency.clone(),
        );
        let gauges = Family::<Labels, Gauge<f64, AtomicU64>>::default();
        registry.register("state", "Node state read at scrape time, by name", gauges.clone());
        let refused = Family::<Labels, Counter>::default();
        registry.register(
            "refused_messages",
            "Peer messages (or parts of them) the consensus core refused, by reason",
            refused.clone(),
        );
        for reason in consensus::Refusal::ALL {
            refused.get_or_create(&labels(&[("reason", reason.as_str())])).inc_by(0);
        }
        let cpu = Family::<Labels, Counter<f64, AtomicU64>>::default();
        registry.register(
            "cpu_seconds",
            "CPU time by component (thread CPU clocks): verify, commitment, store, rpc, p2p, driver, other",
            cpu.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            tx_states,
            finality_latency,
            blocks,
            block_txs,
            equivocations,
            rpc_requests,
            rpc_latency,
            gauges,
            refused,
            cpu,
        }
    }

    /// Counts what a node event says.
    pub fn observe(&self, event: &NodeEvent) {
        match &event.event {
            Event::TxState { state, .. } => {
                self.tx_states.get_or_create(&labels(&[("state", state.as_str())])).inc();
                if let Some(ms) = event.latency_ms {
                    self.finality_latency.observe(ms as f64 / 1000.0);
                }
            }
            Event::BlockCommitted { txids, .. } => {
                self.blocks.inc();
                self.block_txs.inc_by(txids.len().saturating_sub(1) as u64);
            }
            Event::Equivocation(_) => {
                self.equivocations.inc();
            }
            Event::Syncing(_) | Event::ProposalRejected { .. } => {}
        }
    }

    /// Counts one RPC request.
    pub fn rpc_request(&self, method: &str, outcome: &str) {
        self.rpc_requests.get_or_create(&labels(&[("method", method), ("outcome", outcome)])).inc();
    }

    /// Records an RPC request's handling time.
    pub fn rpc_latency(&self, took: Duration) {
        self.rpc_latency.observe(took.as_secs_f64());
    }

    fn set(&self, name: &str, value: f64) {
        self.gauges.get_or_create(&labels(&[("name", name)])).set(value);
    }

    /// Reads the gauges and renders everything in the text format.
    pub async fn render(&self, node: &NodeHandle) -> String {
        if let Ok(info) = node.query(Query::Info).await {
            self.set("height", info.height as f64);
            self.set("round", f64::from(info.round));
            self.set("view_changes", info.view_changes as f64);
            self.set("syncing", if info.syncing { 1.0 } else { 0.0 });
            // The core counts; the counters catch up with it at each scrape.
            for (reason, total) in &info.refusals {
                let counter = self.refused.get_or_create(&labels(&[("reason", reason.as_str())]));
                counter.inc_by(total.saturating_sub(counter.get()));
            }
        }
        if let Ok(m) = node.query(Query::Mempool).await {
            self.set("mempool_transactions", m.pending as f64);
            self.set("mempool_bytes", m.pending_bytes as f64);
            self.set("orphan_transactions", m.orphans as f64);
            self.set("orphan_bytes", m.orphan_bytes as f64);
            self.set("final_not_in_block", m.final_not_in_block as f64);
        }
        let peers = node.net().peers();
        self.set("peers", peers.len() as f64);
        let net = node.net().stats();
        self.set("net_dropped_outbound_total", net.dropped_outbound as f64);
        self.set("net_rate_limited_total", net.rate_limited as f64);
        self.set("net_bans_total", net.bans as f64);
        let stats = node.stats();
        let flushes = stats.flushes.load(Ordering::Relaxed);
        self.set("store_flushes_total", flushes as f64);
        self.set(
            "store_flush_seconds_total",
            stats.flush_micros.load(Ordering::Relaxed) as f64 / 1e6,
        );
        self.set(
            "store_flush_max_seconds",
            stats.flush_max_micros.load(Ordering::Relaxed) as f64 / 1e6,
        );
        self.set(
            "store_persist_seconds_total",
            stats.persist_micros.load(Ordering::Relaxed) as f64 / 1e6,
        );
        self.set("store_size_bytes", node.store().size_on_disk().unwrap_or(0) as f64);
        self.set("driver_cycles_total", stats.cycles.load(Ordering::Relaxed) as f64);
        self.set(
            "driver_cycles_during_write_total",
            stats.cycles_during_write.load(Ordering::Relaxed) as f64,
        );
        for (component, spent) in stats.cpu.breakdown(node.net().cpu_time()) {
            let counter = self.cpu.get_or_create(&labels(&[("component", component)]));
            counter.inc_by((spent.as_secs_f64() - counter.get()).max(0.0));
        }
        self.set("process_resident_memory_bytes", resident_memory_bytes() as f64);
        self.set("uptime_seconds", node.uptime().as_secs_f64());
        let mut text = String::new();
        let registry = self.registry.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if encode(&mut text, &registry).is_err() {
            text.clear();
        }
        drop(registry);
        // Build info as its own family (a constant 1 with labels).
        let build = format!(
            "# HELP timed_build_info Build information.\n# TYPE timed_build_info gauge\ntimed_build_info{{version=\"{}\",git=\"{}\"}} 1\n",
            env!("CARGO_PKG_VERSION"),
            env!("TIMED_GIT_HASH")
        );
        match text.strip_suffix("# EOF\n") {
            Some(body) => format!("{body}{build}# EOF\n"),
            None => format!("{text}{build}"),
        }
    }
}

/// This process's resident set size (`VmRSS` in /proc/self/status; 0 where
/// unavailable).
pub fn resident_memory_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                let kb = line.strip_prefix("VmRSS:")?.trim().strip_suffix("kB")?.trim();
                kb.parse::<u64>().ok()
            })
        })
        .map_or(0, |kb| kb * 1024)
}
