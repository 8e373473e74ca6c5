//! The wallet: key files (`protocol::keyfile`, written with mode 0600 and
//! never overwritten), a set of keys whose coins can be spent together,
//! coin selection, the fee rule, and signing transactions whose inputs
//! belong to different keys.
//!
//! A payment is built in three steps, each a public function so a load
//! generator can reuse the parts it needs:
//! [`select_coins`] (largest first, deterministic, capped at the input
//! limit), [`plan_fee`] (the fee rule iterated to a fixed point, change
//! dropped into the fee when it would be dust), and
//! [`Wallet::build_and_sign`] (one txid, every input signed by the key that
//! owns its address).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use thiserror::Error;

use protocol::keyfile::KeyFile;
use protocol::rpc::Unspent;
use protocol::tx::{
    INPUT_BYTES, OUTPUT_BYTES, SIGNATURE_BYTES, TX_OVERHEAD_BYTES, TX_VERSION,
    input_signing_message,
};
use protocol::{
    Address, AddressPayload, Amount, ChainId, ConsensusParams, Genesis, Network, OutPoint,
    PublicKey, SecretKey, Signature, Transaction, TxIn, TxOut,
};

/// Why a wallet operation failed.
#[derive(Debug, Error)]
pub enum WalletError {
    /// A key file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Writing would replace an existing file (it may hold a funded key).
    #[error("{} already exists; refusing to overwrite a key file (choose another path)", path.display())]
    KeyFileExists {
        /// The file.
        path: PathBuf,
    },
    /// A key file's contents are not usable.
    #[error("{}: not a usable key file: {reason}", path.display())]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A key file for another network than the chain's.
    #[error("{}: the key file is for {found}, this chain is {expected}", path.display())]
    KeyFileNetwork {
        /// The file.
        path: PathBuf,
        /// Its network.
        found: Network,
        /// The chain's.
        expected: Network,
    },
    /// An address for another network than the chain's.
    #[error("{what} {address} is a {found} address, this chain is {expected}")]
    WrongNetwork {
        /// Which address ("destination", "change").
        what: &'static str,
        /// The address.
        address: Address,
        /// Its network.
        found: Network,
        /// The chain's.
        expected: Network,
    },
    /// The amount is below the dust limit.
    #[error("amount {amount} TIME is below the dust limit of {dust} TIME")]
    BelowDust {
        /// The amount asked.
        amount: Amount,
        /// The limit.
        dust: Amount,
    },
    /// The coins do not cover amount and fee.
    #[error("insufficient funds: have {have} TIME, need {need} TIME (amount plus fee)")]
    InsufficientFunds {
        /// What the coins hold.
        have: Amount,
        /// Amount plus the smallest fee.
        need: Amount,
    },
    /// Enough funds, but only in more coins than one transaction may spend.
    #[error(
        "paying needs more than {max} inputs (the largest {max} coins hold {have} TIME, \
         {need} TIME is needed); consolidate coins first by sending smaller amounts to yourself"
    )]
    TooManyInputs {
        /// The input limit.
        max: usize,
        /// What the largest `max` coins hold.
        have: Amount,
        /// Amount plus fee.
        need: Amount,
    },
    /// An input whose address no wallet key owns.
    #[error(
        "input {index} spends {outpoint} of address payload {payload}, and no wallet key owns it"
    )]
    NoKey {
        /// The input.
        index: usize,
        /// Its outpoint.
        outpoint: OutPoint,
        /// The address payload it pays to.
        payload: AddressPayload,
    },
    /// A sum past the largest amount.
    #[error("amounts overflow")]
    Overflow,
}

impl From<hostio::KeyFileIoError> for WalletError {
    fn from(e: hostio::KeyFileIoError) -> Self {
        match e {
            hostio::KeyFileIoError::Io(hostio::FileError { path, source }) => {
                WalletError::Io { path, source }
            }
            hostio::KeyFileIoError::Exists { path } => WalletError::KeyFileExists { path },
            hostio::KeyFileIoError::Invalid { path, reason } => {
                WalletError::KeyFile { path, reason }
            }
        }
    }
}

/// Writes a key file for `key` readable by its owner only (mode 0600),
/// refusing to overwrite anything, durably ([`hostio::write_key_file`]).
pub fn write_key_file(
    path: &Path,
    key: &SecretKey,
    network: Network,
) -> Result<KeyFile, WalletError> {
    Ok(hostio::write_key_file(path, key, network)?)
}

/// Generates a fresh key and writes its key file (see [`write_key_file`]).
pub fn generate_key_file(path: &Path, network: Network) -> Result<KeyFile, WalletError> {
    write_key_file(path, &SecretKey::generate(&mut rand::rng()), network)
}

/// Reads a key file and checks that its public key and address match its
/// seed ([`hostio::read_key_file`]).
pub fn read_key_file(path: &Path) -> Result<(KeyFile, SecretKey), WalletError> {
    Ok(hostio::read_key_file(path)?)
}

/// What a payment needs to know of the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    /// Signed into every txid and signature.
    pub id: ChainId,
    /// Addresses must be of this network.
    pub network: Network,
    /// The fee rule and limits.
    pub params: ConsensusParams,
}

impl From<&Genesis> for Chain {
    fn from(genesis: &Genesis) -> Self {
        Chain { id: genesis.chain_id, network: genesis.network, params: genesis.params.clone() }
    }
}

/// One payment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Payment {
    /// Who is paid.
    pub to: Address,
    /// How much.
    pub amount: Amount,
    /// Where the change goes.
    pub change: Address,
    /// The transaction's timestamp (ms since the Unix epoch).
    pub timestamp_ms: i64,
}

/// The most inputs one transaction with `outputs` outputs may have: the
/// input limit, or fewer if the size limit binds first.
pub fn max_inputs(params: &ConsensusParams, outputs: usize) -> usize {
    let fixed = TX_OVERHEAD_BYTES + outputs * OUTPUT_BYTES;
    let by_size =
        (params.max_tx_bytes as usize).saturating_sub(fixed) / (INPUT_BYTES + SIGNATURE_BYTES);
    by_size.min(params.max_tx_inputs as usize)
}

/// Chooses coins for paying `amount`: largest first (ties by outpoint, so
/// the choice is deterministic), as few as cover `amount` plus the fee of
/// a transaction with that many inputs, at most [`max_inputs`]. Repeated
/// outpoints count once. The result is in spending order.
pub fn select_coins(
    coins: &[Unspent],
    amount: Amount,
    params: &ConsensusParams,
) -> Result<Vec<Unspent>, WalletError> {
    let mut seen = HashSet::with_capacity(coins.len());
    let mut sorted: Vec<&Unspent> =
        coins.iter().filter(|c| seen.insert((c.txid, c.vout))).collect();
    sorted.sort_by(|a, b| {
        b.value_sat.cmp(&a.value_sat).then((a.txid, a.vout).cmp(&(b.txid, b.vout)))
    });
    let cap = max_inputs(params, 2);
    let mut total = Amount::ZERO;
    for (i, coin) in sorted.iter().enumerate() {
        if i == cap {
            let need = need(cap, amount, params)?;
            let have = Amount::checked_sum(sorted.iter().map(|c| Amount::from_sat(c.value_sat)));
            return Err(if have.is_some_and(|have| have >= need) {
                WalletError::TooManyInputs { max: cap, have: total, need }
            } else {
                WalletError::InsufficientFunds { have: have.unwrap_or(Amount::MAX), need }
            });
        }
        total = total.checked_add(Amount::from_sat(coin.value_sat)).ok_or(WalletError::Overflow)?;
        if total >= need(i + 1, amount, params)? {
            return Ok(sorted[..=i].iter().map(|c| (*c).clone()).collect());
        }
    }
    let need = need(sorted.len().clamp(1, cap), amount, params)?;
    Err(WalletError::InsufficientFunds { have: total, need })
}

/// Amount plus the smallest fee `inputs` inputs allow (no change).
fn need(inputs: usize, amount: Amount, params: &ConsensusParams) -> Result<Amount, WalletError> {
    let fee = params.required_fee(inputs, amount).ok_or(WalletError::Overflow)?;
    amount.checked_add(fee).ok_or(WalletError::Overflow)
}

/// The fee and change of a payment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeePlan {
    /// Σin − Σout.
    pub fee: Amount,
    /// The change output, if it is worth one (not dust).
    pub change: Option<Amount>,
}

/// The fee of paying `amount` from `inputs` coins holding `total_in`.
///
/// The rule is fee ≥ `params.required_fee(inputs, Σout)`, and Σout includes
/// the change, which is what the fee leaves: Σout = `total_in` − fee. The
/// right side falls as the fee rises, so "the rule holds" is monotone in the
/// fee and the smallest fee that satisfies it is found by bisection (at most
/// 64 steps, each one call of `required_fee`, the one definition of the
/// rule). Change below the dust limit is not made; it goes to the fee.
pub fn plan_fee(
    inputs: usize,
    total_in: Amount,
    amount: Amount,
    params: &ConsensusParams,
) -> Result<FeePlan, WalletError> {
    // The fee without change (Σout = amount): a lower bound of any fee.
    let floor = params.required_fee(inputs, amount).ok_or(WalletError::Overflow)?;
    let available = match total_in.checked_sub(amount) {
        Some(available) if available >= floor => available,
        _ => {
            return Err(WalletError::InsufficientFunds {
                have: total_in,
                need: amount.checked_add(floor).ok_or(WalletError::Overflow)?,
            });
        }
    };
    let holds = |fee: u64| -> Result<bool, WalletError> {
        let total_out = Amount::from_sat(total_in.sat() - fee);
        let required = params.required_fee(inputs, total_out).ok_or(WalletError::Overflow)?;
        Ok(fee >= required.sat())
    };
    // At fee = available there is no change, Σout = amount, and the rule
    // is `floor ≤ available`: it holds.
    let (mut low, mut high) = (floor.sat(), available.sat());
    while low < high {
        let mid = low + (high - low) / 2;
        if holds(mid)? {
            high = mid;
        } else {
            low = mid + 1;
        }
    }
    let change = available.sat() - low;
    if change < params.dust_limit_sat {
        return Ok(FeePlan { fee: available, change: None });
    }
    Ok(FeePlan { fee: Amount::from_sat(low), change: Some(Amount::from_sat(change)) })
}

/// One key of a wallet.
struct WalletKey {
    secret: SecretKey,
    public: PublicKey,
    address: Address,
}

/// Keys on one network whose coins may be spent together, even in one
/// transaction.
pub struct Wallet {
    network: Network,
    keys: Vec<WalletKey>,
    by_payload: HashMap<AddressPayload, usize>,
}

impl std::fmt::Debug for Wallet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let addresses: Vec<String> = self.keys.iter().map(|k| k.address.to_string()).collect();
        f.debug_struct("Wallet")
            .field("network", &self.network)
            .field("addresses", &addresses)
            .finish_non_exhaustive()
    }
}

impl Wallet {
    /// An empty wallet for `network`.
    pub fn new(network: Network) -> Wallet {
        Wallet { network, keys: Vec::new(), by_payload: HashMap::new() }
    }

    /// A wallet of the key files at `paths`, all of which must be for
    /// `network`.
    pub fn load<P: AsRef<Path>>(network: Network, paths: &[P]) -> Result<Wallet, WalletError> {
        let mut wallet = Wallet::new(network);
        for path in paths {
            wallet.add_key_file(path.as_ref())?;
        }
        Ok(wallet)
    }

    /// Adds the key of a key file; returns its address.
    pub fn add_key_file(&mut self, path: &Path) -> Result<Address, WalletError> {
        let (file, key) = read_key_file(path)?;
        if file.network != self.network {
            return Err(WalletError::KeyFileNetwork {
                path: path.to_path_buf(),
                found: file.network,
                expected: self.network,
            });
        }
        Ok(self.add_key(key))
    }

    /// Adds a key (a key already held is not added twice); returns its
    /// address.
    pub fn add_key(&mut self, secret: SecretKey) -> Address {
        let public = secret.public();
        let address = Address::from_public_key(&public, self.network);
        if !self.by_payload.contains_key(&address.payload) {
            self.by_payload.insert(address.payload, self.keys.len());
            self.keys.push(WalletKey { secret, public, address });
        }
        address
    }

    /// The network.
    pub fn network(&self) -> Network {
        self.network
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True with no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Every key's address, in the order added.
    pub fn addresses(&self) -> Vec<Address> {
        self.keys.iter().map(|k| k.address).collect()
    }

    /// True when a key of this wallet owns `payload`.
    pub fn owns(&self, payload: &AddressPayload) -> bool {
        self.by_payload.contains_key(payload)
    }

    /// Builds and signs a payment from `coins` (the wallet's unspent
    /// outputs, as `listunspent` returns them).
    pub fn pay(
        &self,
        chain: &Chain,
        payment: &Payment,
        coins: &[Unspent],
    ) -> Result<Transaction, WalletError> {
        for (what, address) in [("destination", payment.to), ("change address", payment.change)] {
            if address.network != chain.network {
                return Err(WalletError::WrongNetwork {
                    what,
                    address,
                    found: address.network,
                    expected: chain.network,
                });
            }
        }
        let dust = Amount::from_sat(chain.params.dust_limit_sat);
        if payment.amount < dust {
            return Err(WalletError::BelowDust { amount: payment.amount, dust });
        }
        let selected = select_coins(coins, payment.amount, &chain.params)?;
        let inputs: Vec<(OutPoint, TxOut)> = selected
            .iter()
            .map(|c| {
                (
                    OutPoint { txid: c.txid, vout: c.vout },
                    TxOut { value: Amount::from_sat(c.value_sat), address: c.address.payload },
                )
            })
            .collect();
        let total_in = Amount::checked_sum(inputs.iter().map(|(_, out)| out.value))
            .ok_or(WalletError::Overflow)?;
        let plan = plan_fee(inputs.len(), total_in, payment.amount, &chain.params)?;
        let mut outputs = vec![TxOut { value: payment.amount, address: payment.to.payload }];
        if let Some(change) = plan.change {
            outputs.push(TxOut { value: change, address: payment.change.payload });
        }
        self.build_and_sign(chain.id, &inputs, outputs, payment.timestamp_ms)
    }

    /// A transaction spending `inputs` (each with the output it spends) to
    /// `outputs`, every input signed by the wallet key that owns its
    /// address. The txid is computed once, whatever the number of inputs.
    /// No rule is checked here beyond key ownership (fees and limits are the
    /// caller's, as [`Wallet::pay`] does).
    pub fn build_and_sign(
        &self,
        chain: ChainId,
        inputs: &[(OutPoint, TxOut)],
        outputs: Vec<TxOut>,
        timestamp_ms: i64,
    ) -> Result<Transaction, WalletError> {
        let mut signers = Vec::with_capacity(inputs.len());
        let mut tx_inputs = Vec::with_capacity(inputs.len());
        for (index, (outpoint, spent)) in inputs.iter().enumerate() {
            let key =
                self.by_payload.get(&spent.address).map(|&i| &self.keys[i]).ok_or(
                    WalletError::NoKey { index, outpoint: *outpoint, payload: spent.address },
                )?;
            signers.push(key);
            tx_inputs.push(TxIn {
                prev: *outpoint,
                pubkey: key.public,
                signature: Signature::ZERO,
            });
        }
        let mut tx = Transaction {
            version: TX_VERSION,
            inputs: tx_inputs,
            outputs,
            lock_time: 0,
            timestamp: timestamp_ms,
        };
        let txid = tx.txid(chain);
        for (index, (input, key)) in tx.inputs.iter_mut().zip(signers).enumerate() {
            input.signature = key.secret.sign(&input_signing_message(chain, &txid, index as u32));
        }
        Ok(tx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use protocol::TxId;
    use protocol::validate::{Admission, Coin, SigVerifier, UtxoView, validate_transaction};

    const TIME: u64 = protocol::amount::SAT_PER_TIME;

    struct Utxos(HashMap<OutPoint, TxOut>);

    impl UtxoView for Utxos {
        fn coin(&self, outpoint: &OutPoint) -> Coin {
            self.0.get(outpoint).map_or(Coin::Unknown, |out| Coin::Unspent(*out))
        }
    }

    fn params() -> ConsensusParams {
        ConsensusParams::default()
    }

    fn chain() -> Chain {
        Chain { id: ChainId(77), network: Network::Dev, params: params() }
    }

    fn coin(n: u8, address: Address, sat: u64) -> Unspent {
        Unspent {
            txid: TxId([n; 32]),
            vout: u32::from(n),
            address,
            value_sat: sat,
            amount: Amount::from_sat(sat).to_string(),
            confirmed: true,
        }
    }

    fn utxos_of(coins: &[Unspent]) -> Utxos {
        Utxos(
            coins
                .iter()
                .map(|c| {
                    (
                        OutPoint { txid: c.txid, vout: c.vout },
                        TxOut { value: Amount::from_sat(c.value_sat), address: c.address.payload },
                    )
                })
                .collect(),
        )
    }

    fn validate(tx: Transaction, coins: &[Unspent]) -> Admission {
        let chain = chain();
        validate_transaction(
            tx,
            chain.id,
            &chain.params,
            &utxos_of(coins),
            &mut SigVerifier::default(),
        )
        .unwrap()
    }

    fn address(seed: u8) -> Address {
        Address::from_public_key(&SecretKey::from_seed([seed; 32]).public(), Network::Dev)
    }

    #[test]
    fn required_fee_is_the_larger_of_floor_and_share_plus_per_input() {
        let p = params(); // min 1,000 sat, Σout / 1,000, 100 sat per input
        assert_eq!(p.required_fee(1, Amount::from_sat(10_000)), Some(Amount::from_sat(1_100)));
        assert_eq!(
            p.required_fee(3, Amount::from_sat(150_000_000)),
            Some(Amount::from_sat(150_300))
        );
    }

    #[test]
    fn plan_fee_satisfies_the_rule_with_change_counted_in_the_outputs() {
        let p = params();
        let total_in = Amount::from_sat(10 * TIME);
        let amount = Amount::from_sat(TIME + TIME / 2);
        let plan = plan_fee(2, total_in, amount, &p).unwrap();
        let change = plan.change.unwrap();
        assert_eq!(amount.checked_add(change).unwrap().checked_add(plan.fee), Some(total_in));
        let total_out = amount.checked_add(change).unwrap();
        assert!(plan.fee >= p.required_fee(2, total_out).unwrap());
        // The smallest fee with fee ≥ ⌊(10 TIME − fee) / 1,000⌋ + 2 × 100.
        assert_eq!(plan.fee, Amount::from_sat(999_200));
        assert!(
            Amount::from_sat(999_199)
                < p.required_fee(2, Amount::from_sat(10 * TIME - 999_199)).unwrap()
        );
    }

    #[test]
    fn plan_fee_is_the_smallest_fee_the_rule_accepts() {
        let p = params();
        let amounts = [546, 10_000, 999_999, 150_000_000, 7 * TIME + 3, 1_000 * TIME];
        let extras = [0, 1, 545, 546, 1_099, 50_000, 123_456_789, 500 * TIME];
        for inputs in [1, 2, 7, 256] {
            for amount in amounts.map(Amount::from_sat) {
                for extra in extras {
                    let floor = p.required_fee(inputs, amount).unwrap().sat();
                    let total_in = Amount::from_sat(amount.sat() + floor + extra);
                    let plan = plan_fee(inputs, total_in, amount, &p).unwrap();
                    let case = format!("inputs {inputs}, amount {amount}, extra {extra}: {plan:?}");
                    if extra < p.dust_limit_sat {
                        assert_eq!(plan.change, None, "{case}");
                    }
                    let change = plan.change.map_or(0, Amount::sat);
                    assert_eq!(amount.sat() + change + plan.fee.sat(), total_in.sat(), "{case}");
                    let total_out = Amount::from_sat(amount.sat() + change);
                    assert!(plan.fee >= p.required_fee(inputs, total_out).unwrap(), "{case}");
                    match plan.change {
                        // All of the surplus goes to the fee.
                        None => assert_eq!(plan.fee.sat(), floor + extra, "{case}"),
                        Some(change) => {
                            assert!(change.sat() >= p.dust_limit_sat, "{case}");
                            // One sat less of fee (one more of change) breaks the rule.
                            let cheaper = Amount::from_sat(total_out.sat() + 1);
                            let required = p.required_fee(inputs, cheaper).unwrap().sat();
                            assert!(plan.fee.sat() - 1 < required, "{case}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn plan_fee_gives_dust_change_to_the_fee() {
        let p = params();
        let amount = Amount::from_sat(100_000);
        let fee = p.required_fee(1, amount).unwrap();
        let just_short = Amount::from_sat(amount.sat() + fee.sat() + p.dust_limit_sat - 1);
        let plan = plan_fee(1, just_short, amount, &p).unwrap();
        assert_eq!(plan.change, None);
        assert_eq!(plan.fee, Amount::from_sat(fee.sat() + p.dust_limit_sat - 1));
        let enough = Amount::from_sat(amount.sat() + fee.sat() + p.dust_limit_sat);
        assert_eq!(plan_fee(1, enough, amount, &p).unwrap().change, Some(Amount::from_sat(546)));
    }

    #[test]
    fn plan_fee_reports_have_and_need() {
        let err =
            plan_fee(1, Amount::from_sat(5_000), Amount::from_sat(4_500), &params()).unwrap_err();
        assert!(matches!(
            err,
            WalletError::InsufficientFunds { have, need }
                if have.sat() == 5_000 && need.sat() == 4_500 + 1_100
        ));
    }

    #[test]
    fn selection_is_largest_first_and_deterministic() {
        let a = address(1);
        let coins =
            vec![coin(1, a, 5_000), coin(2, a, 90_000), coin(3, a, 20_000), coin(4, a, 90_000)];
        let picked = select_coins(&coins, Amount::from_sat(100_000), &params()).unwrap();
        let ids: Vec<u8> = picked.iter().map(|c| c.txid.0[0]).collect();
        assert_eq!(ids, vec![2, 4], "two 90,000 coins, ties by outpoint");
        let mut reversed = coins.clone();
        reversed.reverse();
        assert_eq!(select_coins(&reversed, Amount::from_sat(100_000), &params()).unwrap(), picked);
    }

    #[test]
    fn selection_counts_the_per_input_fee_of_each_added_coin() {
        let a = address(1);
        // 10,000 needs 1,100 fee with one input: 11,100 > 11,000 → a second coin.
        let coins = vec![coin(1, a, 11_000), coin(2, a, 1_000)];
        let picked = select_coins(&coins, Amount::from_sat(10_000), &params()).unwrap();
        assert_eq!(picked.len(), 2);
        let coins = vec![coin(1, a, 11_100)];
        assert_eq!(select_coins(&coins, Amount::from_sat(10_000), &params()).unwrap().len(), 1);
    }

    #[test]
    fn selection_caps_inputs_and_says_which_limit_bit() {
        let a = address(1);
        let p = ConsensusParams { max_tx_inputs: 3, ..params() };
        let coins: Vec<Unspent> = (1..=5).map(|n| coin(n, a, 10_000)).collect();
        let err = select_coins(&coins, Amount::from_sat(35_000), &p).unwrap_err();
        assert!(
            matches!(err, WalletError::TooManyInputs { max: 3, have, .. } if have.sat() == 30_000),
            "{err}"
        );
        let err = select_coins(&coins, Amount::from_sat(60_000), &p).unwrap_err();
        assert!(
            matches!(err, WalletError::InsufficientFunds { have, .. } if have.sat() == 50_000),
            "{err}"
        );
        assert!(err.to_string().contains("have 0.0005 TIME"), "{err}");
    }

    #[test]
    fn the_size_limit_also_caps_inputs() {
        let p = ConsensusParams { max_tx_bytes: 1_000, ..params() };
        let by_size =
            (1_000 - TX_OVERHEAD_BYTES - 2 * OUTPUT_BYTES) / (INPUT_BYTES + SIGNATURE_BYTES);
        assert_eq!(max_inputs(&p, 2), by_size);
        assert_eq!(max_inputs(&params(), 2), 256);
    }

    #[test]
    fn a_payment_with_inputs_of_two_keys_is_valid() {
        let mut wallet = Wallet::new(Network::Dev);
        let alice = wallet.add_key(SecretKey::from_seed([1; 32]));
        let bob = wallet.add_key(SecretKey::from_seed([2; 32]));
        let coins = vec![coin(1, alice, 3 * TIME), coin(2, bob, 2 * TIME)];
        let payment = Payment {
            to: address(9),
            amount: Amount::from_sat(4 * TIME),
            change: alice,
            timestamp_ms: 1,
        };
        let tx = wallet.pay(&chain(), &payment, &coins).unwrap();
        assert_eq!(tx.inputs.len(), 2);
        let pubkeys: HashSet<PublicKey> = tx.inputs.iter().map(|i| i.pubkey).collect();
        assert_eq!(pubkeys.len(), 2, "each input carries its own owner's key");
        assert_eq!(tx.outputs.len(), 2, "payment and change");
        assert_eq!(tx.outputs[0], TxOut { value: payment.amount, address: payment.to.payload });
        match validate(tx, &coins) {
            Admission::Valid(verified) => {
                let required = params().required_fee(
                    2,
                    Amount::from_sat(5 * TIME).checked_sub(verified.fee()).unwrap(),
                );
                assert!(verified.fee() >= required.unwrap());
            }
            other => panic!("expected valid, got {other:?}"),
        }
    }

    #[test]
    fn build_and_sign_refuses_an_input_no_key_owns() {
        let mut wallet = Wallet::new(Network::Dev);
        let mine = wallet.add_key(SecretKey::from_seed([1; 32]));
        let stranger = address(5);
        let inputs = [
            (
                OutPoint { txid: TxId([1; 32]), vout: 0 },
                TxOut { value: Amount::from_sat(10_000), address: mine.payload },
            ),
            (
                OutPoint { txid: TxId([2; 32]), vout: 1 },
                TxOut { value: Amount::from_sat(10_000), address: stranger.payload },
            ),
        ];
        let outputs = vec![TxOut { value: Amount::from_sat(15_000), address: mine.payload }];
        let err = wallet.build_and_sign(ChainId(1), &inputs, outputs, 0).unwrap_err();
        assert!(matches!(err, WalletError::NoKey { index: 1, .. }), "{err}");
    }

    #[test]
    fn payments_check_dust_and_networks() {
        let mut wallet = Wallet::new(Network::Dev);
        let me = wallet.add_key(SecretKey::from_seed([1; 32]));
        let coins = vec![coin(1, me, TIME)];
        let pay = |to: Address, sat: u64| {
            wallet.pay(
                &chain(),
                &Payment { to, amount: Amount::from_sat(sat), change: me, timestamp_ms: 0 },
                &coins,
            )
        };
        assert!(matches!(pay(address(3), 545), Err(WalletError::BelowDust { .. })));
        let testnet = Address { network: Network::Testnet, ..address(3) };
        let err = pay(testnet, 10_000).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("destination {testnet} is a testnet address, this chain is dev")
        );
        assert!(matches!(pay(address(3), 2 * TIME), Err(WalletError::InsufficientFunds { .. })));
    }

    #[test]
    fn a_payment_leaving_dust_has_no_change_and_is_valid() {
        let mut wallet = Wallet::new(Network::Dev);
        let me = wallet.add_key(SecretKey::from_seed([1; 32]));
        let coins = vec![coin(1, me, 100_000 + 1_100 + 500)];
        let payment = Payment {
            to: address(3),
            amount: Amount::from_sat(100_000),
            change: me,
            timestamp_ms: 0,
        };
        let tx = wallet.pay(&chain(), &payment, &coins).unwrap();
        assert_eq!(tx.outputs.len(), 1);
        assert!(matches!(validate(tx, &coins), Admission::Valid(v) if v.fee().sat() == 1_600));
    }

    #[test]
    fn key_files_round_trip_are_private_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        let written = generate_key_file(&path, Network::Dev).unwrap();
        let (read, key) = read_key_file(&path).unwrap();
        assert_eq!(read, written);
        assert_eq!(Address::from_public_key(&key.public(), Network::Dev), written.address);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let err = generate_key_file(&path, Network::Dev).unwrap_err();
        assert!(matches!(err, WalletError::KeyFileExists { .. }), "{err}");
        assert_eq!(read_key_file(&path).unwrap().0, written, "the first key is intact");
        assert!(err.to_string().contains("refusing to overwrite"), "{err}");
    }

    #[test]
    fn wallets_refuse_key_files_of_another_network_and_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("testnet.json");
        write_key_file(&path, &SecretKey::from_seed([4; 32]), Network::Testnet).unwrap();
        let err = Wallet::load(Network::Dev, &[&path]).unwrap_err();
        assert!(
            err.to_string().contains("the key file is for testnet, this chain is dev"),
            "{err}"
        );
        let garbage = dir.path().join("garbage.json");
        std::fs::write(&garbage, "{}").unwrap();
        let err = Wallet::load(Network::Dev, &[&garbage]).unwrap_err();
        assert!(matches!(err, WalletError::KeyFile { .. }), "{err}");
        let missing = dir.path().join("missing.json");
        assert!(matches!(Wallet::load(Network::Dev, &[&missing]), Err(WalletError::Io { .. })));
        let wallet = Wallet::load(Network::Testnet, &[&path, &path]).unwrap();
        assert_eq!(wallet.len(), 1, "the same key twice is one key");
    }
}
