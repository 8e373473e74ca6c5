//! The HdrHistogram interval log (`interval.hlog`): one histogram per
//! second of the run for each of `accepted` and `final_first` (tagged),
//! values in microseconds, compressed V2 encoding as the Java tools read
//! it (`HistogramLogProcessor`, HdrHistogram's plotters). Timestamps are
//! seconds since the run's origin, which the `BaseTime` header gives.

use std::time::{Duration, UNIX_EPOCH};

use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

use crate::run::RunOutcome;

/// The log.
pub fn interval_log(o: &RunOutcome) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let base = UNIX_EPOCH + Duration::from_millis(o.meta.started_unix_ms);
    {
        let mut log = IntervalLogWriterBuilder::new()
            .add_comment("loadgen interval log: values in microseconds from each transaction's intended send time")
            .add_comment("tags: accepted (the RPC answered), final_first (final on the first node); by intended second")
            .with_start_time(base)
            .with_base_time(base)
            .with_max_value_divisor(1_000.0)
            .begin_log_with(&mut buf, &mut serializer)
            .map_err(|e| e.to_string())?;
        for (i, second) in o.recorder.seconds().iter().enumerate() {
            let start = Duration::from_secs(i as u64);
            for (tag, h) in
                [("accepted", &second.accepted_hist), ("final_first", &second.final_first)]
            {
                if h.is_empty() {
                    continue;
                }
                log.write_histogram(h, start, Duration::from_secs(1), Tag::new(tag))
                    .map_err(|e| e.to_string())?;
            }
        }
    }
    Ok(buf)
}
