//! `time-cli`: the command line of a TimeCoin node. Parses arguments, calls
//! the `client` library, prints, and maps failures to documented exit codes;
//! nothing else lives here.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use serde_json::{Value, json};

use client::finality::{WaitOutcome, wait_for_settlement};
use client::rpc::{
    BlockRef, ClientError, ClientOptions, DEFAULT_CONNECT_TIMEOUT, RpcAuth, RpcClient,
};
use client::wallet::{self, Chain, Payment, Wallet};
use protocol::rpc::codes;
use protocol::{Address, Amount, Network, TxId};

const EXIT_ERROR: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_TIMEOUT: u8 = 3;
const EXIT_UNREACHABLE: u8 = 4;

const LONG_ABOUT: &str = "\
time-cli talks to a TimeCoin node (timed) over its JSON-RPC API. Every RPC \
method is a subcommand of the same name (bitcoind-style), plus `keygen`, \
`sendtoaddress` and `waittransactionfinality` to make a key, pay, and watch \
the payment become final.

Name the node with --datadir DIR (the node's data dir: its node.json holds the \
RPC URL and names the cookie file when one is needed), or --rpc-url URL, or the \
TIME_RPC_URL environment variable.

Try it on a one-node dev chain:

  timed --dev --data-dir /tmp/t1 &
  time-cli --rpcwait --datadir /tmp/t1 getblockchaininfo   # waits for the node
  A=$(time-cli keygen --out /tmp/k.json)        # a new key; prints its address
  T=$(time-cli --datadir /tmp/t1 sendtoaddress \"$A\" 1.5 \\
        --wallet /tmp/t1/dev-wallet.key)       # the dev wallet (node.json: dev_wallet.key_file)
  time-cli --datadir /tmp/t1 waittransactionfinality \"$T\"   # prints: final
  time-cli --datadir /tmp/t1 getbalance \"$A\"

Results go to stdout (human-readable; --json for JSON), messages to stderr.";

const EXIT_CODES: &str = "\
Exit codes:
  0  success (waittransactionfinality: the transaction is final)
  1  RPC or usage error: the node refused the request, a transaction was \
rejected or did not become final, a file could not be used
  2  bad arguments (a malformed --rpc-url or credential too)
  3  timed out (the node did not answer in time, or waittransactionfinality ran \
out of --timeout)
  4  could not reach the node (not running, wrong URL or data dir)";

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "time-cli",
    version,
    about = "Query and use a TimeCoin node (timed) over JSON-RPC",
    long_about = LONG_ABOUT,
    after_help = EXIT_CODES
)]
struct Cli {
    /// The node's RPC URL, e.g. http://127.0.0.1:24001 (default: $TIME_RPC_URL).
    #[arg(long, value_name = "URL", global = true, conflicts_with = "datadir")]
    rpc_url: Option<String>,
    /// The node's data dir: node.json there gives the RPC URL and the cookie.
    #[arg(long, value_name = "DIR", global = true)]
    datadir: Option<PathBuf>,
    /// Send this token (`Authorization: Bearer`), for a node with rpc.auth = "token".
    #[arg(
        long,
        value_name = "TOKEN",
        global = true,
        env = "TIME_RPC_TOKEN",
        hide_env_values = true
    )]
    rpc_token: Option<String>,
    /// Send this RPC cookie file's credentials (--datadir finds it by itself).
    #[arg(long, value_name = "FILE", global = true, conflicts_with = "rpc_token")]
    cookie: Option<PathBuf>,
    /// Print results as JSON.
    #[arg(long, global = true)]
    json: bool,
    /// Seconds to wait for the node's answer (waittransactionfinality: for
    /// the transaction to settle).
    #[arg(long, value_name = "SECONDS", global = true, default_value_t = 30.0,
          value_parser = parse_seconds)]
    timeout: f64,
    /// Wait for the node before the command, as bitcoin-cli -rpcwait: while
    /// it cannot be reached (not started yet, still starting, its node.json
    /// or cookie not written yet), try again every quarter second.
    #[arg(long, global = true)]
    rpcwait: bool,
    /// With --rpcwait: give up after SECONDS (exit 4); 0 waits as long as it takes.
    #[arg(long, value_name = "SECONDS", global = true, default_value_t = 0.0,
          value_parser = parse_seconds, requires = "rpcwait")]
    rpcwaittimeout: f64,
    #[command(subcommand)]
    command: Command,
}

/// The subcommands: the RPC methods of docs/RPC.md, then the wallet's.
#[derive(Debug, Subcommand)]
enum Command {
    /// Chain, height, best block, sync state.
    Getblockchaininfo,
    /// The committed height.
    Getblockcount,
    /// The hash of the last committed block.
    Getbestblockhash,
    /// The hash of the block at HEIGHT.
    Getblockhash {
        /// Block height.
        height: u64,
    },
    /// A block by hash or height; verbosity 0 hex, 1 with txids, 2 with transactions.
    Getblock {
        /// Block hash (64 hex digits) or height.
        block: BlockRef,
        /// 0, 1 or 2.
        #[arg(default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=2))]
        verbosity: u8,
    },
    /// A block's header by hash or height (bitcoind's field names); --hex
    /// for its canonical encoding.
    Getblockheader {
        /// Block hash (64 hex digits) or height.
        block: BlockRef,
        /// The header's hex instead of its fields.
        #[arg(long)]
        hex: bool,
    },
    /// A transaction's hex, or decoded with its state (--verbose).
    Getrawtransaction {
        /// Transaction id.
        txid: TxId,
        /// Decode it and include its state.
        #[arg(long)]
        verbose: bool,
    },
    /// Submits a signed transaction (hex of its full encoding); prints its txid.
    Sendrawtransaction {
        /// Hex of the full encoding.
        hex: String,
    },
    /// A transaction's state, vote weight and quorum at this node.
    Gettransactionfinality {
        /// Transaction id.
        txid: TxId,
    },
    /// Waits, on the event stream, until TXID settles (up to --timeout, 30 s);
    /// prints final, lost, rejected or conflicted. Exit 0 only for final.
    Waittransactionfinality {
        /// Transaction id.
        txid: TxId,
    },
    /// Mempool and orphan pool sizes and limits.
    Getmempoolinfo,
    /// Txids in the mempool (--verbose: with their states).
    Getrawmempool {
        /// Include each transaction's state.
        #[arg(long)]
        verbose: bool,
    },
    /// Spendable outputs (committed and final) of one or more addresses.
    Listunspent {
        /// Addresses.
        #[arg(required = true)]
        addresses: Vec<Address>,
    },
    /// Spendable balance of an address.
    Getbalance {
        /// Address.
        address: Address,
    },
    /// The committed UTXO set: count, total, commitment.
    Gettxoutsetinfo,
    /// Connected peers.
    Getpeerinfo,
    /// Version, node id, P2P address, connections.
    Getnetworkinfo,
    /// The committee: ids, tiers, weights, connectivity.
    Masternodelist,
    /// This node as a masternode: tier, weight, votes.
    Masternodestatus,
    /// Consensus: height, round, step, proposer, view changes.
    Getconsensusinfo,
    /// Whether ADDRESS is a valid address of this chain, and why not.
    Validateaddress {
        /// The text to check.
        address: String,
    },
    /// The chain's genesis: network, chain id, committee, consensus parameters.
    Getgenesis,
    /// Seconds since the node started.
    Uptime,
    /// Stops the node (it flushes and exits).
    Stop,
    /// Writes a new key file (mode 0600, never overwriting) and prints its address.
    Keygen {
        /// Where to write the key file.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// The network the address is for.
        #[arg(long, value_enum, default_value_t = NetworkArg::Dev)]
        network: NetworkArg,
    },
    /// Pays AMOUNT TIME to ADDRESS from the wallet's key files; prints the txid.
    Sendtoaddress {
        /// Who to pay.
        address: Address,
        /// How much, in TIME (e.g. 1.5).
        amount: Amount,
        /// A key file whose coins may be spent (repeat for several keys; change
        /// goes to the first).
        #[arg(long = "wallet", value_name = "KEYFILE", required = true)]
        wallets: Vec<PathBuf>,
    },
    /// Prints the completion script for SHELL (bash, zsh, fish, elvish,
    /// powershell); e.g. `source <(time-cli completions bash)`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Prints this program's man page (roff): `time-cli man | man -l -`,
    /// or save it as time-cli.1 in a man1 directory.
    Man,
    /// Calls any RPC method; each PARAM is JSON if it parses as JSON, else a string.
    Call {
        /// The method.
        method: String,
        /// Positional parameters.
        params: Vec<String>,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum NetworkArg {
    Dev,
    Testnet,
    Mainnet,
}

impl From<NetworkArg> for Network {
    fn from(arg: NetworkArg) -> Network {
        match arg {
            NetworkArg::Dev => Network::Dev,
            NetworkArg::Testnet => Network::Testnet,
            NetworkArg::Mainnet => Network::Mainnet,
        }
    }
}

fn parse_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && (0.0..=86_400.0 * 365.0).contains(&seconds) => {
            Ok(seconds)
        }
        _ => Err(format!("{text:?} is not a number of seconds (e.g. 30 or 0.5)")),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse(); // bad arguments: clap prints the problem and exits 2
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("time-cli: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("time-cli: {error:#}");
            let client_error = error.chain().find_map(|e| e.downcast_ref::<ClientError>());
            if let Some(hint) = client_error.and_then(hint) {
                eprintln!("hint: {hint}");
            }
            ExitCode::from(match client_error {
                // A malformed URL or credential is a bad argument, as in
                // loadgen and timectl.
                Some(ClientError::Config(_)) => EXIT_USAGE,
                Some(e) if e.is_timeout() => EXIT_TIMEOUT,
                Some(e) if e.is_unreachable() => EXIT_UNREACHABLE,
                _ => EXIT_ERROR,
            })
        }
    }
}

/// What to do about the common failures.
fn hint(error: &ClientError) -> Option<String> {
    Some(match error {
        ClientError::Transport { timed_out: true, .. } => {
            "the node did not answer in time: raise --timeout, or check the node's log".into()
        }
        ClientError::Transport { .. } => "is timed running there? Check --rpc-url or --datadir \
            (node.json is rewritten at every start)"
            .into(),
        ClientError::Http { status: 401 | 403, .. } => "the node wants credentials: use \
            --datadir DIR (reads its cookie), --cookie FILE or --rpc-token TOKEN"
            .into(),
        ClientError::Http { status: 404, .. } => {
            "is that the node's RPC URL? node.json in its data dir has it as rpc_url".into()
        }
        ClientError::Rpc { code: codes::METHOD_NOT_FOUND, .. } => {
            "the node does not know this method: is it older than this time-cli?".into()
        }
        ClientError::Rpc { code: codes::BUSY, .. } => {
            "the node is full right now; retry shortly".into()
        }
        ClientError::Rpc { code: codes::VERIFY_REJECTED, .. } => {
            format!("rejected: {}", error.rejection()?)
        }
        _ => return None,
    })
}

/// The node the global options name.
fn connect(cli: &Cli) -> anyhow::Result<RpcClient> {
    let options = ClientOptions {
        request_timeout: Duration::from_secs_f64(cli.timeout),
        connect_timeout: DEFAULT_CONNECT_TIMEOUT,
    };
    let explicit_auth = match (&cli.rpc_token, &cli.cookie) {
        (Some(token), _) => Some(RpcAuth::Bearer(token.clone())),
        (None, Some(cookie)) => Some(RpcAuth::from_cookie_file(cookie)?),
        (None, None) => None,
    };
    if let Some(dir) = &cli.datadir {
        let info = client::rpc::read_node_info(dir)?;
        let auth = match (explicit_auth, &info.rpc_cookie_file) {
            (Some(auth), _) => auth,
            (None, Some(cookie)) => RpcAuth::from_cookie_file(&dir.join(cookie))?,
            (None, None) => RpcAuth::None,
        };
        return Ok(RpcClient::with_options(&info.rpc_url, auth, options)?);
    }
    let url = match &cli.rpc_url {
        Some(url) => url.clone(),
        None => match std::env::var("TIME_RPC_URL") {
            Ok(url) if !url.trim().is_empty() => url,
            _ => Cli::command()
                .error(
                    clap::error::ErrorKind::MissingRequiredArgument,
                    "which node? Pass --datadir DIR (the node's data dir) or --rpc-url URL, \
                     or set TIME_RPC_URL",
                )
                .exit(),
        },
    };
    Ok(RpcClient::with_options(&url, explicit_auth.unwrap_or_default(), options)?)
}

/// `--rpcwait`: connects (reading node.json and the cookie again each
/// time) until the node answers `uptime`. Only "not there yet" is waited
/// out: an unreachable node, or a node.json or cookie file that does not
/// exist yet; any other error (wrong credentials, a malformed file) ends
/// the wait at once.
async fn wait_for_node(cli: &Cli) -> anyhow::Result<RpcClient> {
    let give_up = (cli.rpcwaittimeout > 0.0)
        .then(|| Instant::now() + Duration::from_secs_f64(cli.rpcwaittimeout));
    loop {
        let error = match connect(cli) {
            Ok(node) => match node.uptime().await {
                Ok(_) => return Ok(node),
                Err(e) => anyhow::Error::from(e),
            },
            Err(e) => e,
        };
        let not_there_yet =
            error.chain().filter_map(|e| e.downcast_ref::<ClientError>()).any(|e| {
                e.is_unreachable() || matches!(e, ClientError::File { path, .. } if !path.exists())
            });
        if !not_there_yet || give_up.is_some_and(|at| Instant::now() >= at) {
            return Err(error);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Prints a result: strings and numbers bare, structures as indented JSON;
/// with --json, everything as JSON.
fn print_value(value: &Value, as_json: bool) {
    match value {
        _ if as_json => client::outln!("{value}"),
        Value::String(text) => client::outln!("{text}"),
        Value::Null => {}
        Value::Bool(_) | Value::Number(_) => client::outln!("{value}"),
        Value::Array(_) | Value::Object(_) => client::outln!("{value:#}"),
    }
}

/// A pass-through parameter: JSON when it parses, else a string.
fn loose_param(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // Commands that need no node first.
    if let Command::Completions { shell } = &cli.command {
        client::stdout::completions(*shell, Cli::command());
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Man = &cli.command {
        client::stdout::man_page(Cli::command());
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Keygen { out, network } = &cli.command {
        let file = wallet::generate_key_file(out, (*network).into())?;
        if cli.json {
            client::outln!("{}", json!({ "address": file.address, "key_file": out }));
        } else {
            client::outln!("{}", file.address);
        }
        eprintln!("wrote {} (keep it private: it holds the secret key)", out.display());
        return Ok(ExitCode::SUCCESS);
    }
    let node = if cli.rpcwait { wait_for_node(&cli).await? } else { connect(&cli)? };
    let (method, params): (&str, Value) = match &cli.command {
        // Handled above.
        Command::Keygen { .. } | Command::Completions { .. } | Command::Man => {
            return Ok(ExitCode::SUCCESS);
        }
        Command::Sendtoaddress { address, amount, wallets } => {
            return send_to_address(&node, *address, *amount, wallets, cli.json).await;
        }
        Command::Waittransactionfinality { txid } => {
            return wait(&node, *txid, Duration::from_secs_f64(cli.timeout), cli.json).await;
        }
        Command::Sendrawtransaction { hex } => {
            let submission = node.send_raw_hex(hex).await?;
            if cli.json {
                client::outln!("{}", serde_json::to_string(&submission)?);
            } else {
                client::outln!("{}", submission.txid);
                let known = if submission.already_known { ", already known" } else { "" };
                eprintln!("state: {}{known}", submission.state);
            }
            return Ok(ExitCode::SUCCESS);
        }
        Command::Getblockchaininfo => ("getblockchaininfo", json!([])),
        Command::Getblockcount => ("getblockcount", json!([])),
        Command::Getbestblockhash => ("getbestblockhash", json!([])),
        Command::Getblockhash { height } => ("getblockhash", json!([height])),
        Command::Getblock { block, verbosity } => ("getblock", json!([block, verbosity])),
        Command::Getblockheader { block, hex } => ("getblockheader", json!([block, !hex])),
        Command::Getrawtransaction { txid, verbose } => {
            ("getrawtransaction", json!([txid, verbose]))
        }
        Command::Gettransactionfinality { txid } => ("gettransactionfinality", json!([txid])),
        Command::Getmempoolinfo => ("getmempoolinfo", json!([])),
        Command::Getrawmempool { verbose } => ("getrawmempool", json!([verbose])),
        Command::Listunspent { addresses } => ("listunspent", json!([addresses])),
        Command::Getbalance { address } => ("getbalance", json!([address])),
        Command::Gettxoutsetinfo => ("gettxoutsetinfo", json!([])),
        Command::Getpeerinfo => ("getpeerinfo", json!([])),
        Command::Getnetworkinfo => ("getnetworkinfo", json!([])),
        Command::Masternodelist => ("masternodelist", json!([])),
        Command::Masternodestatus => ("masternodestatus", json!([])),
        Command::Getconsensusinfo => ("getconsensusinfo", json!([])),
        Command::Validateaddress { address } => ("validateaddress", json!([address])),
        Command::Getgenesis => ("getgenesis", json!([])),
        Command::Uptime => ("uptime", json!([])),
        Command::Stop => ("stop", json!([])),
        Command::Call { method, params } => {
            (method.as_str(), Value::Array(params.iter().map(|p| loose_param(p)).collect()))
        }
    };
    let result = node.call(method, params).await?;
    print_value(&result, cli.json);
    Ok(ExitCode::SUCCESS)
}

async fn send_to_address(
    node: &RpcClient,
    to: Address,
    amount: Amount,
    key_files: &[PathBuf],
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    let genesis = node.getgenesis().await.context("reading the chain's parameters (getgenesis)")?;
    let chain = Chain::from(&genesis);
    if to.network != chain.network {
        bail!(
            "{to} is a {} address, but this chain is {}: pay a {} address (its 5th character is {})",
            to.network,
            chain.network,
            chain.network,
            chain.network.digit()
        );
    }
    let wallet = Wallet::load(chain.network, key_files)?;
    let addresses = wallet.addresses();
    let coins = node.listunspent(&addresses).await.context("listing the wallet's coins")?;
    if coins.is_empty() {
        let shown: Vec<String> = addresses.iter().map(Address::to_string).collect();
        bail!("no spendable coins at {} on this chain: fund it first", shown.join(", "));
    }
    let payment =
        Payment { to, amount, change: addresses[0], timestamp_ms: hostio::now_ms() as i64 };
    let tx = wallet.pay(&chain, &payment, &coins)?;
    let submission = node
        .sendrawtransaction(&tx)
        .await
        .with_context(|| format!("submitting transaction {}", tx.txid(chain.id)))?;
    if as_json {
        client::outln!("{}", serde_json::to_string(&submission)?);
    } else {
        client::outln!("{}", submission.txid);
    }
    Ok(ExitCode::SUCCESS)
}

async fn wait(
    node: &RpcClient,
    txid: TxId,
    timeout: Duration,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    let outcome = wait_for_settlement(node, txid, timeout)
        .await
        .with_context(|| format!("waiting for {txid}"))?;
    match outcome {
        WaitOutcome::Settled(settled) => {
            // A committed transaction is final.
            let name = if settled.state.is_final() { "final" } else { settled.state.as_str() };
            if as_json {
                client::outln!("{}", serde_json::to_string(&settled)?);
            } else {
                client::outln!("{name}");
            }
            if settled.state.is_final() {
                return Ok(ExitCode::SUCCESS);
            }
            let why = settled.rejection.map(|r| format!(": {r}")).unwrap_or_default();
            eprintln!("time-cli: transaction {txid} is {name}, not final{why}");
            Ok(ExitCode::from(EXIT_ERROR))
        }
        WaitOutcome::TimedOut { last_state } => {
            let last = match last_state {
                Some(state) => format!("its last state was {state}"),
                None => "the node does not know it (wrong txid, or sent to another node?)".into(),
            };
            eprintln!(
                "time-cli: timed out after {} s waiting for {txid} to settle; {last}. \
                 Raise --timeout, or check with gettransactionfinality",
                timeout.as_secs_f64()
            );
            Ok(ExitCode::from(EXIT_TIMEOUT))
        }
    }
}
