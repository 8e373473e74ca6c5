//! One run, wired on one screen, in three steps whose data flows down:
//!
//! 1. `prepare`: resolve the nodes and keys, rebuild the pool, build the
//!    schedule and check the plan, subscribe to every node's events (all
//!    before any load);
//! 2. `launch`: start the tracker, the stream followers, the health
//!    sampler, the restart watcher and the signing workers, then send on
//!    schedule;
//! 3. `drain`: wait for every fate, stop everything, check safety and
//!    measure into a [`RunOutcome`], which [`report`] then writes.
//!
//! ```text
//!  workers ──signed queue──▶ sender ──sendrawtransaction──▶ nodes
//!     ▲                        │ Sent / Answer                │ /events
//!     └── pool ◀── coins ── tracker ◀────── Event ── streams ◀┘
//!                              ▲
//!                  health ─────┘ (sampled every second, summarised at the end)
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use client::{EventStream, Wallet};
use protocol::Address;

use crate::accounting::Accounting;
use crate::config::RunConfig;
use crate::diagnosis::{self, CpuMeter};
use crate::error::LoadgenError;
use crate::faults;
use crate::health::{self, HealthReport};
use crate::metadata::{self, ClusterMeta, Options, RunMeta};
use crate::metrics::{METRICS, Metrics, PERCENTILES, STAGES};
use crate::nodes::NodeSet;
use crate::outcome::RunOutcome;
use crate::pool::{self, CoinPool, Plan, PlanCheck, SharedPool};
use crate::progress::Progress;
use crate::recorder::{Recorder, micros, quantile_ms};
use crate::report;
use crate::safety;
use crate::schedule::{Pacer, Schedule, SystemClock};
use crate::sender::{self, SenderReport, SenderSetup};
use crate::streams;
use crate::target::{self, Resolved};
use crate::tracker::{LiveStats, Tracker, TrackerMsg, TrackerReport, TrackerSetup};
use crate::workers::{self, BuildSpec};

/// Time between resolving the target and the first slot: the workers sign
/// a head start meanwhile.
const PREFILL: Duration = Duration::from_millis(300);

/// Runs `config` until done or `stop` (which ends sending early; the run
/// still drains, checks and reports).
pub async fn run(config: &RunConfig, stop: CancellationToken) -> Result<RunOutcome, LoadgenError> {
    let prepared = prepare(config).await?;
    let launched = launch(config, prepared, stop).await;
    let outcome = drain(config, launched).await?;
    if let Some(dir) = &config.out {
        report::write_all(&outcome, dir)?;
    }
    Ok(outcome)
}

/// A run checked and connected, nothing sent yet: what [`prepare`] returns
/// and [`launch`] takes.
struct Prepared {
    /// The nodes, the chain, the fault log.
    resolved: Resolved,
    /// loadgen's keys.
    wallet: Wallet,
    /// Their addresses, in key order.
    addresses: Vec<Address>,
    /// The coins of those keys the nodes know unspent.
    coin_pool: CoinPool,
    /// The slots: warm-up, then measured.
    schedule: Schedule,
    /// The plan check (passed).
    plan: PlanCheck,
    /// The run's metadata, its times not set yet.
    meta: RunMeta,
    /// Every node's event stream, in node order, subscribed before any
    /// send.
    event_streams: Vec<EventStream>,
    /// The nodes' RPC timeout.
    request_timeout: Duration,
}

/// Step 1. Takes the validated `config`; connects to the nodes (each must
/// answer), loads the keys and, from the nodes' view of them, the coin
/// pool; builds the schedule and checks the plan against the pool;
/// describes the run; subscribes to every node's events. Returns the
/// [`Prepared`] run, or why it cannot run (nothing has been sent).
async fn prepare(config: &RunConfig) -> Result<Prepared, LoadgenError> {
    config.validate()?;
    let request_timeout = config.timeout.clamp(Duration::from_secs(1), Duration::from_secs(30));
    let resolved = target::resolve(&config.target, config.keys, request_timeout).await?;
    let network = resolved.network();
    let wallet = Wallet::load(network, &resolved.key_files)
        .map_err(|e| LoadgenError::Keys(e.to_string()))?;
    if wallet.is_empty() {
        return Err(LoadgenError::Keys("no key files to pay from".into()));
    }
    let addresses = wallet.addresses();
    let params = resolved.params();

    // The pool, from the nodes' view of loadgen's keys.
    let mut unspent = Vec::new();
    for chunk in addresses.chunks(16) {
        let coins = resolved.nodes[0].client.listunspent(chunk).await.map_err(|e| {
            LoadgenError::Unreachable {
                node: resolved.nodes[0].name.clone(),
                url: resolved.nodes[0].url.clone(),
                reason: format!("listunspent failed: {e}"),
            }
        })?;
        unspent.extend(coins);
    }
    let min_value = pool::min_coin_value(params, config.inputs, config.outputs);
    let coin_pool = CoinPool::from_unspent(&addresses, &unspent, min_value);
    let schedule = Schedule {
        rate: config.tps,
        warmup_slots: config.warmup_slots(),
        measured_slots: config.measured_slots(),
    };
    let mut plan = pool::check_plan(
        &coin_pool,
        &Plan {
            rate: config.tps,
            slots: schedule.total(),
            inputs: config.inputs,
            outputs: config.outputs,
            block_interval_ms: params.block_interval_ms,
        },
    )
    .map_err(LoadgenError::TooFewCoins)?;
    if wallet.len() < config.inputs {
        plan.note.push_str(&format!(
            "; only {} keys for {} inputs: inputs of one transaction repeat keys",
            wallet.len(),
            config.inputs
        ));
    }
    let meta = describe(config, &resolved, wallet.len());

    // Every node's events, subscribed before anything is sent.
    let mut event_streams = Vec::with_capacity(resolved.nodes.len());
    for node in &resolved.nodes {
        let stream = node.client.subscribe().await.map_err(|e| LoadgenError::Unreachable {
            node: node.name.clone(),
            url: node.url.clone(),
            reason: format!("cannot subscribe to its events: {e}"),
        })?;
        event_streams.push(stream);
    }
    Ok(Prepared {
        resolved,
        wallet,
        addresses,
        coin_pool,
        schedule,
        plan,
        meta,
        event_streams,
        request_timeout,
    })
}

/// A run whose sending is over: what [`launch`] returns and [`drain`]
/// takes. The tracker, the stream followers, the health sampler, the
/// restart watcher and the workers still run.
struct Launched {
    /// The origin, ms since the Unix epoch.
    origin_unix_ms: u64,
    /// The slots.
    schedule: Schedule,
    /// The plan check.
    plan: PlanCheck,
    /// The run's metadata, its start set.
    meta: RunMeta,
    /// The cluster's fault log, when it has one.
    faults_log: Option<PathBuf>,
    /// The nodes, followed across restarts.
    nodes: Arc<NodeSet>,
    /// Their names.
    names: Vec<String>,
    /// The coin pool.
    pool: Arc<SharedPool>,
    /// The tracker's live counters.
    live: Arc<LiveStats>,
    /// The progress line.
    progress: Progress,
    /// The tracker's inbox.
    tracker_inbox: mpsc::Sender<TrackerMsg>,
    /// Cancels the background tasks.
    background: CancellationToken,
    /// The background tasks.
    tasks: Tasks,
    /// Sends that went to another node, counted by the send tasks.
    failovers: Arc<AtomicU64>,
    /// How sending went (its failovers not counted yet).
    sender: SenderReport,
    /// The generator's CPU while sending, percent of one core.
    cpu_percent: Option<f64>,
}

/// The tasks [`launch`] starts and [`drain`] joins.
struct Tasks {
    tracker: JoinHandle<()>,
    streams: Vec<JoinHandle<()>>,
    health: JoinHandle<HealthReport>,
    watcher: JoinHandle<()>,
    workers: Vec<JoinHandle<()>>,
}

/// Step 2. Takes the [`Prepared`] run and `stop`; sets the origin a little
/// ahead, starts the tracker, one follower per node's event stream, the
/// health sampler, the restart watcher and the signing workers, then sends
/// from the origin until the schedule ends or `stop`. Returns the
/// [`Launched`] run with its background tasks still running.
async fn launch(config: &RunConfig, prepared: Prepared, stop: CancellationToken) -> Launched {
    let Prepared {
        resolved,
        wallet,
        addresses,
        coin_pool,
        schedule,
        plan,
        mut meta,
        event_streams,
        request_timeout,
    } = prepared;
    let origin = Instant::now() + PREFILL;
    let origin_unix_ms = hostio::now_ms() + micros(PREFILL) / 1_000;
    meta.started_unix_ms = origin_unix_ms;
    let nodes = NodeSet::new(&resolved.nodes, target::client_options(request_timeout));
    let names: Vec<String> = nodes.names().to_vec();
    let shared_pool = Arc::new(SharedPool::new(coin_pool));
    let live = Arc::new(LiveStats::default());
    let background = CancellationToken::new();

    let (tracker_inbox, tracker_receiver) = mpsc::channel(1 << 16);
    let mut tracker = Tracker::new(
        TrackerSetup {
            origin,
            nodes: nodes.clone(),
            timeout_us: micros(config.timeout),
            measure_start_us: micros(schedule.measure_start()),
            last_slot_us: micros(schedule.last()),
            pool: shared_pool.clone(),
            live: live.clone(),
        },
        tracker_inbox.clone(),
    );
    let progress = Progress::start(config, live.clone(), shared_pool.clone(), schedule, origin);
    tracker.on_violation(progress.violation_printer());
    let tracker_task = tokio::spawn(tracker.run(tracker_receiver));
    let stream_tasks: Vec<_> = event_streams
        .into_iter()
        .enumerate()
        .map(|(i, stream)| {
            tokio::spawn(streams::follow(
                i as u8,
                nodes.clone(),
                stream,
                tracker_inbox.clone(),
                origin,
                background.clone(),
            ))
        })
        .collect();
    let health_task = tokio::spawn(health::sample(nodes.clone(), origin, background.clone()));
    let moves = tracker_inbox.clone();
    let watcher = tokio::spawn(nodes.clone().watch(background.clone(), move |i, url| {
        let what = format!("restarted: RPC now at {url}");
        let at_us = micros(origin.elapsed());
        let _ = moves.try_send(TrackerMsg::StreamTrouble { node: i as u8, at_us, what });
    }));

    // About 0.2 s of signed transactions ahead, in batches.
    let queue_batches = ((config.tps * 0.2) as usize / workers::BATCH as usize).clamp(4, 256);
    let (queue_sender, queue) = mpsc::channel(queue_batches);
    let spec = Arc::new(BuildSpec {
        wallet: Arc::new(wallet),
        payloads: addresses.iter().map(|a| a.payload).collect(),
        chain: resolved.genesis.chain_id,
        params: resolved.params().clone(),
        inputs: config.inputs,
        outputs: config.outputs,
        double_spend_pct: config.double_spend_pct,
        seed: config.seed,
        items: schedule.total(),
    });
    let worker_tasks = workers::spawn_workers(
        spec,
        shared_pool.clone(),
        queue_sender,
        config.workers,
        background.clone(),
    );

    // Send.
    tokio::time::sleep_until(tokio::time::Instant::from_std(origin)).await;
    let cpu = CpuMeter::start();
    let pacer = Pacer::new(SystemClock::new(origin), schedule, 1_024);
    let failovers = Arc::new(AtomicU64::new(0));
    let sender_report = sender::run_sender(
        pacer,
        queue,
        SenderSetup {
            nodes: nodes.clone(),
            failovers: failovers.clone(),
            tracker: tracker_inbox.clone(),
            inflight: config.inflight.map(|n| Arc::new(Semaphore::new(n))),
            origin,
            starvation_limit: config.timeout,
            stop,
        },
    )
    .await;
    let cpu_percent = cpu.percent();
    Launched {
        origin_unix_ms,
        schedule,
        plan,
        meta,
        faults_log: resolved.faults_log,
        nodes,
        names,
        pool: shared_pool,
        live,
        progress,
        tracker_inbox,
        background,
        tasks: Tasks {
            tracker: tracker_task,
            streams: stream_tasks,
            health: health_task,
            watcher,
            workers: worker_tasks,
        },
        failovers,
        sender: sender_report,
        cpu_percent,
    }
}

/// Step 3. Takes the [`Launched`] run; waits until every transaction has a
/// fate (see [`await_fates`]), takes the tracker's records, stops and joins
/// every background task, checks safety on every node, reads the fault
/// log and measures. Returns the [`RunOutcome`] (not written anywhere
/// yet), or an error when the tracker died.
async fn drain(config: &RunConfig, launched: Launched) -> Result<RunOutcome, LoadgenError> {
    let Launched {
        origin_unix_ms,
        schedule,
        plan,
        mut meta,
        faults_log,
        nodes,
        names,
        pool: shared_pool,
        live,
        progress,
        tracker_inbox,
        background,
        tasks,
        failovers,
        sender: mut sender_report,
        cpu_percent,
    } = launched;
    progress.set_phase("draining");
    await_fates(config, &tracker_inbox, &live).await;
    let (reply, report) = oneshot::channel();
    tracker_inbox
        .send(TrackerMsg::Finish(reply))
        .await
        .map_err(|_| LoadgenError::Run("the tracker stopped unexpectedly".into()))?;
    let tracker_report: TrackerReport =
        report.await.map_err(|_| LoadgenError::Run("the tracker stopped unexpectedly".into()))?;
    background.cancel();
    let health = tasks.health.await.unwrap_or_default();
    let _ = tasks.watcher.await;
    sender_report.failovers = failovers.load(Ordering::Relaxed);
    for task in tasks.streams {
        let _ = task.await;
    }
    for task in tasks.workers {
        let _ = task.await;
    }
    let _ = tasks.tracker.await;
    progress.finish();
    let ended_unix_ms = hostio::now_ms();
    meta.ended_unix_ms = ended_unix_ms;

    // A node restarted during the drain is checked where it is now.
    nodes.refresh();
    let mut live = tracker_report.violations.clone();
    live.extend(health.height_regressions.iter().map(|e| {
        format!(
            "{}: {} ({:.1} s into the run)",
            e.node.as_deref().unwrap_or("?"),
            e.what,
            e.at_ms as f64 / 1e3
        )
    }));
    let safety = safety::check(&nodes, &tracker_report.records, &live).await;
    let accounting = Accounting::of(&tracker_report.records);
    let mut events = tracker_report.events;
    events.extend(health.events.iter().cloned());
    events.sort_by_key(|e| e.at_ms);
    let faults = faults_log
        .as_deref()
        .map(|path| {
            faults::read(
                path,
                origin_unix_ms.saturating_sub(micros(PREFILL) / 1_000),
                ended_unix_ms,
            )
        })
        .unwrap_or_default();

    let recorder = tracker_report.recorder;
    let measured_s = config.measured_duration().as_secs_f64();
    let lag = lag_trend(&recorder, &schedule);
    let mut metrics = measure(MeasureInputs {
        config,
        recorder: &recorder,
        accounting: &accounting,
        health: &health,
        measured_s,
        max_no_block_us: tracker_report.max_no_block_us,
        max_no_final_us: tracker_report.max_no_final_us,
        cpu_percent,
    });
    let diagnosis = diagnosis::diagnose(&diagnosis::Inputs {
        offered_tps: config.tps,
        achieved_tps: metrics.get("achieved_tps").unwrap_or(0.0),
        final_ratio: metrics.get("final_ratio"),
        lag_p99_ms: metrics.get("send_lag.p99"),
        lag_early_ms: lag.0,
        lag_late_ms: lag.1,
        interval_ms: 1_000.0 / config.tps,
        cpu_percent,
        cores: meta.machine.cpus,
        starved_s: shared_pool.stats.starved_us.load(Ordering::Relaxed) as f64 / 1e6,
        queue_empty: sender_report.queue_empty,
        queue_wait_s: sender_report.queue_wait_us as f64 / 1e6,
        inflight_wait_s: sender_report.inflight_wait_us as f64 / 1e6,
        inflight: config.inflight,
        busy: accounting.rejected_by_reason.get("busy").copied().unwrap_or(0),
        sent: accounting.regular.sent,
        timed_out: accounting.regular.timed_out,
        stopped_early: sender_report.stopped_early.clone(),
        duration_s: measured_s,
    });
    metrics.set("double_spend_pairs", Some(accounting.pairs.pairs as f64));
    metrics.set("double_spend_both_final", Some(accounting.pairs.both_final as f64));
    let slo = config.slo.as_ref().map(|slo| slo.evaluate(&metrics));
    Ok(RunOutcome {
        metrics,
        accounting,
        health,
        safety,
        diagnosis,
        plan,
        sender: sender_report,
        slo,
        meta,
        records: tracker_report.records,
        recorder,
        events,
        faults,
        nodes: names,
        out_dir: config.out.clone(),
    })
}

/// Part of [`drain`]: every transaction gets a fate (the timeout bounds
/// this), then a grace period for the slowest nodes, then the nodes that
/// never said "final" are asked for what others finalized. Takes the
/// tracker's inbox and live counters; returns when they say so or the
/// bounds run out.
async fn await_fates(
    config: &RunConfig,
    tracker_inbox: &mpsc::Sender<TrackerMsg>,
    live: &LiveStats,
) {
    let (ack, flushed) = oneshot::channel();
    if tracker_inbox.send(TrackerMsg::Flush(ack)).await.is_ok() {
        // Until the tracker has registered the last sends, "nothing
        // pending" means nothing.
        let _ = flushed.await;
    }
    let drain_deadline = Instant::now() + config.timeout + Duration::from_secs(5);
    while (live.pending.load(Ordering::Relaxed) > 0 || live.resolving.load(Ordering::Relaxed) > 0)
        && Instant::now() < drain_deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let grace = Instant::now() + config.timeout.min(Duration::from_secs(5));
    while live.awaiting_all.load(Ordering::Relaxed) > 0 && Instant::now() < grace {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (ack, acked) = oneshot::channel();
    if tracker_inbox.send(TrackerMsg::ResolveMissing(ack)).await.is_ok() {
        let _ = acked.await;
        let resolve_deadline = Instant::now() + Duration::from_secs(10);
        while live.resolving.load(Ordering::Relaxed) > 0 && Instant::now() < resolve_deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
fn describe(config: &RunConfig, resolved: &Resolved, keys_used: usize) -> RunMeta {
    RunMeta {
        loadgen_version: env!("CARGO_PKG_VERSION").to_string(),
        git_hash: metadata::git_hash(),
        binary_sha256: metadata::binary_sha256(),
        machine: metadata::machine(),
        cluster: ClusterMeta {
            nodes: resolved.nodes.iter().map(|n| n.name.clone()).collect(),
            genesis_hash: resolved.genesis_hash.to_string(),
            chain_id: resolved.genesis.chain_id.0,
            block_interval_ms: resolved.genesis.params.block_interval_ms,
            dir: resolved.cluster.as_ref().map(|c| c.dir.display().to_string()),
            committee: resolved.genesis.committee.len(),
        },
        seed: config.seed,
        command_line: config.command_line.clone(),
        options: Options {
            tps: config.tps,
            duration_s: config.measured_duration().as_secs_f64(),
            slots: config.measured_slots(),
            warmup_s: config.warmup.as_secs_f64(),
            inputs: config.inputs,
            outputs: config.outputs,
            inflight: config.inflight,
            double_spend_pct: config.double_spend_pct,
            timeout_s: config.timeout.as_secs_f64(),
            keys: config.keys.to_string(),
            keys_used,
            slo: config.slo.as_ref().map(ToString::to_string),
        },
        started_unix_ms: 0,
        ended_unix_ms: 0,
    }
}

/// The largest send lag in the first and the last quarter of the
/// schedule, ms.
fn lag_trend(recorder: &Recorder, schedule: &Schedule) -> (f64, f64) {
    let seconds = recorder.seconds();
    let end = ((micros(schedule.last()) / 1_000_000) as usize + 1).min(seconds.len());
    if end == 0 {
        return (0.0, 0.0);
    }
    let quarter = end.div_ceil(4);
    let max_in = |range: std::ops::Range<usize>| {
        seconds[range].iter().map(|s| s.lag_max_us).max().unwrap_or(0) as f64 / 1_000.0
    };
    (max_in(0..quarter), max_in(end - quarter..end))
}

struct MeasureInputs<'a> {
    config: &'a RunConfig,
    recorder: &'a Recorder,
    accounting: &'a Accounting,
    health: &'a HealthReport,
    measured_s: f64,
    max_no_block_us: Option<u64>,
    max_no_final_us: Option<u64>,
    cpu_percent: Option<f64>,
}

fn measure(i: MeasureInputs<'_>) -> Metrics {
    let mut m = Metrics::default();
    for def in METRICS {
        m.set(def.name, None);
    }
    let a = i.accounting;
    let finals = a.regular.r#final + a.pairs.fates.r#final;
    let sent = a.regular.sent + a.pairs.fates.sent;
    let seconds = i.measured_s.max(1e-9);
    m.set("offered_tps", Some(i.config.tps));
    m.set("achieved_tps", Some(finals as f64 / seconds));
    m.set("send_tps", Some(sent as f64 / seconds));
    m.set(
        "final_ratio",
        (a.regular.sent > 0).then(|| a.regular.r#final as f64 / a.regular.sent as f64),
    );
    for stage in STAGES {
        if let Some(h) = i.recorder.stage(stage) {
            for (suffix, percentile) in PERCENTILES {
                m.set(&format!("{stage}.{suffix}"), quantile_ms(h, percentile / 100.0));
            }
        }
    }
    m.set("send_lag.p99", quantile_ms(i.recorder.send_lag(), 0.99));
    m.set("send_lag.max", quantile_ms(i.recorder.send_lag(), 1.0));
    m.set("sent", Some(a.regular.sent as f64));
    m.set("final", Some(a.regular.r#final as f64));
    m.set("rejected", Some(a.regular.rejected as f64));
    m.set("conflicted", Some(a.regular.conflicted as f64));
    m.set("lost", Some(a.regular.lost as f64));
    m.set("timed_out", Some(a.regular.timed_out as f64));
    m.set("warmup_excluded", Some(a.warmup_excluded as f64));
    m.set("view_changes", Some(i.health.view_changes as f64));
    m.set("rounds_per_block", i.health.rounds_per_block);
    m.set("max_height_spread", Some(i.health.max_height_spread as f64));
    m.set("max_no_block_s", i.max_no_block_us.map(|us| us as f64 / 1e6));
    m.set("max_no_final_s", i.max_no_final_us.map(|us| us as f64 / 1e6));
    m.set("cpu_percent", i.cpu_percent);
    m
}
