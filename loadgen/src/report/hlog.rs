//! HdrHistogram logs, values in microseconds, compressed V2 encoding as
//! the Java tools read it (`HistogramLogProcessor`, HdrHistogram's
//! plotters), timestamps in seconds since the run's origin (the `BaseTime`
//! header):
//! - `interval.hlog`: one histogram per second of the run for each of
//!   `accepted` and `final_first` (tagged);
//! - `histograms.hlog`: the whole measured run's histogram of each latency
//!   stage, tagged by stage: exactly what the summary's percentiles come
//!   from, so runs side by side add up exactly (`loadgen merge`).

use std::time::{Duration, UNIX_EPOCH};

use std::collections::BTreeMap;

use base64::Engine;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};

use crate::metrics::STAGES;
use crate::outcome::RunOutcome;
use crate::recorder::Hist;

/// One histogram of a log: what, from when (since the run's origin), for
/// how long, under which tag.
type Entry<'a> = (&'a Hist, Duration, Duration, &'a str);

/// A log of `entries` with `comments` in its header.
fn write_log(o: &RunOutcome, comments: &[&str], entries: &[Entry<'_>]) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let base = UNIX_EPOCH + Duration::from_millis(o.meta.started_unix_ms);
    {
        let mut builder = IntervalLogWriterBuilder::new();
        for comment in comments {
            builder.add_comment(comment);
        }
        let mut log = builder
            .with_start_time(base)
            .with_base_time(base)
            .with_max_value_divisor(1_000.0)
            .begin_log_with(&mut buf, &mut serializer)
            .map_err(|e| e.to_string())?;
        for (h, start, length, tag) in entries {
            log.write_histogram(h, *start, *length, Tag::new(tag)).map_err(|e| e.to_string())?;
        }
    }
    Ok(buf)
}

/// The stage histograms (`histograms.hlog`).
pub fn stage_log(o: &RunOutcome) -> Result<Vec<u8>, String> {
    let length = Duration::from_millis(o.meta.ended_unix_ms.saturating_sub(o.meta.started_unix_ms));
    let entries: Vec<Entry<'_>> = STAGES
        .iter()
        .filter_map(|stage| Some((o.recorder.stage(stage)?, Duration::ZERO, length, *stage)))
        .collect();
    write_log(
        o,
        &[
            "loadgen stage histograms: the whole measured run, values in microseconds from each transaction's intended send time",
        ],
        &entries,
    )
}

/// Adds each histogram of a `histograms.hlog` to its tag's sum in `into`.
pub fn add_stage_log(bytes: &[u8], into: &mut BTreeMap<String, Hist>) -> Result<(), String> {
    let mut deserializer = Deserializer::new();
    for entry in IntervalLogIterator::new(bytes) {
        let entry = entry.map_err(|e| format!("not an HdrHistogram log: {e:?}"))?;
        let LogEntry::Interval(interval) = entry else { continue };
        let tag = interval.tag().map(|t| t.as_str().to_string()).unwrap_or_default();
        let encoded = base64::engine::general_purpose::STANDARD
            .decode(interval.encoded_histogram())
            .map_err(|e| format!("histogram {tag:?} is not base64: {e}"))?;
        let h: Hist = deserializer
            .deserialize(&mut encoded.as_slice())
            .map_err(|e| format!("histogram {tag:?} does not decode: {e:?}"))?;
        match into.get_mut(&tag) {
            Some(sum) => sum.add(&h).map_err(|e| format!("histogram {tag:?}: {e:?}"))?,
            None => {
                into.insert(tag, h);
            }
        }
    }
    Ok(())
}

/// The log.
pub fn interval_log(o: &RunOutcome) -> Result<Vec<u8>, String> {
    let mut entries: Vec<Entry<'_>> = Vec::new();
    for (i, second) in o.recorder.seconds().iter().enumerate() {
        let start = Duration::from_secs(i as u64);
        for (tag, h) in [("accepted", &second.accepted_hist), ("final_first", &second.final_first)]
        {
            if !h.is_empty() {
                entries.push((h, start, Duration::from_secs(1), tag));
            }
        }
    }
    write_log(
        o,
        &[
            "loadgen interval log: values in microseconds from each transaction's intended send time",
            "tags: accepted (the RPC answered), final_first (final on the first node); by intended second",
        ],
        &entries,
    )
}
