//! Local TimeCoin clusters, shared by `timectl` and the end-to-end tests:
//! the layout on disk, keys and genesis, launching and supervising real
//! `timed` processes, link proxies with faults, and readiness.
//!
//! | concern | module |
//! |---|---|
//! | files and `cluster.json` | [`layout`] |
//! | making a cluster (keys, genesis, configs) | [`create`], [`node_config`] |
//! | a chain for many hosts (`timectl testnet`) | [`testnet`] |
//! | Kubernetes and compose renderings (`timectl export`) | [`export`] |
//! | a running cluster: processes and proxies | [`cluster`](crate::Cluster) |
//! | starting and signalling `timed` | [`process`] |
//! | link proxies and faults | [`proxy`] |
//! | readiness | [`health`] |
//! | status and the healthy / degraded / stalled verdict | [`status`]; running or not, with the agent's links: [`snapshot`] |
//! | checks for what commonly breaks a cluster (`timectl doctor`) | [`doctor`] |
//! | the supervising agent and its control socket | [`agent`], [`control`]; starting it detached: [`launch`] |
//! | bringing a cluster up and down (`timectl up`, `down`) | [`lifecycle`] |
//! | fault schedules: the format and targets; running one (`timectl faults run`) | [`faults`]; [`fault_run`] |
//! | paying from the dev wallet (`timectl fund`) | [`fund`] |
//! | the nodes' logs, merged and followed (`timectl logs`) | [`logs`] |
//! | finding the binaries | [`binaries`] |
//! | test helpers (one cluster at a time) | `testing` (feature `testing`) |

pub mod agent;
pub mod binaries;
mod cluster;
pub mod control;
pub mod create;
pub mod doctor;
mod error;
pub mod export;
pub mod fault_run;
pub mod faults;
pub mod fund;
pub mod health;
pub mod launch;
pub mod layout;
pub mod lifecycle;
pub mod logs;
pub mod node_config;
pub mod process;
pub mod proxy;
pub mod snapshot;
pub mod status;
#[cfg(feature = "testing")]
pub mod testing;
pub mod testnet;

pub use cluster::{Cluster, START_TIMEOUT, STOP_TIMEOUT, load_files, log_tail, read_node_info};
pub use create::ClusterSpec;
pub use error::ClusterError;
pub use health::{ClusterView, ReadyReport, wait_ready};
pub use layout::{ClusterFile, Layout};
pub use proxy::LinkFaults;
