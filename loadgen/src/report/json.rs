//! `summary.json`: every metric of the table at the top level, under its
//! exact name (`"final_first.p99": 12.3`, null when nothing was measured),
//! then the accounting, the rejections by reason, conflicting pairs,
//! consensus health, safety, self-diagnosis, the SLO's verdict, events,
//! faults, and the run's metadata under `run`.

use serde_json::{Map, Value, json};

use crate::metrics::Metrics;
use crate::outcome::RunOutcome;

/// The document.
pub fn summary(o: &RunOutcome) -> Value {
    let mut doc = Map::new();
    for (name, value) in &o.metrics.0 {
        doc.insert(name.clone(), value.map_or(Value::Null, |v| json!(v)));
    }
    doc.insert("rejected_by_reason".into(), json!(o.accounting.rejected_by_reason));
    doc.insert(
        "accounting".into(),
        json!({
            "closes": o.accounting.closes(),
            "line": o.accounting.regular.line(),
            "regular": o.accounting.regular,
            "warmup_excluded": o.accounting.warmup_excluded,
            "late_fates": o.accounting.late_fates,
        }),
    );
    doc.insert("double_spend".into(), json!(o.accounting.pairs));
    doc.insert("health".into(), json!(o.health));
    doc.insert("safety".into(), json!(o.safety));
    doc.insert("diagnosis".into(), json!(o.diagnosis));
    doc.insert("plan".into(), json!(o.plan));
    doc.insert("sender".into(), json!(o.sender));
    doc.insert("slo".into(), json!(o.slo));
    doc.insert("events".into(), json!(o.events));
    doc.insert("faults".into(), json!(o.faults));
    doc.insert("run".into(), json!(o.meta));
    Value::Object(doc)
}

/// The metrics of a `summary.json` (for `loadgen compare`).
pub fn metrics_of(doc: &Value) -> Metrics {
    let mut m = Metrics::default();
    for def in crate::metrics::METRICS {
        m.0.insert(def.name.to_string(), doc.get(def.name).and_then(Value::as_f64));
    }
    m
}
