//! Prometheus metrics (`GET /metrics`), with prometheus-client.
//!
//! Counters and histograms are fed as things happen (node events, RPC
//! calls); node state (height, pool sizes, peers, store, the process) is
//! read when scraped, so a scrape costs two driver queries and no work in
//! between: gauges are set, and counters of totals the node keeps itself
//! catch up with them. Every family has its own name, type and unit
//! (`timed_*`), besides the standard `process_*` families.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use prometheus_client::registry::Unit;

use consensus::Event;

use crate::node::{NodeEvent, NodeHandle, Query};

type Labels = Vec<(String, String)>;
type FloatGauge = Gauge<f64, AtomicU64>;
type FloatCounter = Counter<f64, AtomicU64>;

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
    refused: Family<Labels, Counter>,
    cpu: Family<Labels, FloatCounter>,
    scraped: Scraped,
    process: ProcessMetrics,
}

/// Node state read at scrape time.
#[derive(Debug, Default)]
struct Scraped {
    height: Gauge,
    round: Gauge,
    syncing: Gauge,
    view_changes: Counter,
    mempool_transactions: Gauge,
    mempool_bytes: Gauge,
    orphan_transactions: Gauge,
    orphan_bytes: Gauge,
    final_not_in_block: Gauge,
    peers: Gauge,
    net_dropped_outbound: Counter,
    net_rate_limited: Counter,
    net_bans: Counter,
    store_flushes: Counter,
    store_flush_seconds: FloatCounter,
    store_flush_max_seconds: FloatGauge,
    store_persist_seconds: FloatCounter,
    store_size_bytes: Gauge,
    driver_cycles: Counter,
    driver_cycles_during_write: Counter,
    signatures_verified: Counter,
    vote_signatures_verified: Counter,
    uptime_seconds: FloatGauge,
}

impl Scraped {
    fn register(&self, r: &mut Registry) {
        let s = self;
        r.register("height", "Height of the last committed block", s.height.clone());
        r.register("round", "Round of the height being decided", s.round.clone());
        r.register("syncing", "1 while catching up with peers' blocks", s.syncing.clone());
        r.register("view_changes", "Rounds that ended without a block", s.view_changes.clone());
        r.register(
            "mempool_transactions",
            "Transactions waiting to be final",
            s.mempool_transactions.clone(),
        );
        r.register_with_unit(
            "mempool",
            "Size of the transactions waiting to be final",
            Unit::Bytes,
            s.mempool_bytes.clone(),
        );
        r.register(
            "orphan_transactions",
            "Transactions waiting for a parent",
            s.orphan_transactions.clone(),
        );
        r.register_with_unit(
            "orphan",
            "Size of the transactions waiting for a parent",
            Unit::Bytes,
            s.orphan_bytes.clone(),
        );
        r.register(
            "final_not_in_block_transactions",
            "Final transactions not yet in a committed block",
            s.final_not_in_block.clone(),
        );
        r.register("peers", "Connected peers", s.peers.clone());
        r.register(
            "net_dropped_outbound",
            "Outbound messages dropped because a peer's queue was full",
            s.net_dropped_outbound.clone(),
        );
        r.register(
            "net_rate_limited",
            "Inbound messages refused by a peer's rate limit",
            s.net_rate_limited.clone(),
        );
        r.register("net_bans", "Peers banned", s.net_bans.clone());
        r.register("store_flushes", "Store flushes (fsyncs)", s.store_flushes.clone());
        r.register_with_unit(
            "store_flush",
            "Time spent in store flushes",
            Unit::Seconds,
            s.store_flush_seconds.clone(),
        );
        r.register_with_unit(
            "store_flush_max",
            "Longest store flush",
            Unit::Seconds,
            s.store_flush_max_seconds.clone(),
        );
        r.register_with_unit(
            "store_persist",
            "Time spent writing persists (before their flush)",
            Unit::Seconds,
            s.store_persist_seconds.clone(),
        );
        r.register_with_unit(
            "store_size",
            "Store size on disk",
            Unit::Bytes,
            s.store_size_bytes.clone(),
        );
        r.register("driver_cycles", "Driver cycles", s.driver_cycles.clone());
        r.register(
            "driver_cycles_during_write",
            "Driver cycles run while a persist was being written",
            s.driver_cycles_during_write.clone(),
        );
        r.register(
            "signatures_verified",
            "Transaction input signatures verified ahead of the core",
            s.signatures_verified.clone(),
        );
        r.register(
            "vote_signatures_verified",
            "Vote batch signatures verified ahead of the core",
            s.vote_signatures_verified.clone(),
        );
        r.register_with_unit(
            "uptime",
            "Time since the node started",
            Unit::Seconds,
            s.uptime_seconds.clone(),
        );
    }
}

/// The standard `process_*` families (as Prometheus client libraries
/// export them), read from the kernel at scrape time.
#[derive(Debug, Default)]
struct ProcessMetrics {
    cpu_seconds: FloatCounter,
    resident_memory_bytes: Gauge,
    virtual_memory_bytes: Gauge,
    threads: Gauge,
    open_fds: Gauge,
    max_fds: Gauge,
    start_time_seconds: FloatGauge,
}

impl ProcessMetrics {
    fn register(&self, r: &mut Registry) {
        let p = self;
        r.register_with_unit(
            "process_cpu",
            "User and system CPU time",
            Unit::Seconds,
            p.cpu_seconds.clone(),
        );
        r.register_with_unit(
            "process_resident_memory",
            "Resident memory size",
            Unit::Bytes,
            p.resident_memory_bytes.clone(),
        );
        r.register_with_unit(
            "process_virtual_memory",
            "Virtual memory size",
            Unit::Bytes,
            p.virtual_memory_bytes.clone(),
        );
        r.register("process_threads", "OS threads", p.threads.clone());
        r.register("process_open_fds", "Open file descriptors", p.open_fds.clone());
        r.register("process_max_fds", "Limit of open file descriptors", p.max_fds.clone());
        r.register_with_unit(
            "process_start_time",
            "Start time of the process since the Unix epoch",
            Unit::Seconds,
            p.start_time_seconds.clone(),
        );
    }

    /// Reads the process's figures; one that cannot be read keeps its value.
    fn read(&self, uptime: Duration) {
        use nix::sys::resource::{Resource, UsageWho, getrlimit, getrusage};
        if let Ok(usage) = getrusage(UsageWho::RUSAGE_SELF) {
            let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
            catch_up_f64(&self.cpu_seconds, secs(usage.user_time()) + secs(usage.system_time()));
        }
        if let Some(status) = ProcStatus::read() {
            set(&self.resident_memory_bytes, status.resident_bytes);
            set(&self.virtual_memory_bytes, status.virtual_bytes);
            set(&self.threads, status.threads);
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            set(&self.open_fds, fds.count() as u64);
        }
        if let Ok((soft, _)) = getrlimit(Resource::RLIMIT_NOFILE) {
            set(&self.max_fds, soft);
        }
        // The node starts within milliseconds of the process.
        let started = std::time::SystemTime::now()
            .checked_sub(uptime)
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
        if let Some(started) = started {
            self.start_time_seconds.set(started.as_secs_f64());
        }
    }
}

/// Sets an integer gauge from a count.
fn set(gauge: &Gauge, value: u64) {
    gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
}

/// Brings a counter up to a total the node keeps itself.
fn catch_up(counter: &Counter, total: u64) {
    counter.inc_by(total.saturating_sub(counter.get()));
}

/// Brings a counter of seconds up to a total the node keeps itself.
fn catch_up_f64(counter: &FloatCounter, total: f64) {
    counter.inc_by((total - counter.get()).max(0.0));
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
        let mut root = Registry::default();
        let process = ProcessMetrics::default();
        process.register(&mut root);
        let registry = root.sub_registry_with_prefix("timed");
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
        let refused = Family::<Labels, Counter>::default();
        registry.register(
            "refused_messages",
            "Peer messages (or parts of them) the consensus core refused, by reason",
            refused.clone(),
        );
        for reason in consensus::Refusal::ALL {
            refused.get_or_create(&labels(&[("reason", reason.as_str())])).inc_by(0);
        }
        let cpu = Family::<Labels, FloatCounter>::default();
        registry.register(
            "cpu_seconds",
            "CPU time by component (thread CPU clocks): verify, commitment, store, rpc, p2p, driver, other",
            cpu.clone(),
        );
        let scraped = Scraped::default();
        scraped.register(registry);
        Metrics {
            registry: Mutex::new(root),
            tx_states,
            finality_latency,
            blocks,
            block_txs,
            equivocations,
            rpc_requests,
            rpc_latency,
            refused,
            cpu,
            scraped,
            process,
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

    /// Reads the node's state and renders everything in the text format.
    pub async fn render(&self, node: &NodeHandle) -> String {
        let s = &self.scraped;
        if let Ok(info) = node.query(Query::Info).await {
            set(&s.height, info.height);
            set(&s.round, u64::from(info.round));
            set(&s.syncing, u64::from(info.syncing));
            catch_up(&s.view_changes, info.view_changes);
            for (reason, total) in &info.refusals {
                catch_up(
                    &self.refused.get_or_create(&labels(&[("reason", reason.as_str())])),
                    *total,
                );
            }
        }
        if let Ok(m) = node.query(Query::Mempool).await {
            set(&s.mempool_transactions, m.pending as u64);
            set(&s.mempool_bytes, m.pending_bytes as u64);
            set(&s.orphan_transactions, m.orphans as u64);
            set(&s.orphan_bytes, m.orphan_bytes as u64);
            set(&s.final_not_in_block, m.final_not_in_block as u64);
        }
        set(&s.peers, node.net().peers().len() as u64);
        let net = node.net().stats();
        catch_up(&s.net_dropped_outbound, net.dropped_outbound);
        catch_up(&s.net_rate_limited, net.rate_limited);
        catch_up(&s.net_bans, net.bans);
        let stats = node.stats();
        let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
        catch_up(&s.store_flushes, load(&stats.flushes));
        catch_up_f64(&s.store_flush_seconds, load(&stats.flush_micros) as f64 / 1e6);
        s.store_flush_max_seconds.set(load(&stats.flush_max_micros) as f64 / 1e6);
        catch_up_f64(&s.store_persist_seconds, load(&stats.persist_micros) as f64 / 1e6);
        set(&s.store_size_bytes, node.store().size_on_disk().unwrap_or(0));
        catch_up(&s.driver_cycles, load(&stats.cycles));
        catch_up(&s.driver_cycles_during_write, load(&stats.cycles_during_write));
        catch_up(&s.signatures_verified, load(&stats.signatures_verified));
        catch_up(&s.vote_signatures_verified, load(&stats.vote_signatures_verified));
        for (component, spent) in stats.cpu.breakdown(node.net().cpu_time()) {
            let counter = self.cpu.get_or_create(&labels(&[("component", component)]));
            catch_up_f64(&counter, spent.as_secs_f64());
        }
        s.uptime_seconds.set(node.uptime().as_secs_f64());
        self.process.read(node.uptime());
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

/// What /proc/self/status says of this process.
struct ProcStatus {
    resident_bytes: u64,
    virtual_bytes: u64,
    threads: u64,
}

impl ProcStatus {
    /// None where /proc is not there or says something else.
    fn read() -> Option<ProcStatus> {
        let text = std::fs::read_to_string("/proc/self/status").ok()?;
        let field = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(name)?.trim().split(' ').next()?.parse().ok())
        };
        let kb = |name: &str| field(name).map(|kb: u64| kb * 1024);
        Some(ProcStatus {
            resident_bytes: kb("VmRSS:")?,
            virtual_bytes: kb("VmSize:")?,
            threads: field("Threads:")?,
        })
    }
}
