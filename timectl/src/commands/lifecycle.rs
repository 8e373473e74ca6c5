//! `up`, `down`, `doctor`, and the hidden `agent` that `up` starts: the
//! work is `cluster::lifecycle`, `cluster::launch`, `cluster::doctor` and
//! `cluster::agent`; here are the arguments, the agent's command line, and
//! the mapping of their errors to exit codes.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use client::logging::LogFormat;
use cluster::ClusterSpec;
use cluster::layout::Layout;
use cluster::lifecycle::{DownError, UpError, UpReport};
use protocol::Tier;

use super::ask_failure;
use crate::cli::{DEFAULT_NODES, POOL_KEYS};
use crate::{
    EXIT_FAILED, EXIT_NO_CLUSTER, EXIT_NOT_READY, EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, Failure,
    Outcome, failure, render,
};

/// What `up` creates a new cluster with (and hands to the agent).
#[derive(Clone, Debug)]
pub(crate) struct Create {
    pub(crate) nodes: usize,
    pub(crate) block_time: u64,
    pub(crate) pool_coins: u32,
    pub(crate) tiers: Option<String>,
    pub(crate) byzantine: Vec<String>,
}

/// `--byzantine NODE=MODE` arguments as a map (modes are checked by timed).
fn parse_byzantine(args: &[String]) -> Result<BTreeMap<String, String>, Failure> {
    args.iter()
        .map(|arg| match arg.split_once('=') {
            Some((node, mode)) if !node.is_empty() && !mode.is_empty() => {
                Ok((node.to_string(), mode.to_string()))
            }
            _ => Err(failure(
                EXIT_USAGE,
                anyhow!("--byzantine: expected NODE=MODE (node5=equivocate), got {arg:?}"),
            )),
        })
        .collect()
}

fn parse_tiers(tiers: Option<&str>, nodes: usize) -> Result<Vec<Tier>, Failure> {
    let Some(list) = tiers else { return Ok(Vec::new()) };
    let parsed: Vec<Tier> = list
        .split(',')
        .map(|t| t.trim().parse::<Tier>())
        .collect::<Result<_, _>>()
        .map_err(|e| failure(EXIT_USAGE, anyhow!("--tiers: {e}")))?;
    if parsed.len() != nodes {
        return Err(failure(
            EXIT_USAGE,
            anyhow!("--tiers lists {} tiers for {nodes} nodes; give one per node", parsed.len()),
        ));
    }
    Ok(parsed)
}

/// The command line that makes this program the agent of the cluster in
/// `layout` (the hidden `agent` subcommand), creating it with `create`.
fn agent_args(layout: &Layout, create: Option<&Create>, log_format: LogFormat) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![
        "--dir".into(),
        layout.dir().into(),
        "--log-format".into(),
        log_format.as_str().into(),
        "agent".into(),
    ];
    if let Some(create) = create {
        args.extend([
            "--create".into(),
            "--nodes".into(),
            create.nodes.to_string().into(),
            "--block-time".into(),
            create.block_time.to_string().into(),
            "--pool-coins".into(),
            create.pool_coins.to_string().into(),
        ]);
        if let Some(tiers) = &create.tiers {
            args.extend(["--tiers".into(), tiers.into()]);
        }
        for byzantine in &create.byzantine {
            args.extend(["--byzantine".into(), byzantine.into()]);
        }
    }
    args
}

pub(crate) async fn up(
    layout: &Layout,
    create: Create,
    timeout: u64,
    json: bool,
    log_format: LogFormat,
) -> Outcome {
    let started = Instant::now();
    let nodes = create.nodes;
    if nodes == 0 {
        return Err(failure(EXIT_USAGE, anyhow!("--nodes must be at least 1 (got 0)")));
    }
    if !layout.cluster_file().exists() {
        parse_tiers(create.tiers.as_deref(), nodes)?;
        parse_byzantine(&create.byzantine)?;
    }
    let existing =
        cluster::lifecycle::check_up(layout, nodes, DEFAULT_NODES).map_err(up_failure)?;
    let bar = render::spinner(
        if existing { "resuming the cluster" } else { "creating the cluster" },
        json,
    );
    let spawn = || {
        let args = agent_args(layout, (!existing).then_some(&create), log_format);
        cluster::launch::spawn_agent(layout, &args)
            .map_err(|e| format!("{:#}", anyhow::Error::from(e)))
    };
    let mut progress = |message: &str| bar.set_message(message.to_string());
    let result =
        cluster::lifecycle::up(layout, spawn, Duration::from_secs(timeout), &mut progress).await;
    bar.finish_and_clear();
    let UpReport { view, nodes, ready: report } = result.map_err(|e| match e {
        UpError::Start { cause, .. } => {
            let mut failed = ask_failure(cause);
            failed.error = anyhow!(
                "{:#}\n(the agent keeps running so `timectl --dir {dir} logs` and `status` can show \
                 why; fix the cause and run `timectl up` again, or `timectl --dir {dir} down`)",
                failed.error,
                dir = layout.dir().display()
            );
            failed
        }
        UpError::NotReady(e) => failure(
            EXIT_NOT_READY,
            anyhow!(
                "{e}\n(the cluster keeps running: `timectl status` and `timectl logs` show what is wrong)"
            ),
        ),
        e => up_failure(e),
    })?;
    let elapsed = started.elapsed();
    if json {
        let value = serde_json::json!({
            "dir": layout.dir(),
            "ready_seconds": elapsed.as_secs_f64(),
            "nodes": render::node_rows(&view, &nodes),
            "dev_wallet": view.file.dev_wallet,
        });
        client::outln!("{value}");
        return Ok(EXIT_OK);
    }
    render::print_node_table(&view, &nodes);
    client::outln!();
    client::outln!(
        "ready in {:.2} s ({} nodes; probe {} final everywhere)",
        elapsed.as_secs_f64(),
        view.file.nodes.len(),
        report.probe
    );
    let dir = layout.dir().display();
    client::outln!("next:");
    client::outln!("  timectl --dir {dir} status");
    client::outln!("  loadgen --dir {dir} --tps 1000 --duration 30s");
    client::outln!(
        "  dev wallet: {} (key {})",
        view.file.dev_wallet.address,
        layout.resolve(&view.file.dev_wallet.key_file).display()
    );
    client::outln!("  timectl --dir {dir} down");
    Ok(EXIT_OK)
}

/// The failures of `up` that are not about the nodes.
fn up_failure(error: UpError) -> Failure {
    match error {
        UpError::Cluster(e) => Failure::from(anyhow::Error::from(e)),
        UpError::Binary(e) => failure(EXIT_FAILED, e.into()),
        UpError::Ask(e) | UpError::Start { cause: e, .. } => ask_failure(e),
        e => failure(EXIT_FAILED, anyhow!("{e}")),
    }
}

pub(crate) async fn down(layout: &Layout, wipe: bool, json: bool) -> Outcome {
    let report = cluster::lifecycle::down(layout, wipe).await.map_err(|e| match e {
        DownError::NotDeleting { .. } | DownError::NoCluster { .. } => {
            failure(EXIT_NO_CLUSTER, anyhow!("{e}"))
        }
        DownError::Refused(reason) => failure(EXIT_FAILED, anyhow!(reason)),
        DownError::Cluster(e) => Failure::from(anyhow::Error::from(e)),
        DownError::Wipe { dir, source } => failure(
            EXIT_FAILED,
            anyhow::Error::new(source).context(format!("cannot delete {}", dir.display())),
        ),
    })?;
    if json {
        client::outln!("{}", serde_json::json!({"down": true, "wiped": report.wiped}));
    } else {
        client::outln!(
            "cluster in {} is down{}",
            layout.dir().display(),
            if report.wiped { " and deleted" } else { "" }
        );
    }
    Ok(EXIT_OK)
}

pub(crate) async fn doctor(layout: &Layout, json: bool) -> Outcome {
    let report = cluster::doctor::check(layout).await;
    render::print_doctor(&report, json);
    Ok(if report.ok() { EXIT_OK } else { EXIT_PROBLEMS })
}

pub(crate) async fn agent(
    layout: &Layout,
    create: Option<Create>,
    log_format: LogFormat,
) -> Outcome {
    client::logging::init(log_format, "info");
    let spec = match create {
        Some(create) => Some(ClusterSpec {
            nodes: create.nodes,
            block_interval_ms: create.block_time,
            pool_coins_per_key: create.pool_coins.div_ceil(POOL_KEYS as u32),
            pool_keys: POOL_KEYS,
            tiers: parse_tiers(create.tiers.as_deref(), create.nodes)?,
            byzantine: parse_byzantine(&create.byzantine)?,
            ..ClusterSpec::default()
        }),
        None => None,
    };
    cluster::agent::run_agent(layout.dir(), spec)
        .await
        .map_err(|e| failure(EXIT_FAILED, e.into()))?;
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agent_command_line_parses_back_to_the_same_cluster() {
        use clap::Parser;
        let layout = Layout::new("/tmp/c");
        let create = Create {
            nodes: 4,
            block_time: 500,
            pool_coins: 100,
            tiers: Some("free,gold,free,free".into()),
            byzantine: vec!["node4=equivocate".into()],
        };
        let args = agent_args(&layout, Some(&create), LogFormat::Json);
        let parsed = crate::cli::Args::try_parse_from(
            std::iter::once(OsString::from("timectl")).chain(args),
        )
        .expect("the agent's arguments parse");
        assert_eq!(parsed.dir, layout.dir());
        assert_eq!(parsed.log_format, LogFormat::Json);
        let crate::cli::Command::Agent {
            create: yes,
            nodes,
            block_time,
            pool_coins,
            tiers,
            byzantine,
        } = parsed.command
        else {
            panic!("not the agent subcommand");
        };
        assert!(yes);
        assert_eq!((nodes, block_time, pool_coins), (4, 500, 100));
        assert_eq!(tiers, create.tiers);
        assert_eq!(byzantine, create.byzantine);

        let resume = agent_args(&layout, None, LogFormat::Pretty);
        let parsed = crate::cli::Args::try_parse_from(
            std::iter::once(OsString::from("timectl")).chain(resume),
        )
        .expect("the agent's arguments parse");
        assert!(matches!(parsed.command, crate::cli::Command::Agent { create: false, .. }));
    }
}
