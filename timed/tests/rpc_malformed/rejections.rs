//! Every rejection `sendrawtransaction` can reach, as signed transactions.

use protocol::tx::{TX_VERSION, input_signing_message};
use protocol::{
    Address, Amount, ChainId, ConsensusParams, Network, OutPoint, SecretKey, Signature,
    Transaction, TxId, TxIn, TxOut,
};
use serde_json::{Value, json};

use crate::{DEV_COIN_SAT, TIME, now_ms};

/// A transaction with explicit parts, every input signed by `signers[i]`.
fn signed(chain: ChainId, inputs: &[(OutPoint, &SecretKey)], outputs: Vec<TxOut>) -> Transaction {
    let mut tx = Transaction {
        version: TX_VERSION,
        inputs: inputs
            .iter()
            .map(|(prev, key)| TxIn {
                prev: *prev,
                pubkey: key.public(),
                signature: Signature::ZERO,
            })
            .collect(),
        outputs,
        lock_time: 0,
        timestamp: now_ms(),
    };
    let txid = tx.txid(chain);
    for (index, (input, (_, key))) in tx.inputs.iter_mut().zip(inputs).enumerate() {
        input.signature = key.sign(&input_signing_message(chain, &txid, index as u32));
    }
    tx
}

/// Every rejection `sendrawtransaction` can reach, each with its expected
/// typed `data` and the words its message must contain.
pub(crate) fn rejection_cases(
    chain: ChainId,
    params: &ConsensusParams,
    key: &SecretKey,
    coins: &[OutPoint],
    spent: OutPoint,
) -> Vec<(String, Transaction, Value, Vec<&'static str>)> {
    let me = Address::from_public_key(&key.public(), Network::Dev).payload;
    let stranger = SecretKey::from_seed([0x5a; 32]);
    let out = |sat: u64| TxOut { value: Amount::from_sat(sat), address: me };
    let coin = DEV_COIN_SAT;
    let fee1 = params.required_fee(1, Amount::from_sat(coin)).expect("fee").sat();
    let fee2 = params.required_fee(2, Amount::from_sat(2 * coin)).expect("fee").sat();
    let (a, b) = (coins[0], coins[1]);
    let unknown = OutPoint { txid: TxId([0xee; 32]), vout: 3 };
    let mut cases = Vec::new();
    let mut add = |name: &str, tx: Transaction, data: Value, words: Vec<&'static str>| {
        cases.push((name.to_string(), tx, data, words));
    };
    add(
        "fee too low",
        signed(chain, &[(a, key)], vec![out(coin - 1)]),
        json!({"reason": "fee_too_low", "fee": 1, "required": params.required_fee(1, Amount::from_sat(coin - 1)).expect("fee").sat()}),
        vec!["fee 1 sat", "below"],
    );
    add(
        "dust output",
        signed(chain, &[(a, key)], vec![out(coin - fee1 - 100), out(100)]),
        json!({"reason": "dust", "index": 1, "value": 100, "min": params.dust_limit_sat}),
        vec!["output 1", "dust"],
    );
    add(
        "no outputs",
        signed(chain, &[(a, key)], vec![]),
        json!({"reason": "no_outputs"}),
        vec!["no outputs"],
    );
    add(
        "no inputs",
        signed(chain, &[], vec![out(TIME)]),
        json!({"reason": "no_inputs"}),
        vec!["no inputs"],
    );
    add(
        "duplicate input",
        signed(chain, &[(a, key), (a, key)], vec![out(coin)]),
        json!({"reason": "duplicate_input", "first": 0, "second": 1, "outpoint": {"txid": a.txid, "vout": a.vout}}),
        vec!["inputs 0 and 1"],
    );
    add(
        "unknown input",
        signed(chain, &[(a, key), (unknown, key)], vec![out(coin)]),
        json!({"reason": "unknown_input", "index": 1, "outpoint": {"txid": unknown.txid, "vout": unknown.vout}}),
        vec!["input 1", "unknown"],
    );
    add(
        "input spent by a final transaction",
        signed(chain, &[(spent, key)], vec![out(TIME)]),
        json!({"reason": "input_spent", "index": 0, "outpoint": {"txid": spent.txid, "vout": spent.vout}}),
        vec!["input 0", "already spent"],
    );
    let mut mismatch = signed(chain, &[(a, key), (b, key)], vec![out(2 * coin - fee2)]);
    mismatch.inputs[1].pubkey = stranger.public();
    let mismatch_txid = mismatch.txid(chain);
    mismatch.inputs[1].signature = stranger.sign(&input_signing_message(chain, &mismatch_txid, 1));
    add(
        "pubkey mismatch",
        mismatch,
        json!({"reason": "pubkey_mismatch", "index": 1}),
        vec!["input 1", "pubkey"],
    );
    let mut bad_signature = signed(chain, &[(a, key), (b, key)], vec![out(2 * coin - fee2)]);
    bad_signature.inputs[1].signature.0[7] ^= 0x40;
    add(
        "bad signature on input 1",
        bad_signature,
        json!({"reason": "bad_signature", "index": 1}),
        vec!["input 1", "bad signature"],
    );
    add(
        "outputs exceed inputs",
        signed(chain, &[(a, key)], vec![out(2 * coin)]),
        json!({"reason": "insufficient_funds", "inputs": coin, "outputs": 2 * coin}),
        vec!["exceed"],
    );
    let many: Vec<OutPoint> =
        (0..=params.max_tx_inputs).map(|i| OutPoint { txid: TxId([0xab; 32]), vout: i }).collect();
    let many_inputs: Vec<(OutPoint, &SecretKey)> = many.iter().map(|o| (*o, key)).collect();
    add(
        "too many inputs",
        signed(chain, &many_inputs, vec![out(TIME)]),
        json!({"reason": "too_many_inputs", "count": params.max_tx_inputs + 1, "max": params.max_tx_inputs}),
        vec!["inputs", "at most"],
    );
    let outputs = (params.max_tx_bytes as usize) / protocol::tx::OUTPUT_BYTES + 1;
    let large = signed(chain, &[(a, key)], vec![out(TIME); outputs]);
    let large_size = large.size();
    add(
        "too large",
        large,
        json!({"reason": "too_large", "size": large_size, "max": params.max_tx_bytes}),
        vec!["bytes", "at most"],
    );
    add(
        "outputs overflow",
        signed(chain, &[(a, key)], vec![out(u64::MAX / 2 + 1), out(u64::MAX / 2 + 1)]),
        json!({"reason": "output_overflow"}),
        vec!["outputs sum"],
    );
    let mut lock_time = signed(chain, &[(a, key)], vec![out(coin - fee1)]);
    lock_time.lock_time = 7;
    add("lock_time", lock_time, json!({"reason": "lock_time", "lock_time": 7}), vec!["lock_time"]);
    let mut version = signed(chain, &[(a, key)], vec![out(coin - fee1)]);
    version.version = 2;
    add(
        "unsupported version",
        version,
        json!({"reason": "unsupported_version", "version": 2}),
        vec!["version 2"],
    );
    cases
}
