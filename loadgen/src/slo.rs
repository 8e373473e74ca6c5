//! Service-level objectives: `final_first.p99<250ms,final_ratio>=0.999`.
//!
//! Each clause is `metric op value[unit]` with `op` one of `<`, `<=`, `>`,
//! `>=`, `==`. Latencies take `ms` (the default) or `s`; `*_s` metrics take
//! `s` (the default) or `ms`; other metrics take plain numbers. An unknown
//! metric is an error that lists the valid names.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::metrics::{self, Kind, Metrics};

/// A comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
        }
    }

    fn holds(self, value: f64, bound: f64) -> bool {
        match self {
            Op::Lt => value < bound,
            Op::Le => value <= bound,
            Op::Gt => value > bound,
            Op::Ge => value >= bound,
            Op::Eq => (value - bound).abs() <= f64::EPSILON * bound.abs().max(1.0),
        }
    }
}

/// One clause, with its bound in the metric's own unit (ms for latencies,
/// s for `*_s`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Clause {
    /// The metric.
    pub metric: &'static str,
    /// The comparison.
    pub op: Op,
    /// The bound, in the metric's unit.
    pub bound: f64,
    /// The clause as written.
    pub text: String,
}

/// A parsed `--slo`: every clause must hold.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Slo {
    /// The clauses.
    pub clauses: Vec<Clause>,
}

/// How one clause fared.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClauseResult {
    /// The clause as written.
    pub clause: String,
    /// Its metric.
    pub metric: &'static str,
    /// The measured value (None: nothing measured, which fails the clause).
    pub value: Option<f64>,
    /// True when it holds.
    pub ok: bool,
}

/// How the whole SLO fared.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SloResult {
    /// True when every clause holds.
    pub ok: bool,
    /// Per clause.
    pub clauses: Vec<ClauseResult>,
}

impl fmt::Display for Slo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let texts: Vec<&str> = self.clauses.iter().map(|c| c.text.as_str()).collect();
        f.write_str(&texts.join(","))
    }
}

impl FromStr for Slo {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let clauses = text
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(parse_clause)
            .collect::<Result<Vec<_>, _>>()?;
        if clauses.is_empty() {
            return Err(
                "empty --slo: expected e.g. 'final_first.p99<250ms,final_ratio>=0.999'".into()
            );
        }
        Ok(Slo { clauses })
    }
}

fn parse_clause(text: &str) -> Result<Clause, String> {
    let at = text.find(['<', '>', '=']).ok_or_else(|| {
        format!("bad SLO clause {text:?}: expected metric<op>value, op one of < <= > >= ==")
    })?;
    let name = text[..at].trim();
    let rest = &text[at..];
    let (op, value) = if let Some(v) = rest.strip_prefix("<=") {
        (Op::Le, v)
    } else if let Some(v) = rest.strip_prefix(">=") {
        (Op::Ge, v)
    } else if let Some(v) = rest.strip_prefix("==") {
        (Op::Eq, v)
    } else if let Some(v) = rest.strip_prefix('<') {
        (Op::Lt, v)
    } else if let Some(v) = rest.strip_prefix('>') {
        (Op::Gt, v)
    } else {
        return Err(format!("bad comparison in SLO clause {text:?}: use < <= > >= or =="));
    };
    let def = metrics::find(name).ok_or_else(|| {
        format!("unknown metric {name:?} in --slo; valid metrics: {}", metrics::names().join(", "))
    })?;
    let value = value.trim();
    let split = value
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: f64 =
        number.parse().map_err(|_| format!("bad number {number:?} in SLO clause {text:?}"))?;
    let bound = match (def.kind, unit.trim()) {
        (Kind::Latency, "" | "ms") => number,
        (Kind::Latency, "s") => number * 1_000.0,
        (Kind::Seconds, "" | "s") => number,
        (Kind::Seconds, "ms") => number / 1_000.0,
        (Kind::Number, "") => number,
        (Kind::Latency | Kind::Seconds, other) => {
            return Err(format!("unknown unit {other:?} in SLO clause {text:?}: use ms or s"));
        }
        (Kind::Number, other) => {
            return Err(format!(
                "{name} is a plain number, it takes no unit (got {other:?} in {text:?})"
            ));
        }
    };
    Ok(Clause { metric: def.name, op, bound, text: format!("{name}{}{value}", op.as_str()) })
}

impl Slo {
    /// Checks every clause against `metrics`.
    pub fn evaluate(&self, metrics: &Metrics) -> SloResult {
        let clauses: Vec<ClauseResult> = self
            .clauses
            .iter()
            .map(|c| {
                let value = metrics.get(c.metric);
                ClauseResult {
                    clause: c.text.clone(),
                    metric: c.metric,
                    value,
                    ok: value.is_some_and(|v| c.op.holds(v, c.bound)),
                }
            })
            .collect();
        SloResult { ok: clauses.iter().all(|c| c.ok), clauses }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_of_targets_md_parses() {
        let slo: Slo = "final_first.p99<250ms,final_ratio>=0.999".parse().unwrap();
        assert_eq!(slo.clauses.len(), 2);
        assert_eq!(slo.clauses[0].metric, "final_first.p99");
        assert_eq!(slo.clauses[0].op, Op::Lt);
        assert_eq!(slo.clauses[0].bound, 250.0);
        assert_eq!(slo.clauses[1].op, Op::Ge);
        assert_eq!(slo.clauses[1].bound, 0.999);
    }

    #[test]
    fn latency_units_are_ms_or_s() {
        let slo: Slo =
            "final_all.p50<=0.5s, accepted.max > 2, max_no_block_s<1500ms".parse().unwrap();
        assert_eq!(slo.clauses[0].bound, 500.0);
        assert_eq!(slo.clauses[1].bound, 2.0, "a latency without a unit is in ms");
        assert_eq!(slo.clauses[2].bound, 1.5, "seconds metrics convert from ms");
        assert!("final_ratio>=0.9ms".parse::<Slo>().unwrap_err().contains("plain number"));
        assert!("final_first.p99<3h".parse::<Slo>().unwrap_err().contains("unknown unit"));
    }

    #[test]
    fn an_unknown_metric_is_an_error_naming_the_valid_ones() {
        let err = "final_first.p98<10ms".parse::<Slo>().unwrap_err();
        assert!(err.contains("unknown metric \"final_first.p98\""), "{err}");
        assert!(err.contains("achieved_tps") && err.contains("max_no_final_s"), "{err}");
        assert!("".parse::<Slo>().is_err());
        assert!("final_ratio~1".parse::<Slo>().is_err());
    }

    #[test]
    fn evaluation_fails_unmeasured_metrics() {
        let slo: Slo = "final_first.p99<250ms,final_ratio==1".parse().unwrap();
        let mut m = Metrics::default();
        m.set("final_first.p99", Some(12.0));
        m.set("final_ratio", Some(1.0));
        assert!(slo.evaluate(&m).ok);
        m.set("final_first.p99", None);
        let result = slo.evaluate(&m);
        assert!(!result.ok);
        assert!(!result.clauses[0].ok && result.clauses[1].ok);
    }
}
