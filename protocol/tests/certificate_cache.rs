//! Certificate and vote-batch verification is objective: the verified-votes
//! cache is keyed by the signature too, so a forged signature is refused
//! whatever this node verified before (block validity depends on it, and a
//! restarted node must judge a block exactly as a warm one does).

use protocol::committee::Member;
use protocol::finality::{
    CertificateError, FinalityCertificate, VerifiedVotes, VoteBatch, VoteError,
};
use protocol::*;

const CHAIN: ChainId = ChainId(9);

fn committee(keys: &[SecretKey]) -> Committee {
    Committee::new(
        keys.iter()
            .map(|k| Member {
                id: NodeId::from(k.public()),
                tier: Tier::Free,
                voting_weight: 1,
                reward_address: AddressPayload::from_public_key(&k.public()),
                p2p_address: String::new(),
            })
            .collect(),
    )
}

#[test]
fn forged_signature_in_a_certificate_is_rejected_even_after_the_real_vote_was_seen() {
    let keys: Vec<SecretKey> = (1..=4u8).map(|i| SecretKey::from_seed([i; 32])).collect();
    let committee = committee(&keys);
    let txid = TxId([7; 32]);
    let mut votes = Vec::new();
    for key in &keys {
        let batch = VoteBatch::sign(CHAIN, key, 1, vec![txid, TxId([8; 32])]);
        let voter = committee.index_of(&batch.voter).unwrap();
        votes.extend(
            batch.cert_votes(voter).into_iter().filter(|(id, _)| *id == txid).map(|(_, v)| v),
        );
    }
    let certificate = FinalityCertificate { txid, votes };
    let mut warm = VerifiedVotes::default();
    assert_eq!(certificate.verify(CHAIN, &committee, &mut warm), Ok(4));

    let mut forged = certificate.clone();
    forged.votes[0].signature = Signature([0x42; 64]);
    let cold = forged.verify(CHAIN, &committee, &mut VerifiedVotes::default());
    assert!(matches!(cold, Err(CertificateError::BadSignature { .. })), "{cold:?}");
    assert_eq!(
        forged.verify(CHAIN, &committee, &mut warm),
        cold,
        "the same certificate bytes must get the same verdict on every node"
    );
}

#[test]
fn forged_signature_on_a_vote_batch_is_rejected_even_after_the_real_batch_was_seen() {
    let keys: Vec<SecretKey> = (1..=4u8).map(|i| SecretKey::from_seed([i; 32])).collect();
    let committee = committee(&keys);
    let batch = VoteBatch::sign(CHAIN, &keys[0], 1, vec![TxId([7; 32])]);
    let mut warm = VerifiedVotes::default();
    assert!(batch.check(CHAIN, &committee, 4_096, &mut warm).is_ok());

    let forged = VoteBatch { signature: Signature([0x42; 64]), ..batch };
    let cold = forged.check(CHAIN, &committee, 4_096, &mut VerifiedVotes::default());
    assert!(matches!(cold, Err(VoteError::BadSignature(_))), "{cold:?}");
    assert_eq!(forged.check(CHAIN, &committee, 4_096, &mut warm), cold);
}

#[test]
fn vote_batches_verified_ahead_in_a_batch_are_kept_only_when_valid() {
    // The node verifies received vote batches ahead of its core, in one
    // batch with transaction inputs; only the ones that pass are kept, so
    // a forged batch still meets the core's own check.
    let keys: Vec<SecretKey> = (1..=4u8).map(|i| SecretKey::from_seed([i; 32])).collect();
    let committee = committee(&keys);
    let good: Vec<VoteBatch> =
        keys.iter().map(|k| VoteBatch::sign(CHAIN, k, 3, vec![TxId([7; 32])])).collect();
    let mut forged = VoteBatch::sign(CHAIN, &keys[1], 4, vec![TxId([8; 32])]);
    forged.signature = keys[2].sign(b"something else");
    let mut cache = VerifiedVotes::default();
    let mut all = good.clone();
    all.push(forged.clone());
    let pending: Vec<_> = all.iter().filter_map(|b| cache.pending(CHAIN, &committee, b)).collect();
    assert_eq!(pending.len(), 5, "none known yet");
    let checks: Vec<_> = pending.iter().map(|p| p.check()).collect();
    let (none, ok) = validate::SigVerifier::default().first_bad_inputs_and(CHAIN, &[], &checks);
    assert!(none.is_empty());
    assert_eq!(ok, vec![true, true, true, true, false], "the batch names the forged one");
    for (vote, ok) in pending.iter().zip(ok) {
        if ok {
            cache.remember(vote);
        }
    }
    for batch in &good {
        assert!(cache.pending(CHAIN, &committee, batch).is_none(), "kept: nothing left to do");
    }
    assert!(cache.pending(CHAIN, &committee, &forged).is_some(), "the forged one is not kept");
    assert!(matches!(
        forged.check(CHAIN, &committee, 16, &mut cache),
        Err(VoteError::BadSignature(_))
    ));
    let stranger = VoteBatch::sign(CHAIN, &SecretKey::from_seed([9; 32]), 1, vec![TxId([7; 32])]);
    assert!(cache.pending(CHAIN, &committee, &stranger).is_none(), "no member: the core decides");
}
