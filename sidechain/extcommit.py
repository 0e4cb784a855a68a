"""The extended commit in the block: the proposer of height B puts the vote extensions of height
B - 1 (CometBFT's `local_last_commit`) first in its block, so that FinalizeBlock can act on them
(ABCI 2.0 gives vote extensions to the next proposer only).

    tx 0 of block B  =  MAGIC || ExtendedCommit{height: B - 1, round, votes}   (sidechain.consensus.v1)

`check_commit` is what ProcessProposal requires of it: the height before the block's, exactly the
validator set of that height (each member once, with its power), every extension signed with the
member's ed25519 consensus key over CometBFT's `CanonicalVoteExtension` sign bytes, and more than 2/3
of the set's power voting for the block with its extension. Without this a faulty proposer could
forge the attestations the bridge mints on.

No user tx can start with MAGIC: 0xff is not a field tag a `Tx` message begins with, and CheckTx
refuses the prefix outright (`CommitTxFromUser`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from google.protobuf.message import DecodeError
from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError, CryptoError

from sidechain.blocks import BLOCK_ID_FLAG_ABSENT, BLOCK_ID_FLAG_COMMIT, BLOCK_ID_FLAG_NIL, ExtendedCommitInfo
from sidechain.errors import InvalidInput
from sidechain.gen.sidechain.consensus.v1 import commit_pb2 as pb
from sidechain.varint import encode_uvarint

MAGIC = b"\xffEXTCOMMIT"
ED25519_SIGNATURE_BYTES = 64


class CommitTxError(InvalidInput):
    """An extended-commit tx that is malformed, misplaced, or does not prove what it must."""

    codespace = "app"
    code = 3


class CommitTxFromUser(InvalidInput):
    """The extended-commit tx kind is put in blocks by their proposer; no user may send it."""

    codespace = "app"
    code = 4


@dataclass(frozen=True, slots=True)
class Vote:
    validator_address: bytes
    power: int
    block_id_flag: int
    vote_extension: bytes
    extension_signature: bytes


@dataclass(frozen=True, slots=True)
class ExtendedCommit:
    height: int
    round: int
    votes: tuple[Vote, ...]

    def committed(self) -> tuple[Vote, ...]:
        """The votes for the block, which carry an extension (empty or not) and its signature."""
        return tuple(v for v in self.votes if v.block_id_flag == BLOCK_ID_FLAG_COMMIT)


@dataclass(frozen=True, slots=True)
class Member:
    pub_key: bytes  # ed25519, 32 bytes
    power: int
    bridge_address: bytes = b""  # 20 bytes: its registered secp256k1 bridge key, where the chain has one


def is_commit_tx(raw: bytes) -> bool:
    return raw[: len(MAGIC)] == MAGIC


def encode_commit_tx(height: int, info: ExtendedCommitInfo) -> bytes:
    m = pb.ExtendedCommit(height=height, round=info.round, votes=[
        pb.ExtendedVote(validator_address=v.validator.address, power=v.validator.power,
                        block_id_flag=v.block_id_flag, vote_extension=v.vote_extension,
                        extension_signature=v.extension_signature)
        for v in info.votes
    ])
    return MAGIC + m.SerializeToString(deterministic=True)


def decode_commit_tx(raw: bytes) -> ExtendedCommit:
    if not is_commit_tx(raw):
        raise CommitTxError("not an extended-commit tx")
    m = pb.ExtendedCommit()
    try:
        m.ParseFromString(raw[len(MAGIC):])
    except DecodeError:
        raise CommitTxError("the extended commit is not a valid ExtendedCommit message") from None
    votes = tuple(Vote(bytes(v.validator_address), int(v.power), int(v.block_id_flag), bytes(v.vote_extension),
                       bytes(v.extension_signature)) for v in m.votes)
    return ExtendedCommit(int(m.height), int(m.round), votes)


def vote_extension_sign_bytes(extension: bytes, height: int, round_: int, chain_id: str) -> bytes:
    """CometBFT's `VoteExtensionSignBytes`: the length-delimited `CanonicalVoteExtension`
    {extension = 1 (bytes), height = 2 (sfixed64), round = 3 (sfixed64), chain_id = 4 (string)},
    proto3 style (fields at their default value left out)."""
    body = bytearray()
    if extension:
        body += b"\x0a" + encode_uvarint(len(extension)) + extension
    if height:
        body += b"\x11" + (height & (2**64 - 1)).to_bytes(8, "little")
    if round_:
        body += b"\x19" + (round_ & (2**64 - 1)).to_bytes(8, "little")
    cid = chain_id.encode()
    if cid:
        body += b"\x22" + encode_uvarint(len(cid)) + cid
    return encode_uvarint(len(body)) + bytes(body)


def check_commit(commit: ExtendedCommit, height: int, chain_id: str, members: Mapping[bytes, Member]) -> None:
    """CommitTxError unless `commit` is the extended commit of `height` by the set `members` (by
    consensus address) with more than 2/3 of its power, every extension signed by its validator."""
    if commit.height != height:
        raise CommitTxError(f"the extended commit is of height {commit.height}, expected {height}")
    if commit.round < 0:
        raise CommitTxError(f"the extended commit has round {commit.round}")
    seen: set[bytes] = set()
    signed = 0
    for i, v in enumerate(commit.votes):
        who = v.validator_address.hex().upper()
        member = members.get(v.validator_address)
        if member is None:
            raise CommitTxError(f"vote {i} is by {who}, not a validator of height {height}")
        if v.validator_address in seen:
            raise CommitTxError(f"validator {who} votes twice")
        seen.add(v.validator_address)
        if v.power != member.power:
            raise CommitTxError(f"vote {i} gives {who} power {v.power}; it had {member.power} at height {height}")
        if v.block_id_flag == BLOCK_ID_FLAG_COMMIT:
            if len(v.extension_signature) != ED25519_SIGNATURE_BYTES:
                raise CommitTxError(f"vote {i} by {who} has no extension signature")
            msg = vote_extension_sign_bytes(v.vote_extension, height, commit.round, chain_id)
            try:
                crypto_sign_open(v.extension_signature + msg, member.pub_key)
            except (BadSignatureError, CryptoError, ValueError):
                raise CommitTxError(f"vote {i}: the extension signature is not {who}'s over its extension "
                                    f"at height {height}, round {commit.round}") from None
            signed += v.power
        elif v.block_id_flag in (BLOCK_ID_FLAG_ABSENT, BLOCK_ID_FLAG_NIL):
            if v.vote_extension or v.extension_signature:
                raise CommitTxError(f"vote {i} by {who} is not for the block but carries an extension")
        else:
            raise CommitTxError(f"vote {i} has an unknown block id flag {v.block_id_flag}")
    if len(seen) != len(members):
        raise CommitTxError(f"the extended commit lists {len(seen)} of the {len(members)} validators of "
                            f"height {height}")
    total = sum(m.power for m in members.values())
    if 3 * signed <= 2 * total:
        raise CommitTxError(f"extensions carry power {signed} of {total}: not more than 2/3")
