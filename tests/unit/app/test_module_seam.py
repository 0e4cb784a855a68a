"""A module added through the seam alone: one package (tests/unit/app/toy) and one line (the tuple).

Its genesis section, params, message, query route and end-block step all work through the
application, without any other change; and the module set refuses bad declarations at build time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

import pytest

from sidechain import blocks as b
from sidechain.app import Application
from sidechain.bank.module import BankModule
from sidechain.env import PrefixRange
from sidechain.errors import ConsensusFailure
from sidechain.module import CHAIN, CHAIN_MODULES, ModuleSet
from sidechain.tx import build_signed_tx
from sidechain.types import Amount, Coin
from tests.support.pos import DEFAULT_SELF_DELEGATION, operator_balances, staking_section
from tests.unit.app.toy.module import LAST_END_BLOCK_KEY, Increment, IncrementHandler, ToyModule, ToyParams
from tests.unit.tx.chain import CHAIN_ID, addr, genesis_json, key

TOY_CHAIN = ModuleSet((*CHAIN_MODULES, ToyModule))  # the one line

A, B = key(1), key(2)
GENESIS_NS = 1_700_000_000 * 10**9


def app_state(toy: object) -> dict[str, Any]:
    state = genesis_json([(addr(A), [Coin("stake", Amount(1000))]), (addr(B), [Coin("l1/eth", Amount(1000))]),
                          *[(a, [Coin(d, Amount(n))]) for a, n, d in operator_balances(1, DEFAULT_SELF_DELEGATION)]],
                         min_fees=(Coin("l1/eth", Amount(1)), Coin("stake", Amount(1))))
    state["staking"] = staking_section(CHAIN_ID)
    if toy is not None:
        state["toy"] = toy
    return state


def new_app(toy: object) -> Application:
    app = Application(modules=TOY_CHAIN)
    app.init_chain(b.InitChainRequest(chain_id=CHAIN_ID, time_ns=GENESIS_NS, initial_height=1,
                                      app_state_bytes=json.dumps(app_state(toy)).encode(), validators=(),
                                      consensus_params=b.ConsensusParams()))
    return app


def run_block(app: Application, txs: list[bytes]) -> b.BlockOutput:
    h = app.last_height + 1
    env = b.BlockEnv(chain_id=CHAIN_ID, height=h, time_ns=GENESIS_NS + h * 10**9, proposer_address=b"\x01" * 20)
    out = app.finalize_block(b.FinalizeBlockRequest(env=env, txs=tuple(txs), decided_last_commit=b.CommitInfo(0, ())))
    app.commit()
    return out


def increment(k: Any, by: int, sequence: int, fee_denom: str = "stake") -> bytes:
    msg = IncrementHandler(ToyParams.default(), None).to_proto(Increment(addr(k), by))  # type: ignore[arg-type]
    return build_signed_tx(k, CHAIN_ID, [msg], sequence, Coin(fee_denom, Amount(1)))


def query(app: Application, path: str, data: bytes = b"") -> b.QueryResponse:
    return app.query(b.QueryRequest(path=path, data=data, height=0, prove=False))


def test_toy_module_genesis_message_query_and_end_block() -> None:
    app = new_app({"params": {"max_step": 3}, "counter": "7"})
    out = run_block(app, [increment(A, 2, 0), increment(A, 4, 1), increment(B, 1, 0, fee_denom="l1/eth")])
    ok, too_large, not_holder = out.tx_results
    assert ok.code == 0 and ("toy_increment", "9") in [(e.type, e.attributes[-1].value) for e in ok.events]
    assert (too_large.codespace, too_large.code) == ("toy", 2) and "exceeds max_step 3" in too_large.log
    assert (not_holder.codespace, not_holder.code) == ("toy", 3)  # B holds no stake (the need on the bank)
    assert json.loads(query(app, "/toy/counter").value) == {"counter": "9"}
    assert json.loads(query(app, "/params").value)["toy"] == {"max_step": 3}
    assert query(app, "/store/key", LAST_END_BLOCK_KEY).value == (1).to_bytes(8, "big")  # the end-block step ran
    out = run_block(app, [increment(A, 1, 2)])  # counter 10: the end-block step emits its milestone event
    assert [e.type for e in out.events if e.type.startswith("toy")] == ["toy_milestone"]  # (staking's are there too)
    assert query(app, "/store/key", LAST_END_BLOCK_KEY).value == (2).to_bytes(8, "big")
    exported = TOY_CHAIN.export_genesis(app.store.committed())
    assert exported["toy"] == {"params": {"max_step": 3}, "counter": "10"}
    assert list(exported) == ["auth", "bank", "staking", "toy"]  # module order
    assert query(app, "/toy/nope").code != 0


def test_toy_genesis_is_checked_by_the_module() -> None:
    with pytest.raises(ConsensusFailure, match=r"app_state.toy.params: max_step 0 is out of range"):
        new_app({"params": {"max_step": 0}})
    with pytest.raises(ConsensusFailure, match=r"app_state.toy: unknown field"):
        new_app({"count": 1})
    assert json.loads(query(run_and_return(new_app(None)), "/toy/counter").value) == {"counter": "0"}  # default


def run_and_return(app: Application) -> Application:
    run_block(app, [])
    return app


def test_the_chain_without_the_toy_refuses_its_section_and_its_message() -> None:
    with pytest.raises(Exception, match="app_state: unknown field"):
        CHAIN.parse_genesis(app_state({"counter": "1"}))
    app = Application()
    app.init_chain(b.InitChainRequest(chain_id=CHAIN_ID, time_ns=GENESIS_NS, initial_height=1,
                                      app_state_bytes=json.dumps(app_state(None)).encode(), validators=(),
                                      consensus_params=b.ConsensusParams()))
    (r,) = run_block(app, [increment(A, 1, 0)]).tx_results
    assert (r.codespace, r.code) == ("tx", 8)  # UnknownMessage: toy.Increment is not enabled here


def _variant(**attrs: Any) -> type:
    class Variant(ToyModule):
        pass

    for k, v in attrs.items():
        setattr(Variant, k, v)
    return Variant


class NeedsNobody:
    name: ClassVar[str] = "lonely"
    prefixes: ClassVar[PrefixRange] = PrefixRange(0x50, 0x50)
    msg_names: ClassVar[tuple[str, ...]] = ()
    needs: ClassVar[Mapping[str, type]] = {"x": ConsensusFailure}  # nobody offers it


@pytest.mark.parametrize(("extra", "message"), [
    (_variant(prefixes=PrefixRange(0x1F, 0x20)), "overlap bank's 0x10-0x1f"),
    (_variant(prefixes=PrefixRange(0xF0, 0xF0)), "overlap app's"),
    (_variant(name="bank", prefixes=PrefixRange(0x50, 0x50)), "module name 'bank' is used twice"),
    (_variant(name="other", prefixes=PrefixRange(0x50, 0x50), msg_names=("send",)), "already bank's"),
    (_variant(name="other", prefixes=PrefixRange(0x50, 0x50), msg_names=("toy.Increment",)), "nor named other."),
    (NeedsNobody, "needs no module offers"),
])
def test_bad_declarations_fail_when_the_module_set_is_built(extra: type, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        ModuleSet((*CHAIN_MODULES, extra))  # type: ignore[arg-type]


def test_duplicate_query_route_fails() -> None:
    class Shadow(ToyModule):
        name: ClassVar[str] = "shadow"
        prefixes: ClassVar[PrefixRange] = PrefixRange(0x50, 0x50)
        msg_names: ClassVar[tuple[str, ...]] = ()

        def query_routes(self):  # type: ignore[no-untyped-def]
            from sidechain.env import QueryRoute
            return (QueryRoute("supply", lambda r, a, c: None, "shadows bank"),)  # type: ignore[arg-type, return-value]

    with pytest.raises(TypeError, match="query route /supply is already bank's"):
        ModuleSet((*CHAIN_MODULES, Shadow))  # type: ignore[arg-type]


def test_ambiguous_need_fails() -> None:
    class SecondBank(BankModule):
        name: ClassVar[str] = "bank2"
        prefixes: ClassVar[PrefixRange] = PrefixRange(0x50, 0x50)
        msg_names: ClassVar[tuple[str, ...]] = ()

        def query_routes(self):  # type: ignore[no-untyped-def]
            return ()

    with pytest.raises(TypeError, match="offered by bank, bank2: ambiguous"):
        ModuleSet((*CHAIN_MODULES, SecondBank))  # type: ignore[arg-type]
