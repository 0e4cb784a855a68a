"""Signatures over valsets and batches in vote extensions, their storage and readiness, new valsets
from proof-of-stake changes, and forged-signature evidence (BRIDGE.md section 5, steps 3 and 7),
through the in-process chain with every ABCI step (tests/unit/bridge/chain.py)."""

from __future__ import annotations

import pytest

from bridge.module import digests
from bridge.module.events import (
    SIGNED_BATCH,
    SIGNED_VALSET,
    BatchExecuted,
    DigestSig,
    ValsetUpdated,
    VoteExtension,
    decode_extension,
    encode_extension,
)
from bridge.module.genesis import POWER_THRESHOLD
from bridge.module.msgs import SubmitForgedSignature
from bridge.module.sigs import SECP256K1_N, KeySigner, recover
from sidechain import blocks as b
from sidechain.gen.sidechain.staking.v1 import staking_pb2 as spb
from sidechain.tx import module_msg
from tests.unit.bridge.chain import CHAIN_ID, CONTRACT, POWER_REDUCTION
from tests.unit.bridge.wchain import L1_ADDR, WChain, addr, events_of
from validators.bridgekey import sign_bridge_proof

L1_CHAIN_ID = 1337


def funded(n_users: int = 2, eth: int = 10_000, powers: tuple[int, ...] = (10, 10, 10, 10), **kw: object) -> WChain:
    c = WChain(n_users=n_users, powers=powers, **kw)  # type: ignore[arg-type]
    c.step()
    for i in range(n_users):
        c.l1_deposit(addr(c.users[i]), eth)
    c.settle()
    return c


def bridge_address(c: WChain, i: int) -> bytes:
    return sign_bridge_proof(c.chain.keys[i].bridge_key, CHAIN_ID, c.chain.keys[i].operator)[0]


def batched(c: WChain, amount: int = 300, fee: int = 5) -> int:
    """Queue one withdrawal; returns the height it was included at (the batch forms one block later)."""
    r = c.withdraw(0, amount, fee)
    assert r.code == 0, r.log
    return c.height


# --- signing, storage, readiness ----------------------------------------------------------------


def test_every_validator_signs_a_new_batch_and_it_is_ready_three_blocks_after_the_withdrawal() -> None:
    c = funded()
    included = batched(c)
    c.step()  # end of this block: the batch forms (batch_interval_blocks 1)
    batch = c.batch(1)
    assert batch["created_height"] == included + 1 and batch["signatures"] == [] and batch["ready"] is False
    c.step()  # votes of this height sign it (they are made on the state that has the batch)
    assert c.batch(1)["signatures"] == []
    out = c.step()  # this block's extended commit carries the signatures: stored, ready
    assert events_of(out, "bridge_batch_ready") == [{"nonce": "1", "signed_power": c.batch(1)["signed_power"]}]
    batch = c.batch(1)
    assert batch["ready"] is True and batch["ready_height"] == included + 3 == c.height
    want = sorted(bridge_address(c, i) for i in range(4))
    assert [bytes.fromhex(s["validator"][2:]) for s in batch["signatures"]] == want  # type: ignore[index]
    digest = bytes.fromhex(batch["digest"][2:])  # type: ignore[index]
    for s in batch["signatures"]:  # type: ignore[attr-defined]
        assert recover(digest, bytes.fromhex(s["signature"][2:])) == bytes.fromhex(s["validator"][2:])
    assert int(batch["signed_power"]) == sum(c.query("/bridge/state")["valset"]["powers"])  # type: ignore[index]
    # nothing is signed twice: the next extensions carry no signature
    for ext in c.chain.extensions(c.height + 1):
        assert decode_extension(ext).signatures == ()


def test_a_signature_already_in_the_voted_blocks_commit_is_not_repeated() -> None:
    c = funded()
    batched(c)
    c.step()  # the batch forms
    c.step()  # votes sign it
    # the proposal of the next height carries those votes: a validator voting for it does not sign again
    block = c.chain.propose()
    for ext in c.chain.extensions(c.height + 1, block):
        assert decode_extension(ext).signatures == ()


def _threshold_chain(signing: tuple[bool, ...], powers: dict[int, int] | None = None) -> WChain:
    """L1's valset gives (by default) validator 0 exactly the threshold and validator 1 one unit."""
    probe = WChain(n_users=1)
    order = sorted(range(4), key=lambda i: bridge_address(probe, i))
    powers = powers or {0: POWER_THRESHOLD, 1: 1, 2: 1000, 3: 1000}
    valset = {"nonce": 0, "validators": ["0x" + bridge_address(probe, i).hex() for i in order],
              "powers": [powers[i] for i in order]}
    c = WChain(n_users=1, chain_kw={"l1_valset": valset})
    c.chain.signers = [s if on else None for s, on in zip(c.chain.signers, signing, strict=True)]
    c.step()
    c.l1_deposit(addr(c.users[0]), 10_000)
    c.settle()
    return c


@pytest.mark.parametrize(("signing", "ready"), [((True, False, False, False), False),
                                                 ((True, True, False, False), True)])
def test_readiness_at_exactly_the_threshold_and_one_above(signing: tuple[bool, ...], ready: bool) -> None:
    c = _threshold_chain(signing)
    batched(c)
    c.settle(4)
    batch = c.batch(1)
    assert int(batch["signed_power"]) == POWER_THRESHOLD + (1 if ready else 0)  # type: ignore[call-overload]
    assert batch["ready"] is ready and ("ready_height" in batch) is ready


def test_a_valset_update_on_l1_re_judges_readiness_against_the_new_valset() -> None:
    # L1's valset 0: validator 1 (who never signs) holds the threshold; the other three hold 2,001 units
    c = _threshold_chain((True, False, True, True), {0: 1, 1: POWER_THRESHOLD, 2: 1000, 3: 1000})
    batched(c)
    c.settle(4)
    assert c.batch(1)["ready"] is False and c.batch(1)["signed_power"] == "2001"
    latest = c.query("/bridge/valset/latest")  # step 7 made one: the L1 powers are far from the stake's
    assert latest["nonce"] == 1 and latest["status"] == "pending" and latest["created_height"] == 1
    # L1 runs valset 1 (equal powers, from stake): the same three signers now carry 3/4
    c._l1(ValsetUpdated(1, tuple(bytes.fromhex(a[2:]) for a in latest["validators"]),  # type: ignore[attr-defined]
                        tuple(latest["powers"])))  # type: ignore[arg-type]
    readies = []
    for _ in range(3):
        readies += events_of(c.step(), "bridge_batch_ready")
    assert c.query("/bridge/state")["valset"]["nonce"] == 1  # type: ignore[index]
    assert c.query("/bridge/valset/1")["status"] == "current" and c.query("/bridge/valset/0")["status"] == "superseded"
    assert c.batch(1)["ready"] is True and [r["nonce"] for r in readies] == ["1"]
    assert c.query("/bridge/valsets/pending")["valsets"] == []


def test_a_bad_signature_in_a_late_vote_is_not_stored() -> None:
    """CometBFT does not verify the extensions of late precommits: FinalizeBlock checks them again."""
    c = funded()
    batched(c)
    c.step()  # the batch forms
    digest = bytes.fromhex(c.batch(1)["digest"][2:])  # type: ignore[index]
    forged = KeySigner(b"\x42" * 32).sign(digest)  # not validator 0's bridge key
    real = c.chain.extensions
    c.chain.extensions = lambda h, block=(): [  # type: ignore[method-assign]
        encode_extension(VoteExtension((), 0, (DigestSig(SIGNED_BATCH, 1, forged),))) if i == 0 else e
        for i, e in enumerate(real(h, block))]
    c.chain.app.verify_vote_extension = lambda req: True  # type: ignore[method-assign]  # a late vote
    c.step()
    c.chain.extensions = real  # type: ignore[method-assign]
    c.step()
    sigs = {s["validator"] for s in c.batch(1)["signatures"]}  # type: ignore[attr-defined]
    assert "0x" + bridge_address(c, 0).hex() not in sigs and len(sigs) == 3


# --- VerifyVoteExtension ------------------------------------------------------------------------


def _verify(c: WChain, i: int, ext: VoteExtension) -> bool:
    h = c.height + 1
    return c.chain.app.verify_vote_extension(b.VerifyVoteExtensionRequest(
        hash=h.to_bytes(32, "big"), validator_address=c.chain.keys[i].consensus_address, height=h,
        vote_extension=encode_extension(ext)))


def test_verify_vote_extension_refuses_wrong_key_high_s_and_digests_the_chain_never_made() -> None:
    c = funded()
    batched(c)
    c.step()  # the batch forms: it is what validators sign now
    digest = bytes.fromhex(c.batch(1)["digest"][2:])  # type: ignore[index]
    mine = KeySigner(c.chain.keys[0].bridge_key)
    good = mine.sign(digest)
    assert _verify(c, 0, VoteExtension((), 0, (DigestSig(SIGNED_BATCH, 1, good),)))
    # validator 1's key in validator 0's extension
    theirs = KeySigner(c.chain.keys[1].bridge_key).sign(digest)
    assert not _verify(c, 0, VoteExtension((), 0, (DigestSig(SIGNED_BATCH, 1, theirs),)))
    # the same signature with s replaced by n - s (and v flipped): it recovers to the same key, but
    # the contract refuses malleable signatures, so the chain does too
    r, s, v = good[:32], int.from_bytes(good[32:64], "big"), good[64]
    high = r + (SECP256K1_N - s).to_bytes(32, "big") + bytes((55 - v,))
    assert not _verify(c, 0, VoteExtension((), 0, (DigestSig(SIGNED_BATCH, 1, high),)))
    # a batch the chain does not have, and a valset it does not have
    assert not _verify(c, 0, VoteExtension((), 0, (DigestSig(SIGNED_BATCH, 2, mine.sign(b"\x01" * 32)),)))
    assert not _verify(c, 0, VoteExtension((), 0, (DigestSig(SIGNED_VALSET, 7, mine.sign(b"\x01" * 32)),)))
    # the contract's current valset (nonce 0) is done: nobody signs it any more
    v0 = bytes.fromhex(c.query("/bridge/valset/0")["digest"][2:])  # type: ignore[index]
    assert not _verify(c, 0, VoteExtension((), 0, (DigestSig(SIGNED_VALSET, 0, mine.sign(v0)),)))
    # out of order, and duplicates
    two = (DigestSig(SIGNED_BATCH, 1, good), DigestSig(SIGNED_BATCH, 1, good))
    assert not _verify(c, 0, VoteExtension((), 0, two))


def test_a_validator_whose_key_is_not_registered_signs_nothing() -> None:
    c = funded()
    c.chain.signers[0] = KeySigner(b"\x42" * 32)  # a key app.toml names by mistake
    batched(c)
    c.settle(3)
    batch = c.batch(1)
    assert len(batch["signatures"]) == 3 and batch["ready"] is True  # type: ignore[arg-type]


# --- valsets (step 7) ---------------------------------------------------------------------------


def _delegate(c: WChain, units: int, to: int = 0) -> None:
    msg = module_msg("staking.MsgDelegate", spb.MsgDelegate(delegator=addr(c.users[0]),
                                                            validator=c.chain.keys[to].operator,
                                                            amount=str(units * POWER_REDUCTION)))
    r = c.send(0, msg)
    assert r.code == 0, r.log


@pytest.mark.parametrize(("units", "due"), [(135, False), (141, True)])  # 4.90% and 5.11% of 2^32 moved
def test_a_new_valset_when_normalised_powers_move_more_than_five_percent(units: int, due: bool) -> None:
    c = funded(powers=(1000, 1000, 1000, 1000))
    assert c.query("/bridge/state")["latest_valset_nonce"] == 0
    _delegate(c, units)
    out = c.step()  # staking decides the new powers for two heights on; step 7 sees them at once
    created = events_of(out, "bridge_valset_created")
    if not due:
        c.settle(3)
        assert created == [] and c.query("/bridge/state")["latest_valset_nonce"] == 0
        return
    assert c.query("/bridge/state")["latest_valset_nonce"] == 1, created
    v1 = c.query("/bridge/valset/1")
    p0 = dict(zip(v1["validators"], v1["powers"], strict=True))["0x" + bridge_address(c, 0).hex()]  # type: ignore[call-overload]
    assert p0 == (1000 + units) * 2**32 // (4000 + units)
    assert bytes.fromhex(v1["digest"][2:]) == digests.valset_digest(  # type: ignore[index]
        L1_CHAIN_ID, CONTRACT, 1, [bytes.fromhex(a[2:]) for a in v1["validators"]], v1["powers"])  # type: ignore[union-attr, arg-type]
    c.settle(3)
    v1 = c.query("/bridge/valset/1")
    assert v1["ready"] is True and v1["status"] == "pending" and len(v1["signatures"]) == 4  # type: ignore[arg-type]
    assert [x["nonce"] for x in c.query("/bridge/valsets/pending")["valsets"]] == [1]  # type: ignore[attr-defined]


def test_a_validator_leaving_the_set_makes_a_new_valset_that_it_still_signs() -> None:
    c = funded(chain_kw={"operator_extra": 10**9})
    # validator 3's operator unbonds all of its stake: it leaves the set two heights on
    op = c.chain.keys[3]
    undelegate = module_msg("staking.MsgUndelegate", spb.MsgUndelegate(
        delegator=op.operator, validator=op.operator, amount=str(10 * POWER_REDUCTION)))
    from sidechain.tx import build_signed_tx
    from sidechain.types import Amount, Coin

    seq = int(c.query(f"/account/{_bech(op.operator)}")["sequence"])  # type: ignore[call-overload]
    raw = build_signed_tx(op.operator_key, CHAIN_ID, [undelegate], seq, Coin("stake", Amount(1)))
    out = c.step([raw])
    assert out.tx_results[-1].code == 0, out.tx_results[-1].log
    assert events_of(out, "bridge_valset_created") != []
    v1 = c.query("/bridge/valset/1")
    assert "0x" + bridge_address(c, 3).hex() not in v1["validators"] and len(v1["validators"]) == 3  # type: ignore[operator, arg-type]
    c.settle(3)
    signers = {s["validator"] for s in c.query("/bridge/valset/1")["signatures"]}  # type: ignore[attr-defined]
    assert "0x" + bridge_address(c, 3).hex() in signers  # it still voted for two heights, and signed


def test_a_validator_that_joins_signs_what_is_pending_and_the_next_valset_has_it() -> None:
    from validators.msgs import CreateValidator

    c = funded(chain_kw={"spare": 1})
    new = c.chain.keys[4]
    address, proof = sign_bridge_proof(new.bridge_key, CHAIN_ID, new.operator)
    create = CreateValidator(new.operator, new.consensus_pubkey, address, proof, "val4", "", 1000, 2000, 100, 1,
                             10 * POWER_REDUCTION)
    from sidechain.tx import build_signed_tx
    from sidechain.types import Amount, Coin

    raw = build_signed_tx(new.operator_key, CHAIN_ID, [module_msg("staking.MsgCreateValidator", create.to_pb())], 0,
                          Coin("stake", Amount(1)))
    out = c.step([raw])
    assert out.tx_results[-1].code == 0, out.tx_results[-1].log
    created = events_of(out, "bridge_valset_created")
    assert created and created[0]["validators"] == "5"
    c.settle(4)
    v1 = c.query("/bridge/valset/1")
    assert "0x" + address.hex() in v1["validators"]  # type: ignore[operator]
    signers = {s["validator"] for s in v1["signatures"]}  # type: ignore[attr-defined]
    assert "0x" + address.hex() in signers and len(signers) == 5
    batched(c)
    c.settle(3)
    assert "0x" + address.hex() in {s["validator"] for s in c.batch(1)["signatures"]}  # type: ignore[attr-defined]


def _bech(a: bytes) -> str:
    from sidechain.types import bech32_address

    return bech32_address(a, "side")


# --- deferred payouts ---------------------------------------------------------------------------


def test_a_payout_l1_deferred_is_shown_as_deferred_and_the_rest_executed() -> None:
    c = funded()
    other = bytes.fromhex("90f79bf6eb2c4f870365e785982e1f101e93b906")
    for recipient, amount in ((L1_ADDR, 300), (other, 200)):
        assert c.withdraw(0, amount, 5, recipient=recipient).code == 0
    c.settle(3)
    batch = c.batch(1)
    assert [w["recipient"] for w in batch["withdrawals"]] == ["0x" + L1_ADDR.hex(), "0x" + other.hex()]  # type: ignore[index]
    # L1 could not pay `other` (a reverting contract) nor the relayer's fee
    c._l1(BatchExecuted(1, 2, ((other, 200), (b"\x99" * 20, 10))))
    c.settle(3)
    batch = c.batch(1)
    assert batch["status"] == "executed" and batch["deferred"] == [
        {"id": 2, "recipient": "0x" + other.hex(), "amount": "200"}]
    assert c.withdrawal(1)["status"] == "executed" and c.withdrawal(2)["status"] == "deferred"


# --- forged signatures --------------------------------------------------------------------------


def _forged_tx(c: WChain, sub: SubmitForgedSignature) -> b.TxResult:
    return c.send(1, module_msg("bridge.MsgSubmitForgedSignature", sub.to_pb()))


def test_a_signature_over_a_batch_the_chain_never_made_is_recorded_once() -> None:
    c = funded()
    batched(c)
    c.settle(3)
    real = c.batch(1)
    key = KeySigner(c.chain.keys[2].bridge_key)
    # a batch with the same nonce that pays someone else
    fake = (real["timeout_l1_block"], ((b"\x00" * 20, b"\x66" * 20, 10**18, 0),))
    digest = digests.batch_digest(L1_CHAIN_ID, CONTRACT, 1, fake[0], fake[1])  # type: ignore[arg-type]
    me = addr(c.users[1])
    ev = SubmitForgedSignature(me, SIGNED_BATCH, 1, None, fake, key.sign(digest))  # type: ignore[arg-type]
    r = _forged_tx(c, ev)
    assert r.code == 0, r.log
    (rec,) = c.query("/bridge/forged-signatures")["forged"]  # type: ignore[misc]
    assert rec["signer"] == "0x" + key.address.hex() and rec["operator"] == c.chain.keys[2].operator.hex()
    assert rec["digest"] == "0x" + digest.hex() and rec["kind"] == "batch" and rec["nonce"] == "1"
    again = _forged_tx(c, ev)
    assert (again.codespace, again.code) == ("bridge", 18) and "already recorded" in again.log
    # the chain's own batch is not forged
    entries = tuple((b"\x00" * 20, bytes.fromhex(w["recipient"][2:]), int(w["amount"]), int(w["fee"]))
                    for w in real["withdrawals"])  # type: ignore[attr-defined]
    own = digests.batch_digest(L1_CHAIN_ID, CONTRACT, 1, real["timeout_l1_block"], entries)  # type: ignore[arg-type]
    honest = _forged_tx(c, SubmitForgedSignature(me, SIGNED_BATCH, 1, None, (real["timeout_l1_block"], entries),  # type: ignore[arg-type]
                                                 key.sign(own)))
    assert (honest.codespace, honest.code) == ("bridge", 17)
    # a key no validator registered
    stranger = _forged_tx(c, SubmitForgedSignature(me, SIGNED_BATCH, 1, None, fake,  # type: ignore[arg-type]
                                                   KeySigner(b"\x43" * 32).sign(digest)))
    assert (stranger.codespace, stranger.code) == ("bridge", 18) and "no validator" in stranger.log


def test_a_signature_over_a_valset_the_chain_never_made_is_recorded() -> None:
    c = funded()
    key = KeySigner(c.chain.keys[0].bridge_key)
    validators, powers = (b"\x11" * 20,), (2**32,)  # a valset of the attacker alone
    digest = digests.valset_digest(L1_CHAIN_ID, CONTRACT, 5, validators, powers)
    r = _forged_tx(c, SubmitForgedSignature(addr(c.users[1]), SIGNED_VALSET, 5, (validators, powers), None,
                                            key.sign(digest)))
    assert r.code == 0, r.log
    assert [f["kind"] for f in c.query("/bridge/forged-signatures")["forged"]] == ["valset"]  # type: ignore[attr-defined]
