//! The stage ahead of the core: a cycle's input signatures and vote batch
//! signatures verified as one ZIP-215 batch on `verify_threads` threads,
//! and the commitment elements of the new outputs and of the committed
//! outputs they spend, before the core sees them.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tracing::warn;

use consensus::Message;
use protocol::commitment::Element;
use protocol::finality::PendingVote;
use protocol::{OutPoint, Transaction, TxId, TxOut};

use super::driver::Taken;
use super::{Command, CpuUse, Driver, Wire};

/// A verifying thread gets at least this many signatures (fewer batch
/// badly and do not pay for the hand-off).
const MIN_SIGNATURES_PER_THREAD: usize = 16;

/// What the stage ahead of the core found: the first bad input of each
/// transaction, the commitment elements of the outputs of those whose
/// signatures all verify and of the committed outputs they spend, and
/// whether each vote batch signature verifies.
type Checked = (Vec<Option<usize>>, Vec<(OutPoint, Element)>, Vec<bool>);

/// Most outputs per input whose commitment elements are computed ahead. A
/// signature buys no more element work than this: conflicting variants of
/// one signed spend are verified but never committed, and an element costs
/// about a third of a verification. Elements of larger fan-outs are
/// computed when their block commits, by then known to be needed.
const ELEMENTS_AHEAD_PER_INPUT: usize = 2;

/// Checks the input signatures of `txs` and the vote batch signatures
/// `votes` as one batch (PROTOCOL.md §9) and computes the commitment
/// elements of the outputs of the transactions that pass (see
/// [`ELEMENTS_AHEAD_PER_INPUT`]) and of the committed outputs they spend
/// (`spent[i]` for `txs[i]`, at most one per input: a verified signature
/// buys each), charging each part to its component.
fn check_ahead(
    chain: protocol::ChainId,
    txs: &[(Transaction, TxId)],
    spent: &[Vec<(OutPoint, TxOut)>],
    votes: &[PendingVote],
    cpu: &CpuUse,
) -> Checked {
    let refs: Vec<(&Transaction, TxId)> = txs.iter().map(|(tx, txid)| (tx, *txid)).collect();
    let vote_checks: Vec<_> = votes.iter().map(PendingVote::check).collect();
    let (first_bad, votes_ok) = cpu.verify.measure(|| {
        protocol::validate::SigVerifier::default().first_bad_inputs_and(chain, &refs, &vote_checks)
    });
    let elements = cpu.commitment.measure(|| {
        let created = txs
            .iter()
            .zip(&first_bad)
            .filter(|((tx, _), bad)| {
                bad.is_none() && tx.outputs.len() <= ELEMENTS_AHEAD_PER_INPUT * tx.inputs.len()
            })
            .flat_map(|((tx, txid), _)| {
                (0u32..)
                    .zip(&tx.outputs)
                    .map(|(vout, output)| (OutPoint { txid: *txid, vout }, output))
            });
        let spent = spent
            .iter()
            .zip(&first_bad)
            .filter(|(_, bad)| bad.is_none())
            .flat_map(|(spent, _)| spent.iter().map(|(outpoint, output)| (*outpoint, output)));
        created
            .chain(spent)
            .map(|(outpoint, output)| (outpoint, Element::of(&outpoint, output)))
            .collect()
    });
    (first_bad, elements, votes_ok)
}

impl Driver {
    /// Verifies the input signatures of the cycle's new transactions, and
    /// the signatures of the live vote batches it received (replies to
    /// `GetVoteBatches` are left to the core, which drops unsolicited
    /// ones unverified), in batches, on
    /// `verify_threads` threads, before the core sees them; the core then
    /// uses these decisions (the same rule one by one would give:
    /// PROTOCOL.md §9). Every masternode still verifies every signature;
    /// this only changes where and how many at once. The same threads
    /// compute the commitment elements of the new outputs, which the ledger
    /// keeps for the block that commits them.
    pub(super) async fn verify_ahead(&mut self, taken: &[Taken]) {
        let messages = taken.iter().filter_map(|input| match input {
            Taken::Net(net::NetEvent::Message { msg: Wire(message), .. }) => Some(message),
            _ => None,
        });
        let txs = taken.iter().filter_map(|input| match input {
            Taken::Command(Command::Submit(tx, _)) => Some(tx),
            Taken::Net(net::NetEvent::Message { msg: Wire(Message::Tx(tx)), .. }) => Some(tx),
            _ => None,
        });
        let batches = messages.filter_map(|message| match message {
            Message::VoteBatch(batch) => Some(batch),
            _ => None,
        });
        let todo = self.core.unverified(txs);
        let votes = self.core.pending_votes(batches);
        if todo.is_empty() && votes.is_empty() {
            return;
        }
        let spent = Arc::new(self.core.spent_without_element(&todo));
        let chain = self.core.chain();
        let inputs: usize = todo.iter().map(|(tx, _)| tx.inputs.len()).sum();
        // Chunks big enough to batch well; one per thread at most.
        let chunks =
            self.verify_threads.min((inputs + votes.len()) / MIN_SIGNATURES_PER_THREAD).max(1);
        let todo = Arc::new(todo);
        let votes = Arc::new(votes);
        let (results, elements, votes_ok) = if chunks == 1 {
            let cpu = &self.stats.cpu;
            cpu.inline.measure(|| check_ahead(chain, &todo, &spent, &votes, cpu))
        } else {
            let per_chunk = todo.len().div_ceil(chunks);
            let tasks: Vec<_> = (0..chunks)
                .map(|chunk| {
                    let (todo, spent, votes, stats) =
                        (todo.clone(), spent.clone(), votes.clone(), self.stats.clone());
                    tokio::task::spawn_blocking(move || {
                        let end = ((chunk + 1) * per_chunk).min(todo.len());
                        let range = chunk * per_chunk..end;
                        let part = todo.get(range.clone()).unwrap_or_default();
                        let part_spent = spent.get(range).unwrap_or_default();
                        // The votes go with the first chunk.
                        let votes = if chunk == 0 { votes.as_slice() } else { &[] };
                        check_ahead(chain, part, part_spent, votes, &stats.cpu)
                    })
                })
                .collect();
            let mut results = Vec::with_capacity(todo.len());
            let mut elements = Vec::new();
            let mut votes_ok = Vec::new();
            for task in tasks {
                match task.await {
                    Ok((part, made, ok)) => {
                        results.extend(part);
                        elements.extend(made);
                        votes_ok.extend(ok);
                    }
                    // Not verified ahead: the core verifies them itself.
                    Err(e) => {
                        warn!("signature verification task failed: {e}");
                        return;
                    }
                }
            }
            (results, elements, votes_ok)
        };
        self.stats.signatures_verified.fetch_add(inputs as u64, Ordering::Relaxed);
        self.stats.vote_signatures_verified.fetch_add(votes.len() as u64, Ordering::Relaxed);
        self.core.remember_verified(todo.iter().zip(results));
        self.core.keep_elements(elements);
        self.core.remember_verified_votes(votes.iter().zip(votes_ok));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::tx::TX_VERSION;
    use protocol::{AddressPayload, Amount, ChainId, SecretKey, Signature, TxIn, TxOut};

    /// A transaction spending one made-up coin per key into `outputs`
    /// outputs, signed.
    fn signed(chain: ChainId, keys: &[SecretKey], outputs: usize) -> (Transaction, TxId) {
        let mut tx = Transaction {
            version: TX_VERSION,
            inputs: (0u32..)
                .zip(keys)
                .map(|(vout, key)| TxIn {
                    prev: OutPoint { txid: TxId([7; 32]), vout },
                    pubkey: key.public(),
                    signature: Signature::ZERO,
                })
                .collect(),
            outputs: (0..outputs)
                .map(|i| TxOut {
                    value: Amount::from_sat(1_000 + i as u64),
                    address: AddressPayload([i as u8; 20]),
                })
                .collect(),
            lock_time: 0,
            timestamp: 0,
        };
        for (index, key) in keys.iter().enumerate() {
            assert!(tx.sign_input(chain, index, key));
        }
        let txid = tx.txid(chain);
        (tx, txid)
    }

    #[test]
    fn elements_are_computed_ahead_only_for_a_bounded_fan_out() {
        let chain = ChainId(9);
        let keys = [SecretKey::from_seed([1; 32]), SecretKey::from_seed([2; 32])];
        let payment = signed(chain, &keys, 4);
        let fan_out = signed(chain, &keys[..1], 3);
        let (first_bad, elements, _) = check_ahead(
            chain,
            &[payment.clone(), fan_out.clone()],
            &[vec![], vec![]],
            &[],
            &CpuUse::default(),
        );
        assert_eq!(first_bad, vec![None, None], "both verify");
        let txids: Vec<TxId> = elements.iter().map(|(outpoint, _)| outpoint.txid).collect();
        assert_eq!(txids, vec![payment.1; 4], "the payment's four outputs, none of the fan-out's");
        let (outpoint, element) = elements[3];
        assert_eq!(element, Element::of(&outpoint, &payment.0.outputs[3]));
    }

    #[test]
    fn elements_of_spent_committed_outputs_are_computed_ahead_only_for_verified_spends() {
        let chain = ChainId(9);
        let keys = [SecretKey::from_seed([1; 32]), SecretKey::from_seed([2; 32])];
        let payment = signed(chain, &keys, 2);
        let mut forged = signed(chain, &keys[..1], 1);
        forged.0.inputs[0].signature = Signature::ZERO;
        let coin = |vout: u32, value: u64| {
            let outpoint = OutPoint { txid: TxId([7; 32]), vout };
            (outpoint, TxOut { value: Amount::from_sat(value), address: AddressPayload([3; 20]) })
        };
        let spent = vec![vec![coin(0, 5_000), coin(1, 6_000)], vec![coin(0, 5_000)]];
        let (first_bad, elements, _) =
            check_ahead(chain, &[payment.clone(), forged], &spent, &[], &CpuUse::default());
        assert_eq!(first_bad, vec![None, Some(0)], "the forged spend fails");
        let of_spent: Vec<(OutPoint, Element)> = spent[0]
            .iter()
            .map(|(outpoint, output)| (*outpoint, Element::of(outpoint, output)))
            .collect();
        assert_eq!(
            elements[2..],
            of_spent[..],
            "after the payment's two outputs, the elements of the two coins it spends; none for \
             the forged spend"
        );
    }
}
