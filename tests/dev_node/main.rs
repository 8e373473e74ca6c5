//! `timed --dev` end to end: real processes on a temp dir with every port
//! chosen by the OS, driven through the typed client (`client`), raw HTTP
//! where the point is what goes over the wire, and the binary's command
//! line.
//!
//! Each test holds the cluster lock (`cluster::testing::exclusive`), so no
//! two of these, nor a cluster test, share the two cores. A node's stdout
//! and stderr go to a log file in its temp dir, printed when a test fails.
//! Waits are for conditions under a deadline, never fixed sleeps.
//!
//! The tests are split by concern:
//!
//! - [`harness`]: starting a dev node, scratch dirs, running `timed`, HTTP;
//!   [`payer`]: paying with the dev wallet; [`findings`]: soft checks.
//! - [`lifecycle`]: final across SIGKILL, a failed store write, the service
//!   manager's READY/STOPPING.
//! - [`rpc`]: the RPC surface, method by method.
//! - [`connections`]: slow bodies and the connection limit.
//! - [`events`]: the event stream, live and resumed.
//! - [`metrics`]: `/metrics`, `/health` and `/ready`.
//! - [`cli`]: the command line: config files, data dirs, version, time-cli.
//!
//! The malformed-request table (every rejection, as raw HTTP) needs no
//! process: it runs against a node served in process, in
//! `timed/tests/rpc_malformed.rs`.

mod findings;
mod harness;
mod payer;

mod cli;
mod connections;
mod events;
mod lifecycle;
mod metrics;
mod rpc;
