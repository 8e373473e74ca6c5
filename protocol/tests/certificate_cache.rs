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
