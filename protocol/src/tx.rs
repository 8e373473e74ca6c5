//! Transactions: the types, the txid preimage, the one full encoding, and
//! input signing.
//!
//! Full encoding (RPC hex, P2P, storage, the size rule), integers
//! little-endian:
//!
//! ```text
//! version u32 | n_in u32 | n_in × (prev txid [32] | prev vout u32 | pubkey [32])
//! | n_out u32 | n_out × (value u64 | address payload [20])
//! | lock_time u32 | timestamp i64 | n_in × signature [64]
//! ```
//!
//! txid = SHA-256("timecoin/txid" ‖ 0x00 ‖ chain id u32 ‖ the full encoding
//! without its signatures), so signatures never change a txid. Input `i`
//! signs "timecoin/input-sig" ‖ 0x00 ‖ chain id u32 ‖ txid ‖ i u32.

use serde::{Deserialize, Serialize};

use crate::address::AddressPayload;
use crate::amount::Amount;
use crate::codec::{Canonical, DecodeError, Reader, Writer, decode_exact};
use crate::hash::{Tag, TaggedHasher};
use crate::ids::{ChainId, TxId};
use crate::keys::{PublicKey, SecretKey, Signature};

/// The only transaction version this protocol defines.
pub const TX_VERSION: u32 = 1;
/// Bytes of one input without its signature (outpoint and pubkey).
pub const INPUT_BYTES: usize = 32 + 4 + 32;
/// Bytes of one signature.
pub const SIGNATURE_BYTES: usize = 64;
/// Bytes of one output.
pub const OUTPUT_BYTES: usize = 8 + 20;
/// Bytes of a transaction with no inputs and no outputs.
pub const TX_OVERHEAD_BYTES: usize = 4 + 4 + 4 + 4 + 8;

/// A reference to one output of an earlier transaction.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub struct OutPoint {
    /// The transaction that created the output.
    pub txid: TxId,
    /// The output's index in it.
    pub vout: u32,
}

impl std::fmt::Display for OutPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.txid, self.vout)
    }
}

/// An input: the output it spends, the key that owns it, and the signature.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TxIn {
    /// The output spent.
    pub prev: OutPoint,
    /// The public key whose address the spent output pays to.
    pub pubkey: PublicKey,
    /// The signature of this input's signing message.
    pub signature: Signature,
}

/// An output: an amount paid to an address payload.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct TxOut {
    /// How much.
    pub value: Amount,
    /// To whom.
    pub address: AddressPayload,
}

/// A transaction. A coinbase has no inputs and `lock_time` = its block height.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Transaction {
    /// Always [`TX_VERSION`] for valid transactions.
    pub version: u32,
    /// The outputs spent.
    pub inputs: Vec<TxIn>,
    /// The outputs created.
    pub outputs: Vec<TxOut>,
    /// The block height for a coinbase; 0 otherwise (reserved).
    pub lock_time: u32,
    /// Milliseconds since the Unix epoch, as the author set it.
    pub timestamp: i64,
}

impl Transaction {
    /// A coinbase for `height`.
    pub fn coinbase(height: u64, timestamp: i64, outputs: Vec<TxOut>) -> Transaction {
        Transaction {
            version: TX_VERSION,
            inputs: Vec::new(),
            outputs,
            // Heights beyond u32 are centuries away at one block per second;
            // saturate rather than wrap so two coinbases still never collide
            // before then.
            lock_time: u32::try_from(height).unwrap_or(u32::MAX),
            timestamp,
        }
    }

    /// No inputs: a coinbase (or the genesis allocation).
    pub fn is_coinbase(&self) -> bool {
        self.inputs.is_empty()
    }

    fn encode_unsigned(&self, w: &mut Writer) {
        w.u32(self.version).count(self.inputs.len());
        for input in &self.inputs {
            w.bytes(&input.prev.txid.0).u32(input.prev.vout).bytes(&input.pubkey.0);
        }
        w.count(self.outputs.len());
        for output in &self.outputs {
            w.u64(output.value.sat()).bytes(&output.address.0);
        }
        w.u32(self.lock_time).i64(self.timestamp);
    }

    /// The txid on `chain`.
    pub fn txid(&self, chain: ChainId) -> TxId {
        let mut w = Writer::with_capacity(self.unsigned_size());
        self.encode_unsigned(&mut w);
        let mut h = TaggedHasher::new(Tag::TXID);
        h.update(&chain.0.to_le_bytes()).update(w.as_slice());
        h.finish().into()
    }

    /// Bytes of the encoding without signatures.
    pub fn unsigned_size(&self) -> usize {
        TX_OVERHEAD_BYTES + self.inputs.len() * INPUT_BYTES + self.outputs.len() * OUTPUT_BYTES
    }

    /// Bytes of the full encoding (what the size rule counts).
    pub fn size(&self) -> usize {
        self.unsigned_size() + self.inputs.len() * SIGNATURE_BYTES
    }

    /// Signs input `index` with `key` (the txid does not depend on
    /// signatures, so inputs can be signed in any order, by different keys).
    /// Returns false when there is no such input.
    pub fn sign_input(&mut self, chain: ChainId, index: usize, key: &SecretKey) -> bool {
        let txid = self.txid(chain);
        match self.inputs.get_mut(index) {
            Some(input) => {
                input.signature = key.sign(&input_signing_message(chain, &txid, index as u32));
                true
            }
            None => false,
        }
    }

    /// The hex of the full encoding (what `sendrawtransaction` takes).
    pub fn to_hex(&self) -> String {
        hex::encode(self.encode())
    }

    /// Decodes the hex of the full encoding.
    pub fn from_hex(text: &str) -> Result<Transaction, DecodeError> {
        let bytes = hex::decode(text.trim())
            .map_err(|e| DecodeError::Invalid { what: "transaction hex", reason: e.to_string() })?;
        decode_exact(&bytes)
    }
}

/// The message input `index` of transaction `txid` signs.
pub fn input_signing_message(chain: ChainId, txid: &TxId, index: u32) -> Vec<u8> {
    let mut msg = Tag::INPUT_SIG.prefix();
    msg.extend_from_slice(&chain.0.to_le_bytes());
    msg.extend_from_slice(&txid.0);
    msg.extend_from_slice(&index.to_le_bytes());
    msg
}

impl Canonical for Transaction {
    fn encode_to(&self, w: &mut Writer) {
        self.encode_unsigned(w);
        for input in &self.inputs {
            w.bytes(&input.signature.0);
        }
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = r.u32("version")?;
        // Each input also needs its signature later, so it takes at least
        // INPUT_BYTES + SIGNATURE_BYTES of what remains.
        let n_in = r.count("inputs", usize::MAX, INPUT_BYTES + SIGNATURE_BYTES)?;
        let mut inputs = Vec::with_capacity(n_in);
        for _ in 0..n_in {
            let txid = TxId(r.array("input txid")?);
            let vout = r.u32("input vout")?;
            let pubkey = PublicKey(r.array("input pubkey")?);
            inputs.push(TxIn { prev: OutPoint { txid, vout }, pubkey, signature: Signature::ZERO });
        }
        let n_out = r.count("outputs", usize::MAX, OUTPUT_BYTES)?;
        let mut outputs = Vec::with_capacity(n_out);
        for _ in 0..n_out {
            let value = Amount::from_sat(r.u64("output value")?);
            let address = AddressPayload(r.array("output address")?);
            outputs.push(TxOut { value, address });
        }
        let lock_time = r.u32("lock_time")?;
        let timestamp = r.i64("timestamp")?;
        for input in &mut inputs {
            input.signature = Signature(r.array("signature")?);
        }
        Ok(Transaction { version, inputs, outputs, lock_time, timestamp })
    }
}

impl Serialize for Transaction {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&self.to_hex())
        } else {
            s.serialize_bytes(&self.encode())
        }
    }
}

impl<'de> Deserialize<'de> for Transaction {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        if d.is_human_readable() {
            let text = String::deserialize(d)?;
            Transaction::from_hex(&text).map_err(D::Error::custom)
        } else {
            let bytes: serde_bytes_buf::ByteBuf = Deserialize::deserialize(d)?;
            decode_exact(&bytes.0).map_err(D::Error::custom)
        }
    }
}

/// A minimal owned byte buffer that deserialises from serde bytes (or a
/// sequence), so binary formats can carry the canonical encoding.
pub(crate) mod serde_bytes_buf {
    use std::fmt;

    use serde::de::{self, Visitor};

    pub(crate) struct ByteBuf(pub(crate) Vec<u8>);

    impl<'de> de::Deserialize<'de> for ByteBuf {
        fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct BufVisitor;
            impl<'de> Visitor<'de> for BufVisitor {
                type Value = ByteBuf;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("bytes")
                }
                fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<ByteBuf, E> {
                    Ok(ByteBuf(v.to_vec()))
                }
                fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<ByteBuf, E> {
                    Ok(ByteBuf(v))
                }
                fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<ByteBuf, A::Error> {
                    // Bounded by what the format hands over; cap the hint.
                    let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
                    while let Some(b) = seq.next_element()? {
                        out.push(b);
                    }
                    Ok(ByteBuf(out))
                }
            }
            d.deserialize_byte_buf(BufVisitor)
        }
    }
}
