"""What a network is made of: the network spec, genesis params and consensus params.

A network spec (JSON) describes a whole local network; every field but `validators` is optional:

    {
      "chain_id": "sidechain-testnet",
      "validators": [{"moniker": "val0", "stake": "100000000", "operator_coins": "1000000000stake"}, ...],
      "accounts": [{"name": "alice", "coins": "1000000000stake"},
                   {"address": "side1...", "coins": "5stake,7l1/eth"}],
      "params": {"consensus": {"block": {"max_bytes": 4194304, "max_gas": -1},
                               "evidence": {"max_age_num_blocks": 100000, "max_age_duration": "48h",
                                            "max_bytes": 1048576},
                               "abci": {"vote_extensions_enable_height": 1}},
                 "auth": {...auth params...}, "bank": {...bank params...}},  # one per module with params
      "node": {"timeout_commit": "200ms", "timeout_propose": "3s", "abci_transport": "socket",
               "flush_throttle_timeout": "10ms", "mempool_size": 2000}  # mempool_size: by network size if absent
    }

A validator's `stake` is its self-delegation in the bond denom, bonded at genesis from its
operator's balance (so `operator_coins` must hold at least that much); its voting power is
stake // power_reduction (1,000,000 by default: 100000000 is 100 units of power). Each validator
also has an operator account, a key in the
network's keyring named after its moniker, funded with `operator_coins`. Accounts with a `name`
get a key in the keyring; accounts with an `address` are only funded.

`params` is also the format of the `--params` file of `sidechain genesis collect`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from genesis.errors import SpecError
from sidechain.errors import SidechainError
from sidechain.module import CHAIN
from sidechain.types import Coin, bech32_decode, coins_str, parse_coins
from validators.genesis import MAX_TOTAL_VOTING_POWER
from validators.params import PosParams, StakingParams

CHAIN_ID_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.\-]{0,48}$")
# Monikers become key names, directory-free labels and log prefixes: keep them simple.
MONIKER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,31}$")
KEY_NAME_RE = MONIKER_RE
MAX_BLOCK_BYTES = 100 * 1024 * 1024  # CometBFT's types.MaxBlockSizeBytes
_DURATION_RE = re.compile(r"^([0-9]+)(ns|us|ms|s|m|h)$")
_UNIT_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}

# A local network's mempool.size when its validators share one machine. Chosen by measurement
# (tests/bench/bench_net.py, 30-s runs at saturation, 2-core machine; bench-results/
# bench-net-mempool-size-2026-12-06.json): committed tx/s, p50 / p99 latency, 4 validators =
# 887 and 1,077, 9.2 / 18.4 s and 7.8 / 23.3 s at CometBFT's 5,000 (blocks of 3,300-4,100 txs, extra
# rounds); 1,110, 7.6 / 10.4 s at 3,000; 1,147 and 1,217, 4.9 / 6.3 s and 5.1 / 7.6 s at 2,000;
# 1,029-1,181, 4.0-4.3 / 5.2-5.8 s at 1,500; 1,030, 3.0 / 3.9 s at 1,000; offered 800 tx/s (below the
# ceiling): p50 / p99 2.9 / 4.4 s at 5,000, 1.5 / 2.0 s at 2,000. A mempool of about one block keeps
# blocks short and rechecks few, and refuses ("mempool full, retry") what it cannot hold soon.
LOCAL_MEMPOOL_SIZE = 2000
# One validator's: its queue bounds how long an accepted tx waits (mempool / throughput), and a smaller
# one starts blocks short (the mempool refills after each block is reaped whole). Measured the same
# way (bench-results/bench-net-defaults-2026-12-07.json, patched CometBFT): 3,995 and 3,996 tx/s, p99
# 1.20 / 1.16 s at CometBFT's 5,000; 4,130 and 3,743, p99 0.82 / 0.93 s at 3,500; 3,487 and 3,909,
# p99 0.87 / 0.78 s at 3,000 (2,689 and 2,830 at 2,000 on 12-06). A `sidechain init` home keeps 5,000.
SOLO_MEMPOOL_SIZE = 3500
MAX_MEMPOOL_SIZE = 1_000_000


def local_mempool_size(validators: int) -> int:
    """mempool.size for a local network of this many validators (see LOCAL_MEMPOOL_SIZE, SOLO_MEMPOOL_SIZE)."""
    return LOCAL_MEMPOOL_SIZE if validators > 1 else SOLO_MEMPOOL_SIZE


DEFAULT_CHAIN_ID = "sidechain-testnet"
DEFAULT_STAKE = 100_000_000
MAX_STAKE = 10**60
DEFAULT_OPERATOR_COINS = "1000000000stake"
DEFAULT_TEST_ACCOUNTS = ("alice", "bob")
DEFAULT_ACCOUNT_COINS = "1000000000stake"


def parse_duration_ns(value: object, path: str) -> int:
    """A Go-style duration with one unit ("48h", "500ms") or an integer of nanoseconds."""
    if type(value) is int and value > 0:
        return value
    m = _DURATION_RE.match(value) if isinstance(value, str) else None
    if m is None or int(m.group(1)) <= 0:
        raise SpecError(f'{path}: expected a positive duration such as "500ms" or "48h", got {value!r}')
    return int(m.group(1)) * _UNIT_NS[m.group(2)]


def _obj(value: object, path: str, keys: tuple[str, ...]) -> dict[str, object]:
    if not isinstance(value, dict):
        raise SpecError(f"{path}: expected an object, got {type(value).__name__}")
    unknown = sorted(k for k in value if k not in keys)
    if unknown:
        raise SpecError(f"{path}: unknown field(s) {', '.join(map(repr, unknown))}; known: {', '.join(keys)}")
    return value


def _int(value: object, path: str, lo: int, hi: int) -> int:
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value):
        value = int(value)
    if type(value) is not int or not lo <= value <= hi:
        raise SpecError(f"{path}: expected an integer in [{lo}, {hi}], got {value!r}")
    return value


def _coins(value: object, path: str) -> tuple[Coin, ...]:
    if not isinstance(value, str):
        raise SpecError(f'{path}: expected coins as a string such as "1000stake,5l1/eth", got {value!r}')
    try:
        return parse_coins(value)
    except SidechainError as e:
        raise SpecError(f"{path}: {e}") from None


@dataclass(frozen=True)
class ConsensusParams:
    """The consensus params of genesis.json that the app reads in InitChain."""

    block_max_bytes: int = 4 * 1024 * 1024
    block_max_gas: int = -1
    evidence_max_age_num_blocks: int = 100_000
    evidence_max_age_duration_ns: int = 48 * 3600 * 10**9
    evidence_max_bytes: int = 1024 * 1024
    vote_extensions_enable_height: int = 1

    def validate(self) -> None:
        """CometBFT's own rules (types.ConsensusParams.ValidateBasic), checked before a node refuses them."""
        p = "params.consensus"
        if self.block_max_bytes != -1 and not 0 < self.block_max_bytes <= MAX_BLOCK_BYTES:
            raise SpecError(
                f"{p}.block.max_bytes must be -1 or in [1, {MAX_BLOCK_BYTES}], got {self.block_max_bytes}"
            )
        if self.block_max_gas < -1:
            raise SpecError(f"{p}.block.max_gas must be -1 (unlimited) or >= 0, got {self.block_max_gas}")
        if self.evidence_max_age_num_blocks <= 0:
            raise SpecError(f"{p}.evidence.max_age_num_blocks must be positive")
        if self.evidence_max_age_duration_ns <= 0:
            raise SpecError(f"{p}.evidence.max_age_duration must be positive")
        limit = self.block_max_bytes if self.block_max_bytes != -1 else MAX_BLOCK_BYTES
        if not 0 <= self.evidence_max_bytes <= limit:
            raise SpecError(
                f"{p}.evidence.max_bytes must be in [0, block.max_bytes = {limit}], "
                f"got {self.evidence_max_bytes}"
            )
        if self.vote_extensions_enable_height < 0:
            raise SpecError(f"{p}.abci.vote_extensions_enable_height must be >= 0 (0 disables them)")

    @classmethod
    def from_json(cls, obj: object, path: str = "params.consensus") -> ConsensusParams:
        d = _obj(obj, path, ("abci", "block", "evidence"))
        dflt = cls()
        block = _obj(d.get("block", {}), f"{path}.block", ("max_bytes", "max_gas"))
        ev = _obj(
            d.get("evidence", {}), f"{path}.evidence", ("max_age_duration", "max_age_num_blocks", "max_bytes")
        )
        abci = _obj(d.get("abci", {}), f"{path}.abci", ("vote_extensions_enable_height",))
        big = 2**62
        p = cls(
            block_max_bytes=_int(
                block.get("max_bytes", dflt.block_max_bytes), f"{path}.block.max_bytes", -1, big
            ),
            block_max_gas=_int(block.get("max_gas", dflt.block_max_gas), f"{path}.block.max_gas", -1, big),
            evidence_max_age_num_blocks=_int(
                ev.get("max_age_num_blocks", dflt.evidence_max_age_num_blocks),
                f"{path}.evidence.max_age_num_blocks",
                1,
                big,
            ),
            evidence_max_age_duration_ns=parse_duration_ns(
                ev.get("max_age_duration", dflt.evidence_max_age_duration_ns),
                f"{path}.evidence.max_age_duration",
            ),
            evidence_max_bytes=_int(
                ev.get("max_bytes", dflt.evidence_max_bytes), f"{path}.evidence.max_bytes", 0, big
            ),
            vote_extensions_enable_height=_int(
                abci.get("vote_extensions_enable_height", dflt.vote_extensions_enable_height),
                f"{path}.abci.vote_extensions_enable_height",
                0,
                big,
            ),
        )
        p.validate()
        return p

    def to_genesis_json(self) -> dict[str, object]:
        """genesis.json's `consensus_params`, in CometBFT v0.38's JSON (int64s as strings)."""
        return {
            "block": {"max_bytes": str(self.block_max_bytes), "max_gas": str(self.block_max_gas)},
            "evidence": {
                "max_age_num_blocks": str(self.evidence_max_age_num_blocks),
                "max_age_duration": str(self.evidence_max_age_duration_ns),
                "max_bytes": str(self.evidence_max_bytes),
            },
            "validator": {"pub_key_types": ["ed25519"]},
            "version": {"app": "0"},
            "abci": {"vote_extensions_enable_height": str(self.vote_extensions_enable_height)},
        }


@dataclass(frozen=True)
class GenesisParams:
    """Consensus params plus the params of each module that has them (`{"auth": {...}, "bank":
    {...}}`, as given), checked by the modules' own rules (sidechain/module.py)."""

    consensus: ConsensusParams = field(default_factory=ConsensusParams)
    modules: dict[str, dict[str, object]] = field(default_factory=dict)

    @property
    def address_prefix(self) -> str:
        ante = CHAIN.ante_provider
        return ante.genesis_address_prefix({"params": self.modules.get(ante.name, {})})

    def module(self, name: str) -> dict[str, object]:
        """The params given for module `name` ({} = its defaults)."""
        return self.modules.get(name, {})

    @property
    def staking(self) -> StakingParams:
        """The staking params given (bond denom, power reduction), defaults filled in."""
        try:
            return PosParams.from_json(self.module("staking"), "params.staking", self.address_prefix).staking
        except SidechainError as e:
            raise SpecError(str(e)) from None

    @classmethod
    def from_json(cls, obj: object, path: str = "params") -> GenesisParams:
        names = tuple(m.name for m in CHAIN if m.params_type is not None)
        d = _obj(obj, path, ("consensus", *names))
        modules: dict[str, dict[str, object]] = {}
        for name in names:
            section = d.get(name, {})
            if not isinstance(section, dict):
                raise SpecError(f"{path}.{name} must be an object")
            modules[name] = dict(section)
        params = cls(ConsensusParams.from_json(d.get("consensus", {}), f"{path}.consensus"), modules)
        params.check_modules()
        return params

    def check_modules(self) -> None:
        """Each module's params, by the module's own rules."""
        try:
            CHAIN.check_params(self.modules)
        except SidechainError as e:
            raise SpecError(f"{e}") from None

    def to_json(self) -> dict[str, object]:
        c = self.consensus
        out: dict[str, object] = {
            "consensus": {
                "block": {"max_bytes": c.block_max_bytes, "max_gas": c.block_max_gas},
                "evidence": {
                    "max_age_num_blocks": c.evidence_max_age_num_blocks,
                    "max_age_duration": f"{c.evidence_max_age_duration_ns}ns",
                    "max_bytes": c.evidence_max_bytes,
                },
                "abci": {"vote_extensions_enable_height": c.vote_extensions_enable_height},
            },
        }
        for m in CHAIN:
            if m.params_type is not None:
                out[m.name] = self.modules.get(m.name, {})
        return out


@dataclass(frozen=True)
class ValidatorSpec:
    moniker: str
    stake: int
    operator_coins: tuple[Coin, ...]


@dataclass(frozen=True)
class AccountSpec:
    coins: tuple[Coin, ...]
    name: str = ""  # a key of this name is created in the keyring
    address: str = ""  # or an existing bech32 address


@dataclass(frozen=True)
class NodeSettings:
    """Per-node CometBFT settings of a local network (not part of genesis)."""

    # Chosen by measurement (tests/bench/bench_net.py --idle 100, 4 validators on one 2-core machine):
    # broadcast to committed, p50/p99 = 0.70/1.28 s at 500ms + 100ms; 0.72/1.04 s at 200ms + 100ms;
    # 0.51/1.21 s at 500ms + 10ms; 0.40/0.71 s at 200ms + 10ms; 0.38/0.62 s at 100ms + 10ms.
    timeout_commit: str = "200ms"
    timeout_propose: str = "3s"
    abci_transport: str = "socket"
    # CometBFT's default (100ms) batches P2P messages and costs each consensus step up to that; a small
    # local network confirms in about half the time at 10ms.
    flush_throttle_timeout: str = "10ms"
    # CometBFT's mempool.size, in txs; 0: by network size (`local_mempool_size`).
    mempool_size: int = 0

    @classmethod
    def from_json(cls, obj: object, path: str = "node") -> NodeSettings:
        d = _obj(obj, path, ("abci_transport", "flush_throttle_timeout", "mempool_size", "timeout_commit",
                             "timeout_propose"))
        dflt = cls()
        out = {}
        for name in ("timeout_commit", "timeout_propose", "flush_throttle_timeout"):
            v = d.get(name, getattr(dflt, name))
            parse_duration_ns(v, f"{path}.{name}")  # validates
            if not isinstance(v, str):
                raise SpecError(f'{path}.{name}: expected a duration string such as "500ms"')
            out[name] = v
        transport = d.get("abci_transport", dflt.abci_transport)
        if transport not in ("socket", "grpc"):
            raise SpecError(f'{path}.abci_transport must be "socket" or "grpc", got {transport!r}')
        mempool_size = _int(d.get("mempool_size", dflt.mempool_size), f"{path}.mempool_size", 0, MAX_MEMPOOL_SIZE)
        return cls(abci_transport=str(transport), mempool_size=mempool_size, **out)


@dataclass(frozen=True)
class NetworkSpec:
    chain_id: str
    validators: tuple[ValidatorSpec, ...]
    accounts: tuple[AccountSpec, ...] = ()
    params: GenesisParams = field(default_factory=GenesisParams)
    node: NodeSettings = field(default_factory=NodeSettings)

    def validate(self) -> None:
        if not CHAIN_ID_RE.match(self.chain_id):
            raise SpecError(f"chain_id {self.chain_id!r} must be 1-49 letters, digits, '.', '_' or '-'")
        if not self.validators:
            raise SpecError("validators: a network needs at least one validator")
        names: dict[str, str] = {}
        total = 0
        denom, reduction = self.params.staking.bond_denom, self.params.staking.power_reduction
        for i, v in enumerate(self.validators):
            p = f"validators[{i}]"
            if not MONIKER_RE.match(v.moniker):
                raise SpecError(f"{p}.moniker {v.moniker!r} must be 1-32 letters, digits, '.', '_' or '-'")
            if v.moniker in names:
                raise SpecError(f"{p}.moniker {v.moniker!r} is already used by {names[v.moniker]}")
            names[v.moniker] = p
            if not 0 < v.stake <= MAX_STAKE:
                raise SpecError(f"{p}.stake must be in [1, 10^60], got {v.stake}")
            if v.stake < reduction:
                raise SpecError(f"{p}.stake {v.stake} is less than one unit of power ({reduction}); a validator "
                                "needs at least power_reduction staked")
            held = sum(int(c.amount) for c in v.operator_coins if c.denom == denom)
            if held < v.stake:
                raise SpecError(f"{p}: operator_coins hold {held}{denom}, less than the stake {v.stake} it bonds")
            total += v.stake // reduction
        if total > MAX_TOTAL_VOTING_POWER:
            raise SpecError(
                f"validators: total power {total} exceeds CometBFT's maximum total power "
                f"{MAX_TOTAL_VOTING_POWER}"
            )
        for i, a in enumerate(self.accounts):
            p = f"accounts[{i}]"
            if bool(a.name) == bool(a.address):
                raise SpecError(f"{p}: give exactly one of 'name' (a new key) or 'address'")
            if a.address:
                try:
                    bech32_decode(a.address, self.params.address_prefix)
                except SidechainError as e:
                    raise SpecError(f"{p}.address: {e}") from None
            if a.name:
                if not KEY_NAME_RE.match(a.name):
                    raise SpecError(f"{p}.name {a.name!r} must be 1-32 letters, digits, '.', '_' or '-'")
                if a.name in names:
                    raise SpecError(
                        f"{p}.name {a.name!r} is already used by {names[a.name]} "
                        "(validator operator keys are named after their moniker)"
                    )
                names[a.name] = p

    @classmethod
    def from_json(cls, obj: object) -> NetworkSpec:
        d = _obj(obj, "spec", ("accounts", "chain_id", "node", "params", "validators"))
        chain_id = d.get("chain_id", DEFAULT_CHAIN_ID)
        if not isinstance(chain_id, str):
            raise SpecError(f"chain_id: expected a string, got {chain_id!r}")
        vals_raw = d.get("validators")
        if not isinstance(vals_raw, list):
            raise SpecError('validators: expected a list of {"moniker", "stake"}')
        validators = []
        for i, item in enumerate(vals_raw):
            p = f"validators[{i}]"
            v = _obj(item, p, ("moniker", "operator_coins", "stake"))
            moniker = v.get("moniker", f"val{i}")
            if not isinstance(moniker, str):
                raise SpecError(f"{p}.moniker: expected a string")
            validators.append(
                ValidatorSpec(
                    moniker=moniker,
                    stake=_int(v.get("stake", DEFAULT_STAKE), f"{p}.stake", 1, MAX_STAKE),
                    operator_coins=_coins(
                        v.get("operator_coins", DEFAULT_OPERATOR_COINS), f"{p}.operator_coins"
                    ),
                )
            )
        accs_raw = d.get("accounts", [])
        if not isinstance(accs_raw, list):
            raise SpecError("accounts: expected a list")
        accounts = []
        for i, item in enumerate(accs_raw):
            p = f"accounts[{i}]"
            a = _obj(item, p, ("address", "coins", "name"))
            name, address = a.get("name", ""), a.get("address", "")
            if not isinstance(name, str) or not isinstance(address, str):
                raise SpecError(f"{p}: name and address must be strings")
            if "coins" not in a:
                raise SpecError(f"{p}: missing 'coins'")
            accounts.append(AccountSpec(coins=_coins(a["coins"], f"{p}.coins"), name=name, address=address))
        spec = cls(
            chain_id=chain_id,
            validators=tuple(validators),
            accounts=tuple(accounts),
            params=GenesisParams.from_json(d.get("params", {})),
            node=_sized(NodeSettings.from_json(d.get("node", {})), len(validators)),
        )
        spec.validate()
        return spec

    def to_json(self) -> dict[str, object]:
        return {
            "chain_id": self.chain_id,
            "validators": [
                {"moniker": v.moniker, "stake": str(v.stake), "operator_coins": coins_str(v.operator_coins)}
                for v in self.validators
            ],
            "accounts": [
                {**({"name": a.name} if a.name else {"address": a.address}), "coins": coins_str(a.coins)}
                for a in self.accounts
            ],
            "params": self.params.to_json(),
            "node": {
                "timeout_commit": self.node.timeout_commit,
                "timeout_propose": self.node.timeout_propose,
                "abci_transport": self.node.abci_transport,
                "flush_throttle_timeout": self.node.flush_throttle_timeout,
                "mempool_size": self.node.mempool_size,
            },
        }


def load_spec(path: Path) -> NetworkSpec:
    try:
        obj = json.loads(path.read_text())
    except FileNotFoundError:
        raise SpecError(f"spec file {path} does not exist") from None
    except ValueError as e:
        raise SpecError(f"spec file {path} is not valid JSON: {e}") from None
    try:
        return NetworkSpec.from_json(obj)
    except SpecError as e:
        raise SpecError(f"{path}: {e}") from None


def default_spec(n: int, chain_id: str = DEFAULT_CHAIN_ID, node: NodeSettings | None = None) -> NetworkSpec:
    """N validators val0..val<N-1> with equal stake, and funded test accounts alice and bob."""
    if not 1 <= n <= 64:
        raise SpecError(f"a local testnet has 1 to 64 validators, not {n}")
    coins = parse_coins(DEFAULT_OPERATOR_COINS)
    spec = NetworkSpec(
        chain_id=chain_id,
        validators=tuple(ValidatorSpec(f"val{i}", DEFAULT_STAKE, coins) for i in range(n)),
        accounts=tuple(
            AccountSpec(parse_coins(DEFAULT_ACCOUNT_COINS), name=a) for a in DEFAULT_TEST_ACCOUNTS
        ),
        node=_sized(node or NodeSettings(), n),
    )
    spec.validate()
    return spec


def _sized(node: NodeSettings, validators: int) -> NodeSettings:
    """`node` with a mempool size: its own, else the one for a local network of `validators`."""
    if node.mempool_size:
        return node
    return replace(node, mempool_size=local_mempool_size(validators))
