//! `timectl export k8s` and `timectl export compose`, run as a user runs
//! them on a cluster's files: the Kubernetes objects validate against the
//! Kubernetes OpenAPI schema offline (kubernetes-validate, which `make test`
//! installs), the compose file parses, and both wire every masternode to
//! every other by name with this cluster's genesis and keys.

use std::path::Path;
use std::process::Output;

use cluster::{Cluster, ClusterSpec};
use e2e::python_tools;
use tokio::process::Command;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A 3-node cluster's files in `dir` (no node started).
async fn cluster_files(dir: &Path) {
    let spec = ClusterSpec { nodes: 3, pool_keys: 4, ..ClusterSpec::default() };
    Cluster::create(dir, &spec).await.expect("cluster files");
}

async fn timectl(dir: &Path, args: &[&str], out: &Path) -> Output {
    let timectl = cluster::binaries::find("timectl").unwrap_or_else(|e| panic!("{e}"));
    Command::new(timectl)
        .arg("--dir")
        .arg(dir)
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .await
        .expect("run timectl")
}

async fn python(python: &Path, script: &str, args: &[&Path]) -> Output {
    Command::new(python).arg("-c").arg(script).args(args).output().await.expect("run python")
}

/// Checks beyond the schema: one config per pod, each with every other pod
/// as a peer by its stable name, the genesis hash pinned, RPC behind a token.
const CHECK_K8S: &str = r#"
import glob, sys, tomllib, yaml
docs = [d for f in sorted(glob.glob(sys.argv[1] + "/*.yaml")) for d in yaml.safe_load_all(open(f)) if d]
kinds = {(d["kind"], d["metadata"]["name"]): d for d in docs}
sts = kinds[("StatefulSet", "timed")]
n = sts["spec"]["replicas"]
assert n == 3, n
assert kinds[("Service", "timed")]["spec"]["clusterIP"] == "None"
configs = kinds[("Secret", "timed-config")]["stringData"]
assert sorted(configs) == [f"timed-{i}.toml" for i in range(n)], sorted(configs)
for i in range(n):
    c = tomllib.loads(configs[f"timed-{i}.toml"])
    peers = sorted(p["address"] for p in c["network"]["peers"])
    assert peers == [f"timed-{j}.timed:24100" for j in range(n) if j != i], peers
    assert len(c["node"]["genesis_hash"]) == 64
    assert c["rpc"]["auth"] == "token" and len(c["rpc"]["token"]) >= 16
    assert c["masternode"]["key_file"] == f"/etc/timecoin/keys/timed-{i}.key"
assert sorted(kinds[("Secret", "timed-keys")]["stringData"]) == [f"timed-{i}.key" for i in range(n)]
assert "genesis.json" in kinds[("ConfigMap", "timecoin-genesis")]["data"]
job = kinds[("Job", "loadgen")]
assert "--rpc-token-file" in job["spec"]["template"]["spec"]["containers"][0]["command"][2]
print("ok")
"#;

#[tokio::test]
async fn k8s_export_validates_against_the_kubernetes_schema() {
    let Some(python_bin) = python_tools() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = dir.path().join("cluster");
    let out = dir.path().join("k8s");
    cluster_files(&cluster).await;
    let exported = timectl(&cluster, &["export", "k8s"], &out).await;
    assert!(exported.status.success(), "{}", text(&exported.stderr));

    let files: Vec<std::path::PathBuf> = std::fs::read_dir(&out)
        .expect("the export dir")
        .map(|e| e.expect("an entry").path())
        .collect();
    assert!(files.len() >= 5, "{files:?}");
    let validate = |paths: Vec<std::path::PathBuf>| {
        let python_bin = python_bin.clone();
        async move {
            Command::new(python_bin)
                .args(["-m", "kubernetes_validate", "--strict"])
                .args(&paths)
                .output()
                .await
                .expect("run kubernetes-validate")
        }
    };
    let valid = validate(files.clone()).await;
    assert!(valid.status.success(), "{}{}", text(&valid.stdout), text(&valid.stderr));

    let checked = python(&python_bin, CHECK_K8S, &[&out]).await;
    assert!(checked.status.success(), "{}{}", text(&checked.stdout), text(&checked.stderr));

    // The validator does reject a wrong object (a misspelled field), so
    // its pass above means something.
    let broken = dir.path().join("broken.yaml");
    let statefulset = std::fs::read_to_string(out.join("40-masternodes.yaml")).expect("read");
    std::fs::write(&broken, statefulset.replace("containerPort:", "containerPorts:"))
        .expect("write");
    let rejected = validate(vec![broken]).await;
    assert!(!rejected.status.success(), "a misspelled field passed validation");
}

/// The compose file: every node a service with its files mounted from its
/// own directory, peers by service name, and loadgen under a profile.
const CHECK_COMPOSE: &str = r#"
import os, sys, tomllib, yaml
root = sys.argv[1]
doc = yaml.safe_load(open(os.path.join(root, "compose.yaml")))
services = doc["services"]
nodes = sorted(s for s in services if s.startswith("node"))
assert nodes == ["node1", "node2", "node3"], nodes
assert services["loadgen"]["profiles"] == ["load"]
for name in nodes:
    s = services[name]
    for volume in s["volumes"]:
        source = volume.split(":")[0]
        if source.startswith("./"):
            assert os.path.exists(os.path.join(root, source)), volume
        else:
            assert source in doc["volumes"], volume
    c = tomllib.load(open(os.path.join(root, name, "timed.toml"), "rb"))
    peers = sorted(p["address"] for p in c["network"]["peers"])
    assert peers == [f"{n}:24100" for n in nodes if n != name], peers
    assert all(p.startswith("127.0.0.1:") for p in s["ports"]), s["ports"]
print("ok")
"#;

#[tokio::test]
async fn compose_export_parses_and_wires_every_node() {
    let Some(python_bin) = python_tools() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = dir.path().join("cluster");
    let out = dir.path().join("compose");
    cluster_files(&cluster).await;
    let exported = timectl(&cluster, &["export", "compose"], &out).await;
    assert!(exported.status.success(), "{}", text(&exported.stderr));
    let checked = python(&python_bin, CHECK_COMPOSE, &[&out]).await;
    assert!(checked.status.success(), "{}{}", text(&checked.stdout), text(&checked.stderr));
}

#[tokio::test]
async fn export_refuses_a_bad_volume_size_or_rate_as_a_bad_argument() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = dir.path().join("cluster");
    cluster_files(&cluster).await;
    for (arg, value) in
        [("--storage", "lots"), ("--storage", "-1Gi"), ("--storage", ""), ("--tps", "0")]
    {
        let out = dir.path().join("k8s");
        let flag = format!("{arg}={value}");
        let args = ["export", "k8s", flag.as_str()];
        let refused = timectl(&cluster, &args, &out).await;
        let stderr = text(&refused.stderr);
        assert_eq!(refused.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(arg) && stderr.contains(value), "{args:?}: {stderr}");
        assert!(!out.exists(), "{args:?}: nothing written");
    }
}

#[tokio::test]
async fn export_refuses_a_non_empty_out_dir_and_a_missing_cluster() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = dir.path().join("cluster");
    let missing = timectl(&cluster, &["export", "k8s"], &dir.path().join("k8s")).await;
    assert_eq!(missing.status.code(), Some(4), "no cluster: {}", text(&missing.stderr));
    assert!(text(&missing.stderr).contains("no cluster here"), "{}", text(&missing.stderr));

    cluster_files(&cluster).await;
    let out = dir.path().join("k8s");
    std::fs::create_dir_all(&out).expect("out");
    std::fs::write(out.join("keep.yaml"), "x").expect("a file");
    let refused = timectl(&cluster, &["export", "k8s"], &out).await;
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    assert!(text(&refused.stderr).contains("not empty"), "{}", text(&refused.stderr));
    assert_eq!(std::fs::read_to_string(out.join("keep.yaml")).expect("kept"), "x");
}
