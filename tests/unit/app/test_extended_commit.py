"""The extended commit at the top of every block (sidechain/extcommit.py): what PrepareProposal puts
there, and every proposal ProcessProposal must reject (BRIDGE.md section 5, Proposal)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from abci_app.gen.tendermint.types import canonical_pb2
from bridge.module.events import decode_extension, encode_extension
from sidechain import blocks as b
from sidechain.extcommit import (
    MAGIC,
    CommitTxError,
    ExtendedCommit,
    decode_commit_tx,
    encode_commit_tx,
    vote_extension_sign_bytes,
)
from sidechain.gen.sidechain.consensus.v1 import commit_pb2
from tests.unit.bridge.chain import CHAIN_ID, BridgeChain, deposit

ALICE = b"\x07" * 20


def _delimited(body: bytes) -> bytes:
    n, out = len(body), bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out) + body


@pytest.mark.parametrize(("ext", "height", "round_", "chain_id"), [
    (b"", 1, 0, "c"), (b"\x01\x02", 7, 0, CHAIN_ID), (b"x" * 300, 2**40, 3, "sidechain-local"),
])
def test_sign_bytes_are_cometbfts_canonical_vote_extension(ext: bytes, height: int, round_: int,
                                                           chain_id: str) -> None:
    pb = canonical_pb2.CanonicalVoteExtension(extension=ext, height=height, round=round_, chain_id=chain_id)
    assert vote_extension_sign_bytes(ext, height, round_, chain_id) == _delimited(pb.SerializeToString())


def chain_at(height: int, powers: list[int] | None = None) -> BridgeChain:
    c = BridgeChain(powers or [10, 10, 10, 10])
    for o in c.observers:
        o.events, o.final_height = (deposit(2, 500, ALICE),), 40
    for _ in range(height):
        c.step()
    return c


def commit_of(block: list[bytes]) -> ExtendedCommit:
    return decode_commit_tx(block[0])


def with_commit(block: list[bytes], commit: ExtendedCommit) -> list[bytes]:
    m = commit_pb2.ExtendedCommit(height=commit.height, round=commit.round, votes=[
        commit_pb2.ExtendedVote(validator_address=v.validator_address, power=v.power, block_id_flag=v.block_id_flag,
                                vote_extension=v.vote_extension, extension_signature=v.extension_signature)
        for v in commit.votes])
    return [MAGIC + m.SerializeToString(), *block[1:]]


def test_the_proposer_puts_the_extended_commit_first_and_it_is_accepted() -> None:
    c = chain_at(2)
    block = c.propose()
    commit = commit_of(block)
    assert commit.height == 2 and len(commit.votes) == 4 and c.process(block)


def test_the_first_block_has_no_commit_and_needs_none() -> None:
    c = BridgeChain([10, 10])
    assert c.propose() == [] and c.process([])


def test_a_block_without_the_commit_is_rejected() -> None:
    c = chain_at(2)
    assert not c.process([])
    assert not c.process(c.propose()[1:])


def test_a_misplaced_commit_is_rejected() -> None:
    c = chain_at(2)
    block = c.propose()
    assert not c.process([*block, block[0]])  # a second one later
    assert not c.process([b"not a tx", block[0]])


def test_a_forged_extension_signature_is_rejected() -> None:
    c = chain_at(2)
    block = c.propose()
    commit = commit_of(block)
    forged_ext = encode_extension(replace(decode_extension(commit.votes[0].vote_extension), l1_height=10**9))
    votes = list(commit.votes)
    votes[0] = replace(votes[0], vote_extension=forged_ext)  # the signature is over the old extension
    assert not c.process(with_commit(block, replace(commit, votes=tuple(votes))))
    sig = bytearray(votes[1].extension_signature)
    sig[5] ^= 1
    votes = list(commit.votes)
    votes[1] = replace(votes[1], extension_signature=bytes(sig))
    assert not c.process(with_commit(block, replace(commit, votes=tuple(votes))))


def test_a_signature_by_another_validator_in_a_slot_is_rejected() -> None:
    c = chain_at(2)
    block = c.propose()
    commit = commit_of(block)
    votes = list(commit.votes)
    # slot 0 carries validator 1's extension and its (valid, but validator 1's) signature
    votes[0] = replace(votes[0], vote_extension=votes[1].vote_extension,
                       extension_signature=votes[1].extension_signature)
    assert not c.process(with_commit(block, replace(commit, votes=tuple(votes))))


def test_votes_that_do_not_match_the_validator_set_are_rejected() -> None:
    c = chain_at(2)
    block = c.propose()
    commit = commit_of(block)
    v = commit.votes
    for votes in ((replace(v[0], power=40), *v[1:]),              # inflated power
                  (*v, v[0]),                                     # a validator twice
                  v[:3],                                          # one member left out
                  (replace(v[0], validator_address=b"\x01" * 20), *v[1:])):  # a stranger
        assert not c.process(with_commit(block, replace(commit, votes=tuple(votes))))


def test_power_at_exactly_two_thirds_is_rejected_and_above_accepted() -> None:
    c = chain_at(2, [10, 10, 10])
    c.last_commit = c.commit_info(2, c.extensions(3), voters=[0, 1])  # 20 of 30
    assert not c.process(c.propose())
    c.last_commit = c.commit_info(2, c.extensions(3), voters=[0, 1, 2])
    assert c.process(c.propose())
    c = chain_at(2, [21, 10, 10])  # 31 of 41 without the last
    c.last_commit = c.commit_info(2, c.extensions(3), voters=[0, 1])
    assert c.process(c.propose())


def test_an_extension_from_another_height_is_rejected() -> None:
    c = chain_at(2)
    exts = c.extensions(3)
    info = c.commit_info(1, exts)  # signed for height 1, offered as the commit of height 2
    c.last_commit = info
    block = c.propose()
    assert commit_of(block).height == 2
    assert not c.process(block)
    stale = encode_commit_tx(1, c.commit_info(1, exts))  # the commit of a height that is not H
    assert not c.process([stale, *block[1:]])


def test_a_vote_not_for_the_block_cannot_carry_an_extension() -> None:
    c = chain_at(2)
    block = c.propose()
    commit = commit_of(block)
    votes = list(commit.votes)
    votes[3] = replace(votes[3], block_id_flag=b.BLOCK_ID_FLAG_NIL)  # nil vote keeping its extension
    assert not c.process(with_commit(block, replace(commit, votes=tuple(votes))))


def test_check_tx_never_accepts_the_commit_kind() -> None:
    c = chain_at(2)
    block = c.propose()
    res = c.app.check_tx(block[0], recheck=False)
    assert res.code == 4 and res.codespace == "app" and "proposer" in res.log


def test_a_commit_tx_out_of_place_fails_as_a_user_tx_when_finalized() -> None:
    c = chain_at(2)
    block = c.propose()
    out = c.app.finalize_block(b.FinalizeBlockRequest(env=c.env(3), txs=(block[0], block[0]),
                                                      decided_last_commit=b.CommitInfo(0, ())))
    assert out.tx_results[0].code == 0 and out.tx_results[1].code != 0


def test_a_chain_without_a_bridge_has_no_commit_in_blocks() -> None:
    c = BridgeChain([10, 10], bridge=False)
    for _ in range(3):
        c.step()
    assert c.propose() == []
    assert c.extensions(4) == [b"", b""]
    stray = encode_commit_tx(3, c.last_commit)
    assert not c.process([stray])


def test_decode_refuses_garbage_after_the_magic() -> None:
    with pytest.raises(CommitTxError):
        decode_commit_tx(MAGIC + b"\xff\xff\xff")
    with pytest.raises(CommitTxError):
        decode_commit_tx(b"\x0a\x00")
