"""The tx pipeline: CheckTx/recheck, proposals and FinalizeBlock semantics (sidechain/txflow.py)."""

from __future__ import annotations

import dataclasses

import pytest

from sidechain.auth.errors import FeeDenomNotAccepted, FeeTooLow, InsufficientFeeFunds, WrongSequence
from sidechain.auth.state import get_account, get_sequence
from sidechain.bank.errors import InsufficientFunds
from sidechain.bank.state import get_balance, get_fee_pool, get_supply
from sidechain.block import process_collect_fees
from sidechain.blocks import TxResult
from sidechain.env import ChainRules
from sidechain.module import CHAIN
from sidechain.store.cache import CacheKV
from sidechain.tx import InvalidSignature, TxTimedOut, build_signed_tx
from sidechain.txflow import (
    SignatureCache,
    check_stateful,
    check_stateless,
    deliver,
    deliver_raw,
)

from .chain import CHAIN_ID, addr, bech, coin, env, key, new_state, send_msg, send_tx

A, B, C = key(0), key(1), key(2)


def attrs(result: TxResult, event_type: str) -> list[dict[str, str]]:
    return [{a.key: a.value for a in e.attributes} for e in result.events if e.type == event_type]


def test_check_stateful_applies_so_a_second_tx_sees_the_first() -> None:
    state, rules = new_state([(addr(A), [coin(10)])])
    e = env(rules)
    check_stateful(state, check_stateless(send_tx(A, addr(B), 6, 0), rules), e)
    assert get_sequence(state, addr(A)) == 1
    assert get_balance(state, addr(A), "stake") == 3
    # the same account's next tx is checked against the first: 3 left, 6 + 1 needed
    with pytest.raises(InsufficientFunds, match=r"have 3stake, need 7stake \(amount 6 \+ fee 1\)"):
        check_stateful(state, check_stateless(send_tx(A, addr(B), 6, 1), rules), e)
    # a failed check writes nothing
    assert get_sequence(state, addr(A)) == 1 and get_balance(state, addr(A), "stake") == 3


def test_insufficient_funds_message_matches_issue() -> None:
    state, rules = new_state([(addr(A), [coin(5)])])
    with pytest.raises(InsufficientFunds) as ei:
        check_stateful(state, check_stateless(send_tx(A, addr(B), 6, 0), rules), env(rules))
    assert str(ei.value) == "insufficient funds: have 5stake, need 7stake (amount 6 + fee 1)"


def test_replay_rejected() -> None:
    state, rules = new_state([(addr(A), [coin(100)])])
    raw = send_tx(A, addr(B), 5, 0)
    tx = check_stateless(raw, rules)
    assert deliver(state, tx, env(rules)).ok
    with pytest.raises(WrongSequence, match="expected 1, got 0"):
        check_stateful(state, tx, env(rules, 2))
    again = deliver(state, tx, env(rules, 2))
    assert (again.code, again.codespace) == (WrongSequence.code, "auth")
    assert get_balance(state, addr(B), "stake") == 5


def test_future_sequence_rejected() -> None:
    state, rules = new_state([(addr(A), [coin(100)])])
    with pytest.raises(WrongSequence, match="expected 0, got 1"):
        check_stateful(state, check_stateless(send_tx(A, addr(B), 5, 1), rules), env(rules))


def test_cross_chain_tx_rejected() -> None:
    state, rules = new_state([(addr(A), [coin(100)])])
    raw = send_tx(A, addr(B), 5, 0, chain_id="other-chain")
    with pytest.raises(InvalidSignature):
        check_stateless(raw, rules)
    r = deliver_raw(state, raw, env(rules), SignatureCache(CHAIN_ID))
    assert (r.code, r.codespace) == (InvalidSignature.code, "tx")
    assert get_sequence(state, addr(A)) == 0


def test_fee_rules() -> None:
    eth = "l1/eth"
    state, rules = new_state([(addr(A), [coin(100), coin(50, eth)])], min_fees=[coin(10, eth), coin(2)])
    e = env(rules)
    with pytest.raises(FeeTooLow, match="below the minimum 2stake"):
        check_stateful(state, check_stateless(send_tx(A, addr(B), 1, 0, fee=1), rules), e)
    with pytest.raises(FeeDenomNotAccepted, match="10l1/eth,2stake"):
        check_stateful(state, check_stateless(send_tx(A, addr(B), 1, 0, fee=coin(5, "uatom")), rules), e)
    # a user holding only bridged ETH can pay its fee in ETH
    check_stateful(state, check_stateless(send_tx(A, addr(B), 1, 0, fee=coin(10, eth)), rules), e)
    assert get_balance(state, addr(A), eth) == 40


def test_cannot_pay_fee() -> None:
    state, rules = new_state([(addr(A), [coin(100)])])
    raw = send_tx(B, addr(A), 1, 0)  # B has nothing
    with pytest.raises(InsufficientFeeFunds):
        check_stateful(state, check_stateless(raw, rules), env(rules))
    r = deliver(state, check_stateless(raw, rules), env(rules))
    assert r.code == InsufficientFeeFunds.code and get_sequence(state, addr(B)) == 0


def test_timeout_height() -> None:
    state, rules = new_state([(addr(A), [coin(100)])])
    tx = check_stateless(send_tx(A, addr(B), 1, 0, timeout_height=5), rules)
    with pytest.raises(TxTimedOut):
        check_stateful(CacheKV(state), tx, env(rules, 6))
    check_stateful(state, tx, env(rules, 5))


def test_deliver_success_events_and_fees() -> None:
    state, rules = new_state([(addr(A), [coin(100)])])
    e = env(rules)
    r = deliver(state, check_stateless(send_tx(A, addr(B), 30, 0, fee=3), rules), e)
    assert r.ok, r.log
    assert attrs(r, "transfer") == [
        {"sender": bech(addr(A)), "recipient": bech(addr(B)), "amount": "30stake"}
    ]
    assert attrs(r, "fee") == [{"payer": bech(addr(A)), "amount": "3stake"}]
    assert attrs(r, "message") == [{"action": "send", "module": "bank", "sender": bech(addr(A))}]
    assert attrs(r, "tx") == [{"acc_seq": f"{bech(addr(A))}/0"}]
    assert all(a.index for ev in r.events for a in ev.attributes)
    assert get_balance(state, addr(A), "stake") == 67 and get_balance(state, addr(B), "stake") == 30
    acct = get_account(state, addr(A))
    assert acct.sequence == 1 and acct.public_key == bytes(A.verify_key)
    # fees are summed in memory and written once, at the end of the block
    assert get_fee_pool(state) == []
    process_collect_fees(state, e.fees, CHAIN)
    assert get_fee_pool(state) == [coin(3)]
    assert get_supply(state, "stake") == 100


def test_failed_tx_pays_fee_bumps_sequence_and_discards_other_writes() -> None:
    state, rules = new_state([(addr(A), [coin(100)])])
    # two sends; the second needs a denom A does not have. deliver must not rely on CheckTx.
    raw = build_signed_tx(
        A, CHAIN_ID, [send_msg(A, addr(B), coin(40)), send_msg(A, addr(C), coin(1, "l1/eth"))], 0, coin(2)
    )
    tx = check_stateless(raw, rules)
    with pytest.raises(InsufficientFunds):
        check_stateful(CacheKV(state), tx, env(rules))
    e = env(rules)
    r = deliver(state, tx, e)
    assert (r.code, r.codespace) == (InsufficientFunds.code, "bank")
    assert "insufficient funds" in r.log
    assert [ev.type for ev in r.events] == ["tx", "fee"]  # no transfer/message events of the failed part
    assert get_balance(state, addr(A), "stake") == 98  # fee paid, the first send undone
    assert get_balance(state, addr(B), "stake") == 0
    assert get_sequence(state, addr(A)) == 1
    process_collect_fees(state, e.fees, CHAIN)
    assert get_fee_pool(state) == [coin(2)]


def test_signature_cache_verifies_once() -> None:
    state, rules = new_state([(addr(A), [coin(100)])])
    cache = SignatureCache(CHAIN_ID)
    raw = send_tx(A, addr(B), 5, 0)
    t1 = check_stateless(raw, rules, cache)  # CheckTx
    t2 = check_stateless(raw, rules, cache)  # ProcessProposal / FinalizeBlock
    assert t1 is t2 and cache.verifications == 1 and cache.hits == 1
    assert deliver_raw(state, raw, env(rules), cache).ok
    assert cache.verifications == 1


def test_recheck_never_verifies_again() -> None:
    _, rules = new_state([(addr(A), [coin(100)])])
    cache = SignatureCache(CHAIN_ID, max_entries=1)
    raw = send_tx(A, addr(B), 5, 0)
    check_stateless(raw, rules, cache)
    check_stateless(send_tx(A, addr(B), 6, 0), rules, cache)  # evicts the first
    assert cache.verifications == 2
    tx = check_stateless(raw, rules, cache, recheck=True)
    assert cache.verifications == 2 and tx.sequence == 0


def test_cache_refuses_another_chain() -> None:
    _, rules = new_state([])
    with pytest.raises(ValueError):
        check_stateless(send_tx(A, addr(B), 5, 0), rules, SignatureCache("other"))


def _prepare(state: CacheKV, rules: ChainRules, txs: list[bytes], max_bytes: int, height: int) -> list[bytes]:
    """What the app's PrepareProposal does with the pipeline: keep valid txs up to max_bytes."""
    branch = CacheKV(state)
    out: list[bytes] = []
    size = 0
    for raw in txs:
        if size + len(raw) > max_bytes:
            break
        try:
            check_stateful(branch, check_stateless(raw, rules), env(rules, height))
        except Exception:  # noqa: BLE001 - only InvalidInputs occur; see test below
            continue
        out.append(raw)
        size += len(raw)
    return out


def test_proposal_flow_drops_invalid_and_respects_size() -> None:
    state, rules = new_state([(addr(A), [coin(10)]), (addr(B), [coin(10)])])
    good1 = send_tx(A, addr(C), 4, 0)
    dup_seq = send_tx(A, addr(C), 1, 0, fee=2)  # same sequence as good1: invalid after it
    good2 = send_tx(A, addr(C), 4, 1)
    broke = send_tx(A, addr(C), 4, 2)  # A has 10 - 5 - 5 = 0 left
    other = send_tx(B, addr(C), 1, 0, chain_id="x")
    picked = _prepare(state, rules, [good1, dup_seq, good2, broke, other], 10_000, 1)
    assert picked == [good1, good2]
    assert _prepare(state, rules, [good1, good2], len(good1) + len(good2) - 1, 1) == [good1]
    # the committed state is untouched by proposals
    assert get_sequence(state, addr(A)) == 0


def test_mempool_recheck_after_commit_evicts_invalidated_tx() -> None:
    state, rules = new_state([(addr(A), [coin(10)])])
    cache = SignatureCache(CHAIN_ID)
    in_block = send_tx(A, addr(B), 8, 0)
    in_mempool = send_tx(A, addr(C), 8, 0, fee=2)  # a competing tx with the same sequence
    check_stateful(CacheKV(state), check_stateless(in_mempool, rules, cache), env(rules))  # accepted in CheckTx
    assert deliver_raw(state, in_block, env(rules), cache).ok  # but the block had the other one
    fresh_check_state = CacheKV(state)
    with pytest.raises(WrongSequence):
        check_stateful(fresh_check_state, check_stateless(in_mempool, rules, cache, recheck=True), env(rules, 2))


def test_cached_tx_meets_current_params_not_the_ones_it_was_decoded_under() -> None:
    from sidechain.auth.module import Ante
    from sidechain.auth.params import AuthParams
    from sidechain.bank.errors import SendDisabled
    from sidechain.bank.msgs import SendHandler
    from sidechain.bank.params import BankParams
    from sidechain.bank.state import BankKeeper
    from sidechain.tx import MemoTooLong, MsgRegistry

    def with_params(auth: AuthParams, bank: BankParams) -> ChainRules:
        return dataclasses.replace(rules, limits=auth, registry=MsgRegistry([SendHandler(bank)]),
                                   ante=Ante(auth, BankKeeper()), params={**rules.params, "auth": auth, "bank": bank})

    state, rules = new_state([(addr(A), [coin(100)])])
    cache = SignatureCache(CHAIN_ID)
    raw = send_tx(A, addr(B), 5, 0, memo="m" * 50)
    check_stateless(raw, rules, cache)  # CheckTx under the old params
    # params change (e.g. governance, later): smaller memos, transfers disabled
    new_rules = with_params(
        AuthParams(**{**{f: getattr(rules.limits, f) for f in AuthParams.__slots__}, "max_memo_bytes": 10}),
        BankParams(send_enabled=False),
    )
    with pytest.raises(MemoTooLong):
        check_stateless(raw, new_rules, cache)
    no_memo_limit = with_params(rules.params["auth"], BankParams(send_enabled=False))
    tx = check_stateless(raw, no_memo_limit, cache)
    assert cache.verifications == 1
    r = deliver(state, tx, env(no_memo_limit))
    assert r.code == SendDisabled.code
