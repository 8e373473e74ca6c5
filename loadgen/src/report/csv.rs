//! The CSV files: `per_second.csv` (one row per second of the run, warm-up
//! included and marked) and `history.csv` (one row per transaction, so the
//! safety checks can be re-run afterwards). Times are milliseconds since
//! the run's origin (the intended time of the first slot); an empty cell
//! means "never".

use std::io::{self, Write};

use crate::outcome::RunOutcome;
use crate::recorder::{NONE, quantile_ms};

/// The header of `per_second.csv`.
pub const PER_SECOND_HEADER: &str = "second,warmup,offered,sent,accepted,final,rejected,final_first_p50_ms,final_first_p99_ms,accepted_p99_ms,send_lag_max_ms,max_height,height_spread,max_mempool";

/// The header of `history.csv`.
pub const HISTORY_HEADER: &str = "txid,intended_ms,sent_ms,node,fate,accepted_ms,final_first_ms,final_all_ms,reason,role,measured,late_fate,final_on_nodes";

fn opt(value: Option<f64>) -> String {
    value.map_or(String::new(), |v| format!("{v:.3}"))
}

fn header(text: &str) -> Vec<&str> {
    text.split(',').collect()
}

fn io_error(e: csv::Error) -> io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("{other:?}")),
    }
}

/// `per_second.csv`.
pub fn per_second(o: &RunOutcome) -> String {
    let mut out =
        csv::Writer::from_writer(Vec::with_capacity(64 * (o.recorder.seconds().len() + 1)));
    // Writing to memory fails only on a record of the wrong length, which
    // the fixed rows below never are.
    let _ = out.write_record(header(PER_SECOND_HEADER));
    let warmup_s = o.meta.options.warmup_s;
    let seconds = o.recorder.seconds();
    let samples = &o.health.samples;
    let rows = seconds.len().max(samples.last().map_or(0, |s| (s.at_ms / 1_000) as usize + 1));
    for i in 0..rows {
        let sample = samples.iter().rev().find(|s| (s.at_ms / 1_000) as usize == i);
        let (height, spread, mempool) = match sample {
            Some(s) => (
                s.max_height().map_or(String::new(), |h| h.to_string()),
                s.height_spread().to_string(),
                s.max_mempool().map_or(String::new(), |m| m.to_string()),
            ),
            None => Default::default(),
        };
        let mut row = vec![i.to_string(), u8::from((i as f64) < warmup_s).to_string()];
        match seconds.get(i) {
            Some(s) => row.extend([
                s.offered.to_string(),
                s.sent.to_string(),
                s.accepted.to_string(),
                s.finals.to_string(),
                s.rejected.to_string(),
                opt(quantile_ms(&s.final_first, 0.5)),
                opt(quantile_ms(&s.final_first, 0.99)),
                opt(quantile_ms(&s.accepted_hist, 0.99)),
                format!("{:.3}", s.lag_max_us as f64 / 1_000.0),
            ]),
            None => row.extend(["0", "0", "0", "0", "0", "", "", "", ""].map(String::from)),
        }
        row.extend([height, spread, mempool]);
        let _ = out.write_record(&row);
    }
    let bytes = out.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

fn ms(us: u64) -> String {
    if us == NONE { String::new() } else { format!("{:.3}", us as f64 / 1_000.0) }
}

/// Writes `history.csv`.
pub fn history(o: &RunOutcome, w: impl Write) -> io::Result<()> {
    let mut out = csv::Writer::from_writer(w);
    out.write_record(header(HISTORY_HEADER)).map_err(io_error)?;
    for r in &o.records {
        let node = o.nodes.get(usize::from(r.node)).map_or("?", String::as_str);
        out.write_record([
            r.txid.to_string().as_str(),
            &ms(r.intended_us),
            &ms(r.sent_us),
            node,
            r.fate.as_str(),
            &ms(r.accepted_us),
            &ms(r.final_first_us),
            &ms(r.final_all_us),
            r.reason.as_deref().unwrap_or(""),
            r.role.as_str(),
            &u8::from(r.measured).to_string(),
            r.late_fate.map_or("", |f| f.as_str()),
            &r.final_mask.count_ones().to_string(),
        ])
        .map_err(io_error)?;
    }
    out.flush()
}
