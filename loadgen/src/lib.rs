//! loadgen: exact-rate signed multi-input load on a TimeCoin cluster,
//! every transaction's fate and finality latency from the event streams of
//! every node, consensus health, safety checks and reports.
//!
//! | concept | module |
//! |---|---|
//! | what a run is asked to do | [`config`] |
//! | finding the nodes and keys | [`target`] |
//! | the nodes' clients, followed across restarts | [`nodes`] |
//! | the metric names (summary, JSON, SLO, compare) | [`metrics`] |
//! | open-loop pacing with an injectable clock | [`schedule`] |
//! | coins, key ranges, the plan check | [`pool`] |
//! | building and signing ahead of time | [`workers`] |
//! | sending on schedule | [`sender`] |
//! | event streams and resolutions | [`streams`] |
//! | every transaction's fate | [`tracker`] |
//! | histograms and the per-second series | [`recorder`] |
//! | the closing accounting | [`accounting`] |
//! | consensus health sampling | [`health`] |
//! | safety checks after the run | [`safety`] |
//! | self-diagnosis and own CPU | [`diagnosis`] |
//! | the cluster's fault log | [`faults`] |
//! | service-level objectives | [`slo`] |
//! | the live progress line | [`progress`] |
//! | what ran, where, against what, how | [`metadata`] |
//! | everything a run produced | [`outcome`] |
//! | one run, wired: prepare, launch, drain | [`run`](mod@run) |
//! | summary, JSON, CSV, hgrm, hlog, HTML | [`report`] |
//! | comparing two runs | [`compare`] |
//! | finding the highest rate that holds | [`sweep`](mod@sweep) |
//! | checking a finished run against every node (`loadgen verify`) | [`verify`](mod@verify) |
//! | the command line | [`cli`] |
//!
//! Invariants: latencies are measured from intended send times, never from
//! actual ones; every transaction sent has exactly one fate at the end;
//! nothing is sent before the nodes, the keys and the plan are checked;
//! loadgen speaks to nodes only through the `client` crate.
//!
//! ```no_run
//! # async fn demo() -> Result<(), loadgen::LoadgenError> {
//! use std::time::Duration;
//! let mut config = loadgen::RunConfig::new(loadgen::Target::ClusterDir {
//!     dir: ".timecluster".into(),
//!     dev_wallet: false,
//!     only: Vec::new(),
//! });
//! config.tps = 1_000.0;
//! config.stop = loadgen::Stop::Duration(Duration::from_secs(30));
//! let outcome = loadgen::run(&config, Default::default()).await?;
//! println!("{}", loadgen::report::summary::text(&outcome));
//! # Ok(()) }
//! ```

pub mod accounting;
pub mod cli;
pub mod compare;
pub mod config;
pub mod diagnosis;
pub mod error;
pub mod faults;
pub mod health;
pub mod merge;
pub mod metadata;
pub mod metrics;
pub mod nodes;
pub mod outcome;
pub mod pool;
pub mod progress;
pub mod recorder;
pub mod report;
pub mod run;
pub mod safety;
pub mod schedule;
pub mod sender;
pub mod slo;
pub mod streams;
pub mod sweep;
pub mod target;
pub mod tracker;
pub mod verify;
pub mod workers;

pub use config::{KeyRange, RunConfig, Stop, Target};
pub use error::LoadgenError;
pub use outcome::RunOutcome;
pub use run::run;
pub use slo::Slo;
pub use sweep::{SweepConfig, sweep};
