//! The RPC methods (docs/RPC.md), each a thin adapter over the node handle
//! and the store.
//!
//! One `async fn` per method, named as the method, and one table, [`METHODS`],
//! in the order of docs/RPC.md. The table is the only list of methods: [`call`]
//! dispatches through it, [`is_known`] (the metrics label) and the `method not
//! found` error's `data.methods` read it, and a test checks it against
//! docs/RPC.md's method table. A new method is a function (in the file of its
//! concern, below) and a row.
//!
//! | concern | methods | file |
//! |---|---|---|
//! | blocks, headers, the chain | `getblockchaininfo` … `getblockheader`, `getgenesis` | [`chain`] |
//! | transactions and the mempool | `getrawtransaction` … `getrawmempool` | [`txs`] |
//! | coins and addresses | `listunspent`, `getbalance`, `gettxoutsetinfo`, `validateaddress` | [`coins`] |
//! | peers, masternodes, consensus, the process | `getpeerinfo` … `getconsensusinfo`, `uptime`, `stop` | [`node`] |
//!
//! Why a table of function pointers and not a macro expanding the list into a
//! `match`: the table is plain data that reads and greps like the list it is,
//! the compiler checks every row against [`Handler`], and nothing about
//! dispatch hides in macro syntax. An `async fn` has no nameable future type,
//! so each row boxes its future ([`BoxFuture`]); one allocation per call is
//! nothing beside parsing and serialising the JSON. The `row!` macro only
//! writes that boxing closure and takes the name from the function's, so a
//! row cannot name one method and run another.

mod chain;
mod coins;
mod node;
mod txs;

use futures::future::BoxFuture;
use serde::Serialize;
use serde_json::{Value, json};

use protocol::rpc::codes;

use super::Shared;
use super::dispatch::{Fault, Params};
use crate::node::Stopped;

use chain::{
    getbestblockhash, getblock, getblockchaininfo, getblockcount, getblockhash, getblockheader,
    getgenesis,
};
use coins::{getbalance, gettxoutsetinfo, listunspent, validateaddress};
use node::{
    getconsensusinfo, getnetworkinfo, getpeerinfo, masternodelist, masternodestatus, stop, uptime,
};
use txs::{
    getmempoolinfo, getrawmempool, getrawtransaction, gettransactionfinality, sendrawtransaction,
    waittransactionfinality,
};

/// What a method is: its call, with the future boxed so that every method has
/// the same type.
type Handler = for<'a> fn(&'a Shared, &'a Params) -> BoxFuture<'a, Result<Value, Fault>>;

/// One row of [`METHODS`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Method {
    /// The JSON-RPC method name (and the metrics label).
    pub(crate) name: &'static str,
    handler: Handler,
}

/// A row for the `async fn` of the same name as the method.
macro_rules! row {
    ($method:ident) => {
        Method {
            name: stringify!($method),
            handler: |shared, params| Box::pin($method(shared, params)),
        }
    };
}

/// Every method, in the order of docs/RPC.md's table.
pub(crate) const METHODS: &[Method] = &[
    row!(getblockchaininfo),
    row!(getblockcount),
    row!(getbestblockhash),
    row!(getblockhash),
    row!(getblock),
    row!(getblockheader),
    row!(getrawtransaction),
    row!(sendrawtransaction),
    row!(gettransactionfinality),
    row!(waittransactionfinality),
    row!(getmempoolinfo),
    row!(getrawmempool),
    row!(listunspent),
    row!(getbalance),
    row!(gettxoutsetinfo),
    row!(getpeerinfo),
    row!(getnetworkinfo),
    row!(masternodelist),
    row!(masternodestatus),
    row!(getconsensusinfo),
    row!(validateaddress),
    row!(getgenesis),
    row!(uptime),
    row!(stop),
];

fn lookup(method: &str) -> Option<&'static Method> {
    METHODS.iter().find(|m| m.name == method)
}

/// Whether `method` is served (else it is counted as `(unknown)`).
pub(crate) fn is_known(method: &str) -> bool {
    lookup(method).is_some()
}

/// Dispatches one call.
pub(crate) async fn call(shared: &Shared, method: &str, params: &Params) -> Result<Value, Fault> {
    match lookup(method) {
        Some(m) => (m.handler)(shared, params).await,
        None => {
            let names: Vec<&str> = METHODS.iter().map(|m| m.name).collect();
            Err(Fault::new(codes::METHOD_NOT_FOUND, format!("method not found: {method}"))
                .with_data(json!({"methods": names})))
        }
    }
}

/// The version string (`timed --version`, `getnetworkinfo`).
pub fn version_string() -> String {
    format!("{} ({})", env!("CARGO_PKG_VERSION"), env!("TIMED_GIT_HASH"))
}

fn stopped(_: Stopped) -> Fault {
    Fault::new(codes::MISC_ERROR, "the node is shutting down")
}

fn internal(e: impl std::fmt::Display) -> Fault {
    Fault::new(codes::INTERNAL_ERROR, format!("internal error: {e}"))
}

fn to_value<T: Serialize>(value: &T) -> Result<Value, Fault> {
    serde_json::to_value(value).map_err(internal)
}

#[cfg(test)]
mod tests {
    use super::METHODS;

    /// The method names of docs/RPC.md's `## Methods` table, in its order.
    fn documented(doc: &str) -> Vec<&str> {
        doc.lines()
            .skip_while(|line| line.trim_end() != "## Methods")
            .skip(1)
            .take_while(|line| !line.starts_with("## "))
            .filter_map(|line| line.strip_prefix("| `")?.split_once('`').map(|(name, _)| name))
            .collect()
    }

    /// How the table and a copy of docs/RPC.md disagree; empty if they agree.
    fn disagreements(doc: &str) -> Vec<String> {
        let documented = documented(doc);
        let served: Vec<&str> = METHODS.iter().map(|m| m.name).collect();
        let mut out: Vec<String> = served
            .iter()
            .filter(|name| !documented.contains(name))
            .map(|name| format!("`{name}` is served but missing from docs/RPC.md's method table"))
            .chain(
                documented.iter().filter(|name| !served.contains(name)).map(|name| {
                    format!("`{name}` is in docs/RPC.md's method table but not served")
                }),
            )
            .collect();
        if out.is_empty() && documented != served {
            out.push(format!(
                "docs/RPC.md lists the methods in another order than METHODS:\n  doc:   {documented:?}\n  table: {served:?}"
            ));
        }
        out
    }

    fn rpc_md() -> String {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/RPC.md");
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
    }

    #[test]
    fn every_method_is_documented_in_rpc_md() {
        let problems = disagreements(&rpc_md());
        assert!(problems.is_empty(), "METHODS and docs/RPC.md disagree:\n{}", problems.join("\n"));
    }

    #[test]
    fn a_method_missing_from_the_doc_is_caught() {
        let doc = rpc_md();
        let without: String = doc
            .lines()
            .filter(|l| !l.starts_with("| `getblockheader` |"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(
            disagreements(&without),
            ["`getblockheader` is served but missing from docs/RPC.md's method table"]
        );
    }

    #[test]
    fn method_names_are_unique() {
        for (i, method) in METHODS.iter().enumerate() {
            assert!(
                !METHODS[..i].iter().any(|m| m.name == method.name),
                "{} is in METHODS twice",
                method.name
            );
        }
    }
}
