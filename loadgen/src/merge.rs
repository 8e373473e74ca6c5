//! `loadgen merge DIR...`: one report from generators that ran side by side
//! against one cluster with disjoint keys (`--keys i/n`), e.g. the pods of
//! a Kubernetes Job with parallelism n.
//!
//! Latency percentiles come from the sum of the generators' stage
//! histograms (`histograms.hlog`: HDR histograms add exactly), never from
//! averaging their percentiles. Counts and rates add up; what each
//! generator observed of the cluster (view changes, stalls) takes the
//! worst; send lag is the generator's own and is kept apart per generator
//! (the merged figure is the worst).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::error::LoadgenError;
use crate::metrics::{METRICS, Metrics, PERCENTILES, STAGES};
use crate::recorder::{Hist, quantile_ms};
use crate::report::hlog;
use crate::report::json::metrics_of;
use crate::report::summary::format_value;

/// Metrics that add up over generators.
const SUMMED: [&str; 13] = [
    "offered_tps",
    "achieved_tps",
    "send_tps",
    "sent",
    "final",
    "rejected",
    "conflicted",
    "lost",
    "timed_out",
    "warmup_excluded",
    "double_spend_pairs",
    "double_spend_both_final",
    "cpu_percent",
];

/// One generator's run.
#[derive(Clone, Debug)]
pub struct Generator {
    /// Its `--out` directory.
    pub dir: PathBuf,
    /// Its `--keys` share.
    pub keys: String,
    /// Its metrics.
    pub metrics: Metrics,
    /// Its safety verdict, when it checked.
    pub safety_ok: Option<bool>,
}

/// The merged report.
#[derive(Clone, Debug)]
pub struct Merged {
    /// The generators, in the order given.
    pub generators: Vec<Generator>,
    /// The merged metrics.
    pub metrics: Metrics,
    /// Each stage's summed histogram.
    pub stages: BTreeMap<String, Hist>,
    /// The chain they loaded (its genesis hash).
    pub genesis_hash: String,
}

fn input(path: &Path, reason: impl Into<String>) -> LoadgenError {
    LoadgenError::Input { path: path.to_path_buf(), reason: reason.into() }
}

/// Reads and merges the runs in `dirs`.
pub fn merge(dirs: &[PathBuf]) -> Result<Merged, LoadgenError> {
    if dirs.len() < 2 {
        return Err(LoadgenError::Usage(
            "merge needs the --out directories of at least two generators".into(),
        ));
    }
    let mut generators = Vec::new();
    let mut stages: BTreeMap<String, Hist> = BTreeMap::new();
    let mut chain: Option<(String, &Path)> = None;
    for dir in dirs {
        let path = dir.join("summary.json");
        let text = std::fs::read_to_string(&path).map_err(|e| {
            input(&path, format!("{e} (pass directories written by loadgen --out)"))
        })?;
        let doc: Value =
            serde_json::from_str(&text).map_err(|e| input(&path, format!("not JSON: {e}")))?;
        // Without it, runs against different chains could not be told apart.
        let Some(genesis) = doc["run"]["cluster"]["genesis_hash"].as_str() else {
            return Err(input(
                &path,
                "no run.cluster.genesis_hash: not the summary of a loadgen run",
            ));
        };
        match &chain {
            None => chain = Some((genesis.to_string(), dir)),
            Some((first, first_dir)) if first != genesis => {
                return Err(LoadgenError::Mismatch(format!(
                    "{} loaded chain {genesis:?} but {} loaded {first:?}: merge runs against one cluster",
                    dir.display(),
                    first_dir.display()
                )));
            }
            Some(_) => {}
        }
        let Some(keys) = doc["run"]["options"]["keys"].as_str().map(str::to_string) else {
            return Err(input(&path, "no run.options.keys: not the summary of a loadgen run"));
        };
        if let Some(other) = generators.iter().find(|g: &&Generator| g.keys == keys) {
            return Err(LoadgenError::Mismatch(format!(
                "{} and {} both used --keys {keys}: their coins collide; give each generator its own share (--keys i/n)",
                other.dir.display(),
                dir.display()
            )));
        }
        let hlog_path = dir.join("histograms.hlog");
        let bytes = std::fs::read(&hlog_path).map_err(|e| {
            input(&hlog_path, format!("{e} (written by loadgen --out since merge exists; rerun)"))
        })?;
        hlog::add_stage_log(&bytes, &mut stages).map_err(|e| input(&hlog_path, e))?;
        generators.push(Generator {
            dir: dir.clone(),
            keys,
            metrics: metrics_of(&doc),
            safety_ok: doc["safety"]["ok"].as_bool(),
        });
    }
    let metrics = merged_metrics(&generators, &stages);
    Ok(Merged {
        generators,
        metrics,
        stages,
        genesis_hash: chain.map(|(hash, _)| hash).unwrap_or_default(),
    })
}

fn merged_metrics(generators: &[Generator], stages: &BTreeMap<String, Hist>) -> Metrics {
    let mut m = Metrics::default();
    for def in METRICS {
        let values = generators.iter().filter_map(|g| g.metrics.get(def.name));
        let value =
            if SUMMED.contains(&def.name) { Some(values.sum()) } else { values.reduce(f64::max) };
        m.set(def.name, value);
    }
    for stage in STAGES {
        for (suffix, pct) in PERCENTILES {
            let value = stages.get(stage).and_then(|h| quantile_ms(h, pct / 100.0));
            m.set(&format!("{stage}.{suffix}"), value);
        }
    }
    let ratio = match (m.get("final"), m.get("sent")) {
        (Some(f), Some(s)) if s > 0.0 => Some(f / s),
        _ => None,
    };
    m.set("final_ratio", ratio);
    m
}

/// The report for a terminal.
pub fn text(m: &Merged) -> String {
    let mut out = format!(
        "loadgen merge: {} generators on chain {}\n\n",
        m.generators.len(),
        m.genesis_hash.chars().take(16).collect::<String>()
    );
    let mut generators = client::table::table(
        &["generator", "keys", "offered", "achieved", "sent", "final", "send_lag.p99", "safety"],
        &[1, 2, 3, 4, 5, 6, 7],
    );
    for g in &m.generators {
        let v = |name: &str| format_value(name, g.metrics.get(name));
        generators.add_row([
            g.dir.display().to_string(),
            g.keys.clone(),
            v("offered_tps"),
            v("achieved_tps"),
            v("sent"),
            v("final"),
            v("send_lag.p99"),
            match g.safety_ok {
                Some(true) => "ok",
                Some(false) => "FAILED",
                None => "n/a",
            }
            .to_string(),
        ]);
    }
    out.push_str(&client::table::render(&generators, "  "));
    out.push('\n');
    let v = |name: &str| format_value(name, m.metrics.get(name));
    out.push_str(&format!(
        "  merged: offered {} tx/s, achieved {} tx/s, sent {}, final {} (ratio {})\n",
        v("offered_tps"),
        v("achieved_tps"),
        v("sent"),
        v("final"),
        v("final_ratio")
    ));
    // The unit note ends the header line: a last header cell over a column
    // that no row fills.
    let mut header = vec![""];
    header.extend(PERCENTILES.iter().map(|(suffix, _)| *suffix));
    header.push("(ms, from the summed histograms)");
    let numbers: Vec<usize> = (1..=PERCENTILES.len()).collect();
    let mut latency = client::table::table(&header, &numbers);
    for stage in STAGES {
        let mut row = vec![stage.to_string()];
        row.extend(PERCENTILES.iter().map(|(suffix, _)| v(&format!("{stage}.{suffix}"))));
        latency.add_row(row);
    }
    out.push_str(&client::table::render(&latency, "  "));
    let unsafe_runs = m.generators.iter().filter(|g| g.safety_ok == Some(false)).count();
    out.push_str(&format!(
        "  lost {}, rejected {}, timed out {}; safety: {}\n",
        v("lost"),
        v("rejected"),
        v("timed_out"),
        if unsafe_runs == 0 {
            "no generator found a violation".to_string()
        } else {
            format!("{unsafe_runs} generator(s) found a violation")
        }
    ));
    out
}

/// The merged `summary.json`: every metric under its own name (so `loadgen
/// compare` reads it), and the generators.
pub fn summary_json(m: &Merged) -> Value {
    let mut doc = Map::new();
    for (name, value) in &m.metrics.0 {
        doc.insert(name.clone(), value.map_or(Value::Null, Value::from));
    }
    doc.insert(
        "merged_from".into(),
        Value::Array(
            m.generators
                .iter()
                .map(|g| {
                    json!({
                        "dir": g.dir.display().to_string(),
                        "keys": g.keys,
                        "offered_tps": g.metrics.get("offered_tps"),
                        "achieved_tps": g.metrics.get("achieved_tps"),
                        "send_lag.p99": g.metrics.get("send_lag.p99"),
                        "send_lag.max": g.metrics.get("send_lag.max"),
                        "safety_ok": g.safety_ok,
                    })
                })
                .collect(),
        ),
    );
    doc.insert(
        "safety".into(),
        json!({ "ok": m.generators.iter().all(|g| g.safety_ok != Some(false)) }),
    );
    doc.insert("run".into(), json!({ "cluster": { "genesis_hash": m.genesis_hash } }));
    Value::Object(doc)
}

/// Writes `summary.json` and `summary.txt` into `dir`.
pub fn write(m: &Merged, dir: &Path) -> Result<(), LoadgenError> {
    std::fs::create_dir_all(dir).map_err(|e| LoadgenError::output(dir, e))?;
    let path = dir.join("summary.json");
    let json =
        serde_json::to_vec_pretty(&summary_json(m)).map_err(|e| LoadgenError::output(&path, e))?;
    std::fs::write(&path, json).map_err(|e| LoadgenError::output(&path, e))?;
    let path = dir.join("summary.txt");
    std::fs::write(&path, text(m)).map_err(|e| LoadgenError::output(&path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A generator's directory with this summary and histogram log.
    fn run_dir(root: &Path, name: &str, summary: &str, hlog: &[u8]) -> PathBuf {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("summary.json"), summary).unwrap();
        std::fs::write(dir.join("histograms.hlog"), hlog).unwrap();
        dir
    }

    fn summary(genesis: Option<&str>, keys: Option<&str>) -> String {
        let mut doc = serde_json::json!({"run": {"cluster": {}, "options": {}}});
        if let Some(genesis) = genesis {
            doc["run"]["cluster"]["genesis_hash"] = genesis.into();
        }
        if let Some(keys) = keys {
            doc["run"]["options"]["keys"] = keys.into();
        }
        doc.to_string()
    }

    fn refused(dirs: &[PathBuf]) -> String {
        match merge(dirs) {
            Ok(_) => panic!("merged {dirs:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn what_is_not_a_loadgen_run_is_refused_naming_the_file_and_field() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let good = run_dir(root, "good", &summary(Some("ab"), Some("1/2")), b"");
        let no_chain = run_dir(root, "no_chain", &summary(None, Some("2/2")), b"");
        let err = refused(&[good.clone(), no_chain]);
        assert!(err.contains("no_chain") && err.contains("run.cluster.genesis_hash"), "{err}");
        let no_keys = run_dir(root, "no_keys", &summary(Some("ab"), None), b"");
        let err = refused(&[good.clone(), no_keys]);
        assert!(err.contains("no_keys") && err.contains("run.options.keys"), "{err}");
        let not_json = run_dir(root, "not_json", "{\"run\": ", b"");
        let err = refused(&[good.clone(), not_json]);
        assert!(err.contains("not_json") && err.contains("not JSON"), "{err}");
        // Another chain, under a name that is not even ASCII.
        let other = run_dir(root, "other", &summary(Some("é€𝄞"), Some("2/2")), b"");
        let err = refused(&[good.clone(), other]);
        assert!(err.contains("merge runs against one cluster"), "{err}");
        assert!(refused(std::slice::from_ref(&good)).contains("at least two"));
    }

    #[test]
    fn a_damaged_histogram_log_is_an_error_naming_it_not_a_panic() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let garbage: Vec<u8> =
            (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
        let a = run_dir(root, "a", &summary(Some("ab"), Some("1/2")), &garbage);
        let b = run_dir(
            root,
            "b",
            &summary(Some("ab"), Some("2/2")),
            b"#[StartTime: x]\nTag=final_first,0.1,0.2,1,!!!\n",
        );
        let err = refused(&[a, b]);
        assert!(err.contains("histograms.hlog"), "{err}");
    }
}
