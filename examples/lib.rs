//! Runnable examples (`cargo run -p examples --example NAME`):
//!
//! | example | what it shows |
//! |---|---|
//! | `cluster_tx` | start a 4-node cluster with the `cluster` library, send a two-key transaction, print where and when it became final, stop the cluster |
//! | `verify_rate` | this machine's ed25519 verification rate (strict, exact batch, one and two threads), as `make bench` reports it |
