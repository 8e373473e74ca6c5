//! The core: one deterministic state machine per masternode, composed of
//! three engines that each own their state, as malachite splits its core:
//!
//! - the finality engine ([`Finality`], `finality/`): admission, locks, vote
//!   batches and tallies, certificates, conflicts, orphans, the pool;
//! - the Tendermint engine ([`Tendermint`], `tendermint/`): heights, rounds,
//!   locks, proposals, block votes; it reads the final set and hands over
//!   the blocks it decides;
//! - catch-up ([`CatchUp`], `catchup.rs`): peers' proven heights, whether
//!   this node is behind, the final set after a catch-up.
//!
//! They share [`Ctx`] (the chain's constants, the ledger, the signature
//! caches, outstanding requests, the outputs). `Core` routes each input to
//! the engine it is for and carries what one engine produces to another: a
//! decided or fetched block is committed here (ledger, then the finality
//! engine, then the next height), a catch-up pauses and resumes voting, a
//! commit certificate in a status becomes precommits. See io.rs for the
//! driver contract.

use std::collections::BTreeMap;
use std::sync::Arc;

use protocol::bft::CommitCertificate;
use protocol::commitment::Element;
use protocol::finality::{FinalityCertificate, PendingVote, VoteBatch};
use protocol::validate::SigVerifier;
use protocol::{
    AddressPayload, Block, ChainId, Committee, Genesis, Hash256, NodeId, OutPoint, SecretKey,
    Transaction, TxId, TxOut,
};

use crate::catchup::CatchUp;
use crate::config::CoreConfig;
use crate::ctx::Ctx;
use crate::finality::Finality;
use crate::inbound;
use crate::index::ChainIndex;
use crate::info::{ConsensusInfo, Held, MempoolInfo, TxStatus};
use crate::io::Refusal;
use crate::io::{Event, Input, Millis, Origin, Output, PersistOp, Timer, TxState};
use crate::ledger::Ledger;
use crate::message::{Message, Status};
use crate::restore::Restored;
use crate::tendermint::{Decided, Tendermint};

/// A masternode's consensus state machine.
#[derive(Debug)]
pub struct Core {
    ctx: Ctx,
    finality: Finality,
    tendermint: Tendermint,
    catchup: CatchUp,
    started: bool,
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
        mut restored: Restored,
        index: Arc<dyn ChainIndex>,
    ) -> Core {
        let committee = Arc::new(Committee::from_genesis(genesis));
        let me = NodeId::from(key.public());
        let ledger = Ledger::restore(
            genesis,
            index,
            restored.tip_header.clone(),
            restored.utxos.clone(),
            restored.last_commit.clone(),
        );
        let height = ledger.height() + 1;
        let mut ctx = Ctx {
            verifier: SigVerifier::new(config.verify_strategy),
            config,
            chain: genesis.chain_id,
            genesis_hash: genesis.hash(),
            params: genesis.params.clone(),
            my_index: committee.index_of(&me),
            committee,
            key,
            me,
            ledger,
            verified_votes: Default::default(),
            keys: Default::default(),
            requests: Default::default(),
            refusals: BTreeMap::new(),
            out: Vec::new(),
            now: 0,
        };
        // Own Tendermint messages at the next height: never sign differently.
        let tendermint = Tendermint::new(
            height,
            std::mem::take(&mut restored.own_proposals),
            std::mem::take(&mut restored.own_block_votes),
        );
        let finality = Finality::new(&mut ctx, restored);
        Core { ctx, finality, tendermint, catchup: CatchUp::default(), started: false }
    }

    /// Starts the core at time `now`: re-announces own votes for transactions
    /// not yet final (a restart must not leave them stuck), and schedules the
    /// first height and the housekeeping tick.
    pub fn start(&mut self, now: Millis) -> Vec<Output> {
        self.ctx.now = now;
        if !self.started {
            self.started = true;
            self.finality.start(&mut self.ctx);
            let height = self.tendermint.height();
            self.ctx.out.push(Output::SetTimer { timer: Timer::StartHeight(height), at: now });
            self.ctx.out.push(Output::SetTimer { timer: Timer::Tick, at: now });
        }
        std::mem::take(&mut self.ctx.out)
    }

    /// Handles one input at time `now`. Does not seal this node's own votes:
    /// call [`Core::seal`] after a batch of inputs (that is the group commit).
    pub fn handle(&mut self, now: Millis, input: Input) -> Vec<Output> {
        self.ctx.now = self.ctx.now.max(now);
        match input {
            Input::SubmitTx { tx, origin } => self.finality.on_submit(&mut self.ctx, tx, origin),
            Input::Message { from, message } => self.on_message(from, message),
            Input::Timer(timer) => self.on_timer(timer),
            Input::PeerUp(peer) => self.on_peer_up(peer),
            Input::PeerDown(peer) => {
                self.catchup.forget_peer(&peer);
                self.ctx.requests.forget_peer(&peer);
            }
        }
        // A proposal waiting for transactions to become final here: this
        // input may have brought them. What became final is settled first,
        // so a block this node proposes carries only what is durable here.
        if self.tendermint.awaiting_bodies() {
            self.finality.flush_settlements(&mut self.ctx);
            self.with_tendermint(|t, cx, fin| t.progress(cx, fin));
        }
        self.finality.flush_settlements(&mut self.ctx);
        std::mem::take(&mut self.ctx.out)
    }

    /// Signs this node's pending votes into batches (persist, then
    /// broadcast) and counts them, unless the last batch was sealed less than
    /// [`CoreConfig::seal_interval_ms`] ago and the pending votes do not fill
    /// a batch: then it sets a [`Timer::Seal`] for when they are due. Call it
    /// after each batch of inputs (that is the group commit).
    pub fn seal(&mut self, now: Millis) -> Vec<Output> {
        self.ctx.now = self.ctx.now.max(now);
        self.finality.seal(&mut self.ctx);
        std::mem::take(&mut self.ctx.out)
    }

    /// The driver reports every persist up to the commit of `height`
    /// durable (after its flush): the chain index answers for those blocks
    /// from then on, and the core stops keeping their txids in memory.
    pub fn mark_durable(&mut self, height: u64) {
        self.ctx.ledger.mark_durable(height);
    }

    // ---- routing ----

    fn on_message(&mut self, from: NodeId, message: Message) {
        let cx = &self.ctx;
        if let Err(reason) =
            inbound::check(&cx.committee, cx.config.batches_per_reply, &from, &message)
        {
            self.ctx.refuse(from, reason);
            return;
        }
        let (cx, finality) = (&mut self.ctx, &mut self.finality);
        match message {
            Message::Tx(tx) => finality.on_submit(cx, tx, Origin::Peer(from)),
            Message::VoteBatch(batch) => {
                finality.on_vote_batch(cx, from, batch);
            }
            Message::Proposal(proposal) => {
                self.with_tendermint(|t, cx, fin| t.on_proposal(cx, fin, from, *proposal))
            }
            Message::BlockVote(vote) => {
                self.with_tendermint(|t, cx, fin| t.on_block_vote(cx, fin, from, vote))
            }
            Message::Status(status) => self.on_status(from, status),
            Message::GetVoteBatches { voter, from: first, to } => {
                finality.on_get_vote_batches(cx, from, voter, first, to)
            }
            Message::VoteBatches { voter, batches, pruned_below } => {
                finality.on_vote_batches(cx, from, voter, batches, pruned_below)
            }
            Message::GetTxs(txids) => finality.on_get_txs(cx, from, txids),
            Message::Txs(list) => finality.on_txs(cx, from, list),
            // Served by the driver from its store (see io.rs).
            Message::GetBlocks { .. } => {}
            Message::Blocks(blocks) => self.on_blocks(from, blocks),
            Message::GetFinal => {
                if self.catchup.may_serve_final(cx, from) {
                    let list = finality.final_set(cx.config.max_reply_bytes);
                    cx.send(from, Message::Final(list));
                }
            }
            Message::Final(list) => self.on_final(from, list),
        }
    }

    fn on_timer(&mut self, timer: Timer) {
        match timer {
            Timer::Tick => {
                self.on_tick();
                self.finality.seal_own_votes(&mut self.ctx);
                let at = self.ctx.now + self.ctx.config.tick_interval_ms;
                self.ctx.out.push(Output::SetTimer { timer: Timer::Tick, at });
            }
            Timer::Seal => self.finality.on_seal_timer(&mut self.ctx),
            Timer::StartHeight(height) => {
                self.with_tendermint(|t, cx, fin| t.on_start_height(cx, fin, height))
            }
            Timer::Propose(height, round) => {
                self.with_tendermint(|t, cx, fin| t.on_timeout_propose(cx, fin, height, round))
            }
            Timer::Prevote(height, round) => {
                self.with_tendermint(|t, cx, fin| t.on_timeout_prevote(cx, fin, height, round))
            }
            Timer::Precommit(height, round) => {
                self.with_tendermint(|t, cx, fin| t.on_timeout_precommit(cx, fin, height, round))
            }
        }
    }

    /// Runs `step` on the Tendermint engine and commits what it decided.
    fn with_tendermint(&mut self, step: impl FnOnce(&mut Tendermint, &mut Ctx, &Finality)) {
        step(&mut self.tendermint, &mut self.ctx, &self.finality);
        if let Some(decided) = self.tendermint.take_decision() {
            self.commit(decided);
        }
    }

    /// Housekeeping: orphans and missing bodies, expired requests, the
    /// status broadcast, re-sending this round's messages, deferred votes,
    /// and the end of a catch-up.
    fn on_tick(&mut self) {
        let cx = &mut self.ctx;
        self.finality.tx_tick(cx);
        cx.requests.expire(cx.now);
        self.catchup.on_tick(cx.now);
        let status = self.status();
        let cx = &mut self.ctx;
        cx.broadcast(Message::Status(status));
        self.tendermint.rebroadcast_round(cx);
        if !self.catchup.syncing() {
            self.finality.retry_deferred_votes(cx);
        }
        self.catchup.maybe_finish_sync(cx);
    }

    fn status(&self) -> Status {
        let cx = &self.ctx;
        Status {
            height: cx.ledger.height(),
            tip: cx.ledger.tip(),
            tip_certificate: cx.ledger.last_commit().map(|(_, c)| c.clone()),
            vote_seqs: self.finality.vote_seqs(cx),
            pending: self.finality.pending_txids(cx),
        }
    }

    fn on_peer_up(&mut self, peer: NodeId) {
        let status = self.status();
        self.ctx.send(peer, Message::Status(status));
        self.tendermint.send_round_to(&mut self.ctx, peer);
    }

    fn on_status(&mut self, from: NodeId, status: Status) {
        if let Some(certificate) = self.catchup.check_claimed_height(&mut self.ctx, from, &status) {
            if self.catchup.syncing() {
                self.finality.pause_votes();
            }
            self.with_tendermint(|t, cx, fin| t.absorb_commit(cx, fin, &certificate));
        }
        // What the rest claims is only a reason to ask, and only a member
        // is asked: an observer's claims cost nothing.
        if self.ctx.committee.index_of(&from).is_none() {
            return;
        }
        self.catchup.note_member_height(&self.ctx, from, status.height);
        self.finality.on_member_status(&mut self.ctx, from, &status);
        self.catchup.maybe_finish_sync(&mut self.ctx);
    }

    /// Committed blocks from a peer: apply each certified block that extends
    /// the tip, without consulting local locks. Taken from a peer this node
    /// asked, or pushed by a member (each block proves itself, and the
    /// check costs the pusher a ban if it fails).
    fn on_blocks(&mut self, from: NodeId, blocks: Vec<(Block, CommitCertificate)>) {
        let member = self.ctx.committee.index_of(&from).is_some();
        if !member && !self.ctx.requests.asked_blocks(&from, self.ctx.now) {
            self.ctx.refuse(from, Refusal::Unsolicited);
            return;
        }
        let mut applied = false;
        for (block, certificate) in blocks {
            let cx = &mut self.ctx;
            let height = block.header.height;
            if height <= cx.ledger.height() {
                continue;
            }
            if height != cx.ledger.height() + 1 {
                break;
            }
            let hash = block.hash(cx.chain);
            if cx
                .ledger
                .check_commit_certificate(&hash, height, &certificate, &cx.committee, &mut cx.keys)
                .is_err()
            {
                cx.refuse(from, Refusal::BadSignature);
                break;
            }
            // This node's state must take the block (else it is the one
            // that is wrong: nothing to charge the sender with).
            let Ok(checked) = cx.ledger.certified_changes(&block) else { break };
            // A commit certificate vouches for the header; the input
            // signatures it does not cover are checked here (a body held
            // here was checked when it arrived).
            let finality = &self.finality;
            let held = |txid: &TxId, tx: &Transaction| finality.holds_body(txid, tx);
            if cx.ledger.check_signatures(&block, &mut cx.verifier, &held).is_err() {
                cx.refuse(from, Refusal::BadSignature);
                break;
            }
            let round = certificate.round;
            self.commit(Decided { block, checked, certificate, round });
            self.catchup.note_applied(from, height);
            applied = true;
        }
        if applied {
            self.ctx.requests.blocks.remove(&from);
            if self.catchup.best_peer_height() > self.ctx.ledger.height() {
                self.ctx.ask_blocks(from);
            }
        }
        self.catchup.maybe_finish_sync(&mut self.ctx);
    }

    /// The final set a member sent after this node caught up: its
    /// certificates count, and this node votes again.
    fn on_final(&mut self, from: NodeId, list: Vec<(Transaction, FinalityCertificate)>) {
        let cx = &mut self.ctx;
        if !cx.requests.asked_final(&from, cx.now) {
            cx.refuse(from, Refusal::Unsolicited);
            return;
        }
        cx.requests.final_from = None;
        let mut bad = false;
        for (tx, certificate) in list {
            let txid = tx.txid(cx.chain);
            bad |= certificate.txid != txid
                || !self.finality.absorb_certificate(cx, txid, tx, &certificate);
        }
        if bad {
            cx.refuse(from, Refusal::BadSignature);
        }
        if self.catchup.finish(cx) {
            self.finality.resume_votes(cx);
        }
    }

    /// Commits a block (decided here or certified by peers): ledger, pool,
    /// persistence, events, and the next height, whose messages kept so
    /// far are handled now.
    fn commit(&mut self, decided: Decided) {
        let Decided { mut block, checked, certificate, round } = decided;
        let cx = &mut self.ctx;
        self.finality.flush_settlements(cx);
        // Neither kept nor stored (the commit certificate vouches for the
        // block), so not copied: at 1,000 tx/s they are most of a block.
        block.certificates = Vec::new();
        let txids = block.txids(cx.chain);
        let height = block.header.height;
        let hash = checked.hash;
        let committed = cx.ledger.apply(block.clone(), &txids, checked, certificate);
        cx.out.push(Output::Persist(PersistOp::Commit(Box::new(committed))));
        cx.out.push(Output::Event(Event::BlockCommitted {
            height,
            hash,
            round,
            txids: txids.clone(),
        }));
        self.finality.on_commit(cx, &block, &txids);
        self.finality.flush_settlements(cx);
        for (from, message) in self.tendermint.next_height(cx, height, round) {
            match message {
                Message::Proposal(p) => {
                    self.with_tendermint(|t, cx, fin| t.on_proposal(cx, fin, from, *p))
                }
                Message::BlockVote(v) => {
                    self.with_tendermint(|t, cx, fin| t.on_block_vote(cx, fin, from, v))
                }
                _ => {}
            }
        }
    }

    // ---- queries (for RPC and metrics; read-only) ----

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.ctx.me
    }

    /// The committed chain.
    pub fn ledger(&self) -> &Ledger {
        &self.ctx.ledger
    }

    /// The committee.
    pub fn committee_ref(&self) -> &Committee {
        &self.ctx.committee
    }

    /// The chain id.
    pub fn chain(&self) -> ChainId {
        self.ctx.chain
    }

    /// The genesis hash.
    pub fn genesis_hash(&self) -> Hash256 {
        self.ctx.genesis_hash
    }

    /// What the node knows about `txid`.
    pub fn tx_status(&self, txid: &TxId) -> Option<TxStatus> {
        self.finality.tx_status(&self.ctx, txid)
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
        self.finality.unverified(&self.ctx, txs)
    }

    /// Signature decisions made ahead of admission (the first bad input of
    /// each transaction, under the same rule): admission takes them for
    /// bodies with exactly these signatures instead of verifying again.
    pub fn remember_verified<'a>(
        &mut self,
        checked: impl IntoIterator<Item = (&'a (Transaction, TxId), Option<usize>)>,
    ) {
        for ((tx, txid), first_bad) in checked {
            self.ctx.verifier.remember(*txid, tx, first_bad);
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
        let cx = &self.ctx;
        let max = cx.params.max_vote_batch_txids as usize;
        let mut seen = std::collections::HashSet::new();
        batches
            .into_iter()
            .filter(|batch| batch.check_shape(max).is_ok())
            .filter(|batch| seen.insert((batch.voter, batch.seq, batch.signature)))
            .filter_map(|batch| cx.verified_votes.pending(cx.chain, &cx.committee, batch))
            .collect()
    }

    /// Keeps the vote batch signatures verified ahead (`true` beside each).
    pub fn remember_verified_votes<'a>(
        &mut self,
        checked: impl IntoIterator<Item = (&'a PendingVote, bool)>,
    ) {
        for (vote, ok) in checked {
            if ok {
                self.ctx.verified_votes.remember(vote);
            }
        }
    }

    /// The committed outputs each of `txs` spends whose commitment elements
    /// the ledger does not keep, for the stage ahead to compute with the
    /// signatures ([`Self::keep_elements`]): the block that spends them then
    /// subtracts known elements instead of hashing each to the group on
    /// the driver, all at once (measured: a proposal of 250 transactions
    /// spending old coins cost the driver ~9 ms of CPU, nearly all of it
    /// these elements, on every node at the same moment).
    pub fn spent_without_element(
        &self,
        txs: &[(Transaction, TxId)],
    ) -> Vec<Vec<(OutPoint, TxOut)>> {
        let mut asked = std::collections::HashSet::new();
        txs.iter()
            .map(|(tx, _)| {
                let mut spent = self.ctx.ledger.spent_without_element(tx);
                // Conflicting spends of one coin in a cycle: computed once.
                spent.retain(|(outpoint, _)| asked.insert(*outpoint));
                spent
            })
            .collect()
    }

    /// Commitment elements of outputs of transactions about to be admitted,
    /// and of the committed outputs they spend, computed ahead of the core:
    /// the block that commits them then only adds or subtracts them (an
    /// element is a function of its outpoint and output, and the outpoint's
    /// txid fixes the output, so a kept element is exact).
    pub fn keep_elements(&mut self, elements: impl IntoIterator<Item = (OutPoint, Element)>) {
        self.ctx.ledger.keep_elements(elements);
    }

    /// A transaction held in the pool (not yet in a block).
    pub fn pool_tx(&self, txid: &TxId) -> Option<&Transaction> {
        self.finality.pool_tx(txid)
    }

    /// Txids in the pool with their states, in txid order.
    pub fn pool_txids(&self) -> Vec<(TxId, TxState)> {
        self.finality.pool_txids()
    }

    /// Pool sizes.
    pub fn mempool_info(&self) -> MempoolInfo {
        self.finality.mempool_info()
    }

    /// Spendable outputs paying `address`: committed ones, and outputs of
    /// final transactions not yet in a block (`false` in the third field),
    /// leaving out every output a known transaction spends (final, pending,
    /// contested or conflicted) and every output locked or frozen here:
    /// spending one of those would only make a conflict, as bitcoind's
    /// `listunspent` leaves out what the mempool spends.
    pub fn spendable(&self, address: &AddressPayload) -> Vec<(OutPoint, TxOut, bool)> {
        self.finality.spendable(&self.ctx, address)
    }

    /// What peers have made this core hold (see [`Held`]).
    pub fn held(&self) -> Held {
        let (votes_beyond_next_round, far_votes, proposals_beyond_next_round, future) =
            self.tendermint.held();
        Held {
            votes_beyond_next_round,
            far_votes,
            proposals_beyond_next_round,
            future,
            body_requests: self.ctx.requests.bodies.len(),
            bodiless: self.finality.mempool_info().bodiless,
            max_voter_txids: self.finality.max_voter_txids(),
        }
    }

    /// A one-line account of the height being agreed: per round, the
    /// proposal and the prevote / precommit tallies (for diagnostics).
    pub fn describe_height(&self) -> String {
        self.tendermint.describe_height()
    }

    /// A consensus snapshot.
    pub fn info(&self) -> ConsensusInfo {
        let cx = &self.ctx;
        let height = self.tendermint.height();
        let (round, step) = self.tendermint.round_step();
        let proposer_index = cx.committee.proposer(height, round);
        let (recent_rounds, view_changes, block_equivocations) = self.tendermint.stats();
        let (final_count, last_final_at) = self.finality.final_count();
        ConsensusInfo {
            height: cx.ledger.height(),
            tip: cx.ledger.tip(),
            current_height: height,
            round,
            step,
            proposer: cx.committee.member(proposer_index).map_or(cx.me, |m| m.id),
            recent_rounds,
            view_changes,
            votes_seen: cx
                .committee
                .members()
                .iter()
                .zip(self.finality.vote_seqs(cx))
                .map(|(m, seq)| (m.id, seq))
                .collect(),
            syncing: self.catchup.syncing(),
            best_peer_height: self.catchup.best_peer_height(),
            equivocations: self.finality.equivocations() + block_equivocations,
            final_count,
            last_final_at,
            refusals: cx.refusals.iter().map(|(r, n)| (*r, *n)).collect(),
        }
    }
}
