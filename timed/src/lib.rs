//! The TimeCoin masternode daemon as a library: the binary (`main.rs`) only
//! parses arguments, wires these together and maps results to exit codes.
//!
//! | concern | module |
//! |---|---|
//! | configuration file | [`config`] |
//! | storage (the only module that names sled) | [`store`] |
//! | the driver that owns the consensus core | [`node`] |
//! | JSON-RPC, event stream, metrics endpoint | [`rpc`] |
//! | Prometheus metrics | [`metrics`] |
//! | `timed --dev` chains | [`devchain`] |
//! | `--byzantine MODE` (feature `byzantine`, test builds only) | `byzantine` |

#[cfg(feature = "byzantine")]
mod byzantine;
pub mod config;
pub mod devchain;
pub mod metrics;
pub mod node;
pub mod preflight;
pub mod rpc;
pub mod store;
