"""An in-process chain with the bridge on: n validators, each with its own view of L1 (what its
watcher would have cached), driven through the ABCI 2.0 steps CometBFT runs for every height:
ExtendVote, VerifyVoteExtension, PrepareProposal (with the extended commit), ProcessProposal,
FinalizeBlock, Commit. Extensions are signed with the validators' ed25519 consensus keys over
CometBFT's CanonicalVoteExtension sign bytes, as CometBFT signs them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bridge.module.events import ZERO_ADDRESS, Deposit, L1Event
from bridge.module.observe import ChainProgress, Observed
from bridge.module.sigs import KeySigner
from sidechain import blocks as b
from sidechain.app import Application
from sidechain.extcommit import vote_extension_sign_bytes
from sidechain.types import Amount, Coin
from tests.support.pos import GenesisValidatorKeys, create_entry, validator_keys
from tests.unit.tx.chain import genesis_json
from validators.bridgekey import sign_bridge_proof

CHAIN_ID = "bridge-unit-1"
GENESIS_NS = 1_700_000_000 * 10**9
CONTRACT = bytes.fromhex("5fbdb2315678afecb367f032d93f642f64180aa3")
DEPLOYED_AT = 10
POWER_REDUCTION = 1_000_000


class FixedObserver:
    """One validator's watcher as the chain sees it: what it would answer `observed()` with."""

    def __init__(self) -> None:
        self.events: tuple[L1Event, ...] = ()
        self.final_height = 0
        self.progress_seen: list[ChainProgress] = []

    def progress(self, p: ChainProgress) -> None:
        self.progress_seen.append(p)
        self.events = tuple(e for e in self.events if e.nonce > p.last_event_nonce)

    def observed(self) -> Observed:
        return Observed(self.events, self.final_height)


def deposit(nonce: int, amount: int, recipient: bytes, l1_block: int | None = None, token: bytes = ZERO_ADDRESS,
            sender: bytes = b"\x0a" * 20) -> L1Event:
    return L1Event(nonce, DEPLOYED_AT + nonce if l1_block is None else l1_block, nonce.to_bytes(32, "big"),
                   Deposit(token, sender, recipient, amount))


def bridge_section(keys: Sequence[GenesisValidatorKeys], **over: object) -> dict[str, object]:
    """An equal-power valset over the validators' bridge addresses (what the contract was deployed with)."""
    addrs = sorted(sign_bridge_proof(k.bridge_key, CHAIN_ID, k.operator)[0] for k in keys)
    per = (2**32 - 1) // len(addrs)
    section: dict[str, object] = {
        "l1_chain_id": 1337, "contract": "0x" + CONTRACT.hex(), "deployed_at": DEPLOYED_AT, "last_event_nonce": 1,
        "valset": {"nonce": 0, "validators": ["0x" + a.hex() for a in addrs], "powers": [per] * len(addrs)},
        "params": {"l1_confirmations": 2, "max_events_per_extension": 32, "max_extension_bytes": 4096},
    }
    section.update(over)
    return section


@dataclass
class BridgeChain:
    powers: Sequence[int]  # voting power of each validator
    bridge: bool = True
    keys: list[GenesisValidatorKeys] = field(init=False)
    observers: list[FixedObserver] = field(init=False)
    app: Application = field(init=False)
    last_commit: b.ExtendedCommitInfo = field(init=False)
    # Tamper with the proposal before ProcessProposal sees it (tests of refusals).
    tamper: Callable[[list[bytes]], list[bytes]] | None = None
    # Extra accounts funded with `stake` at genesis (to pay tx fees), and bridge params over the defaults.
    accounts: Sequence[bytes] = ()
    bridge_params: dict[str, object] | None = None
    # Each validator signs pending valsets and batches with its bridge key (None: that one signs nothing).
    signing: bool = True
    # The valset the contract was deployed with (default: equal powers over every validator), and stake
    # each operator holds beyond its self-delegation (to pay fees of its own txs).
    l1_valset: dict[str, object] | None = None
    operator_extra: int = 0
    # Validators that are not in genesis (keys after the genesis ones): their operators are funded with
    # `spare_funds` stake; once a tx creates them they vote, extend and sign like the others.
    spare: int = 0
    spare_funds: int = 10**12
    signers: list[KeySigner | None] = field(init=False)

    def __post_init__(self) -> None:
        self.keys = [validator_keys(i) for i in range(len(self.powers) + self.spare)]
        self.observers = [FixedObserver() for _ in self.keys]
        self.signers = [KeySigner(k.bridge_key) if self.signing else None for k in self.keys]
        state = genesis_json([(k.operator, [Coin("stake", Amount(p * POWER_REDUCTION + self.operator_extra))])
                              for k, p in zip(self.keys, self.powers, strict=False)]
                             + [(k.operator, [Coin("stake", Amount(self.spare_funds))])
                                for k in self.keys[len(self.powers):]]
                             + [(a, [Coin("stake", Amount(10**12))]) for a in self.accounts])
        state["staking"] = {"validators": [create_entry(k, CHAIN_ID, self_delegation=p * POWER_REDUCTION)
                                           for k, p in zip(self.keys, self.powers, strict=False)]}
        if self.bridge:
            genesis_keys = self.keys[:len(self.powers)]
            section = bridge_section(genesis_keys) if self.l1_valset is None else bridge_section(
                genesis_keys, valset=self.l1_valset)
            if self.bridge_params:
                section["params"] = {**section["params"], **self.bridge_params}  # type: ignore[dict-item]
            state["bridge"] = section
        self.app_state = json.dumps(state).encode()
        self.app = self.new_app(self.observers[0])
        self.last_commit = b.ExtendedCommitInfo(0, ())

    def new_app(self, observer: FixedObserver) -> Application:
        app = Application(None, observer=observer)
        app.init_chain(b.InitChainRequest(
            chain_id=CHAIN_ID, time_ns=GENESIS_NS, initial_height=1, app_state_bytes=self.app_state,
            validators=(), consensus_params=b.ConsensusParams(vote_extensions_enable_height=1)))
        return app

    # -- one height -------------------------------------------------------------------------------

    def env(self, height: int, with_hash: bool = True) -> b.BlockEnv:
        return b.BlockEnv(chain_id=CHAIN_ID, height=height, time_ns=GENESIS_NS + height * 10**9,
                          proposer_address=self.keys[0].consensus_address,
                          hash=height.to_bytes(32, "big") if with_hash else b"")

    def extensions(self, height: int, block: Sequence[bytes] = ()) -> list[bytes]:
        """Each validator's extension at `height`, as its own watcher would make it (the app of
        validator 0 builds each one with that validator's observer)."""
        out = []
        for i in range(len(self.keys)):
            saved = self.app.observer, self.app.signer
            self.app.observer, self.app.signer = self.observers[i], self.signers[i]
            try:
                out.append(self.app.extend_vote(b.ExtendVoteRequest(env=self.env(height), txs=tuple(block))))
            finally:
                self.app.observer, self.app.signer = saved
        return out

    def sign(self, i: int, ext: bytes, height: int, round_: int = 0) -> bytes:
        return self.keys[i].consensus_key.sign(vote_extension_sign_bytes(ext, height, round_, CHAIN_ID)).signature

    def members(self, height: int) -> dict[bytes, int]:
        """The validator set in force at `height` by consensus address, as the app's staking keeps it
        (it follows delegations, unbondings and jailing), with each member's power."""
        source = self.app.modules.validator_source
        assert source is not None
        found = source.consensus_members(self.app.store.committed(), height)
        if found is None:  # before the first Commit: InitChain's state
            found = source.consensus_members(self.app.store, height)
        assert found is not None, f"no validator set for height {height}"
        return {a: m.power for a, m in found.items()}

    def commit_info(self, height: int, exts: Sequence[bytes], voters: Sequence[int] | None = None,
                    round_: int = 0) -> b.ExtendedCommitInfo:
        who = range(len(self.keys)) if voters is None else voters
        members = self.members(height)
        votes = []
        for i, k in enumerate(self.keys):
            if k.consensus_address not in members:
                continue
            v = b.Validator(k.consensus_address, members[k.consensus_address])
            if i in who:
                sig = self.sign(i, exts[i], height, round_)
                votes.append(b.ExtendedVoteInfo(v, b.BLOCK_ID_FLAG_COMMIT, exts[i], sig))
            else:
                votes.append(b.ExtendedVoteInfo(v, b.BLOCK_ID_FLAG_ABSENT, b"", b""))
        return b.ExtendedCommitInfo(round_, tuple(votes))

    def propose(self, txs: Sequence[bytes] = ()) -> list[bytes]:
        h = self.app.last_height + 1
        return self.app.prepare_proposal(b.PrepareProposalRequest(
            env=self.env(h, with_hash=False), max_tx_bytes=1 << 22, txs=tuple(txs),
            local_last_commit=self.last_commit))

    def process(self, txs: Sequence[bytes]) -> bool:
        h = self.app.last_height + 1
        return self.app.process_proposal(b.ProcessProposalRequest(
            env=self.env(h), txs=tuple(txs), proposed_last_commit=b.CommitInfo(0, ())))

    def step(self, txs: Sequence[bytes] = (), voters: Sequence[int] | None = None) -> b.BlockOutput:
        """One height h as CometBFT runs it: PrepareProposal (with the extended commit of h - 1) and
        ProcessProposal; then the votes of h, each validator extending on the state of h - 1 and the
        others verifying; FinalizeBlock and Commit. The votes of h make the next extended commit."""
        h = self.app.last_height + 1
        block = self.propose(txs)
        if self.tamper is not None:
            block = self.tamper(block)
        assert self.process(block), "the proposal was rejected"
        exts = self.extensions(h, block)
        voting = self.members(h)  # known on the state of h - 1 (staking decides two heights ahead)
        for i, ext in enumerate(exts):
            if self.keys[i].consensus_address not in voting:
                continue
            assert self.app.verify_vote_extension(b.VerifyVoteExtensionRequest(
                hash=h.to_bytes(32, "big"), validator_address=self.keys[i].consensus_address, height=h,
                vote_extension=ext)), f"validator {i}'s extension was refused"
        out = self.app.finalize_block(b.FinalizeBlockRequest(env=self.env(h), txs=tuple(block),
                                                             decided_last_commit=b.CommitInfo(0, ())))
        self.app.commit()
        self.last_commit = self.commit_info(h, exts, voters)
        return out

    def query(self, path: str) -> dict[str, object]:
        res = self.app.query(b.QueryRequest(path=path, data=b"", height=0, prove=False))
        assert res.code == 0, res.log
        return json.loads(res.value)
