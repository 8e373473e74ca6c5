//! Writing files for elsewhere, with nothing started: `export` (this
//! cluster's chain for Kubernetes or compose, by `cluster::export`) and
//! `testnet` (a chain for many hosts, by `cluster::testnet`).

use std::path::Path;

use anyhow::anyhow;
use cluster::layout::Layout;

use crate::cli::ExportTarget;
use crate::{EXIT_OK, EXIT_USAGE, Outcome, failure};

pub(crate) fn export(layout: &Layout, target: ExportTarget, json: bool) -> Outcome {
    use cluster::export::{self, ExportSpec};
    let (kind, args, spec) = match target {
        ExportTarget::K8s { common, storage, generators } => {
            let spec = ExportSpec {
                image: common.image.clone(),
                storage,
                tps: common.tps,
                duration: humantime::format_duration(common.duration).to_string(),
                generators,
            };
            ("k8s", common, spec)
        }
        ExportTarget::Compose { common } => {
            let spec = ExportSpec {
                image: common.image.clone(),
                tps: common.tps,
                duration: humantime::format_duration(common.duration).to_string(),
                ..ExportSpec::default()
            };
            ("compose", common, spec)
        }
    };
    let files = match kind {
        "k8s" => export::k8s(layout, &args.out, &spec),
        _ => export::compose(layout, &args.out, &spec),
    }
    .map_err(anyhow::Error::from)?;
    if json {
        let files: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        client::outln!("{}", serde_json::json!({"files": files}));
        return Ok(EXIT_OK);
    }
    let out = args.out.display();
    client::outln!("wrote {} files to {out}", files.len());
    let next = match kind {
        "k8s" => format!(
            "next: kubectl apply -f {out}   (the image {} must be pullable by the cluster; the loadgen Job starts at once and retries until the masternodes answer)",
            spec.image
        ),
        _ => format!(
            "next: docker compose -f {out}/compose.yaml up -d   (then --profile load up loadgen for a run; report in {out}/reports)"
        ),
    };
    client::outln!("{next}");
    Ok(EXIT_OK)
}

pub(crate) fn testnet(out: &Path, spec: &cluster::testnet::TestnetSpec, json: bool) -> Outcome {
    cluster::testnet::check(spec).map_err(|e| failure(EXIT_USAGE, anyhow!("{e}")))?;
    let now = hostio::now_ms();
    let file = cluster::testnet::create(out, spec, now).map_err(anyhow::Error::from)?;
    if json {
        client::outln!("{}", serde_json::to_string(&file).map_err(anyhow::Error::from)?);
        return Ok(EXIT_OK);
    }
    let mut table = client::table::table(&["NODE", "P2P (DIALLED)", "RPC", "ID"], &[]);
    for node in &file.nodes {
        let id = node.id.to_string();
        table.add_row([
            node.name.clone(),
            node.p2p_address.to_string(),
            node.rpc_address.to_string(),
            format!("{}…", &id[..16]),
        ]);
    }
    client::outln!("{}", client::table::render(&table, ""));
    client::outln!(
        "genesis {} written to {}\nnext: copy {}/node1 to the first host and run `timed --config timed.toml` in it, and so on for each node",
        file.genesis_hash,
        out.display(),
        out.display()
    );
    Ok(EXIT_OK)
}
