"""An in-process proof-of-stake chain for the staking tests: genesis validators, funded delegators,
blocks whose last commit and misbehaviour the test chooses, and staking txs."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from nacl.signing import SigningKey

from sidechain import blocks as b
from sidechain.app import Application
from sidechain.bank import state as bank_state
from sidechain.tx import build_signed_tx, module_msg
from sidechain.types import Amount, Coin, address_of_pubkey, bech32_address
from tests.support.pos import create_entry, validator_keys
from validators import distribution as dist
from validators import state as st
from validators.state import BONDED_POOL, DISTRIBUTION, NOT_BONDED_POOL

CHAIN_ID = "pos-test-1"
T0 = 1_750_000_000 * 10**9
BLOCK_NS = 5 * 10**9
POWER = 1_000_000  # power_reduction
SELF = 10 * POWER
FUND = 10**12

TEST_PARAMS: dict[str, Any] = {
    "staking": {"unbonding_time": "100s", "max_validators": 10, "max_entries": 7},
    "slashing": {"signed_blocks_window": 10, "min_signed_per_window_bps": 5000, "downtime_jail_duration": "60s",
                 "slash_fraction_double_sign_bps": 500, "slash_fraction_downtime_bps": 100,
                 "max_evidence_age_blocks": 20, "max_evidence_age": "100s"},
    "distribution": {"community_tax_bps": 200, "proposer_bonus_bps": 100, "inflation_bps": 0,
                     "issuance_per_block": "1000"},
}


def delegator_key(i: int) -> SigningKey:
    return SigningKey(hashlib.sha256(b"delegator-%d" % i).digest())


def addr_of(k: SigningKey) -> bytes:
    return address_of_pubkey(bytes(k.verify_key))


@dataclass
class PosChain:
    n_validators: int = 4
    n_delegators: int = 4
    params: dict[str, Any] = field(default_factory=lambda: json.loads(json.dumps(TEST_PARAMS)))
    app: Application = field(init=False)
    seq: dict[bytes, int] = field(default_factory=dict)
    time_ns: int = T0
    genesis_supply: int = 0
    last_out: b.BlockOutput | None = None
    init_updates: tuple[b.ValidatorUpdate, ...] = ()

    def __post_init__(self) -> None:
        vals = [validator_keys(i) for i in range(self.n_validators)]
        balances = [(v.operator, FUND) for v in vals] + [(addr_of(delegator_key(i)), FUND)
                                                         for i in range(self.n_delegators)]
        self.genesis_supply = sum(a for _, a in balances)
        app_state = {
            "auth": {"params": {"min_fees": [{"denom": "stake", "amount": "1"}]}},
            "bank": {"balances": [{"address": bech32_address(a, "side"), "coins": [{"denom": "stake",
                                                                                      "amount": str(n)}]}
                                  for a, n in sorted(balances)]},
            "staking": {"params": self.params,
                        "validators": [create_entry(v, CHAIN_ID, self_delegation=SELF * (1 + v.index))
                                       for v in vals]},
        }
        self.app = Application()
        res = self.app.init_chain(b.InitChainRequest(
            chain_id=CHAIN_ID, time_ns=T0, initial_height=1, app_state_bytes=json.dumps(app_state).encode(),
            validators=(), consensus_params=b.ConsensusParams()))
        self.init_updates = res.validators

    # -- reading -------------------------------------------------------------------------------

    @property
    def state(self) -> Any:
        """The committed state (before the first block: the genesis, staged in the working state)."""
        return self.app.store if self.app.last_height == 0 else self.app.store.committed()

    def validator(self, i: int) -> st.Validator:
        v = st.get_validator(self.state, validator_keys(i).operator)
        assert v is not None
        return v

    def balance(self, address: bytes, denom: str = "stake") -> int:
        return int(bank_state.get_balance(self.state, address, denom))

    def supply(self, denom: str = "stake") -> int:
        return int(bank_state.get_supply(self.state, denom))

    def query(self, path: str) -> Any:
        r = self.app.query(b.QueryRequest(path=path, data=b"", height=0, prove=False))
        assert r.code == 0, r.log
        return json.loads(r.value)

    def set_at(self, height: int) -> st.ValidatorSet:
        vs = st.get_historical(self.state, height)
        assert vs is not None, f"no set at {height}"
        return vs

    # -- writing -------------------------------------------------------------------------------

    def tx(self, key: SigningKey, name: str, payload: Any, fee: int = 1) -> bytes:
        a = addr_of(key)
        seq = self.seq.get(a, 0)
        self.seq[a] = seq + 1
        return build_signed_tx(key, CHAIN_ID, [module_msg(name, payload)], seq, Coin("stake", Amount(fee)))

    def block(self, txs: Sequence[bytes] = (), absent: Iterable[int] = (), misbehavior: Sequence[b.Misbehavior] = (),
              proposer: int = 0) -> b.BlockOutput:
        h = self.app.last_height + 1
        self.time_ns += BLOCK_NS
        votes: tuple[b.VoteInfo, ...] = ()
        if h > 1:
            absent_cons = {validator_keys(i).consensus_address for i in absent}
            votes = tuple(
                b.VoteInfo(b.Validator(st.consensus_address(m.consensus_pubkey), m.power),
                           b.BLOCK_ID_FLAG_ABSENT if st.consensus_address(m.consensus_pubkey) in absent_cons
                           else b.BLOCK_ID_FLAG_COMMIT)
                for m in sorted(self.set_at(h - 1).members, key=lambda m: st.consensus_address(m.consensus_pubkey)))
        env = b.BlockEnv(chain_id=CHAIN_ID, height=h, time_ns=self.time_ns,
                         proposer_address=validator_keys(proposer).consensus_address)
        out = self.app.finalize_block(b.FinalizeBlockRequest(env=env, txs=tuple(txs),
                                                             decided_last_commit=b.CommitInfo(0, votes),
                                                             misbehavior=tuple(misbehavior)))
        self.app.commit()
        self._resync()  # a tx whose ante step failed did not use its sequence
        self.last_out = out
        return out

    def _resync(self) -> None:
        for a in list(self.seq):
            r = self.app.query(b.QueryRequest(path=f"/account/{bech32_address(a, 'side')}", data=b"", height=0,
                                              prove=False))
            self.seq[a] = json.loads(r.value)["sequence"]

    def run(self, n: int, absent: Iterable[int] = ()) -> None:
        for _ in range(n):
            self.block(absent=absent)

    # -- invariants ----------------------------------------------------------------------------

    def check_invariants(self) -> None:
        state = self.state
        vals = st.iterate_validators(state)
        bonded = sum(v.tokens for v in vals if v.status == st.BONDED)
        assert self.balance(BONDED_POOL) == bonded, "the bonded pool holds the bonded validators' tokens"
        unbonding = 0
        for key, _ in state.iterate(b"\x28", b"\x29"):
            unbonding += sum(e.balance for e in st.get_unbonding(state, key[1:21], key[21:41]))
        not_bonded = sum(v.tokens for v in vals if v.status != st.BONDED)
        assert self.balance(NOT_BONDED_POOL) == not_bonded + unbonding, "not-bonded pool = others + unbonding"
        for v in vals:
            shares = sum(st.get_delegation(state, d, v.operator) for d in st.delegators_of(state, v.operator))
            assert shares == v.shares, "a validator's shares are its delegators' shares"
            assert v.tokens >= 0 and v.shares >= 0
        outstanding: dict[str, int] = {}
        for v in vals:
            for d, a in dist.get_outstanding(state, v.operator).items():
                assert a >= 0
                outstanding[d] = outstanding.get(d, 0) + a
        pool = dist.get_community_pool(state)
        for denom in sorted(set(outstanding) | set(pool)):
            held = self.balance(DISTRIBUTION, denom) * dist.DEC
            assert held == outstanding.get(denom, 0) + pool.get(denom, 0), "rewards held = outstanding + pool"
