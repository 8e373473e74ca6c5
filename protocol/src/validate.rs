//! Transaction validity: typed rejections, and which inputs are available.
//!
//! The checks run cheapest first (shape, limits, dust, sums), then the
//! inputs (through [`UtxoView`], which the node implements over its committed
//! and final state), then the fee, and the signatures last. Only
//! [`validate_transaction`] makes a [`VerifiedTx`].

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::address::AddressPayload;
use crate::amount::Amount;
use crate::genesis::ConsensusParams;
use crate::ids::{ChainId, TxId};
use crate::keys::{KeyCache, SigCheck, Signature, VerifyStrategy, verify_many};
use crate::tx::{OutPoint, TX_VERSION, Transaction, TxOut, input_signing_message};

/// What the node knows about an outpoint.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Coin {
    /// An output of a committed or final transaction, not spent by one.
    Unspent(TxOut),
    /// Spent by a committed or final transaction.
    Spent,
    /// Its transaction is known but not yet final: wait for it.
    Pending,
    /// Nothing is known about it.
    Unknown,
}

/// Where validation looks up inputs.
pub trait UtxoView {
    /// The state of `outpoint`.
    fn coin(&self, outpoint: &OutPoint) -> Coin;
}

/// Why a transaction is invalid. Data, not strings: RPC, logs and loadgen
/// read the fields.
#[derive(Clone, PartialEq, Eq, Debug, Error, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum TxRejection {
    /// Not [`TX_VERSION`].
    #[error("unsupported transaction version {version} (expected {TX_VERSION})")]
    UnsupportedVersion {
        /// The version given.
        version: u32,
    },
    /// No inputs (only a coinbase may have none).
    #[error("transaction has no inputs")]
    NoInputs,
    /// No outputs.
    #[error("transaction has no outputs")]
    NoOutputs,
    /// lock_time is reserved.
    #[error("lock_time must be 0 outside a coinbase, got {lock_time}")]
    LockTime {
        /// The value given.
        lock_time: u32,
    },
    /// More inputs than allowed.
    #[error("transaction has {count} inputs, at most {max} are allowed")]
    TooManyInputs {
        /// Inputs given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// Full encoding too large.
    #[error("transaction is {size} bytes, at most {max} are allowed")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The same outpoint spent twice.
    #[error("inputs {first} and {second} both spend {outpoint}")]
    DuplicateInput {
        /// The outpoint.
        outpoint: OutPoint,
        /// The first input spending it.
        first: usize,
        /// The second input spending it.
        second: usize,
    },
    /// An output below the dust limit.
    #[error("output {index} pays {value} sat, below the dust limit of {min} sat")]
    Dust {
        /// The output.
        index: usize,
        /// Its value.
        value: u64,
        /// The limit.
        min: u64,
    },
    /// Outputs sum past u64.
    #[error("the outputs sum to more than the largest amount")]
    OutputOverflow,
    /// Inputs sum past u64.
    #[error("the inputs sum to more than the largest amount")]
    InputOverflow,
    /// An input spends an output nobody knows.
    #[error("input {index} spends unknown output {outpoint}")]
    UnknownInput {
        /// The input.
        index: usize,
        /// The outpoint.
        outpoint: OutPoint,
    },
    /// An input spends an output already spent by a final transaction.
    #[error("input {index} spends {outpoint}, already spent by a final transaction")]
    InputSpent {
        /// The input.
        index: usize,
        /// The outpoint.
        outpoint: OutPoint,
    },
    /// An input spends an output this masternode already voted to another
    /// transaction that can never be final (a double spender's coin). The
    /// node never votes for a second spender, so it does not hold one
    /// either; a certificate from the others still makes it final here.
    /// A local decision, like a full mempool: other nodes may differ.
    #[error(
        "input {index} spends {outpoint}, frozen here: this node voted for another spender of it"
    )]
    InputFrozen {
        /// The input.
        index: usize,
        /// The outpoint.
        outpoint: OutPoint,
    },
    /// An input's pubkey does not hash to the spent output's address.
    #[error("input {index}: its pubkey does not own {outpoint} (address mismatch)")]
    PubkeyMismatch {
        /// The input.
        index: usize,
        /// The outpoint.
        outpoint: OutPoint,
    },
    /// Outputs exceed inputs.
    #[error("outputs ({outputs} sat) exceed inputs ({inputs} sat)")]
    InsufficientFunds {
        /// Σ inputs.
        inputs: u64,
        /// Σ outputs.
        outputs: u64,
    },
    /// Fee below the rule.
    #[error("fee {fee} sat is below the required {required} sat")]
    FeeTooLow {
        /// Σin − Σout.
        fee: u64,
        /// max(min fee, Σout / divisor) + inputs × per-input fee.
        required: u64,
    },
    /// An input's signature does not verify.
    #[error("input {index} has a bad signature")]
    BadSignature {
        /// The first input whose signature fails.
        index: usize,
    },
}

impl TxRejection {
    /// A short stable name for metrics and loadgen's breakdown.
    pub fn kind(&self) -> &'static str {
        match self {
            TxRejection::UnsupportedVersion { .. } => "unsupported_version",
            TxRejection::NoInputs => "no_inputs",
            TxRejection::NoOutputs => "no_outputs",
            TxRejection::LockTime { .. } => "lock_time",
            TxRejection::TooManyInputs { .. } => "too_many_inputs",
            TxRejection::TooLarge { .. } => "too_large",
            TxRejection::DuplicateInput { .. } => "duplicate_input",
            TxRejection::Dust { .. } => "dust",
            TxRejection::OutputOverflow => "output_overflow",
            TxRejection::InputOverflow => "input_overflow",
            TxRejection::UnknownInput { .. } => "unknown_input",
            TxRejection::InputSpent { .. } => "input_spent",
            TxRejection::InputFrozen { .. } => "input_frozen",
            TxRejection::PubkeyMismatch { .. } => "pubkey_mismatch",
            TxRejection::InsufficientFunds { .. } => "insufficient_funds",
            TxRejection::FeeTooLow { .. } => "fee_too_low",
            TxRejection::BadSignature { .. } => "bad_signature",
        }
    }
}

/// A transaction that passed every rule against some UTXO view. Only
/// [`validate_transaction`] makes one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedTx {
    tx: Transaction,
    txid: TxId,
    fee: Amount,
    spent: Vec<TxOut>,
}

impl VerifiedTx {
    /// The transaction.
    pub fn tx(&self) -> &Transaction {
        &self.tx
    }

    /// Its id.
    pub fn txid(&self) -> TxId {
        self.txid
    }

    /// Σin − Σout.
    pub fn fee(&self) -> Amount {
        self.fee
    }

    /// The outputs its inputs spend, in input order.
    pub fn spent(&self) -> &[TxOut] {
        &self.spent
    }

    /// Gives the transaction back.
    pub fn into_tx(self) -> Transaction {
        self.tx
    }
}

/// What validation concluded about a transaction that broke no rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Valid now.
    Valid(VerifiedTx),
    /// Passed every check that does not need its parents; these inputs'
    /// transactions are known but not yet final.
    WaitingForParent {
        /// The transaction's id.
        txid: TxId,
        /// Inputs whose parent is pending.
        missing: Vec<OutPoint>,
    },
}

/// The signature checking validation uses: a key cache and a strategy (both
/// strategies decide identically, under ZIP-215; see [`crate::keys`]). The
/// default strategy is [`VerifyStrategy::Batch`].
#[derive(Debug, Default)]
pub struct SigVerifier {
    keys: KeyCache,
    strategy: VerifyStrategy,
    /// Decisions made ahead, by txid: the signatures they were made for
    /// and the first bad input ([`Self::remember`]).
    ahead: HashMap<TxId, (Vec<Signature>, Option<usize>)>,
}

/// Most decisions made ahead a verifier keeps (a few driver cycles' worth;
/// it forgets them all when full).
const DECISIONS_AHEAD: usize = 16_384;

impl SigVerifier {
    /// A verifier using `strategy`.
    pub fn new(strategy: VerifyStrategy) -> Self {
        SigVerifier { keys: KeyCache::default(), strategy, ahead: HashMap::new() }
    }

    /// The index of the first input whose signature fails, if any (all of
    /// `tx`'s inputs checked with this verifier's strategy, or the decision
    /// [`Self::remember`]ed for exactly these signatures).
    pub fn first_bad_input(
        &mut self,
        chain: ChainId,
        tx: &Transaction,
        txid: &TxId,
    ) -> Option<usize> {
        if let Some((signatures, first_bad)) = self.ahead.remove(txid) {
            // The txid binds the keys and the signed messages; only the
            // signatures (outside it) must be the ones decided on.
            let same = signatures.len() == tx.inputs.len()
                && signatures.iter().zip(&tx.inputs).all(|(s, i)| *s == i.signature);
            if same {
                return first_bad;
            }
        }
        self.first_bad_inputs_with(chain, &[(tx, *txid)], &[], self.strategy).0[0]
    }

    /// Keeps `first_bad`, decided elsewhere under the same rule (by
    /// [`Self::first_bad_inputs`], in a batch, maybe on another thread),
    /// for the next [`Self::first_bad_input`] of `txid` with exactly `tx`'s
    /// signatures.
    pub fn remember(&mut self, txid: TxId, tx: &Transaction, first_bad: Option<usize>) {
        if self.ahead.len() >= DECISIONS_AHEAD {
            self.ahead.clear();
        }
        let signatures = tx.inputs.iter().map(|i| i.signature).collect();
        self.ahead.insert(txid, (signatures, first_bad));
    }

    /// For each transaction of `txs` (each with its txid), in order, the
    /// index of its first input whose signature fails, if any.
    ///
    /// Every input of every transaction goes into one [`verify_many`] call
    /// with [`VerifyStrategy::Batch`], whatever this verifier's strategy: one
    /// batch for a driver cycle's transactions. When the batch fails, each
    /// signature is decided alone, so a bad input condemns only its own
    /// transaction, and every answer is what [`Self::first_bad_input`] gives
    /// for that transaction alone.
    pub fn first_bad_inputs(
        &mut self,
        chain: ChainId,
        txs: &[(&Transaction, TxId)],
    ) -> Vec<Option<usize>> {
        self.first_bad_inputs_and(chain, txs, &[]).0
    }

    /// [`Self::first_bad_inputs`], with `others` (vote batch signatures, say)
    /// in the same batch: a bigger batch verifies each signature cheaper.
    /// The second vector says of each of `others` whether it is valid.
    pub fn first_bad_inputs_and(
        &mut self,
        chain: ChainId,
        txs: &[(&Transaction, TxId)],
        others: &[SigCheck<'_>],
    ) -> (Vec<Option<usize>>, Vec<bool>) {
        self.first_bad_inputs_with(chain, txs, others, VerifyStrategy::Batch)
    }

    fn first_bad_inputs_with(
        &mut self,
        chain: ChainId,
        txs: &[(&Transaction, TxId)],
        others: &[SigCheck<'_>],
        strategy: VerifyStrategy,
    ) -> (Vec<Option<usize>>, Vec<bool>) {
        // (transaction, input) of every check, in order.
        let owners: Vec<(usize, usize)> = txs
            .iter()
            .enumerate()
            .flat_map(|(t, (tx, _))| (0..tx.inputs.len()).map(move |i| (t, i)))
            .collect();
        let messages: Vec<Vec<u8>> = owners
            .iter()
            .map(|&(t, i)| input_signing_message(chain, &txs[t].1, i as u32))
            .collect();
        let checks: Vec<SigCheck<'_>> = owners
            .iter()
            .zip(&messages)
            .map(|(&(t, i), message)| {
                let input = &txs[t].0.inputs[i];
                SigCheck { key: &input.pubkey, message, signature: &input.signature }
            })
            .chain(others.iter().copied())
            .collect();
        let mut results = verify_many(&checks, &mut self.keys, strategy);
        let others_ok = results.split_off(owners.len());
        let mut first_bad = vec![None; txs.len()];
        // In input order, so the first bad check of a transaction is its
        // first bad input.
        for (&(t, i), ok) in owners.iter().zip(results) {
            if !ok {
                first_bad[t].get_or_insert(i);
            }
        }
        (first_bad, others_ok)
    }
}

/// The rules that need nothing but the transaction and the parameters.
pub fn check_shape(tx: &Transaction, params: &ConsensusParams) -> Result<Amount, TxRejection> {
    if tx.version != TX_VERSION {
        return Err(TxRejection::UnsupportedVersion { version: tx.version });
    }
    if tx.inputs.is_empty() {
        return Err(TxRejection::NoInputs);
    }
    if tx.outputs.is_empty() {
        return Err(TxRejection::NoOutputs);
    }
    if tx.lock_time != 0 {
        return Err(TxRejection::LockTime { lock_time: tx.lock_time });
    }
    let max_inputs = params.max_tx_inputs as usize;
    if tx.inputs.len() > max_inputs {
        return Err(TxRejection::TooManyInputs { count: tx.inputs.len(), max: max_inputs });
    }
    let size = tx.size();
    if size > params.max_tx_bytes as usize {
        return Err(TxRejection::TooLarge { size, max: params.max_tx_bytes as usize });
    }
    let mut seen = HashSet::with_capacity(tx.inputs.len());
    let mut first_index = std::collections::HashMap::with_capacity(tx.inputs.len());
    for (i, input) in tx.inputs.iter().enumerate() {
        if !seen.insert(input.prev) {
            return Err(TxRejection::DuplicateInput {
                outpoint: input.prev,
                first: first_index.get(&input.prev).copied().unwrap_or(0),
                second: i,
            });
        }
        first_index.insert(input.prev, i);
    }
    for (index, output) in tx.outputs.iter().enumerate() {
        if output.value.sat() < params.dust_limit_sat {
            return Err(TxRejection::Dust {
                index,
                value: output.value.sat(),
                min: params.dust_limit_sat,
            });
        }
    }
    Amount::checked_sum(tx.outputs.iter().map(|o| o.value)).ok_or(TxRejection::OutputOverflow)
}

/// What a transaction that passed every rule but its input signatures
/// has shown ([`check_before_signatures`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Prechecked {
    /// Every input is available: the outputs it spends and its fee.
    Complete {
        /// The outputs spent, in input order.
        spent: Vec<TxOut>,
        /// Inputs minus outputs.
        fee: Amount,
    },
    /// These inputs' transactions are known but not yet final.
    WaitingForParent(Vec<OutPoint>),
}

/// Every rule [`validate_transaction`] checks before the input signatures
/// (shape, availability and owner of each input, amounts and fee), in its
/// order: a transaction that fails here is refused without a signature
/// being checked, so only one that passes is worth verifying (also ahead
/// of admission, in a batch).
pub fn check_before_signatures(
    tx: &Transaction,
    params: &ConsensusParams,
    utxos: &impl UtxoView,
) -> Result<Prechecked, TxRejection> {
    let total_out = check_shape(tx, params)?;
    let mut spent = Vec::with_capacity(tx.inputs.len());
    let mut missing = Vec::new();
    for (index, input) in tx.inputs.iter().enumerate() {
        let outpoint = input.prev;
        match utxos.coin(&outpoint) {
            Coin::Unspent(output) => {
                if AddressPayload::from_public_key(&input.pubkey) != output.address {
                    return Err(TxRejection::PubkeyMismatch { index, outpoint });
                }
                spent.push(output);
            }
            Coin::Pending => missing.push(outpoint),
            Coin::Spent => return Err(TxRejection::InputSpent { index, outpoint }),
            Coin::Unknown => return Err(TxRejection::UnknownInput { index, outpoint }),
        }
    }
    if !missing.is_empty() {
        return Ok(Prechecked::WaitingForParent(missing));
    }
    let total_in =
        Amount::checked_sum(spent.iter().map(|o| o.value)).ok_or(TxRejection::InputOverflow)?;
    let fee = total_in.checked_sub(total_out).ok_or(TxRejection::InsufficientFunds {
        inputs: total_in.sat(),
        outputs: total_out.sat(),
    })?;
    let required = params.required_fee(tx.inputs.len(), total_out).unwrap_or(Amount::MAX);
    if fee < required {
        return Err(TxRejection::FeeTooLow { fee: fee.sat(), required: required.sat() });
    }
    Ok(Prechecked::Complete { spent, fee })
}

/// Validates `tx` against `utxos`: `Ok(Valid)` with its fee, `Ok(WaitingForParent)`
/// when some parent is pending, or the first rule it breaks.
pub fn validate_transaction(
    tx: Transaction,
    chain: ChainId,
    params: &ConsensusParams,
    utxos: &impl UtxoView,
    verifier: &mut SigVerifier,
) -> Result<Admission, TxRejection> {
    let prechecked = check_before_signatures(&tx, params, utxos)?;
    let txid = tx.txid(chain);
    // Signatures need no parent: a transaction waiting for one has them
    // checked too, so the orphan pool only ever holds transactions their
    // keys' owners signed.
    if let Some(index) = verifier.first_bad_input(chain, &tx, &txid) {
        return Err(TxRejection::BadSignature { index });
    }
    match prechecked {
        Prechecked::WaitingForParent(missing) => Ok(Admission::WaitingForParent { txid, missing }),
        Prechecked::Complete { spent, fee } => {
            Ok(Admission::Valid(VerifiedTx { tx, txid, fee, spent }))
        }
    }
}
