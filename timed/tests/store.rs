//! The store against its specification: after any sequence of persisted
//! ops, in any grouping, `load()` (also after reopening from disk) equals
//! `Restored::genesis` + `Restored::apply` of the same ops; the indexes and
//! counters RPC reads follow the committed chain; a data dir of another
//! chain or schema, an unusable path and corrupt bytes are errors that name
//! what is wrong, never a panic, and a refused dir is left untouched.
//!
//! Blocks, certificates and votes are real: built and signed here, checked
//! by `consensus::ledger::Ledger`, which also computes each commit's UTXO
//! changes. The corruption and schema tests edit the database with sled
//! directly, through the key layout documented in `timed::store`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use consensus::index::MemoryIndex;
use consensus::io::{CommittedBlock, PersistOp};
use consensus::ledger::Ledger;
use consensus::restore::Restored;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, RngSeed};
use protocol::bft::{BlockVote, CommitCertificate, Proposal, VoteKind};
use protocol::block::BLOCK_VERSION;
use protocol::coinbase::expected_coinbase;
use protocol::finality::{FinalityCertificate, VerifiedVotes, VoteBatch};
use protocol::genesis::{Allocation, GenesisMasternode};
use protocol::merkle::merkle_root;
use protocol::{
    AddressPayload, Amount, Block, BlockHeader, ChainId, Committee, ConsensusParams, Genesis,
    Hash256, MemberIndex, Network, NodeId, OutPoint, SecretKey, Signature, Tier, Transaction, TxIn,
    TxOut,
};
use tempfile::TempDir;
use timed::store::{SCHEMA_VERSION, Store, StoreConfig, StoreError};

const CHAIN: ChainId = ChainId(0x7e57);
const MASTERNODES: usize = 4;
const GENESIS_TIME: i64 = 1_700_000_000_000;

// ---------------------------------------------------------------------------
// A small chain built for real: keys, genesis, transactions, certificates,
// blocks checked and applied by the consensus ledger.
// ---------------------------------------------------------------------------

struct Chain {
    genesis: Genesis,
    committee: Committee,
    /// In committee order; index 0 is "this node".
    masternodes: Vec<SecretKey>,
    clients: Vec<SecretKey>,
    ledger: Ledger,
    /// Committed client outputs no transaction built here spends yet.
    coins: VecDeque<(OutPoint, TxOut)>,
    /// Next vote batch seq per masternode.
    seqs: Vec<u64>,
    time: i64,
    next_payee: usize,
}

impl Chain {
    fn new(chain: ChainId, clients: usize, coins_per_client: usize) -> Chain {
        let mut masternodes: Vec<SecretKey> =
            (0..MASTERNODES).map(|i| SecretKey::from_seed([0x40 + i as u8; 32])).collect();
        masternodes.sort_by_key(|k| NodeId::from(k.public()));
        let clients: Vec<SecretKey> =
            (0..clients).map(|i| SecretKey::from_seed([0x80 + i as u8; 32])).collect();
        let committee_members = masternodes
            .iter()
            .map(|k| GenesisMasternode {
                id: NodeId::from(k.public()),
                p2p_address: "127.0.0.1:0".into(),
                tier: Tier::Free,
                reward_address: AddressPayload::from_public_key(&k.public())
                    .to_address(Network::Dev),
            })
            .collect();
        let mut allocations = Vec::new();
        for round in 0..coins_per_client {
            for key in &clients {
                allocations.push(Allocation {
                    address: AddressPayload::from_public_key(&key.public())
                        .to_address(Network::Dev),
                    value: Amount::from_sat(10 * 100_000_000 + round as u64),
                });
            }
        }
        let genesis = Genesis {
            chain_id: chain,
            network: Network::Dev,
            timestamp_ms: GENESIS_TIME,
            committee: committee_members,
            min_masternodes: 3,
            params: ConsensusParams::default(),
            allocations,
        };
        genesis.validate().expect("the test genesis is valid");
        let committee = Committee::from_genesis(&genesis);
        let ledger = Ledger::genesis(&genesis, std::sync::Arc::new(MemoryIndex::new(&genesis)));
        let block0 = Block::genesis(&genesis);
        let txid = block0.txs[0].txid(chain);
        let coins = block0.txs[0]
            .outputs
            .iter()
            .enumerate()
            .map(|(vout, o)| (OutPoint { txid, vout: vout as u32 }, *o))
            .collect();
        Chain {
            genesis,
            committee,
            masternodes,
            clients,
            ledger,
            coins,
            seqs: vec![0; MASTERNODES],
            time: GENESIS_TIME,
            next_payee: 0,
        }
    }

    fn chain(&self) -> ChainId {
        self.genesis.chain_id
    }

    fn addresses(&self) -> Vec<AddressPayload> {
        self.clients
            .iter()
            .chain(&self.masternodes)
            .map(|k| AddressPayload::from_public_key(&k.public()))
            .collect()
    }

    fn owner(&self, address: &AddressPayload) -> &SecretKey {
        self.clients
            .iter()
            .find(|k| AddressPayload::from_public_key(&k.public()) == *address)
            .expect("coins here pay to client keys")
    }

    fn take_coins(&mut self, n: usize) -> Vec<(OutPoint, TxOut)> {
        (0..n).map(|_| self.coins.pop_front().expect("enough coins in the fixture")).collect()
    }

    /// A valid transaction spending `inputs` (each signed by its owner):
    /// half to the next client, the rest minus the fee back to the first
    /// input's owner.
    fn pay(&mut self, inputs: &[(OutPoint, TxOut)]) -> Transaction {
        let total: u64 = inputs.iter().map(|(_, o)| o.value.sat()).sum();
        let fee = self
            .genesis
            .params
            .required_fee(inputs.len(), Amount::from_sat(total))
            .expect("no overflow")
            .sat();
        let payee = &self.clients[self.next_payee % self.clients.len()];
        self.next_payee += 1;
        self.time += 1;
        let pay = total / 2;
        let mut tx = Transaction {
            version: 1,
            inputs: inputs
                .iter()
                .map(|(prev, o)| TxIn {
                    prev: *prev,
                    pubkey: self.owner(&o.address).public(),
                    signature: Signature::ZERO,
                })
                .collect(),
            outputs: vec![
                TxOut {
                    value: Amount::from_sat(pay),
                    address: AddressPayload::from_public_key(&payee.public()),
                },
                TxOut { value: Amount::from_sat(total - pay - fee), address: inputs[0].1.address },
            ],
            lock_time: 0,
            timestamp: self.time,
        };
        for (i, (_, o)) in inputs.iter().enumerate() {
            assert!(tx.sign_input(self.chain(), i, self.owner(&o.address)));
        }
        tx
    }

    fn spend(&mut self, inputs: usize) -> Transaction {
        let coins = self.take_coins(inputs);
        self.pay(&coins)
    }

    /// The masternodes `voters` (committee indexes) each sign one batch
    /// for `txs`; returns the batch of the first voter and a certificate per
    /// transaction.
    fn vote(
        &mut self,
        voters: &[usize],
        txs: &[Transaction],
    ) -> (VoteBatch, Vec<FinalityCertificate>) {
        let txids: Vec<_> = txs.iter().map(|tx| tx.txid(self.chain())).collect();
        let mut certificates: Vec<FinalityCertificate> = txids
            .iter()
            .map(|txid| FinalityCertificate { txid: *txid, votes: Vec::new() })
            .collect();
        let mut first = None;
        for &voter in voters {
            self.seqs[voter] += 1;
            let batch = VoteBatch::sign(
                self.chain(),
                &self.masternodes[voter],
                self.seqs[voter],
                txids.clone(),
            );
            for (certificate, (_, vote)) in
                certificates.iter_mut().zip(batch.cert_votes(voter as MemberIndex))
            {
                certificate.votes.push(vote);
            }
            first.get_or_insert(batch);
        }
        (first.expect("at least one voter"), certificates)
    }

    /// Commits a block of `finals` (after the coinbase), checked in full by
    /// the ledger, with a commit certificate from every masternode.
    fn commit(&mut self, finals: &[(Transaction, FinalityCertificate)]) -> CommittedBlock {
        let chain = self.chain();
        let height = self.ledger.height() + 1;
        let round = 0;
        let proposer = self.committee.proposer(height, round);
        self.time += 1_000;
        let mut available: HashMap<OutPoint, TxOut> = HashMap::new();
        let mut fees = 0u64;
        for (tx, _) in finals {
            let total_in: u64 = tx
                .inputs
                .iter()
                .map(|i| {
                    available
                        .get(&i.prev)
                        .or_else(|| self.ledger.utxo(&i.prev))
                        .expect("inputs are available")
                        .value
                        .sat()
                })
                .sum();
            let total_out: u64 = tx.outputs.iter().map(|o| o.value.sat()).sum();
            fees += total_in - total_out;
            let txid = tx.txid(chain);
            for (vout, o) in tx.outputs.iter().enumerate() {
                available.insert(OutPoint { txid, vout: vout as u32 }, *o);
            }
        }
        let coinbase = expected_coinbase(
            &self.committee,
            Amount::from_sat(self.genesis.params.block_reward_sat),
            height,
            self.time,
            proposer,
            Amount::from_sat(fees),
        )
        .expect("a coinbase");
        let mut txs = vec![coinbase];
        txs.extend(finals.iter().map(|(tx, _)| tx.clone()));
        let block = self.ledger.assemble(
            height,
            txs,
            finals.iter().map(|(_, c)| c.clone()).collect(),
            self.time,
            self.committee.member(proposer).expect("a member").id,
            round,
        );
        let checked = self
            .ledger
            .check_block(
                &block,
                &self.committee,
                self.time as u64,
                &mut VerifiedVotes::default(),
                &|_, _, _| false,
            )
            .expect("the fixture builds valid blocks");
        let precommits: Vec<BlockVote> = self
            .masternodes
            .iter()
            .enumerate()
            .map(|(i, key)| {
                BlockVote::sign(
                    chain,
                    key,
                    i as MemberIndex,
                    VoteKind::Precommit,
                    height,
                    round,
                    Some(checked.hash),
                )
            })
            .collect();
        let certificate = CommitCertificate::from_precommits(
            &self.committee,
            height,
            round,
            checked.hash,
            &precommits,
        );
        let txids = block.txids(CHAIN);
        let committed = self.ledger.apply(block, &txids, checked, certificate);
        let clients = self.addresses();
        for (outpoint, output) in &committed.created {
            if clients[..self.clients.len()].contains(&output.address) {
                self.coins.push_back((*outpoint, *output));
            }
        }
        committed
    }

    /// This node's proposal at `height` (of a coinbase-only block).
    fn proposal(&self, height: u64, round: u32) -> Proposal {
        let block = Block {
            header: BlockHeader {
                version: BLOCK_VERSION,
                height,
                prev_hash: self.ledger.tip(),
                merkle_root: Hash256::ZERO,
                utxo_commitment: Hash256::ZERO,
                timestamp: self.time + 500,
                proposer: NodeId::from(self.masternodes[0].public()),
                round,
            },
            txs: vec![Transaction::coinbase(height, self.time + 500, Vec::new())],
            certificates: Vec::new(),
        };
        Proposal::sign(
            self.chain(),
            &self.masternodes[0],
            round,
            None,
            block.reference(self.chain()),
        )
    }

    /// This node's prevote or precommit.
    fn block_vote(&self, kind: VoteKind, height: u64, round: u32) -> BlockVote {
        BlockVote::sign(self.chain(), &self.masternodes[0], 0, kind, height, round, None)
    }
}

fn txid(chain: &Chain, tx: &Transaction) -> protocol::TxId {
    tx.txid(chain.chain())
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn config() -> StoreConfig {
    StoreConfig::default()
}

/// A store that writes a checkpoint every `every` commits.
fn open_every(dir: &Path, genesis: &Genesis, every: u64) -> Store {
    let config = StoreConfig { checkpoint_every_commits: every, ..config() };
    Store::open(dir, genesis, &config).expect("the store opens")
}

fn open(dir: &Path, genesis: &Genesis) -> Store {
    Store::open(dir, genesis, &config()).expect("the store opens")
}

fn expected_after(genesis: &Genesis, ops: &[PersistOp]) -> Restored {
    let mut restored = Restored::genesis(genesis);
    for op in ops {
        restored.apply(op);
    }
    restored
}

/// Field by field, so a failure names the field (`Restored` has no `Eq`).
fn assert_same(loaded: &Restored, expected: &Restored, context: &str) {
    assert_eq!(loaded.chain, expected.chain, "{context}: chain");
    assert_eq!(loaded.tip_header, expected.tip_header, "{context}: tip_header");
    assert_eq!(loaded.last_commit, expected.last_commit, "{context}: last_commit");
    assert_eq!(loaded.utxos, expected.utxos, "{context}: utxos");
    assert_eq!(loaded.final_txs, expected.final_txs, "{context}: final_txs (in order)");
    assert_eq!(loaded.locked, expected.locked, "{context}: locked");
    assert_eq!(loaded.frozen, expected.frozen, "{context}: frozen");
    assert_eq!(loaded.own_batches, expected.own_batches, "{context}: own_batches");
    assert_eq!(loaded.own_seq, expected.own_seq, "{context}: own_seq");
    assert_eq!(loaded.own_proposals, expected.own_proposals, "{context}: own_proposals");
    assert_eq!(loaded.own_block_votes, expected.own_block_votes, "{context}: own_block_votes");
}

/// The outputs of `utxos` paying `address`, in outpoint order.
fn paying(utxos: &HashMap<OutPoint, TxOut>, address: &AddressPayload) -> Vec<(OutPoint, TxOut)> {
    let mut out: Vec<(OutPoint, TxOut)> =
        utxos.iter().filter(|(_, o)| o.address == *address).map(|(op, o)| (*op, *o)).collect();
    out.sort_by_key(|(op, _)| *op);
    out
}

/// The store's UTXO counters and per-address outputs agree with `expected`.
fn assert_indexes_follow(store: &Store, expected: &Restored, addresses: &[AddressPayload]) {
    let total: u64 = expected.utxos.values().map(|o| o.value.sat()).sum();
    assert_eq!(
        store.utxo_count_and_total().expect("counters"),
        (expected.utxos.len() as u64, Amount::from_sat(total)),
        "utxo counters"
    );
    for address in addresses {
        let want = paying(&expected.utxos, address);
        let got = paying(&store.load().expect("load").utxos, address);
        assert_eq!(got, want, "utxos of {address}");
    }
}

/// How [`persist_in_groups`] treats the store between calls.
#[derive(Clone, Copy, Debug)]
enum Between {
    /// Keep it open.
    KeepOpen,
    /// Drop and reopen it after every call (a restart between any two
    /// cycles).
    Reopen,
}

/// Persists `ops` in calls of the given sizes (cycling), checking `load()`
/// against `Restored` after every call, then reopens and checks again. The
/// store writes a checkpoint every `every` commits (between them a reopen
/// replays the write-ahead records).
fn persist_in_groups(
    genesis: &Genesis,
    ops: &[PersistOp],
    sizes: &[usize],
    between: Between,
    every: u64,
    addresses: &[AddressPayload],
) {
    let dir = TempDir::new().expect("a temp dir");
    let open = |dir: &Path, genesis: &Genesis| open_every(dir, genesis, every);
    let mut store = open(dir.path(), genesis);
    let mut done = 0;
    let mut cycle = sizes.iter().cycle();
    while done < ops.len() {
        let size = (*cycle.next().expect("sizes cycle")).max(1).min(ops.len() - done);
        if let Between::Reopen = between {
            drop(store);
            store = open(dir.path(), genesis);
        }
        store.persist(&ops[done..done + size]).expect("persist");
        done += size;
        let expected = expected_after(genesis, &ops[..done]);
        let context = format!(
            "after {done} ops in groups of {sizes:?} ({between:?}, a checkpoint every {every} commits)"
        );
        assert_same(&store.load().expect("load"), &expected, &context);
        assert_indexes_follow(&store, &expected, addresses);
        assert_eq!(store.height(), expected.tip_header.height, "{context}: height");
    }
    drop(store);
    let store = open(dir.path(), genesis);
    let expected = expected_after(genesis, ops);
    assert_same(&store.load().expect("load after reopening"), &expected, "after reopening");
    assert_indexes_follow(&store, &expected, addresses);
}

/// Every file under `dir` with its length, modification time and bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u64, SystemTime, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(path) = todo.pop() {
        for entry in std::fs::read_dir(&path).expect("read_dir") {
            let entry = entry.expect("dir entry");
            let meta = entry.metadata().expect("metadata");
            if meta.is_dir() {
                todo.push(entry.path());
            } else {
                let bytes = std::fs::read(entry.path()).expect("read");
                out.insert(entry.path(), (meta.len(), meta.modified().expect("mtime"), bytes));
            }
        }
    }
    out
}

/// Runs `edit` on the database of a closed store, with sled directly.
/// (sled's I/O threads may hold the lock of a store dropped a moment ago.)
fn edit_database(dir: &Path, edit: impl FnOnce(&sled::Db)) {
    let started = Instant::now();
    let db = loop {
        match sled::open(dir.join("db")) {
            Ok(db) => break db,
            Err(e) if started.elapsed() < Duration::from_secs(2) => {
                eprintln!("waiting for the store's lock: {e}");
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("sled cannot open the closed store: {e}"),
        }
    };
    edit(&db);
    db.flush().expect("flush");
}

fn key(prefix: u8, rest: &[u8]) -> Vec<u8> {
    let mut key = vec![prefix];
    key.extend_from_slice(rest);
    key
}

// ---------------------------------------------------------------------------
// The scenario: a node's life through two blocks
// ---------------------------------------------------------------------------

/// A realistic op sequence: own votes with locks, finality (also of a
/// conflicting transaction another node's voters carried), a lost
/// transaction whose other input stays frozen, own proposals and block
/// votes (one for a stale height), a commit that defeats a lock, a second
/// commit that settles everything, and new own votes after it.
fn scenario() -> (Chain, Vec<PersistOp>) {
    let mut chain = Chain::new(CHAIN, 4, 8);
    let others = [1, 2, 3];
    let everyone = [0, 1, 2, 3];

    let a = chain.spend(2);
    let b = chain.spend(1);
    let c = chain.spend(2);
    let (batch1, certs_abc) = chain.vote(&everyone, &[a.clone(), b.clone(), c.clone()]);

    // d: this node locks x0 and x1; d2 (x0 only) wins with the others' votes.
    let x = chain.take_coins(2);
    let d = chain.pay(&x);
    let d2 = chain.pay(&x[..1]);
    // e: this node locks y0 and y1; f (y0 only) is final elsewhere and
    // reaches block 1 before this node hears of it: e loses at the commit.
    let y = chain.take_coins(2);
    let e = chain.pay(&y);
    let f = chain.pay(&y[..1]);
    let (batch2, _) = chain.vote(&[0], &[d.clone(), e.clone()]);
    let (_, certs_d2_f) = chain.vote(&others, &[d2.clone(), f.clone()]);

    let final_a = (a.clone(), certs_abc[0].clone());
    let final_b = (b.clone(), certs_abc[1].clone());
    let final_c = (c.clone(), certs_abc[2].clone());
    let final_d2 = (d2.clone(), certs_d2_f[0].clone());
    let final_f = (f.clone(), certs_d2_f[1].clone());

    let mut ops = vec![
        PersistOp::OwnVotes { locked: vec![a.clone(), b.clone(), c.clone()], batch: batch1 },
        PersistOp::OwnVotes { locked: vec![d.clone(), e.clone()], batch: batch2 },
        PersistOp::Final(vec![final_a.clone(), final_b.clone()]),
        PersistOp::Final(vec![final_d2.clone()]),
        PersistOp::Abandon(vec![txid(&chain, &d)]),
        // Already final: no second entry.
        PersistOp::Final(vec![final_a.clone()]),
        PersistOp::OwnProposal(Box::new(chain.proposal(1, 0))),
        PersistOp::OwnBlockVote(chain.block_vote(VoteKind::Prevote, 1, 0)),
        PersistOp::OwnBlockVote(chain.block_vote(VoteKind::Precommit, 1, 0)),
        // Not for the next height: ignored.
        PersistOp::OwnProposal(Box::new(chain.proposal(3, 0))),
        PersistOp::Final(vec![final_f.clone()]),
    ];
    let block1 = chain.commit(&[final_a, final_b, final_d2, final_f]);
    ops.push(PersistOp::Commit(Box::new(block1)));
    ops.push(PersistOp::OwnBlockVote(chain.block_vote(VoteKind::Prevote, 1, 1)));
    ops.push(PersistOp::OwnProposal(Box::new(chain.proposal(2, 0))));

    // Spends an output block 1 created.
    let g = chain.spend(1);
    let (batch3, certs_g) = chain.vote(&everyone, std::slice::from_ref(&g));
    ops.push(PersistOp::OwnVotes { locked: vec![g.clone()], batch: batch3 });
    let final_g = (g, certs_g[0].clone());
    ops.push(PersistOp::Final(vec![final_c.clone(), final_g.clone()]));
    let block2 = chain.commit(&[final_c, final_g]);
    ops.push(PersistOp::Commit(Box::new(block2)));

    let h = chain.spend(2);
    let (batch4, _) = chain.vote(&[0], std::slice::from_ref(&h));
    ops.push(PersistOp::OwnVotes { locked: vec![h], batch: batch4 });
    ops.push(PersistOp::OwnBlockVote(chain.block_vote(VoteKind::Prevote, 3, 0)));
    (chain, ops)
}

#[test]
fn store_load_equals_restored_apply() {
    let (chain, ops) = scenario();
    let addresses = chain.addresses();

    // The scenario exercises what it claims to.
    let after_block1 = expected_after(&chain.genesis, &ops[..12]);
    assert_eq!(after_block1.locked.len(), 1, "c stays locked; e lost to f at the commit");
    assert_eq!(after_block1.frozen.len(), 2, "d's x1 and e's y1 stay frozen");
    assert_eq!(after_block1.own_batches.len(), 1, "the batch of d and e is pruned");
    let end = expected_after(&chain.genesis, &ops);
    assert_eq!(end.tip_header.height, 2);
    assert!(end.final_txs.is_empty());
    assert_eq!(end.own_seq, 4);
    assert_eq!(end.own_block_votes.len(), 1);

    for every in [1, 16] {
        for sizes in [&[1][..], &[ops.len()], &[3, 1, 4, 1, 5, 9, 2, 6], &[2, 7]] {
            persist_in_groups(&chain.genesis, &ops, sizes, Between::KeepOpen, every, &addresses);
        }
        persist_in_groups(&chain.genesis, &ops, &[1], Between::Reopen, every, &addresses);
        persist_in_groups(&chain.genesis, &ops, &[3, 2], Between::Reopen, every, &addresses);
    }
}

/// Forty blocks of a node's life (locks, finality, a commit,
/// coins spent again as soon as a block made them, a conflicting lock now
/// and then that the next block defeats): with checkpoints every few
/// commits and restarts between calls, every load equals `Restored`, and
/// the UTXO keyspace trails the set by the coin cache's few blocks.
#[test]
fn forty_blocks_across_checkpoints_and_restarts_load_as_restored() {
    let mut chain = Chain::new(CHAIN, 4, 6);
    let mut ops = Vec::new();
    for height in 1..=40u64 {
        let txs: Vec<Transaction> = (0..3).map(|_| chain.spend(1 + height as usize % 2)).collect();
        let (batch, certs) = chain.vote(&[0, 1, 2, 3], &txs);
        let mut locked = txs.clone();
        if height % 7 == 0 {
            // A double spend of the first input, locked here, defeated by
            // the block that commits the original.
            // Its other input is a coin nothing else spends: it stays frozen.
            let input = txs[0].inputs[0].prev;
            let value = chain.ledger.utxo(&input).copied().expect("the input is unspent");
            let other = chain.take_coins(1)[0];
            locked.push(chain.pay(&[(input, value), other]));
        }
        let batch = VoteBatch { txids: locked.iter().map(|t| txid(&chain, t)).collect(), ..batch };
        ops.push(PersistOp::OwnVotes { locked, batch });
        let finals: Vec<_> = txs.into_iter().zip(certs).collect();
        ops.push(PersistOp::Final(finals.clone()));
        ops.push(PersistOp::Commit(Box::new(chain.commit(&finals))));
    }
    let expected = expected_after(&chain.genesis, &ops);
    assert_eq!(expected.tip_header.height, 40);
    assert!(!expected.frozen.is_empty(), "the defeated double spends froze their inputs");
    let addresses = chain.addresses();
    for every in [1, 3, 16] {
        persist_in_groups(&chain.genesis, &ops, &[1, 2, 4], Between::KeepOpen, every, &addresses);
        persist_in_groups(&chain.genesis, &ops, &[3, 1], Between::Reopen, every, &addresses);
    }

    // Without a checkpoint, the coin cache writes each change behind, a few
    // commits after the block that made it: the keyspace never holds an
    // output that is not in the set, and holds every output older than
    // the last few blocks; a restart replays the rest from the records.
    let dir = TempDir::new().expect("a temp dir");
    let store = open_every(dir.path(), &chain.genesis, 1_000);
    store.persist(&ops).expect("persist");
    drop(store);
    let mut in_keyspace: HashMap<OutPoint, TxOut> = HashMap::new();
    edit_database(dir.path(), |db| {
        for entry in db.scan_prefix([b'u']) {
            let (key, value) = entry.expect("read");
            let txid = protocol::TxId(key[1..33].try_into().expect("a txid"));
            let vout = u32::from_be_bytes(key[33..37].try_into().expect("a vout"));
            in_keyspace
                .insert(OutPoint { txid, vout }, postcard::from_bytes(&value).expect("an output"));
        }
    });
    for (outpoint, output) in &in_keyspace {
        assert_eq!(
            expected.utxos.get(outpoint),
            Some(output),
            "{outpoint} is stale in the keyspace"
        );
    }
    let recent: std::collections::HashSet<protocol::TxId> = ops
        .iter()
        .rev()
        .filter_map(|op| match op {
            PersistOp::Commit(c) => Some(c.block.txids(CHAIN)),
            _ => None,
        })
        .take(8)
        .flatten()
        .collect();
    for outpoint in expected.utxos.keys() {
        assert!(
            in_keyspace.contains_key(outpoint) || recent.contains(&outpoint.txid),
            "{outpoint} of an old block never reached the keyspace"
        );
    }
    let store = open_every(dir.path(), &chain.genesis, 1_000);
    assert_same(&store.load().expect("load"), &expected, "replayed from the records");
    store.persist(&[]).expect("a clean shutdown writes a checkpoint");
    drop(store);
    let store = open_every(dir.path(), &chain.genesis, 1_000);
    assert_same(&store.load().expect("load"), &expected, "after the checkpoint");
}

/// Two locked transactions share an outpoint the block leaves unspent and
/// both lose to it through their other inputs: `Restored` freezes the
/// shared outpoint to the loser with the larger txid (it walks its map in
/// txid order), and so must the store.
#[test]
fn losers_sharing_an_outpoint_freeze_it_as_restored_does() {
    let mut chain = Chain::new(CHAIN, 2, 3);
    let coins = chain.take_coins(3);
    let (shared, y, z) = (coins[0], coins[1], coins[2]);
    let loser_a = chain.pay(&[shared, y]);
    let loser_b = chain.pay(&[shared, z]);
    let winner_y = chain.pay(&[y]);
    let winner_z = chain.pay(&[z]);
    let (batch, _) = chain.vote(&[0], &[loser_a.clone(), loser_b.clone()]);
    let (_, certs) = chain.vote(&[1, 2, 3], &[winner_y.clone(), winner_z.clone()]);
    let finals = vec![(winner_y, certs[0].clone()), (winner_z, certs[1].clone())];
    let block = chain.commit(&finals);
    let ops = vec![
        PersistOp::OwnVotes { locked: vec![loser_a.clone(), loser_b.clone()], batch },
        PersistOp::Final(finals),
        PersistOp::Commit(Box::new(block)),
    ];
    let expected = expected_after(&chain.genesis, &ops);
    let last = txid(&chain, &loser_a).max(txid(&chain, &loser_b));
    assert_eq!(expected.frozen.get(&shared.0), Some(&last));
    assert!(expected.locked.is_empty());
    for sizes in [&[1][..], &[3]] {
        for between in [Between::KeepOpen, Between::Reopen] {
            for every in [1, 16] {
                persist_in_groups(&chain.genesis, &ops, sizes, between, every, &chain.addresses());
            }
        }
    }
}

#[test]
fn reopening_resumes_exactly_where_it_stopped() {
    let (chain, ops) = scenario();
    let dir = TempDir::new().expect("a temp dir");
    let store = open(dir.path(), &chain.genesis);
    for op in &ops {
        store.persist(std::slice::from_ref(op)).expect("persist");
    }
    let blocks: Vec<_> = (0..=2).map(|h| store.block(h).expect("block")).collect();
    let hashes: Vec<_> = (0..=2).map(|h| store.block_hash(h).expect("hash")).collect();
    let counters = store.utxo_count_and_total().expect("counters");
    // What a clean shutdown does: an empty persist only flushes.
    store.persist(&[]).expect("an empty persist flushes");
    assert_same(
        &store.load().expect("load"),
        &expected_after(&chain.genesis, &ops),
        "after an empty persist",
    );
    drop(store);

    let store = open(dir.path(), &chain.genesis);
    assert_eq!(store.height(), 2);
    for h in 0..=2u64 {
        assert_eq!(store.block(h).expect("block"), blocks[h as usize]);
        let hash = store.block_hash(h).expect("hash").expect("a committed height");
        assert_eq!(Some(hash), hashes[h as usize]);
        assert_eq!(store.height_of(&hash).expect("index"), Some(h));
        let (block, _) = store.block(h).expect("block").expect("a committed height");
        assert_eq!(block.hash(CHAIN), hash);
        for (index, tx) in block.txs.iter().enumerate() {
            let txid = tx.txid(CHAIN);
            assert_eq!(store.tx_location(&txid).expect("tx index"), Some((h, index as u32)));
            assert_eq!(store.committed_tx(&txid).expect("tx"), Some((tx.clone(), h)));
        }
    }
    assert_eq!(store.block(3).expect("block"), None);
    assert_eq!(store.block_hash(3).expect("hash"), None);
    assert_eq!(
        store.block(0).expect("block").expect("block 0").1,
        None,
        "block 0 has no certificate"
    );
    assert_eq!(store.utxo_count_and_total().expect("counters"), counters);
    let expected = expected_after(&chain.genesis, &ops);
    assert_same(&store.load().expect("load"), &expected, "after reopening");

    // And it keeps going from there: the next op builds on the reloaded state.
    let more = PersistOp::OwnBlockVote(chain.block_vote(VoteKind::Precommit, 3, 0));
    store.persist(std::slice::from_ref(&more)).expect("persist");
    let mut all = ops.clone();
    all.push(more);
    assert_same(
        &store.load().expect("load"),
        &expected_after(&chain.genesis, &all),
        "after one more op",
    );
    assert!(store.size_on_disk().expect("size") > 0);
}

#[test]
fn another_genesis_is_refused_and_the_dir_is_untouched() {
    let (chain, ops) = scenario();
    let other = Chain::new(ChainId(CHAIN.0 + 1), 2, 2);
    let dir = TempDir::new().expect("a temp dir");
    let store = open(dir.path(), &chain.genesis);
    store.persist(&ops).expect("persist");
    drop(store);
    assert!(dir.path().join("genesis.json").is_file(), "a copy of genesis is kept");
    let before = snapshot(dir.path());

    let err = Store::open(dir.path(), &other.genesis, &config()).expect_err("another genesis");
    match &err {
        StoreError::GenesisMismatch { path, stored, ours } => {
            assert_eq!(path, dir.path());
            assert_eq!(*stored, chain.genesis.hash());
            assert_eq!(*ours, other.genesis.hash());
        }
        other => panic!("expected GenesisMismatch, got {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains(&dir.path().display().to_string()), "{message}");
    assert!(message.contains(&chain.genesis.hash().to_hex()), "{message}");
    assert!(message.contains("use another --data-dir or remove it"), "{message}");
    assert_eq!(snapshot(dir.path()), before, "a refused dir is not modified");

    // Its own genesis still opens it, intact.
    let store = open(dir.path(), &chain.genesis);
    assert_eq!(store.height(), 2);
    assert_same(
        &store.load().expect("load"),
        &expected_after(&chain.genesis, &ops),
        "after refusal",
    );
}

/// Less free space than `storage.min_free_mb` keeps: the store refuses to
/// open (and, the same check, to write), naming the key and the numbers,
/// and leaves the dir as it was.
#[test]
fn a_disk_below_the_free_space_reserve_is_refused_untouched() {
    let (chain, ops) = scenario();
    let dir = TempDir::new().expect("a temp dir");
    let store = open(dir.path(), &chain.genesis);
    store.persist(&ops[..1]).expect("a write with room");
    drop(store);
    let before = snapshot(dir.path());
    let reserve = StoreConfig { min_free_mb: u64::MAX >> 20, ..config() };
    let err = Store::open(dir.path(), &chain.genesis, &reserve).expect_err("no disk is that big");
    assert!(matches!(&err, StoreError::DiskLow { .. }), "{err:?}");
    assert!(err.to_string().contains("storage.min_free_mb"), "{err}");
    assert_eq!(snapshot(dir.path()), before, "a refused dir is not modified");
    drop(open(dir.path(), &chain.genesis));
}

#[test]
fn another_schema_version_is_refused() {
    let chain = Chain::new(CHAIN, 2, 2);

    // In the identity file: refused before sled is opened.
    let dir = TempDir::new().expect("a temp dir");
    drop(open(dir.path(), &chain.genesis));
    let identity = dir.path().join("store.json");
    let text = std::fs::read_to_string(&identity).expect("store.json");
    let edited = text.replace(
        &format!("\"schema_version\": {SCHEMA_VERSION}"),
        &format!("\"schema_version\": {}", SCHEMA_VERSION + 1),
    );
    assert_ne!(edited, text, "store.json names the schema version");
    std::fs::write(&identity, edited).expect("write");
    let before = snapshot(dir.path());
    let err = Store::open(dir.path(), &chain.genesis, &config()).expect_err("another schema");
    assert!(
        matches!(&err, StoreError::SchemaMismatch { stored, ours, .. } if *stored == SCHEMA_VERSION + 1 && *ours == SCHEMA_VERSION),
        "{err:?}"
    );
    assert!(err.to_string().contains(&dir.path().display().to_string()), "{err}");
    assert_eq!(snapshot(dir.path()), before, "a refused dir is not modified");

    // In the database's meta, with the identity file gone: still refused.
    let dir = TempDir::new().expect("a temp dir");
    drop(open(dir.path(), &chain.genesis));
    std::fs::remove_file(dir.path().join("store.json")).expect("remove store.json");
    edit_database(dir.path(), |db| {
        let version = postcard::to_allocvec(&(SCHEMA_VERSION + 7)).expect("encode");
        db.insert(key(b'm', b"schema_version"), version).expect("insert");
    });
    let err = Store::open(dir.path(), &chain.genesis, &config()).expect_err("another schema");
    assert!(
        matches!(&err, StoreError::SchemaMismatch { stored, .. } if *stored == SCHEMA_VERSION + 7),
        "{err:?}"
    );
    assert!(!dir.path().join("store.json").exists(), "a refused dir does not get an identity file");
}

#[test]
fn identity_file_is_restored_when_missing() {
    let chain = Chain::new(CHAIN, 2, 2);
    let dir = TempDir::new().expect("a temp dir");
    drop(open(dir.path(), &chain.genesis));
    let identity = dir.path().join("store.json");
    let text = std::fs::read_to_string(&identity).expect("store.json");
    std::fs::remove_file(&identity).expect("remove");
    drop(open(dir.path(), &chain.genesis));
    assert_eq!(std::fs::read_to_string(&identity).expect("store.json"), text);

    std::fs::write(&identity, "not json").expect("write");
    let err = Store::open(dir.path(), &chain.genesis, &config()).expect_err("bad identity");
    assert!(matches!(err, StoreError::Identity { .. }), "{err:?}");
    assert!(err.to_string().contains("store.json"), "{err}");
}

#[test]
fn unwritable_or_missing_parent_dir_names_the_path() {
    let chain = Chain::new(CHAIN, 2, 2);
    let dir = TempDir::new().expect("a temp dir");
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a dir").expect("write");

    // A data dir under a regular file cannot be created.
    let under_file = file.join("data");
    let err = Store::open(&under_file, &chain.genesis, &config()).expect_err("under a file");
    assert!(matches!(err, StoreError::CreateDir { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&under_file.display().to_string()), "{message}");
    assert!(message.contains("--data-dir"), "{message}");

    // A data dir that is a regular file.
    let err = Store::open(&file, &chain.genesis, &config()).expect_err("a file");
    assert!(matches!(err, StoreError::NotADirectory { .. }), "{err:?}");
    assert!(err.to_string().contains(&file.display().to_string()), "{err}");

    // Missing parents are created.
    let nested = dir.path().join("a").join("b").join("c");
    drop(open(&nested, &chain.genesis));
    assert!(nested.join("store.json").is_file());
}

#[test]
fn a_dir_in_use_is_refused_with_the_fix() {
    let chain = Chain::new(CHAIN, 2, 2);
    let dir = TempDir::new().expect("a temp dir");
    let store = open(dir.path(), &chain.genesis);
    let err = Store::open(dir.path(), &chain.genesis, &config()).expect_err("in use");
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&dir.path().display().to_string()), "{message}");
    assert!(message.contains("stop the other timed"), "{message}");
    drop(store);
    drop(open(dir.path(), &chain.genesis));
}

#[test]
fn blocks_from_serves_catch_up_in_order_and_bounded() {
    let mut chain = Chain::new(CHAIN, 3, 4);
    let dir = TempDir::new().expect("a temp dir");
    let store = open(dir.path(), &chain.genesis);
    let mut committed = Vec::new();
    for _ in 0..5 {
        let tx = chain.spend(1);
        let (_, certs) = chain.vote(&[0, 1, 2, 3], std::slice::from_ref(&tx));
        let block = chain.commit(&[(tx, certs[0].clone())]);
        committed.push((block.block.clone(), block.certificate.clone()));
        store.persist(&[PersistOp::Commit(Box::new(block))]).expect("persist");
    }
    assert_eq!(
        store.blocks_from(0, 16, usize::MAX).expect("blocks"),
        committed,
        "block 0 is not served"
    );
    assert_eq!(store.blocks_from(1, 16, usize::MAX).expect("blocks"), committed);
    assert_eq!(store.blocks_from(2, 2, usize::MAX).expect("blocks"), committed[1..3].to_vec());
    assert_eq!(store.blocks_from(5, 16, usize::MAX).expect("blocks"), committed[4..].to_vec());
    assert!(store.blocks_from(6, 16, usize::MAX).expect("blocks").is_empty());
    assert!(store.blocks_from(1, 0, usize::MAX).expect("blocks").is_empty());
    // The blocks keyspace ends where the next keyspace begins.
    assert!(store.blocks_from(u64::MAX, 16, usize::MAX).expect("blocks").is_empty());
    // A byte budget bounds the reply (it must fit in one frame), but one
    // block always goes, so the requester always makes progress.
    assert_eq!(store.blocks_from(1, 16, 1).expect("blocks"), committed[..1].to_vec());
    let two = postcard::to_allocvec(&committed[0]).unwrap().len()
        + postcard::to_allocvec(&committed[1]).unwrap().len();
    assert_eq!(store.blocks_from(1, 16, two).expect("blocks"), committed[..2].to_vec());
}

#[test]
fn utxo_set_and_counters_follow_commits() {
    let mut chain = Chain::new(CHAIN, 4, 6);
    let addresses = chain.addresses();
    let dir = TempDir::new().expect("a temp dir");
    let store = open(dir.path(), &chain.genesis);
    let check = |store: &Store, ledger: &Ledger| {
        let (count, total) = ledger.utxo_stats();
        assert_eq!(store.utxo_count_and_total().expect("counters"), (count as u64, total));
        for address in &addresses {
            let mut want = ledger.utxos_of(address);
            want.sort_by_key(|(op, _)| *op);
            let got = paying(&store.load().expect("load").utxos, address);
            assert_eq!(got, want, "utxos of {address}");
        }
    };
    check(&store, &chain.ledger);
    for round in 0..4 {
        let txs: Vec<Transaction> = (0..3).map(|i| chain.spend(1 + (round + i) % 3)).collect();
        // A child spending its parent's output in the same block: created
        // and spent within the block, never in the set.
        let parent_out = (OutPoint { txid: txs[0].txid(CHAIN), vout: 1 }, txs[0].outputs[1]);
        let child = chain.pay(&[parent_out]);
        let mut all = txs.clone();
        all.push(child);
        let (_, certs) = chain.vote(&[0, 1, 2, 3], &all);
        let finals: Vec<_> = all.into_iter().zip(certs).collect();
        let block = chain.commit(&finals);
        store.persist(&[PersistOp::Commit(Box::new(block))]).expect("persist");
        check(&store, &chain.ledger);
    }
    drop(store);
    check(&open(dir.path(), &chain.genesis), &chain.ledger);
}

#[test]
fn a_damaged_write_ahead_record_is_refused_at_open_naming_it() {
    // The records since the last checkpoint are what a restart replays: a
    // missing chunk or bytes that do not decode must stop the open with an
    // error naming the keyspace, never a panic or a silently shorter
    // history.
    let (chain, ops) = scenario();
    for damage in ["a missing chunk", "garbage after the header"] {
        let dir = TempDir::new().expect("a temp dir");
        let store = open_every(dir.path(), &chain.genesis, 1_000);
        for op in &ops {
            store.persist(std::slice::from_ref(op)).expect("persist");
        }
        drop(store);
        edit_database(dir.path(), |db| {
            let (key, value) = db.scan_prefix([b'w']).next().expect("a record").expect("read");
            match damage {
                "a missing chunk" => {
                    db.remove(key).expect("remove");
                }
                _ => {
                    let mut bad = value[..12].to_vec();
                    bad.extend_from_slice(&[0xff; 40]);
                    db.insert(key, bad).expect("insert");
                }
            }
        });
        let err = Store::open(dir.path(), &chain.genesis, &config()).expect_err(damage);
        assert!(matches!(&err, StoreError::Corrupt { tree: "wal", .. }), "{damage}: {err:?}");
    }
}

/// A block of 100 transactions with their certificates (~250 KB), and the
/// ops that lock, finalize and commit it.
fn a_big_block(chain: &mut Chain) -> Vec<PersistOp> {
    let txs: Vec<Transaction> = (0..100).map(|_| chain.spend(2)).collect();
    let (batch, certs) = chain.vote(&[0, 1, 2, 3], &txs);
    let finals: Vec<_> = txs.iter().cloned().zip(certs).collect();
    vec![
        PersistOp::OwnVotes { locked: txs, batch },
        PersistOp::Final(finals.clone()),
        PersistOp::Commit(Box::new(chain.commit(&finals))),
    ]
}

/// The keys of `prefix` in the closed store at `dir`, with chunk 0's
/// chunk count (bytes 8..12 of its value) for each value.
fn chunks_of(dir: &Path, prefix: u8) -> (Vec<Vec<u8>>, Vec<u32>) {
    let (mut keys, mut counts) = (Vec::new(), Vec::new());
    edit_database(dir, |db| {
        for entry in db.scan_prefix([prefix]) {
            let (key, value) = entry.expect("read");
            if key.ends_with(&0u32.to_be_bytes()) {
                counts.push(u32::from_be_bytes(value[8..12].try_into().expect("a header")));
            }
            keys.push(key.to_vec());
        }
    });
    (keys, counts)
}

#[test]
fn big_values_are_chunks_and_a_damaged_chunk_is_named() {
    // Blocks and the checkpoint are written in chunks (a leaf of whole
    // ones made sled rewrite megabytes as files); a missing chunk is an
    // error naming its keyspace, and a smaller checkpoint leaves none of
    // the bigger one's chunks behind.
    let mut chain = Chain::new(CHAIN, 8, 101);
    let dir = TempDir::new().expect("a temp dir");
    let store = open_every(dir.path(), &chain.genesis, 1_000);
    let ops = a_big_block(&mut chain);
    // A checkpoint holding 100 locked transactions, then one holding none.
    store.persist(&ops[..1]).expect("lock");
    store.persist(&[]).expect("a big checkpoint");
    drop(store);
    let (keys, counts) = chunks_of(dir.path(), b'c');
    assert!(counts[0] > 4, "the big checkpoint is in many chunks: {counts:?}");
    assert_eq!(keys.len(), counts[0] as usize);

    let store = open_every(dir.path(), &chain.genesis, 1_000);
    store.persist(&ops[1..]).expect("final and commit");
    store.persist(&[]).expect("a small checkpoint");
    assert_same(&store.load().expect("load"), &expected_after(&chain.genesis, &ops), "chunked");
    drop(store);
    let (keys, counts) = chunks_of(dir.path(), b'c');
    assert_eq!(keys.len(), counts[0] as usize, "no chunk of the bigger checkpoint is left");
    let (blocks, counts) = chunks_of(dir.path(), b'b');
    assert!(counts[0] > 4 && blocks.len() == counts[0] as usize, "block 1: {counts:?}");
    let store = open(dir.path(), &chain.genesis);
    assert_same(&store.load().expect("load"), &expected_after(&chain.genesis, &ops), "reopened");
    drop(store);

    edit_database(dir.path(), |db| {
        db.remove(&blocks[2]).expect("remove a chunk of block 1");
    });
    let store = open(dir.path(), &chain.genesis);
    let err = store.block(1).expect_err("a missing chunk");
    assert!(
        matches!(&err, StoreError::Corrupt { tree: "blocks", key, .. } if key == &hex::encode(&blocks[2][1..])),
        "{err:?}"
    );
    assert!(err.to_string().contains("chunk 2 of value 1 is missing"), "{err}");
}

#[test]
fn corrupt_value_is_an_error_not_a_panic() {
    let (chain, ops) = scenario();
    let dir = TempDir::new().expect("a temp dir");
    let store = open(dir.path(), &chain.genesis);
    store.persist(&ops).expect("persist");
    drop(store);

    // A garbage UTXO value and a garbage block.
    let block1_chunk0 = [&1u64.to_be_bytes()[..], &0u32.to_be_bytes()].concat();
    edit_database(dir.path(), |db| {
        let (utxo_key, _) = db.scan_prefix([b'u']).next().expect("a utxo").expect("read");
        db.insert(utxo_key, &[0xff; 3][..]).expect("insert");
        // Chunk 0 of block 1 (height u64 ‖ chunk u32).
        db.insert(key(b'b', &block1_chunk0), &b"garbage"[..]).expect("insert");
    });
    let store = open(dir.path(), &chain.genesis);
    let err = store.load().expect_err("a corrupt utxo");
    assert!(matches!(&err, StoreError::Corrupt { tree: "utxos", .. }), "{err:?}");
    assert!(err.to_string().contains("utxos"), "{err}");
    let err = store.block(1).expect_err("a corrupt block");
    assert!(
        matches!(&err, StoreError::Corrupt { tree: "blocks", key, .. } if key == &hex::encode(&block1_chunk0)),
        "{err:?}"
    );
    assert!(store.block_hash(1).is_err());
    assert!(store.blocks_from(1, 16, usize::MAX).is_err());
    let (tx, _) = ops
        .iter()
        .find_map(|op| match op {
            PersistOp::Commit(c) if c.block.header.height == 1 => {
                Some((c.block.txs[1].clone(), ()))
            }
            _ => None,
        })
        .expect("block 1");
    assert!(
        store.committed_tx(&tx.txid(CHAIN)).is_err(),
        "reading through the index hits the bad block"
    );
    // Block 2 and the rest still read.
    assert!(store.block(2).expect("block 2").is_some());
    drop(store);

    // Garbage in the counters: refused at open, naming the key.
    edit_database(dir.path(), |db| {
        db.insert(key(b'm', b"state"), &[0xff; 40][..]).expect("insert");
    });
    let err = Store::open(dir.path(), &chain.genesis, &config()).expect_err("corrupt meta");
    assert!(
        matches!(&err, StoreError::Corrupt { tree: "meta", key, .. } if key == "state"),
        "{err:?}"
    );

    // Trailing bytes after a valid value are corruption too.
    let dir = TempDir::new().expect("a temp dir");
    drop(open(dir.path(), &chain.genesis));
    edit_database(dir.path(), |db| {
        let (utxo_key, value) = db.scan_prefix([b'u']).next().expect("a utxo").expect("read");
        let mut longer = value.to_vec();
        longer.push(0);
        db.insert(utxo_key, longer).expect("insert");
    });
    let err = open(dir.path(), &chain.genesis).load().expect_err("trailing bytes");
    assert!(matches!(&err, StoreError::Corrupt { tree: "utxos", .. }), "{err:?}");
}

#[test]
fn readers_on_other_threads_see_whole_commits() {
    let mut chain = Chain::new(CHAIN, 4, 8);
    let dir = TempDir::new().expect("a temp dir");
    let store = open(dir.path(), &chain.genesis);
    let mut blocks = Vec::new();
    for _ in 0..6 {
        let txs: Vec<_> = (0..3).map(|_| chain.spend(1)).collect();
        let (_, certs) = chain.vote(&[0, 1, 2, 3], &txs);
        blocks.push(chain.commit(&txs.into_iter().zip(certs).collect::<Vec<_>>()));
    }
    let reader = store.clone();
    let handle = std::thread::spawn(move || {
        let mut seen = 0;
        while seen < 6 {
            let height = reader.height();
            // Everything up to the reported height is readable and indexed.
            for h in 1..=height {
                let (block, cert) = reader.block(h).expect("read").expect("below the height");
                assert!(cert.is_some());
                for tx in &block.txs {
                    assert_eq!(
                        reader.tx_location(&tx.txid(CHAIN)).expect("read").map(|l| l.0),
                        Some(h)
                    );
                }
            }
            let (count, _) = reader.utxo_count_and_total().expect("counters");
            assert!(count > 0);
            seen = height;
            std::thread::yield_now();
        }
    });
    for block in blocks {
        store.persist(&[PersistOp::Commit(Box::new(block))]).expect("persist");
    }
    handle.join().expect("the reader saw consistent state");
}

// ---------------------------------------------------------------------------
// Measurement: a block of 1,000 two-input transactions
// ---------------------------------------------------------------------------

/// Prints how long the persists of 1,000 locks, 1,000 finalities and the
/// commit of their block take on this machine (a measurement, not an
/// assertion). `TIMED_STORE_BENCH_BLOCKS=n` measures n blocks in a row.
#[test]
fn a_thousand_transaction_block_commits_in_one_batch() {
    const TXS: usize = 1_000;
    let blocks: usize =
        std::env::var("TIMED_STORE_BENCH_BLOCKS").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    let mut chain = Chain::new(CHAIN, 8, 2 * TXS * blocks / 8 + 1);
    let dir = TempDir::new().expect("a temp dir");
    let store = open(dir.path(), &chain.genesis);
    let mut all_ops = Vec::new();
    for round in 0..blocks {
        let txs: Vec<Transaction> = (0..TXS).map(|_| chain.spend(2)).collect();
        let (batch, certs) = chain.vote(&[0, 1, 2, 3], &txs);
        let finals: Vec<_> = txs.iter().cloned().zip(certs).collect();
        let lock = PersistOp::OwnVotes { locked: txs.clone(), batch };
        let finality = PersistOp::Final(finals.clone());
        let commit = PersistOp::Commit(Box::new(chain.commit(&finals)));
        let mut timings = Vec::new();
        for (what, op) in [("lock", &lock), ("final", &finality), ("commit", &commit)] {
            let started = Instant::now();
            let cpu_before = thread_cpu();
            let flush = store.persist(std::slice::from_ref(op)).expect("persist");
            let wall = started.elapsed();
            let cpu = thread_cpu().map(|after| cpu_before.map(|before| after - before));
            let cpu = match cpu.flatten() {
                Some(cpu) => format!(", on cpu {}", ms(cpu)),
                None => String::new(),
            };
            timings.push(format!("{what} {} (flush {}{cpu})", ms(wall), ms(flush)));
        }
        eprintln!(
            "store: block {} of {TXS} txs: {}; {} bytes on disk",
            round + 1,
            timings.join(", "),
            store.size_on_disk().expect("size")
        );
        let height = (round + 1) as u64;
        for (index, tx) in txs.iter().enumerate() {
            assert_eq!(
                store.tx_location(&tx.txid(CHAIN)).expect("index"),
                Some((height, index as u32 + 1))
            );
        }
        all_ops.extend([lock, finality, commit]);
    }
    let (count, total) = chain.ledger.utxo_stats();
    assert_eq!(store.utxo_count_and_total().expect("counters"), (count as u64, total));
    let loaded = store.load().expect("load");
    assert!(
        loaded.locked.is_empty() && loaded.final_txs.is_empty() && loaded.own_batches.is_empty()
    );
    assert_same(&loaded, &expected_after(&chain.genesis, &all_ops), "after the big blocks");
}

/// Prints the latency of the driver's per-cycle group commit at about
/// 1,000 tx/s: 100 cycles, each locking 10 new transactions and making the
/// previous cycle's 10 final in one persist (a measurement, not an
/// assertion).
#[test]
fn a_cycle_of_locks_and_finalities_is_one_small_flush() {
    const CYCLES: usize = 100;
    const PER_CYCLE: usize = 10;
    let mut chain = Chain::new(CHAIN, 8, 2 * CYCLES * PER_CYCLE / 8 + 1);
    let dir = TempDir::new().expect("a temp dir");
    let store = open(dir.path(), &chain.genesis);
    let mut previous: Vec<(Transaction, FinalityCertificate)> = Vec::new();
    let mut all_ops = Vec::new();
    let mut latencies = Vec::new();
    for _ in 0..CYCLES {
        let txs: Vec<Transaction> = (0..PER_CYCLE).map(|_| chain.spend(2)).collect();
        let (batch, certs) = chain.vote(&[0, 1, 2, 3], &txs);
        let mut ops = vec![PersistOp::OwnVotes { locked: txs.clone(), batch }];
        if !previous.is_empty() {
            ops.push(PersistOp::Final(std::mem::take(&mut previous)));
        }
        previous = txs.into_iter().zip(certs).collect();
        let started = Instant::now();
        store.persist(&ops).expect("persist");
        latencies.push(started.elapsed());
        all_ops.extend(ops);
    }
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    eprintln!(
        "store: cycle of {PER_CYCLE} locks + {PER_CYCLE} finalities: p50 {}, p90 {}, p99 {}, max {}",
        ms(at(0.5)),
        ms(at(0.9)),
        ms(at(0.99)),
        ms(at(1.0))
    );
    let loaded = store.load().expect("load");
    assert_eq!(loaded.final_txs.len(), (CYCLES - 1) * PER_CYCLE);
    assert_same(&loaded, &expected_after(&chain.genesis, &all_ops), "after the cycles");
}

/// This thread's time on a CPU so far, where Linux reports it: on a busy
/// shared machine wall time also counts waiting for a core.
fn thread_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok().map(Duration::from_nanos)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1_000.0)
}

// ---------------------------------------------------------------------------
// Property: any op sequence, any grouping
// ---------------------------------------------------------------------------

/// Transactions with conflicts and a parent/child pair, with certificates,
/// over which random op sequences are drawn.
struct Universe {
    chain: Chain,
    txs: Vec<Transaction>,
    certs: Vec<FinalityCertificate>,
}

/// How many transactions [`universe`] holds.
const UNIVERSE_TXS: usize = 12;

fn universe() -> &'static Universe {
    static UNIVERSE: OnceLock<Universe> = OnceLock::new();
    UNIVERSE.get_or_init(|| {
        let mut chain = Chain::new(CHAIN, 2, 6);
        let o = chain.take_coins(11);
        let t0 = chain.pay(&o[0..1]);
        let t1 = chain.pay(&o[0..2]); // conflicts with t0
        let t2 = chain.pay(&o[2..3]);
        let t3 = chain.pay(&o[3..5]);
        let t4 = chain.pay(&o[4..5]); // conflicts with t3
        let t5 = chain.pay(&[(OutPoint { txid: t2.txid(CHAIN), vout: 0 }, t2.outputs[0])]); // child of t2
        let t6 = chain.pay(&o[5..6]);
        let t7 = chain.pay(&o[6..8]);
        // t8 and t9 share o8; a block with t10 and t11 defeats both, and
        // o8 stays frozen to one of them.
        let t8 = chain.pay(&[o[8], o[9]]);
        let t9 = chain.pay(&[o[8], o[10]]);
        let t10 = chain.pay(&o[9..10]);
        let t11 = chain.pay(&o[10..11]);
        let txs = vec![t0, t1, t2, t3, t4, t5, t6, t7, t8, t9, t10, t11];
        let (_, certs) = chain.vote(&[1, 2, 3], &txs);
        Universe { chain, txs, certs }
    })
}

#[derive(Clone, Debug)]
enum OpSpec {
    OwnVotes { locked: Vec<usize>, seq: u64, voted: Vec<usize> },
    Final(Vec<usize>),
    Lost(Vec<usize>),
    Commit { txs: Vec<usize>, height: u64 },
    Proposal { height: u64 },
    BlockVote { height: u64, precommit: bool },
}

fn op_spec() -> impl Strategy<Value = OpSpec> {
    let ids = || proptest::collection::vec(0..UNIVERSE_TXS, 0..4);
    prop_oneof![
        3 => (ids(), 1..6u64, ids()).prop_map(|(locked, seq, voted)| OpSpec::OwnVotes { locked, seq, voted }),
        2 => ids().prop_map(OpSpec::Final),
        2 => ids().prop_map(OpSpec::Lost),
        2 => (ids(), 1..4u64).prop_map(|(txs, height)| OpSpec::Commit { txs, height }),
        1 => (0..4u64).prop_map(|height| OpSpec::Proposal { height }),
        1 => (0..4u64, any::<bool>()).prop_map(|(height, precommit)| OpSpec::BlockVote { height, precommit }),
    ]
}

fn build_op(u: &Universe, spec: &OpSpec) -> PersistOp {
    let chain = u.chain.chain();
    match spec {
        OpSpec::OwnVotes { locked, seq, voted } => PersistOp::OwnVotes {
            locked: locked.iter().map(|&i| u.txs[i].clone()).collect(),
            batch: VoteBatch {
                voter: NodeId::from(u.chain.masternodes[0].public()),
                seq: *seq,
                txids: voted.iter().map(|&i| u.txs[i].txid(chain)).collect(),
                signature: Signature::ZERO,
            },
        },
        OpSpec::Final(ids) => {
            PersistOp::Final(ids.iter().map(|&i| (u.txs[i].clone(), u.certs[i].clone())).collect())
        }
        OpSpec::Lost(ids) => {
            PersistOp::Abandon(ids.iter().map(|&i| u.txs[i].txid(chain)).collect())
        }
        OpSpec::Commit { txs, height } => {
            let reward = AddressPayload::from_public_key(&u.chain.masternodes[0].public());
            let coinbase = Transaction::coinbase(
                *height,
                GENESIS_TIME + *height as i64,
                vec![TxOut { value: Amount::from_sat(1_000 + *height), address: reward }],
            );
            let mut block_txs = vec![coinbase];
            block_txs.extend(txs.iter().map(|&i| u.txs[i].clone()));
            let txids: Vec<_> = block_txs.iter().map(|tx| tx.txid(chain)).collect();
            let block = Block {
                header: BlockHeader {
                    version: BLOCK_VERSION,
                    height: *height,
                    prev_hash: Default::default(),
                    merkle_root: merkle_root(&txids),
                    utxo_commitment: Hash256::ZERO,
                    timestamp: GENESIS_TIME + *height as i64,
                    proposer: NodeId::from(u.chain.masternodes[0].public()),
                    round: 0,
                },
                txs: block_txs,
                certificates: txs.iter().map(|&i| u.certs[i].clone()).collect(),
            };
            let hash = block.hash(chain);
            let created = block
                .txs
                .iter()
                .zip(&txids)
                .flat_map(|(tx, txid)| {
                    tx.outputs
                        .iter()
                        .enumerate()
                        .map(move |(vout, o)| (OutPoint { txid: *txid, vout: vout as u32 }, *o))
                })
                .collect();
            let spent = block.txs.iter().flat_map(|tx| tx.inputs.iter().map(|i| i.prev)).collect();
            let certificate = CommitCertificate {
                height: *height,
                round: 0,
                block: hash,
                signers: vec![0b1111],
                signatures: vec![Signature::ZERO; 4],
            };
            PersistOp::Commit(Box::new(CommittedBlock {
                block,
                hash,
                certificate,
                created,
                spent,
                utxo_commitment: Hash256::ZERO,
            }))
        }
        OpSpec::Proposal { height } => {
            PersistOp::OwnProposal(Box::new(u.chain.proposal(*height, 0)))
        }
        OpSpec::BlockVote { height, precommit } => {
            let kind = if *precommit { VoteKind::Precommit } else { VoteKind::Prevote };
            PersistOp::OwnBlockVote(u.chain.block_vote(kind, *height, 0))
        }
    }
}

/// A fixed seed unless `PROPTEST_RNG_SEED` says otherwise; 32 cases unless
/// `PROPTEST_CASES` does; no regression files.
fn proptest_config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 32;
    }
    if config.rng_seed == RngSeed::Random {
        config.rng_seed = RngSeed::Fixed(0x5704_e000);
    }
    config.failure_persistence = None;
    if let RngSeed::Fixed(seed) = config.rng_seed {
        eprintln!(
            "proptest: {} cases, seed {seed} (replay with PROPTEST_RNG_SEED={seed})",
            config.cases
        );
    }
    config
}

proptest! {
    #![proptest_config(proptest_config())]

    #[test]
    fn any_op_sequence_in_any_grouping_loads_as_restored_apply(
        specs in proptest::collection::vec(op_spec(), 1..20),
        sizes in proptest::collection::vec(1..5usize, 1..6),
        reopen in any::<bool>(),
        every in 1..4u64,
    ) {
        let u = universe();
        let ops: Vec<PersistOp> = specs.iter().map(|s| build_op(u, s)).collect();
        let between = if reopen { Between::Reopen } else { Between::KeepOpen };
        persist_in_groups(&u.chain.genesis, &ops, &sizes, between, every, &u.chain.addresses());
    }
}
