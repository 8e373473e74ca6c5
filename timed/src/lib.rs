//! The TimeCoin masternode daemon as a library: the binary (`main.rs`) only
//! parses arguments, wires these together and maps results to exit codes.
//!
//! | concern | module |
//! |---|---|
//! | configuration file | [`config`] |
//! | storage (the only module that names sled) | [`store`] |

pub mod config;
pub mod store;
