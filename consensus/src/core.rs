//! The core: one deterministic state machine per masternode, combining
//! transaction finality (txs.rs), Tendermint blocks (blocks.rs), and
//! anti-entropy and catch-up (sync.rs). See io.rs for the driver contract.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use protocol::commitment::Element;
use protocol::finality::{FinalityCertificate, PendingVote, VerifiedVotes, VoteBatch};
use protocol::keys::{KeyCache, VerifyStrategy};
use protocol::validate::{SigVerifier, TxRejection, check_before_signatures};
use protocol::{
    AddressPayload, BlockHash, ChainId, Committee, ConsensusParams, Genesis, Hash256, MemberIndex,
    NodeId, OutPoint, SecretKey, Transaction, TxId, TxOut,
};

use crate::blocks::HeightState;
use crate::inbound::{Refusal, Requests};
use crate::index::ChainIndex;
use crate::io::{Event, Input, Millis, Output, Timer, TxState};
use crate::ledger::Ledger;
use crate::message::Message;
use crate::pool::{AvailableView, Pool};
use crate::restore::Restored;

/// Local limits and pacing (not consensus rules: nodes may differ).
#[derive(Clone, Debug)]
pub struct CoreConfig {
    /// Most pending (not final) transactions admitted.
    pub mempool_max_txs: usize,
    /// Most bytes of pending transactions admitted.
    pub mempool_max_bytes: usize,
    /// Most orphans (waiting for a parent).
    pub orphan_max_txs: usize,
    /// Most bytes of orphans.
    pub orphan_max_bytes: usize,
    /// How long an orphan waits for its parent.
    pub orphan_ttl_ms: u64,
    /// Most txids with votes but no body.
    pub max_bodiless: usize,
    /// Housekeeping period (status, re-requests, expiry).
    pub tick_interval_ms: u64,
    /// How transaction signatures are checked (both decide identically).
    pub verify_strategy: VerifyStrategy,
    /// Most pending txids announced in one status.
    pub status_pending_max: usize,
    /// Most batches answered per request.
    pub batches_per_reply: usize,
    /// Own votes are sealed into a batch at most this often (a batch also
    /// seals when full). Every batch costs each peer a signature check, so
    /// a few milliseconds of waiting divide that work by the batch size.
    pub seal_interval_ms: u64,
    /// Most bytes of transactions, certificates or batches in one reply
    /// (well under the transport's frame limit, so a reply always fits).
    pub max_reply_bytes: usize,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            mempool_max_txs: 100_000,
            mempool_max_bytes: 64 << 20,
            orphan_max_txs: 10_000,
            orphan_max_bytes: 8 << 20,
            orphan_ttl_ms: 60_000,
            max_bodiless: 16_384,
            tick_interval_ms: 1_000,
            verify_strategy: VerifyStrategy::Batch,
            status_pending_max: 1_024,
            batches_per_reply: 256,
            seal_interval_ms: 10,
            max_reply_bytes: 4 << 20,
        }
    }
}

/// What one voter's batches look like from here.
#[derive(Clone, Debug, Default)]
pub(crate) struct VoterState {
    pub(crate) batches: BTreeMap<u64, (VoteBatch, Millis)>,
    /// Every seq up to this one is held (or pruned).
    pub(crate) contiguous: u64,
    /// Seqs below this were pruned here (their transactions are settled).
    /// Only this node's own pruning sets it, never a peer's claim.
    pub(crate) pruned_below: u64,
    /// The highest seq of a batch of this voter whose signature verified:
    /// what the voter provably reached. Claims never move `contiguous`
    /// past it.
    pub(crate) verified_high: u64,
    /// Txids in `batches` (bounds what one voter can make this node hold).
    pub(crate) held_txids: usize,
    /// The highest seq some peer claims to hold.
    pub(crate) highest_seen: u64,
    /// When this node last asked for a range, to avoid asking twice at once.
    pub(crate) requested_at: Millis,
}

/// A snapshot for `getconsensusinfo` and metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsensusInfo {
    /// Committed height.
    pub height: u64,
    /// Tip hash.
    pub tip: BlockHash,
    /// Height being agreed.
    pub current_height: u64,
    /// Round at that height.
    pub round: u32,
    /// Step name.
    pub step: &'static str,
    /// Proposer of the current round.
    pub proposer: NodeId,
    /// (height, rounds used) of recent commits, newest last.
    pub recent_rounds: Vec<(u64, u32)>,
    /// Rounds beyond 0 started, in total.
    pub view_changes: u64,
    /// Highest contiguous vote-batch seq seen per committee member.
    pub votes_seen: Vec<(NodeId, u64)>,
    /// True while catching up.
    pub syncing: bool,
    /// The highest height a peer proved (a commit certificate or an
    /// applied block); 0 before any.
    pub best_peer_height: u64,
    /// Equivocations seen.
    pub equivocations: u64,
    /// Transactions that became final here since the core started.
    pub final_count: u64,
    /// When the last one did (0 if none yet).
    pub last_final_at: Millis,
    /// Peer messages refused, per reason.
    pub refusals: Vec<(Refusal, u64)>,
}

/// Pool sizes for `getmempoolinfo` and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MempoolInfo {
    /// Valid, not yet final.
    pub pending: usize,
    /// Their bytes.
    pub pending_bytes: usize,
    /// Waiting for a parent.
    pub orphans: usize,
    /// Their bytes.
    pub orphan_bytes: usize,
    /// Final, not yet in a block.
    pub final_not_in_block: usize,
    /// Txids with votes but no body.
    pub bodiless: usize,
}

/// How much a core holds of what peers can make it hold. The simulator
/// checks each against its bound after every step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Held {
    /// Block votes of rounds beyond the next one (always 0).
    pub votes_beyond_next_round: usize,
    /// Each voter's latest votes of far rounds (at most two per voter).
    pub far_votes: usize,
    /// Proposals of rounds beyond the next one (always 0).
    pub proposals_beyond_next_round: usize,
    /// Verified messages kept for the next height.
    pub future: usize,
    /// Txids asked for and not yet answered.
    pub body_requests: usize,
    /// Txids with votes but no body.
    pub bodiless: usize,
    /// The most txids one voter's held batches carry.
    pub max_voter_txids: usize,
}

/// What the core knows about one transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxStatus {
    /// Its state.
    pub state: TxState,
    /// Weight of the votes seen.
    pub weight: u64,
    /// For `rejected`: why.
    pub rejection: Option<TxRejection>,
    /// The block height that carries it, if committed recently.
    pub block_height: Option<u64>,
    /// Its certificate, when final and not yet in a block.
    pub certificate: Option<FinalityCertificate>,
    /// When this node first saw it (0 if unknown).
    pub seen_at: Millis,
}

/// A masternode's consensus state machine.
#[derive(Debug)]
pub struct Core {
    pub(crate) config: CoreConfig,
    pub(crate) chain: ChainId,
    pub(crate) genesis_hash: Hash256,
    pub(crate) params: ConsensusParams,
    pub(crate) committee: Arc<Committee>,
    pub(crate) key: SecretKey,
    pub(crate) me: NodeId,
    pub(crate) my_index: Option<MemberIndex>,
    pub(crate) ledger: Ledger,
    pub(crate) pool: Pool,
    pub(crate) verifier: SigVerifier,
    pub(crate) verified_votes: VerifiedVotes,
    pub(crate) keys: KeyCache,
    pub(crate) voters: Vec<VoterState>,
    pub(crate) own_seq: u64,
    pub(crate) own_pending: Vec<TxId>,
    pub(crate) own_batches: BTreeMap<u64, VoteBatch>,
    pub(crate) hs: HeightState,
    /// Verified messages of the next height, at most one per (kind,
    /// signer, round) for its first rounds.
    pub(crate) future: BTreeMap<(u8, MemberIndex, u32), (NodeId, Message)>,
    pub(crate) recent_rounds: VecDeque<(u64, u32)>,
    pub(crate) view_changes: u64,
    pub(crate) equivocations: u64,
    pub(crate) reported_equivocations: BTreeSet<(MemberIndex, OutPoint)>,
    pub(crate) syncing: bool,
    /// Heights peers proved (commit certificates or applied blocks).
    pub(crate) peer_heights: BTreeMap<NodeId, u64>,
    pub(crate) requests: Requests,
    /// When each peer was last served the final set.
    pub(crate) final_served: HashMap<NodeId, Millis>,
    pub(crate) refusals: BTreeMap<Refusal, u64>,
    pub(crate) deferred_votes: Vec<TxId>,
    pub(crate) pending_final: Vec<(Transaction, FinalityCertificate)>,
    pub(crate) final_count: u64,
    pub(crate) last_final_at: Millis,
    pub(crate) rejected_bodies: HashMap<TxId, Transaction>,
    pub(crate) rejected_order: VecDeque<TxId>,
    pub(crate) pending_abandon: Vec<(TxId, TxState)>,
    pub(crate) out: Vec<Output>,
    pub(crate) now: Millis,
    pub(crate) last_seal: Millis,
    pub(crate) seal_timer_set: bool,
    pub(crate) started: bool,
}

impl Core {
    /// A core for the chain `genesis` defines, with this node's `key`,
    /// rebuilt from what it persisted (`Restored::genesis` for a new node);
    /// `index` answers from durable state which txids are committed.
    /// Call [`Core::start`] before the first input.
    pub fn new(
        config: CoreConfig,
        genesis: &Genesis,
        key: SecretKey,
        restored: Restored,
        index: Arc<dyn ChainIndex>,
    ) -> Core {
        let chain = genesis.chain_id;
        let committee = Arc::new(Committee::from_genesis(genesis));
        let me = NodeId::from(key.public());
        let my_index = committee.index_of(&me);
        let ledger = Ledger::restore(
            genesis,
            index,
            restored.tip_header.clone(),
            restored.utxos.clone(),
            restored.last_commit.clone(),
        );
        let height = ledger.height() + 1;
        let mut core = Core {
            verifier: SigVerifier::new(config.verify_strategy),
            config,
            chain,
            genesis_hash: genesis.hash(),
            params: genesis.params.clone(),
            voters: vec![VoterState::default(); committee.len()],
            committee,
            key,
            me,
            my_index,
            ledger,
            pool: Pool::default(),
            verified_votes: VerifiedVotes::default(),
            keys: KeyCache::default(),
            own_seq: restored.own_seq,
            own_pending: Vec::new(),
            own_batches: BTreeMap::new(),
            hs: HeightState::new(height),
            future: BTreeMap::new(),
            recent_rounds: VecDeque::new(),
            view_changes: 0,
            equivocations: 0,
            reported_equivocations: BTreeSet::new(),
            syncing: false,
            peer_heights: BTreeMap::new(),
            requests: Requests::default(),
            final_served: HashMap::new(),
            refusals: BTreeMap::new(),
            deferred_votes: Vec::new(),
            pending_final: Vec::new(),
            final_count: 0,
            last_final_at: 0,
            rejected_bodies: HashMap::new(),
            rejected_order: VecDeque::new(),
            pending_abandon: Vec::new(),
            out: Vec::new(),
            now: 0,
            last_seal: 0,
            seal_timer_set: false,
            started: false,
        };
        core.restore_pool(restored);
        core
    }

    /// Starts the core at time `now`: re-announces own votes for transactions
    /// not yet final (a restart must not leave them stuck), and schedules the
    /// first height and the housekeeping tick.
    pub fn start(&mut self, now: Millis) -> Vec<Output> {
        self.now = now;
        if !self.started {
            self.started = true;
            for batch in self.own_batches.values() {
                self.out.push(Output::Broadcast(Message::VoteBatch(batch.clone())));
            }
            self.out.push(Output::SetTimer { timer: Timer::StartHeight(self.hs.height), at: now });
            self.out.push(Output::SetTimer { timer: Timer::Tick, at: now });
        }
        std::mem::take(&mut self.out)
    }

    /// Handles one input at time `now`. Does not seal this node's own votes:
    /// call [`Core::seal`] after a batch of inputs (that is the group commit).
    pub fn handle(&mut self, now: Millis, input: Input) -> Vec<Output> {
        self.now = self.now.max(now);
        match input {
            Input::SubmitTx { tx, origin } => self.on_submit(tx, origin),
            Input::Message { from, message } => self.on_message(from, message),
            Input::Timer(timer) => self.on_timer(timer),
            Input::PeerUp(peer) => self.on_peer_up(peer),
            Input::PeerDown(peer) => {
                self.peer_heights.remove(&peer);
                self.requests.forget_peer(&peer);
                self.final_served.remove(&peer);
            }
        }
        if self.awaiting_bodies() {
            self.progress();
        }
        self.flush_settlements();
        std::mem::take(&mut self.out)
    }

    /// Signs this node's pending votes into batches (persist, then
    /// broadcast) and counts them, unless the last batch was sealed less than
    /// [`CoreConfig::seal_interval_ms`] ago and the pending votes do not fill
    /// a batch: then it sets a [`Timer::Seal`] for when they are due. Call it
    /// after each batch of inputs (that is the group commit).
    pub fn seal(&mut self, now: Millis) -> Vec<Output> {
        self.now = self.now.max(now);
        if !self.own_pending.is_empty() {
            let due = self.last_seal + self.config.seal_interval_ms;
            let full = self.own_pending.len() >= self.params.max_vote_batch_txids as usize;
            if self.now >= due || full {
                self.last_seal = self.now;
                self.seal_own_votes();
            } else if !self.seal_timer_set {
                self.seal_timer_set = true;
                self.out.push(Output::SetTimer { timer: Timer::Seal, at: due });
            }
        }
        self.flush_settlements();
        std::mem::take(&mut self.out)
    }

    /// The driver reports every persist up to the commit of `height`
    /// durable (after its flush): the chain index answers for those blocks
    /// from then on, and the core stops keeping their txids in memory.
    pub fn mark_durable(&mut self, height: u64) {
        self.ledger.mark_durable(height);
    }

    fn on_message(&mut self, from: NodeId, message: Message) {
        if let Err(reason) = self.check_inbound(&from, &message) {
            self.refuse(from, reason);
            return;
        }
        match message {
            Message::Tx(tx) => self.on_submit(tx, crate::io::Origin::Peer(from)),
            Message::VoteBatch(batch) => {
                self.on_vote_batch(from, batch);
            }
            Message::Proposal(proposal) => self.on_proposal(from, *proposal),
            Message::BlockVote(vote) => self.on_block_vote(from, vote),
            Message::Status(status) => self.on_status(from, status),
            Message::GetVoteBatches { voter, from: first, to } => {
                self.on_get_vote_batches(from, voter, first, to)
            }
            Message::VoteBatches { voter, batches, pruned_below } => {
                self.on_vote_batches(from, voter, batches, pruned_below)
            }
            Message::GetTxs(txids) => self.on_get_txs(from, txids),
            Message::Txs(list) => self.on_txs(from, list),
            // Served by the driver from its store (see io.rs).
            Message::GetBlocks { .. } => {}
            Message::Blocks(blocks) => self.on_blocks(from, blocks),
            Message::GetFinal => self.on_get_final(from),
            Message::Final(list) => self.on_final(from, list),
        }
    }

    fn on_timer(&mut self, timer: Timer) {
        match timer {
            Timer::Tick => {
                self.on_tick();
                self.seal_own_votes();
                self.out.push(Output::SetTimer {
                    timer: Timer::Tick,
                    at: self.now + self.config.tick_interval_ms,
                });
            }
            Timer::Seal => {
                self.seal_timer_set = false;
                self.last_seal = self.now;
                self.seal_own_votes();
            }
            Timer::StartHeight(height) => self.on_start_height(height),
            Timer::Propose(height, round) => self.on_timeout_propose(height, round),
            Timer::Prevote(height, round) => self.on_timeout_prevote(height, round),
            Timer::Precommit(height, round) => self.on_timeout_precommit(height, round),
        }
    }

    /// Emits the persists and events of transactions that became final or
    /// lost while handling the current input: one atomic write for each kind.
    pub(crate) fn flush_settlements(&mut self) {
        if !self.pending_abandon.is_empty() {
            let abandoned = std::mem::take(&mut self.pending_abandon);
            let txids = abandoned.iter().map(|(txid, _)| *txid).collect();
            self.out.push(Output::Persist(crate::io::PersistOp::Abandon(txids)));
            for (txid, state) in abandoned {
                self.event_state(txid, state);
            }
        }
        if !self.pending_final.is_empty() {
            let finals = std::mem::take(&mut self.pending_final);
            let txids: Vec<TxId> = finals.iter().map(|(_, c)| c.txid).collect();
            self.final_count += txids.len() as u64;
            self.last_final_at = self.now;
            self.out.push(Output::Persist(crate::io::PersistOp::Final(finals)));
            for txid in txids {
                self.event_state(txid, TxState::Final);
            }
        }
    }

    pub(crate) fn event_state(&mut self, txid: TxId, state: TxState) {
        let weight = self.pool.tallies.get(&txid).map_or(0, |t| t.weight);
        self.out.push(Output::Event(Event::TxState { txid, state, rejection: None, weight }));
    }

    pub(crate) fn send(&mut self, to: NodeId, message: Message) {
        if to != self.me {
            self.out.push(Output::Send { to, message });
        }
    }

    pub(crate) fn broadcast(&mut self, message: Message) {
        self.out.push(Output::Broadcast(message));
    }

    pub(crate) fn committee(&self) -> &Committee {
        &self.committee
    }

    // ---- queries (for RPC and metrics; read-only) ----

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.me
    }

    /// The committed chain.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The committee.
    pub fn committee_ref(&self) -> &Committee {
        &self.committee
    }

    /// The chain id.
    pub fn chain(&self) -> ChainId {
        self.chain
    }

    /// The genesis hash.
    pub fn genesis_hash(&self) -> Hash256 {
        self.genesis_hash
    }

    /// What the node knows about `txid`.
    pub fn tx_status(&self, txid: &TxId) -> Option<TxStatus> {
        self.status_of(txid, true)
    }

    /// What the node knows about `tx`, without reading the chain index
    /// from disk when `tx` provably is not in a block. The answer is
    /// [`Core::tx_status`]'s.
    pub(crate) fn tx_status_of(&self, tx: &Transaction, txid: &TxId) -> Option<TxStatus> {
        self.status_of(txid, !self.provably_uncommitted(tx))
    }

    /// True when `tx` is provably not in a block, known from memory: one of
    /// its inputs is unspent in the committed set, or is an output of a
    /// transaction not in a block (a committed transaction spent every
    /// input, and its parents are committed). False says nothing: the
    /// chain index answers then.
    pub(crate) fn provably_uncommitted(&self, tx: &Transaction) -> bool {
        tx.inputs.iter().any(|input| {
            self.ledger.utxo(&input.prev).is_some()
                || self.pool.final_outputs.contains_key(&input.prev)
                || self.pool.entries.contains_key(&input.prev.txid)
        })
    }

    fn status_of(&self, txid: &TxId, maybe_committed: bool) -> Option<TxStatus> {
        let weight = self.pool.tallies.get(txid).map_or(0, |t| t.weight);
        if let Some(entry) = self.pool.entries.get(txid) {
            return Some(TxStatus {
                state: entry.state,
                weight,
                rejection: None,
                block_height: None,
                certificate: entry.certificate.clone(),
                seen_at: entry.seen_at,
            });
        }
        // A failed read reports nothing: the caller then treats the
        // transaction as unknown, and validation refuses its spent inputs.
        if maybe_committed && let Ok(Some(height)) = self.ledger.committed_height(txid) {
            return Some(TxStatus {
                state: TxState::Committed,
                weight,
                rejection: None,
                block_height: Some(height),
                certificate: None,
                seen_at: 0,
            });
        }
        if let Some((state, rejection)) = self.pool.settled.get(txid) {
            return Some(TxStatus {
                state: *state,
                weight,
                rejection: rejection.clone(),
                block_height: None,
                certificate: None,
                seen_at: 0,
            });
        }
        None
    }

    /// The transactions of `txs` whose input signatures admission would
    /// check, each once with its txid: not held or settled here yet, and
    /// passing every rule admission checks before the signatures (so a
    /// flood of transactions that spend nothing real costs no signature
    /// check here either). A driver verifies them ahead, in a batch; see
    /// [`Core::remember_verified`].
    pub fn unverified<'a>(
        &self,
        txs: impl IntoIterator<Item = &'a Transaction>,
    ) -> Vec<(Transaction, TxId)> {
        let view = AvailableView { ledger: &self.ledger, pool: &self.pool };
        let mut seen = std::collections::HashSet::new();
        txs.into_iter()
            .filter_map(|tx| {
                let txid = tx.txid(self.chain);
                let new = !self.pool.entries.contains_key(&txid)
                    && !self.pool.settled.contains_key(&txid)
                    && seen.insert(txid)
                    && check_before_signatures(tx, &self.params, &view).is_ok();
                new.then(|| (tx.clone(), txid))
            })
            .collect()
    }

    /// Signature decisions made ahead of admission (the first bad input of
    /// each transaction, under the same rule): admission takes them for
    /// bodies with exactly these signatures instead of verifying again.
    pub fn remember_verified<'a>(
        &mut self,
        checked: impl IntoIterator<Item = (&'a (Transaction, TxId), Option<usize>)>,
    ) {
        for ((tx, txid), first_bad) in checked {
            self.verifier.remember(*txid, tx, first_bad);
        }
    }

    /// The signature checks of `batches` (vote batches about to reach the
    /// core) that are still to do, to verify ahead in a batch with the
    /// cycle's transactions; [`Self::remember_verified_votes`] keeps those
    /// that pass. Only batches the core would verify anyway, once each: a
    /// voter that is no member, or a shape the core refuses before any
    /// signature (size, seq, duplicates), is left to the core, so this
    /// stage never verifies more than the core would.
    pub fn pending_votes<'a>(
        &self,
        batches: impl IntoIterator<Item = &'a VoteBatch>,
    ) -> Vec<PendingVote> {
        let max = self.params.max_vote_batch_txids as usize;
        let mut seen = std::collections::HashSet::new();
        batches
            .into_iter()
            .filter(|batch| batch.check_shape(max).is_ok())
            .filter(|batch| seen.insert((batch.voter, batch.seq, batch.signature)))
            .filter_map(|batch| self.verified_votes.pending(self.chain, &self.committee, batch))
            .collect()
    }

    /// Keeps the vote batch signatures verified ahead (`true` beside each).
    pub fn remember_verified_votes<'a>(
        &mut self,
        checked: impl IntoIterator<Item = (&'a PendingVote, bool)>,
    ) {
        for (vote, ok) in checked {
            if ok {
                self.verified_votes.remember(vote);
            }
        }
    }

    /// Commitment elements of outputs of transactions about to be admitted,
    /// computed ahead of the core: the block that commits them then only
    /// adds them (an element is a function of its outpoint and output, and
    /// the outpoint's txid fixes the output, so a kept element is exact).
    pub fn keep_elements(&mut self, elements: impl IntoIterator<Item = (OutPoint, Element)>) {
        self.ledger.keep_elements(elements);
    }

    /// A transaction held in the pool (not yet in a block).
    pub fn pool_tx(&self, txid: &TxId) -> Option<&Transaction> {
        self.pool.entries.get(txid).map(|e| &e.tx)
    }

    /// Txids in the pool with their states, in txid order.
    pub fn pool_txids(&self) -> Vec<(TxId, TxState)> {
        let mut list: Vec<(TxId, TxState)> =
            self.pool.entries.iter().map(|(id, e)| (*id, e.state)).collect();
        list.sort_by_key(|(id, _)| *id);
        list
    }

    /// Pool sizes.
    pub fn mempool_info(&self) -> MempoolInfo {
        MempoolInfo {
            pending: self.pool.pending_count,
            pending_bytes: self.pool.pending_bytes,
            orphans: self.pool.orphan_count,
            orphan_bytes: self.pool.orphan_bytes,
            final_not_in_block: self.pool.final_order.len(),
            bodiless: self.pool.bodiless.len(),
        }
    }

    /// Spendable outputs paying `address`: committed ones, and outputs of
    /// final transactions not yet in a block (`false` in the third field),
    /// leaving out every output a known transaction spends (final, pending,
    /// contested or conflicted) and every output locked or frozen here:
    /// spending one of those would only make a conflict, as bitcoind's
    /// `listunspent` leaves out what the mempool spends.
    pub fn spendable(&self, address: &AddressPayload) -> Vec<(OutPoint, TxOut, bool)> {
        let free = |op: &OutPoint| {
            !self.pool.final_spent.contains_key(op)
                && !self.pool.locks.contains_key(op)
                && self.pool.spenders.get(op).is_none_or(Vec::is_empty)
        };
        let mut out: Vec<(OutPoint, TxOut, bool)> = self
            .ledger
            .utxos_of(address)
            .into_iter()
            .filter(|(op, _)| free(op))
            .map(|(op, o)| (op, o, true))
            .collect();
        let mut overlay: Vec<(OutPoint, TxOut, bool)> = self
            .pool
            .final_outputs
            .iter()
            .filter(|(op, o)| o.address == *address && free(op))
            .map(|(op, o)| (*op, *o, false))
            .collect();
        overlay.sort_by_key(|(op, _, _)| *op);
        out.extend(overlay);
        out
    }

    /// What peers have made this core hold (see [`Held`]).
    pub fn held(&self) -> Held {
        let (votes_beyond_next_round, far_votes, proposals_beyond_next_round) = self.hs.held();
        Held {
            votes_beyond_next_round,
            far_votes,
            proposals_beyond_next_round,
            future: self.future.len(),
            body_requests: self.requests.bodies.len(),
            bodiless: self.pool.bodiless.len(),
            max_voter_txids: self.voters.iter().map(|v| v.held_txids).max().unwrap_or(0),
        }
    }

    /// A consensus snapshot.
    pub fn info(&self) -> ConsensusInfo {
        let proposer_index = self.committee.proposer(self.hs.height, self.hs.round);
        ConsensusInfo {
            height: self.ledger.height(),
            tip: self.ledger.tip(),
            current_height: self.hs.height,
            round: self.hs.round,
            step: self.hs.step.as_str(),
            proposer: self.committee.member(proposer_index).map_or(self.me, |m| m.id),
            recent_rounds: self.recent_rounds.iter().copied().collect(),
            view_changes: self.view_changes,
            votes_seen: self
                .committee
                .members()
                .iter()
                .zip(&self.voters)
                .enumerate()
                .map(|(i, (m, v))| {
                    let seq = if Some(i as MemberIndex) == self.my_index {
                        self.own_seq
                    } else {
                        v.contiguous
                    };
                    (m.id, seq)
                })
                .collect(),
            syncing: self.syncing,
            best_peer_height: self.peer_heights.values().copied().max().unwrap_or(0),
            equivocations: self.equivocations,
            final_count: self.final_count,
            last_final_at: self.last_final_at,
            refusals: self.refusals.iter().map(|(r, n)| (*r, *n)).collect(),
        }
    }

    fn restore_pool(&mut self, restored: Restored) {
        self.own_batches = restored.own_batches;
        for (tx, certificate) in restored.final_txs {
            let txid = certificate.txid;
            for vote in &certificate.votes {
                let tally = self.pool.tallies.entry(txid).or_default();
                if tally.votes.insert(vote.voter, vote.clone()).is_none() {
                    tally.weight += self.committee.weight(vote.voter);
                }
            }
            self.insert_final_entry(txid, tx, certificate);
        }
        for (txid, tx) in restored.locked {
            for input in &tx.inputs {
                self.pool.locks.insert(input.prev, txid);
            }
            let size = tx.size();
            self.pool.insert_pending(txid, tx, size, 0, true);
        }
        // Frozen locks of lost transactions: never vote for another spender.
        for (outpoint, txid) in restored.frozen {
            self.pool.locks.entry(outpoint).or_insert(txid);
        }
        // Count own votes from own batches.
        if let Some(me) = self.my_index {
            let batches: Vec<VoteBatch> = self.own_batches.values().cloned().collect();
            for batch in batches {
                for (txid, vote) in batch.cert_votes(me) {
                    let weight = self.committee.weight(me);
                    let tally = self.pool.tallies.entry(txid).or_default();
                    if tally.votes.insert(me, vote).is_none() {
                        tally.weight += weight;
                    }
                }
            }
        }
        // Recompute contested states among restored entries (sorted: the
        // core must be deterministic).
        let mut ids: Vec<TxId> = self.pool.entries.keys().copied().collect();
        ids.sort();
        for txid in ids {
            self.refresh_state(&txid);
        }
        // Own Tendermint messages at the next height: never sign differently.
        self.hs.restore_own(restored.own_proposals, restored.own_block_votes);
    }
}
