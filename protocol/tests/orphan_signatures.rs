//! A transaction waiting for its parent has had its signatures checked:
//! the orphan pool only ever holds transactions their keys' owners signed.

use std::collections::HashMap;

use protocol::keys::VerifyStrategy;
use protocol::validate::{Coin, SigVerifier, TxRejection, UtxoView, validate_transaction};
use protocol::*;

const CHAIN: ChainId = ChainId(9);

struct Utxos(HashMap<OutPoint, Coin>);

impl UtxoView for Utxos {
    fn coin(&self, outpoint: &OutPoint) -> Coin {
        self.0.get(outpoint).copied().unwrap_or(Coin::Unknown)
    }
}

#[test]
fn waiting_for_parent_requires_valid_signatures() {
    let owner = SecretKey::from_seed([1; 32]);
    let stranger = SecretKey::from_seed([2; 32]);
    let pending = OutPoint { txid: TxId([5; 32]), vout: 0 };
    let utxos = Utxos(HashMap::from([(pending, Coin::Pending)]));
    let mut tx = Transaction {
        version: 1,
        inputs: vec![TxIn { prev: pending, pubkey: owner.public(), signature: Signature::ZERO }],
        outputs: vec![TxOut {
            value: Amount::from_sat(5_000),
            address: AddressPayload::from_public_key(&stranger.public()),
        }],
        lock_time: 0,
        timestamp: 1_700_000_000_000,
    };
    // Signed by a key that is not the input's pubkey.
    assert!(tx.sign_input(CHAIN, 0, &stranger));
    for strategy in [VerifyStrategy::OneByOne, VerifyStrategy::Batch] {
        let outcome = validate_transaction(
            tx.clone(),
            CHAIN,
            &ConsensusParams::default(),
            &utxos,
            &mut SigVerifier::new(strategy),
        );
        assert_eq!(outcome, Err(TxRejection::BadSignature { index: 0 }), "{strategy:?}");
    }
}
