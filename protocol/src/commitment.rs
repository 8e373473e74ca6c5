//! The incremental commitment to the committed UTXO set.
//!
//! An elliptic-curve multiset hash (ECMH) over ristretto255: each unspent
//! output maps to a group element by hashing
//! "timecoin/utxo" ‖ 0x00 ‖ txid ‖ vout u32 ‖ value u64 ‖ address [20] to the
//! group (SHA-512, the Ristretto one-way map); the commitment is the sum of
//! the elements of the set. Adding an output adds its element, spending one
//! subtracts it, so a block costs O(its changes), never a pass over the set,
//! and the result does not depend on order. The header carries the
//! compressed sum (the empty set is 32 zero bytes).

use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::traits::Identity;
use sha2::{Digest, Sha512};

use crate::hash::{Hash256, Tag};
use crate::tx::{OutPoint, TxOut};

/// A running multiset hash of unspent outputs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct UtxoCommitment(RistrettoPoint);

impl Default for UtxoCommitment {
    fn default() -> Self {
        UtxoCommitment(RistrettoPoint::identity())
    }
}

/// One output's group element: what it adds to the commitment while it is
/// unspent. Computing one costs a hash to the group (two square roots);
/// a node that keeps the element of an output it created does not pay
/// again when the output is spent.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Element(RistrettoPoint);

impl Element {
    /// The element of `output` at `outpoint`.
    pub fn of(outpoint: &OutPoint, output: &TxOut) -> Element {
        let mut h = Sha512::new();
        h.update(Tag::UTXO.prefix());
        h.update(outpoint.txid.0);
        h.update(outpoint.vout.to_le_bytes());
        h.update(output.value.sat().to_le_bytes());
        h.update(output.address.0);
        Element(RistrettoPoint::from_hash(h))
    }
}

impl UtxoCommitment {
    /// The commitment to the empty set.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Adds a newly created output.
    pub fn insert(&mut self, outpoint: &OutPoint, output: &TxOut) {
        self.add(&Element::of(outpoint, output));
    }

    /// Removes a spent output.
    pub fn remove(&mut self, outpoint: &OutPoint, output: &TxOut) {
        self.subtract(&Element::of(outpoint, output));
    }

    /// Adds an output by its element.
    pub fn add(&mut self, element: &Element) {
        self.0 += element.0;
    }

    /// Removes an output by its element.
    pub fn subtract(&mut self, element: &Element) {
        self.0 -= element.0;
    }

    /// The 32 bytes a block header carries.
    pub fn to_hash(&self) -> Hash256 {
        Hash256(self.0.compress().to_bytes())
    }

    /// Restores a commitment from its 32 bytes (as stored), or `None` if
    /// they are not a valid encoding.
    pub fn from_hash(hash: &Hash256) -> Option<Self> {
        CompressedRistretto(hash.0).decompress().map(UtxoCommitment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::AddressPayload;
    use crate::amount::Amount;
    use crate::ids::TxId;

    fn coin(i: u8) -> (OutPoint, TxOut) {
        (
            OutPoint { txid: TxId([i; 32]), vout: u32::from(i) },
            TxOut {
                value: Amount::from_sat(1_000 + u64::from(i)),
                address: AddressPayload([i; 20]),
            },
        )
    }

    #[test]
    fn empty_set_is_zero_bytes() {
        assert_eq!(UtxoCommitment::empty().to_hash(), Hash256::ZERO);
    }

    #[test]
    fn order_does_not_matter_and_removal_undoes_insertion() {
        let (a, b, c) = (coin(1), coin(2), coin(3));
        let mut x = UtxoCommitment::empty();
        x.insert(&a.0, &a.1);
        x.insert(&b.0, &b.1);
        let mut y = UtxoCommitment::empty();
        y.insert(&b.0, &b.1);
        y.insert(&c.0, &c.1);
        y.insert(&a.0, &a.1);
        y.remove(&c.0, &c.1);
        assert_eq!(x, y);
        assert_eq!(UtxoCommitment::from_hash(&x.to_hash()), Some(x));
    }

    #[test]
    fn an_element_kept_from_creation_removes_the_output() {
        let (a, b) = (coin(1), coin(2));
        let kept = Element::of(&a.0, &a.1);
        let mut x = UtxoCommitment::empty();
        x.add(&kept);
        x.insert(&b.0, &b.1);
        x.subtract(&kept);
        let mut y = UtxoCommitment::empty();
        y.insert(&b.0, &b.1);
        assert_eq!(x, y);
    }

    #[test]
    fn value_is_committed() {
        let (op, out) = coin(1);
        let mut x = UtxoCommitment::empty();
        x.insert(&op, &out);
        let mut y = UtxoCommitment::empty();
        y.insert(&op, &TxOut { value: Amount::from_sat(out.value.sat() + 1), ..out });
        assert_ne!(x.to_hash(), y.to_hash());
    }
}
