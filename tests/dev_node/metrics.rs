//! Metrics, health and readiness.

use std::collections::BTreeMap;
use std::time::Instant;

use protocol::Amount;
use serde_json::{Value, json};

use crate::findings::Findings;
use crate::harness::{POLL, Scratch, TIME, WAIT, http_client, lock};
use crate::payer::{Payer, address};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_ready_and_a_metrics_listener_need_no_credentials() {
    // Probes and a scraper cannot carry the cookie: /health and /ready
    // answer without it on the RPC port, and metrics.listen_address serves
    // /metrics, /health and /ready without it; the RPC itself still asks.
    let _lock = lock();
    let scratch = Scratch::new();
    let config = scratch.path("timed.toml");
    std::fs::write(
        &config,
        "[rpc]\nauth = \"cookie\"\n[metrics]\nlisten_address = \"127.0.0.1:0\"\n",
    )
    .expect("write timed.toml");
    let node = scratch.start_with(&config).await;
    let metrics_url = node.info.metrics_url.clone().expect("node.json names the metrics listener");
    let http = http_client();
    let get = |url: String| {
        let http = http.clone();
        async move {
            let response = http.get(&url).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
            let status = response.status().as_u16();
            (status, response.text().await.unwrap_or_default())
        }
    };
    let rpc_url = node.info.rpc_url.trim_end_matches('/').to_string();
    assert_eq!(get(format!("{rpc_url}/metrics")).await.0, 401, "the RPC port's /metrics asks");
    for base in [&rpc_url, &metrics_url] {
        let (status, body) = get(format!("{base}/health")).await;
        assert_eq!(status, 200, "{base}/health: {body}");
        let health: Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(health["alive"], json!(true), "{body}");
        // A one-member dev chain reaches its quorum alone once started.
        let deadline = Instant::now() + WAIT;
        loop {
            let (status, body) = get(format!("{base}/ready")).await;
            let ready: Value = serde_json::from_str(&body).expect("JSON");
            if status == 200 {
                assert_eq!(ready["ready"], json!(true), "{body}");
                assert_eq!(ready["reasons"], json!([]), "{body}");
                break;
            }
            assert_eq!(status, 503, "{body}");
            assert!(!ready["reasons"].as_array().expect("reasons").is_empty(), "{body}");
            assert!(Instant::now() < deadline, "{base}/ready never became ready: {body}");
            tokio::time::sleep(POLL).await;
        }
    }
    let (status, text) = get(format!("{metrics_url}/metrics")).await;
    assert_eq!(status, 200, "the metrics listener's /metrics: {text}");
    assert!(text.contains("timed_build_info"), "{text}");
    let (status, _) = get(format!("{metrics_url}/")).await;
    assert_eq!(status, 404, "the metrics listener serves nothing else");
    let (status, _) = get(format!("{metrics_url}/events")).await;
    assert_eq!(status, 404, "not the event stream either");
}

/// One metric family, whichever text format it was parsed from.
#[derive(Debug)]
struct Family {
    kind: String,
    samples: Vec<(BTreeMap<String, String>, MetricValue)>,
}

#[derive(Debug)]
enum MetricValue {
    Number(f64),
    Histogram { count: u64, sum: f64, buckets: Vec<(f64, f64)> },
}

impl Family {
    fn value(&self, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples.iter().find_map(|(l, v)| match v {
            MetricValue::Number(n)
                if labels.iter().all(|(k, x)| l.get(*k).map(String::as_str) == Some(*x)) =>
            {
                Some(*n)
            }
            _ => None,
        })
    }
}

fn histogram(h: &openmetrics_parser::HistogramValue) -> MetricValue {
    MetricValue::Histogram {
        count: h.count.unwrap_or(0),
        sum: h.sum.map_or(f64::NAN, |s| s.as_f64()),
        buckets: h.buckets.iter().map(|b| (b.upper_bound, b.count.as_f64())).collect(),
    }
}

fn labels_of<V: openmetrics_parser::RenderableMetricValue + Clone>(
    sample: &openmetrics_parser::Sample<V>,
) -> BTreeMap<String, String> {
    sample
        .get_labelset()
        .map(|set| set.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// Parses `text` as OpenMetrics (`openmetrics`) or Prometheus 0.0.4.
fn parse_metrics(text: &str, openmetrics: bool) -> Result<BTreeMap<String, Family>, String> {
    use openmetrics_parser::{OpenMetricsValue, PrometheusValue};
    let mut out = BTreeMap::new();
    if openmetrics {
        let parsed =
            openmetrics_parser::openmetrics::parse_openmetrics(text).map_err(|e| e.to_string())?;
        for (name, family) in parsed.families {
            let samples = family
                .iter_samples()
                .map(|s| {
                    let value = match &s.value {
                        OpenMetricsValue::Counter(c) => MetricValue::Number(c.value.as_f64()),
                        OpenMetricsValue::Gauge(n)
                        | OpenMetricsValue::Unknown(n)
                        | OpenMetricsValue::StateSet(n) => MetricValue::Number(n.as_f64()),
                        OpenMetricsValue::Histogram(h) | OpenMetricsValue::GaugeHistogram(h) => {
                            histogram(h)
                        }
                        OpenMetricsValue::Info => MetricValue::Number(1.0),
                        OpenMetricsValue::Summary(_) => MetricValue::Number(f64::NAN),
                    };
                    (labels_of(s), value)
                })
                .collect();
            out.insert(name, Family { kind: family.family_type.to_string(), samples });
        }
    } else {
        let parsed =
            openmetrics_parser::prometheus::parse_prometheus(text).map_err(|e| e.to_string())?;
        for (name, family) in parsed.families {
            let samples = family
                .iter_samples()
                .map(|s| {
                    let value = match &s.value {
                        PrometheusValue::Counter(c) => MetricValue::Number(c.value.as_f64()),
                        PrometheusValue::Gauge(n) | PrometheusValue::Unknown(n) => {
                            MetricValue::Number(n.as_f64())
                        }
                        PrometheusValue::Histogram(h) => histogram(h),
                        PrometheusValue::Summary(_) => MetricValue::Number(f64::NAN),
                    };
                    (labels_of(s), value)
                })
                .collect();
            out.insert(name, Family { kind: family.family_type.to_string(), samples });
        }
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_node_metrics_parse_as_prometheus_text() {
    let _lock = lock();
    let scratch = Scratch::new();
    let node = scratch.start().await;
    let rpc = &node.rpc;
    let mut payer = Payer::new(&node).await;
    let tx = payer.pay(rpc, address(0x76), Amount::from_sat(15_000 * TIME)).await;
    let txid = rpc.sendrawtransaction(&tx).await.expect("sendrawtransaction").txid;
    node.wait_committed(&txid).await;
    let _ = rpc.call("nosuchmethod", json!([])).await; // an RPC error, counted

    let http = http_client();
    let response = http.get(rpc.endpoint("metrics")).send().await.expect("GET /metrics");
    assert!(response.status().is_success(), "GET /metrics: HTTP {}", response.status());
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = response.text().await.expect("the metrics text");
    let height = node.height().await;

    // The body must parse in the format its Content-Type declares; the
    // families are then checked from whichever parse succeeds, so one run
    // reports every problem.
    let mut f = Findings::default();
    let declared_openmetrics = content_type.starts_with("application/openmetrics-text");
    f.check(declared_openmetrics || content_type.starts_with("text/plain"), || {
        format!("Content-Type {content_type:?} is not a metrics text format")
    });
    let families = match parse_metrics(&text, declared_openmetrics) {
        Ok(families) => families,
        Err(e) => {
            f.check(false, || {
                format!("the body does not parse as the {content_type:?} it is served as: {e}")
            });
            parse_metrics(&text, !declared_openmetrics).unwrap_or_else(|e2| {
                panic!("/metrics parses as neither OpenMetrics nor Prometheus text ({e}; {e2}):\n{text}")
            })
        }
    };
    let family = |name: &str, kind: &str, f: &mut Findings| -> Option<&Family> {
        let found = families.get(name);
        f.check(found.is_some_and(|fam| fam.kind == kind), || {
            format!("no {kind} family {name} (got {:?})", found.map(|fam| &fam.kind))
        });
        found
    };
    if let Some(tx_states) = family("timed_transactions", "counter", &mut f) {
        let finals = tx_states.value(&[("state", "final")]).unwrap_or(0.0);
        f.check(finals >= 1.0, || format!("timed_transactions{{state=\"final\"}} = {finals}"));
    }
    if let Some(latency) = family("timed_finality_latency_seconds", "histogram", &mut f) {
        match latency.samples.first() {
            Some((_, MetricValue::Histogram { count, sum, buckets })) => {
                f.check(*count >= 1, || {
                    format!("finality latency count {count} after a final transaction")
                });
                f.check(sum.is_finite() && *sum >= 0.0, || format!("finality latency sum {sum}"));
                f.check(buckets.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1), || {
                    format!("buckets not cumulative: {buckets:?}")
                });
                f.check(
                    buckets.last().is_some_and(|(le, n)| le.is_infinite() && *n == *count as f64),
                    || format!("+Inf bucket is not the count: {buckets:?}"),
                );
            }
            other => f.check(false, || format!("timed_finality_latency_seconds sample: {other:?}")),
        }
    }
    if let Some(blocks) = family("timed_blocks_committed", "counter", &mut f) {
        let n = blocks.value(&[]).unwrap_or(0.0);
        f.check(n >= 1.0 && n <= height as f64, || {
            format!("timed_blocks_committed {n} with height {height}")
        });
    }
    if let Some(requests) = family("timed_rpc_requests", "counter", &mut f) {
        let ok =
            requests.value(&[("method", "sendrawtransaction"), ("outcome", "ok")]).unwrap_or(0.0);
        f.check(ok >= 1.0, || format!("timed_rpc_requests sendrawtransaction ok = {ok}"));
        let errors: f64 = requests
            .samples
            .iter()
            .filter(|(l, _)| l.get("outcome").map(String::as_str) == Some("error"))
            .map(|(_, v)| if let MetricValue::Number(n) = v { *n } else { 0.0 })
            .sum();
        f.check(errors >= 1.0, || format!("no RPC error counted: {:?}", requests.samples));
        f.check(
            requests
                .samples
                .iter()
                .all(|(l, _)| l.contains_key("method") && l.contains_key("outcome")),
            || format!("timed_rpc_requests labels: {:?}", requests.samples),
        );
    }
    // Node state: one family per figure, typed.
    let number = |fam: &Family| match fam.samples.first() {
        Some((_, MetricValue::Number(n))) => Some(*n),
        _ => None,
    };
    if let Some(h) = family("timed_height", "gauge", &mut f) {
        let h = number(h).unwrap_or(-1.0);
        f.check(h >= 1.0 && h <= height as f64, || format!("timed_height {h}, height {height}"));
    }
    for (name, kind) in [
        ("timed_mempool_transactions", "gauge"),
        ("timed_mempool_bytes", "gauge"),
        ("timed_orphan_transactions", "gauge"),
        ("timed_peers", "gauge"),
        ("timed_store_size_bytes", "gauge"),
        ("timed_view_changes", "counter"),
        ("timed_store_flushes", "counter"),
        ("timed_store_flush_seconds", "counter"),
        ("timed_signatures_verified", "counter"),
        ("timed_uptime_seconds", "gauge"),
    ] {
        if let Some(fam) = family(name, kind, &mut f) {
            let n = number(fam).unwrap_or(-1.0);
            f.check(n >= 0.0, || format!("{name} = {n}"));
        }
    }
    // The standard process families, unprefixed.
    for (name, kind) in [
        ("process_resident_memory_bytes", "gauge"),
        ("process_virtual_memory_bytes", "gauge"),
        ("process_cpu_seconds", "counter"),
        ("process_threads", "gauge"),
        ("process_open_fds", "gauge"),
        ("process_max_fds", "gauge"),
        ("process_start_time_seconds", "gauge"),
    ] {
        if let Some(fam) = family(name, kind, &mut f) {
            let n = number(fam).unwrap_or(0.0);
            f.check(n > 0.0, || format!("{name} = {n}"));
        }
    }
    f.check(!families.contains_key("timed_state"), || {
        "the catch-all timed_state family is back".to_string()
    });
    // Every series the Grafana dashboard in the repo queries is served.
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../packaging/grafana/timecoin.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let mut queries: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|panel| panel["targets"].as_array().unwrap())
        .map(|target| target["expr"].as_str().unwrap().to_string())
        .collect();
    queries.extend(
        dashboard["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v["definition"].as_str().map(str::to_string)),
    );
    let mut series = 0;
    for query in &queries {
        let words = query.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
        for name in words.filter(|w| w.starts_with("timed_") || w.starts_with("process_")) {
            series += 1;
            let family_name = ["_bucket", "_total"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .unwrap_or(name);
            f.check(families.contains_key(family_name), || {
                format!("the dashboard queries {name}, which /metrics does not serve")
            });
        }
    }
    f.check(series >= 20, || format!("only {series} series found in the dashboard"));
    if let Some(build) = family("timed_build_info", "gauge", &mut f) {
        match build.samples.first() {
            Some((labels, MetricValue::Number(v))) => {
                f.eq("timed_build_info value", *v, 1.0);
                let git = labels.get("git").cloned().unwrap_or_default();
                let version = labels.get("version").cloned().unwrap_or_default();
                f.check(
                    !git.is_empty()
                        && node.info.version.contains(&git)
                        && node.info.version.starts_with(&version),
                    || {
                        format!(
                            "timed_build_info {labels:?} does not match node.json version {:?}",
                            node.info.version
                        )
                    },
                );
            }
            other => f.check(false, || format!("timed_build_info sample: {other:?}")),
        }
    }
    f.assert_none(&format!("/metrics ({content_type})"));
}
