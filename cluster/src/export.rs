//! A local cluster's chain (its genesis and keys) rendered for engines that
//! run containers: plain Kubernetes objects (`timectl export k8s`) and a
//! compose file for one host (`timectl export compose`). Both run the
//! container image of `packaging/container/Containerfile`; nothing here
//! talks to Kubernetes or a container engine.
//!
//! In both, node `i` (0-based) dials its peers by name (`timed-i.timed` in
//! Kubernetes: the StatefulSet's pods behind a headless Service; `node<i+1>`
//! in compose), listens on every interface with the standard ports, and
//! its RPC asks for a token (off loopback it must ask for something; a
//! token, unlike the cookie in the node's data dir, can be handed to the
//! loadgen Job). The configs therefore hold a secret and ship as a Secret,
//! not a ConfigMap; the genesis is a ConfigMap.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use protocol::Genesis;

use crate::cluster::load_files;
use crate::error::ClusterError;
use crate::layout::{ClusterFile, Layout};
use crate::node_config::{MetricsSection, NodeConfig, Peer, RpcSection};
use crate::testnet::{METRICS_PORT, P2P_PORT, RPC_PORT};

/// How to render.
#[derive(Clone, Debug)]
pub struct ExportSpec {
    /// The container image with `timed`, `time-cli` and `loadgen`.
    pub image: String,
    /// Each masternode's volume (Kubernetes quantity, e.g. `1Gi`).
    pub storage: String,
    /// The loadgen Job's (or service's) offered rate.
    pub tps: u32,
    /// Its duration (loadgen `--duration`, e.g. `60s`).
    pub duration: String,
    /// Kubernetes: generators run side by side with disjoint keys (an
    /// Indexed Job of this parallelism, each `--keys i/n`).
    pub generators: u32,
}

impl Default for ExportSpec {
    fn default() -> Self {
        ExportSpec {
            image: "localhost/timed:latest".into(),
            storage: "1Gi".into(),
            tps: 200,
            duration: "60s".into(),
            generators: 1,
        }
    }
}

/// Where the container sees its files.
const CONFIG_DIR: &str = "/etc/timecoin/config";
const GENESIS_DIR: &str = "/etc/timecoin/genesis";
const KEYS_DIR: &str = "/etc/timecoin/keys";
const WALLETS_DIR: &str = "/etc/timecoin/wallets";
const TOKEN_DIR: &str = "/etc/timecoin/rpc";
const DATA_DIR: &str = "/var/lib/timed";
const REPORTS_DIR: &str = "/reports";
/// The image's unprivileged user (packaging/container/Containerfile).
const IMAGE_UID: u32 = 10001;

/// What both exports read from the cluster directory.
struct Chain {
    file: ClusterFile,
    genesis: Genesis,
    genesis_json: String,
    node_keys: Vec<String>,
    /// (file name, contents) of each pool key.
    pool_keys: Vec<(String, String)>,
    token: String,
}

fn read(layout: &Layout, relative: &str) -> Result<String, ClusterError> {
    let path = layout.resolve(relative);
    fs::read_to_string(&path).map_err(|source| ClusterError::Io { path, source })
}

fn load(layout: &Layout) -> Result<Chain, ClusterError> {
    let (file, genesis) = load_files(layout)?;
    let genesis_json = read(layout, "genesis.json")?;
    let node_keys =
        file.nodes.iter().map(|n| read(layout, &n.key_file)).collect::<Result<_, _>>()?;
    let pool_keys = file
        .pool
        .key_files
        .iter()
        .map(|f| {
            let name = Path::new(f).file_name().map_or(f.clone(), |n| n.to_string_lossy().into());
            Ok((name, read(layout, f)?))
        })
        .collect::<Result<_, ClusterError>>()?;
    let token = hex::encode(rand::RngExt::random::<[u8; 24]>(&mut rand::rng()));
    Ok(Chain { file, genesis, genesis_json, node_keys, pool_keys, token })
}

/// Node `i`'s config, its peers at `dial(j)`.
fn node_config(
    chain: &Chain,
    i: usize,
    dial: &dyn Fn(usize) -> String,
    genesis_file: &str,
    key_file: &str,
) -> NodeConfig {
    let n = chain.file.nodes.len();
    let peers = (0..n)
        .filter(|j| *j != i)
        .map(|j| Peer { id: chain.file.nodes[j].id, address: dial(j) })
        .collect();
    let mut config = NodeConfig::masternode(n, peers, key_file.into());
    config.node.genesis_file = genesis_file.into();
    config.node.genesis_hash = Some(chain.genesis.hash());
    config.network.listen_address = format!("0.0.0.0:{P2P_PORT}");
    config.rpc = RpcSection {
        listen_address: format!("0.0.0.0:{RPC_PORT}"),
        auth: Some("token".into()),
        token: Some(chain.token.clone()),
    };
    config.storage.data_dir = DATA_DIR.into();
    // Container engines collect stderr; JSON is what log collectors parse.
    config.logging.format = "json".into();
    config.metrics = Some(MetricsSection { listen_address: format!("0.0.0.0:{METRICS_PORT}") });
    config
}

fn write(out: &Path, name: &str, text: &str) -> Result<PathBuf, ClusterError> {
    let path = out.join(name);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .map_err(|source| ClusterError::Io { path: parent.to_path_buf(), source })?;
    }
    fs::write(&path, text).map_err(|source| ClusterError::Io { path: path.clone(), source })?;
    Ok(path)
}

fn yaml(path: &str, documents: &[Value]) -> Result<String, ClusterError> {
    let mut text = String::new();
    for document in documents {
        let one = serde_yaml_ng::to_string(document).map_err(|e| ClusterError::Invalid {
            path: PathBuf::from(path),
            reason: format!("cannot render YAML: {e}"),
        })?;
        text.push_str("---\n");
        text.push_str(&one);
    }
    Ok(text)
}

fn empty_out(out: &Path) -> Result<(), ClusterError> {
    if out.read_dir().is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(ClusterError::Invalid {
            path: out.to_path_buf(),
            reason: "not empty: an export is written into a new or empty directory".into(),
        });
    }
    Ok(())
}

const LABELS: &str = "timecoin";

fn labels(component: &str) -> Value {
    json!({"app.kubernetes.io/name": LABELS, "app.kubernetes.io/component": component})
}

/// The pod name of node `i` (`timed-0` …).
pub fn pod_name(i: usize) -> String {
    format!("timed-{i}")
}

/// Renders the cluster in `layout` as Kubernetes objects in `out` (new or
/// empty), one file per concern; `kubectl apply -f out` creates them all.
/// Returns the files written.
pub fn k8s(layout: &Layout, out: &Path, spec: &ExportSpec) -> Result<Vec<PathBuf>, ClusterError> {
    empty_out(out)?;
    let chain = load(layout)?;
    let n = chain.file.nodes.len();
    let dial = |j: usize| format!("{}.timed:{P2P_PORT}", pod_name(j));
    let mut configs = serde_json::Map::new();
    let mut keys = serde_json::Map::new();
    for i in 0..n {
        let pod = pod_name(i);
        let config = node_config(
            &chain,
            i,
            &dial,
            &format!("{GENESIS_DIR}/genesis.json"),
            &format!("{KEYS_DIR}/{pod}.key"),
        );
        let title = format!(
            "{pod} ({} of the exported cluster): rendered by timectl export k8s",
            chain.file.nodes[i].name
        );
        configs.insert(format!("{pod}.toml"), Value::String(config.to_toml(&title)?));
        keys.insert(format!("{pod}.key"), Value::String(chain.node_keys[i].clone()));
    }
    let wallets: serde_json::Map<String, Value> = chain
        .pool_keys
        .iter()
        .map(|(name, text)| (name.clone(), Value::String(text.clone())))
        .collect();
    let node_labels = labels("masternode");
    let metrics_annotations = json!({
        "prometheus.io/scrape": "true",
        "prometheus.io/port": METRICS_PORT.to_string(),
        "prometheus.io/path": "/metrics",
    });

    let mut files = Vec::new();
    files.push(write(
        out,
        "10-genesis.yaml",
        &yaml(
            "10-genesis.yaml",
            &[json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "timecoin-genesis", "labels": labels("genesis")},
                "data": {"genesis.json": chain.genesis_json},
            })],
        )?,
    )?);
    let secret = |name: &str, component: &str, data: Value| {
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {"name": name, "labels": labels(component)},
            "stringData": data,
        })
    };
    files.push(write(
        out,
        "20-secrets.yaml",
        &yaml(
            "20-secrets.yaml",
            &[
                // The configs hold the RPC token, so they are a Secret too.
                secret("timed-config", "masternode", Value::Object(configs)),
                secret("timed-keys", "masternode", Value::Object(keys)),
                secret("timecoin-rpc-token", "rpc", json!({"token": chain.token})),
                secret("timecoin-wallets", "loadgen", Value::Object(wallets)),
            ],
        )?,
    )?);
    files.push(write(
        out,
        "30-services.yaml",
        &yaml(
            "30-services.yaml",
            &[
                json!({
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": "timed", "labels": node_labels},
                    "spec": {
                        // Stable names for the pods (timed-0.timed …), resolvable
                        // before they are ready: peers dial each other to get there.
                        "clusterIP": "None",
                        "publishNotReadyAddresses": true,
                        "selector": node_labels,
                        "ports": [{"name": "p2p", "port": P2P_PORT, "targetPort": "p2p"}],
                    },
                }),
                json!({
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {
                        "name": "timed-rpc",
                        "labels": node_labels,
                        "annotations": metrics_annotations,
                    },
                    "spec": {
                        "selector": node_labels,
                        "ports": [
                            {"name": "rpc", "port": RPC_PORT, "targetPort": "rpc"},
                            {"name": "metrics", "port": METRICS_PORT, "targetPort": "metrics"},
                        ],
                    },
                }),
            ],
        )?,
    )?);
    let read_only =
        |name: &str, path: &str| json!({"name": name, "mountPath": path, "readOnly": true});
    let hardened = json!({
        "allowPrivilegeEscalation": false,
        "readOnlyRootFilesystem": true,
        "capabilities": {"drop": ["ALL"]},
    });
    let pod_security = json!({
        "runAsNonRoot": true,
        "runAsUser": IMAGE_UID,
        "runAsGroup": IMAGE_UID,
        "fsGroup": IMAGE_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    });
    files.push(write(
        out,
        "40-masternodes.yaml",
        &yaml("40-masternodes.yaml", &[json!({
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "timed", "labels": node_labels},
            "spec": {
                "serviceName": "timed",
                "replicas": n,
                // Every masternode at once: none is ready before a quorum is up.
                "podManagementPolicy": "Parallel",
                "selector": {"matchLabels": node_labels},
                "template": {
                    "metadata": {"labels": node_labels, "annotations": metrics_annotations},
                    "spec": {
                        "securityContext": pod_security,
                        "terminationGracePeriodSeconds": 30,
                        "containers": [{
                            "name": "timed",
                            "image": spec.image,
                            "imagePullPolicy": "IfNotPresent",
                            // timed itself, not the image's entrypoint: the
                            // paths are this export's. $(POD_NAME) is expanded
                            // by Kubernetes: each pod reads its own config.
                            "command": ["timed"],
                            "args": ["--config", format!("{CONFIG_DIR}/$(POD_NAME).toml")],
                            "env": [{
                                "name": "POD_NAME",
                                "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                            }],
                            "ports": [
                                {"name": "p2p", "containerPort": P2P_PORT},
                                {"name": "rpc", "containerPort": RPC_PORT},
                                {"name": "metrics", "containerPort": METRICS_PORT},
                            ],
                            // /ready: synced, with a quorum of peers connected.
                            "readinessProbe": {
                                "httpGet": {"path": "/ready", "port": "metrics"},
                                "periodSeconds": 2,
                                "failureThreshold": 3,
                            },
                            // /health: the process answers.
                            "livenessProbe": {
                                "httpGet": {"path": "/health", "port": "metrics"},
                                "initialDelaySeconds": 10,
                                "periodSeconds": 10,
                                "failureThreshold": 6,
                            },
                            "resources": {
                                "requests": {"cpu": "250m", "memory": "128Mi"},
                                "limits": {"memory": "1Gi"},
                            },
                            "securityContext": hardened,
                            "volumeMounts": [
                                {"name": "data", "mountPath": DATA_DIR},
                                read_only("config", CONFIG_DIR),
                                read_only("genesis", GENESIS_DIR),
                                read_only("keys", KEYS_DIR),
                            ],
                        }],
                        "volumes": [
                            {"name": "config", "secret": {"secretName": "timed-config", "defaultMode": 0o440}},
                            {"name": "genesis", "configMap": {"name": "timecoin-genesis"}},
                            {"name": "keys", "secret": {"secretName": "timed-keys", "defaultMode": 0o440}},
                        ],
                    },
                },
                "volumeClaimTemplates": [{
                    "metadata": {"name": "data", "labels": node_labels},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": spec.storage}},
                    },
                }],
            },
        })])?,
    )?);

    let generators = spec.generators.max(1);
    let urls: Vec<String> =
        (0..n).map(|i| format!("http://{}.timed:{RPC_PORT}", pod_name(i))).collect();
    // A shell for the arithmetic: the Job's index is 0-based, --keys i/n 1-based.
    let script = format!(
        "i=$((JOB_COMPLETION_INDEX + 1)); exec loadgen --rpc {urls} --rpc-token-file {TOKEN_DIR}/token \
         --keys {WALLETS_DIR}/*.key --keys $i/{generators} --tps {tps} --duration {duration} \
         --quiet --out {REPORTS_DIR}/generator-$i",
        urls = urls.join(" "),
        tps = spec.tps,
        duration = spec.duration,
    );
    files.push(write(
        out,
        "50-loadgen.yaml",
        &yaml("50-loadgen.yaml", &[
            json!({
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": "loadgen-reports", "labels": labels("loadgen")},
                "spec": {
                    // More than one generator writes at once: that needs a
                    // storage class with ReadWriteMany.
                    "accessModes": [if generators > 1 { "ReadWriteMany" } else { "ReadWriteOnce" }],
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            }),
            json!({
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {"name": "loadgen", "labels": labels("loadgen")},
                "spec": {
                    "completionMode": "Indexed",
                    "completions": generators,
                    "parallelism": generators,
                    // loadgen exits 3 until every node answers: retried.
                    "backoffLimit": 10,
                    "template": {
                        "metadata": {"labels": labels("loadgen")},
                        "spec": {
                            "restartPolicy": "Never",
                            "securityContext": pod_security,
                            "containers": [{
                                "name": "loadgen",
                                "image": spec.image,
                                "imagePullPolicy": "IfNotPresent",
                                "command": ["sh", "-c", script],
                                "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}},
                                "securityContext": hardened,
                                "volumeMounts": [
                                    read_only("wallets", WALLETS_DIR),
                                    read_only("token", TOKEN_DIR),
                                    {"name": "reports", "mountPath": REPORTS_DIR},
                                ],
                            }],
                            "volumes": [
                                {"name": "wallets", "secret": {"secretName": "timecoin-wallets", "defaultMode": 0o440}},
                                {"name": "token", "secret": {"secretName": "timecoin-rpc-token", "defaultMode": 0o440}},
                                {"name": "reports", "persistentVolumeClaim": {"claimName": "loadgen-reports"}},
                            ],
                        },
                    },
                },
            }),
        ])?,
    )?);
    Ok(files)
}

/// Renders the cluster in `layout` for one host with containers, in `out`
/// (new or empty): `compose.yaml`, and per node a directory with its
/// config, key, genesis and the RPC token, mounted read-only where the
/// image's entrypoint looks (`/etc/timed`), and a named volume for its
/// data. `docker compose up -d` (or `podman compose`) starts the
/// masternodes; `--profile load` adds a loadgen run whose report lands in
/// `out/reports`. Node `i`'s RPC and metrics are published on the host's
/// loopback at ports `24101 + 100·i` and `24102 + 100·i` (node1: 24201,
/// 24202). Returns the files written.
pub fn compose(
    layout: &Layout,
    out: &Path,
    spec: &ExportSpec,
) -> Result<Vec<PathBuf>, ClusterError> {
    empty_out(out)?;
    let chain = load(layout)?;
    let names: Vec<String> = chain.file.nodes.iter().map(|node| node.name.clone()).collect();
    let dial = |j: usize| format!("{}:{P2P_PORT}", names[j]);
    let mut files = Vec::new();
    let mut services = serde_json::Map::new();
    let mut volumes = serde_json::Map::new();
    for (i, name) in names.iter().enumerate() {
        let config =
            node_config(&chain, i, &dial, "/etc/timed/genesis.json", "/etc/timed/masternode.key");
        let title = format!("{name} of the exported cluster: rendered by timectl export compose");
        files.push(write(out, &format!("{name}/timed.toml"), &config.to_toml(&title)?)?);
        files.push(write(out, &format!("{name}/masternode.key"), &chain.node_keys[i])?);
        files.push(write(out, &format!("{name}/genesis.json"), &chain.genesis_json)?);
        files.push(write(out, &format!("{name}/rpc-token"), &chain.token)?);
        let data = format!("{name}-data");
        volumes.insert(data.clone(), json!({}));
        let published = 100 * (i + 1);
        services.insert(
            name.clone(),
            json!({
                "image": spec.image,
                // The image's entrypoint: it refuses to start without the
                // volume or the files, then runs timed --config /etc/timed/timed.toml.
                "volumes": [format!("./{name}:/etc/timed:ro"), format!("{data}:{DATA_DIR}")],
                "ports": [
                    format!("127.0.0.1:{}:{RPC_PORT}", RPC_PORT as usize + published),
                    format!("127.0.0.1:{}:{METRICS_PORT}", METRICS_PORT as usize + published),
                ],
                "healthcheck": {
                    "test": ["CMD-SHELL", format!(
                        "time-cli --rpc-url http://127.0.0.1:{RPC_PORT} --rpc-token \"$$(cat /etc/timed/rpc-token)\" --timeout 5 uptime"
                    )],
                    "interval": "10s",
                    "timeout": "10s",
                    "retries": 3,
                    "start_period": "30s",
                },
                "stop_signal": "SIGTERM",
                "stop_grace_period": "30s",
                "restart": "unless-stopped",
            }),
        );
    }
    for (file, text) in &chain.pool_keys {
        files.push(write(out, &format!("wallets/{file}"), text)?);
    }
    let urls: Vec<String> = names.iter().map(|name| format!("http://{name}:{RPC_PORT}")).collect();
    let depends: serde_json::Map<String, Value> =
        names.iter().map(|name| (name.clone(), json!({"condition": "service_healthy"}))).collect();
    services.insert(
        "loadgen".into(),
        json!({
            "image": spec.image,
            "profiles": ["load"],
            "depends_on": depends,
            "entrypoint": ["sh", "-c"],
            "command": [format!(
                "exec loadgen --rpc {} --rpc-token-file /etc/timed/rpc-token \
                 --keys /etc/timecoin/wallets/*.key --tps {} --duration {} --quiet --out {REPORTS_DIR}/run",
                urls.join(" "),
                spec.tps,
                spec.duration
            )],
            "volumes": [
                format!("./{}/rpc-token:/etc/timed/rpc-token:ro", names[0]),
                "./wallets:/etc/timecoin/wallets:ro".to_string(),
                format!("./reports:{REPORTS_DIR}"),
            ],
        }),
    );
    let document = json!({
        "name": format!("timecoin-{:08x}", chain.file.chain_id),
        "services": services,
        "volumes": volumes,
    });
    files.push(write(out, "compose.yaml", &yaml("compose.yaml", &[document])?)?);
    Ok(files)
}
