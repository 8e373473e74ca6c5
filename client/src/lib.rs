//! The client side of a TimeCoin node: the typed JSON-RPC client, the
//! event-stream client, and the wallet. `time-cli` is a thin binary over
//! it; `loadgen` and the end-to-end tests use it too.
//!
//! | concept | module |
//! |---|---|
//! | JSON-RPC calls, errors, `node.json` and cookie auth | [`rpc`] |
//! | Server-Sent Events: parser, reconnecting stream, `Lagged` | [`events`] |
//! | waiting for one transaction to settle, over the stream | [`finality`] |
//! | key files, coin selection, fees, multi-key signing | [`wallet`] |
//!
//! The JSON shapes are `protocol::rpc`'s, never redefined here. Only this
//! crate and `timed`'s RPC speak HTTP; plain HTTP only (no TLS stack).
//!
//! ```no_run
//! # async fn demo() -> Result<(), client::rpc::ClientError> {
//! let node = client::RpcClient::from_data_dir(std::path::Path::new("/tmp/t1"))?;
//! let info = node.getblockchaininfo().await?;
//! println!("{} blocks on {}", info.blocks, info.chain);
//! # Ok(()) }
//! ```

pub mod events;
pub mod finality;
pub mod logging;
pub mod rpc;
pub mod stdout;
pub mod table;
pub mod wallet;

pub use events::{EventStream, EventStreamOptions};
pub use rpc::{ClientError, ClientOptions, RpcAuth, RpcClient};
pub use wallet::{Wallet, WalletError};
