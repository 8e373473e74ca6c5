//! The merkle tree over txids (the original TimeCoin rule) and inclusion
//! proofs.
//!
//! Leaves are txids; a parent is SHA-256(left ‖ right) with no tag; a level
//! with an odd number of nodes duplicates its last node; one leaf is its own
//! root; the empty tree's root is all zeros.

use serde::{Deserialize, Serialize};

use crate::hash::{Hash256, sha256_pair};
use crate::ids::TxId;

/// The deepest proof accepted (a tree of 2^32 leaves).
pub const MAX_PROOF_DEPTH: usize = 32;

/// The merkle root of `leaves`.
pub fn merkle_root(leaves: &[TxId]) -> Hash256 {
    if leaves.is_empty() {
        return Hash256::ZERO;
    }
    let mut level: Vec<[u8; 32]> = leaves.iter().map(|id| id.0).collect();
    while level.len() > 1 {
        level = next_level(&level);
    }
    Hash256(level[0])
}

fn next_level(level: &[[u8; 32]]) -> Vec<[u8; 32]> {
    level
        .chunks(2)
        .map(|pair| match pair {
            [left, right] => sha256_pair(left, right),
            [last] => sha256_pair(last, last),
            _ => unreachable!("chunks(2) yields one or two items"),
        })
        .collect()
}

/// A proof that a leaf is in a tree: its index and the sibling on each level,
/// bottom up.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct MerkleProof {
    /// The leaf's position.
    pub index: u32,
    /// Siblings from the leaf's level up to just below the root.
    pub siblings: Vec<Hash256>,
}

impl MerkleProof {
    /// The root this proof gives for `leaf`, or `None` if the proof is
    /// deeper than any tree can be.
    pub fn root_for(&self, leaf: &TxId) -> Option<Hash256> {
        if self.siblings.len() > MAX_PROOF_DEPTH {
            return None;
        }
        let mut node = leaf.0;
        let mut index = self.index;
        for sibling in &self.siblings {
            node = if index & 1 == 0 {
                sha256_pair(&node, &sibling.0)
            } else {
                sha256_pair(&sibling.0, &node)
            };
            index >>= 1;
        }
        // Index bits beyond the tree's depth would let one proof name many
        // positions; only the leaf matters here, but keep proofs canonical.
        (index == 0).then_some(Hash256(node))
    }
}

/// The proofs of every leaf of the tree over `leaves`, in leaf order (one
/// pass over the tree, for signing a vote batch).
pub fn merkle_proofs(leaves: &[TxId]) -> Vec<MerkleProof> {
    let mut proofs: Vec<MerkleProof> =
        (0..leaves.len()).map(|i| MerkleProof { index: i as u32, siblings: Vec::new() }).collect();
    if leaves.len() <= 1 {
        return proofs;
    }
    let mut level: Vec<[u8; 32]> = leaves.iter().map(|id| id.0).collect();
    // positions[i] = where leaf i's ancestor sits in the current level.
    let mut positions: Vec<usize> = (0..leaves.len()).collect();
    while level.len() > 1 {
        for (proof, pos) in proofs.iter_mut().zip(positions.iter_mut()) {
            let sibling = if *pos % 2 == 0 {
                level.get(*pos + 1).unwrap_or(&level[*pos])
            } else {
                &level[*pos - 1]
            };
            proof.siblings.push(Hash256(*sibling));
            *pos /= 2;
        }
        level = next_level(&level);
    }
    proofs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: u8) -> Vec<TxId> {
        (0..n).map(|i| TxId([i; 32])).collect()
    }

    #[test]
    fn every_proof_gives_the_root() {
        for n in 1..=17u8 {
            let leaves = ids(n);
            let root = merkle_root(&leaves);
            for (leaf, proof) in leaves.iter().zip(merkle_proofs(&leaves)) {
                assert_eq!(proof.root_for(leaf), Some(root), "n={n} index={}", proof.index);
            }
        }
    }

    #[test]
    fn a_proof_for_another_leaf_does_not_give_the_root() {
        let leaves = ids(5);
        let root = merkle_root(&leaves);
        let proofs = merkle_proofs(&leaves);
        assert_ne!(proofs[1].root_for(&leaves[0]), Some(root));
        assert_ne!(proofs[0].root_for(&TxId([99; 32])), Some(root));
    }

    #[test]
    fn too_deep_or_non_canonical_index_is_refused() {
        let proof = MerkleProof { index: 0, siblings: vec![Hash256::ZERO; MAX_PROOF_DEPTH + 1] };
        assert_eq!(proof.root_for(&TxId([1; 32])), None);
        let proof = MerkleProof { index: 2, siblings: vec![Hash256::ZERO] };
        assert_eq!(proof.root_for(&TxId([1; 32])), None);
    }
}
