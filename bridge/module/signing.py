"""Valsets and validators' signatures over the digests L1 acts on (BRIDGE.md section 5, steps 3 and 7).

    subjects     what validators sign: every valset the chain made above the contract's valset
                 nonce (pending valsets), and every pending batch; each with the digest stored when
                 it was made (bridge/module/digests.py)
    ExtendVote   a validator signs, with its bridge key, each subject it has not signed yet (neither
                 stored nor carried by its own vote in the block it votes for), oldest first, within
                 `max_signatures_per_extension` and the extension's byte limit
    Verify       each signature in an extension is over a subject of the state the vote is made on
                 and recovers to that validator's registered bridge address (else the extension is
                 refused)
    step 3       FinalizeBlock checks each signature of the commit again (CometBFT does not verify
                 late precommits) and stores those that recover to their validator's bridge address,
                 for subjects still pending; a subject is ready when its signers carry normalised
                 power > 2863311530 in the valset the contract holds, re-judged when that valset
                 changes
    step 7       a new valset when the set decided for height + 2 differs in membership from the
                 newest valset, or its normalised powers moved by more than 5% in total (valsets.py)

Signatures are stored by the bridge address they recover to (0x4D | kind | nonce | address), so the
relayer can align them to whichever valset the contract holds.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from bridge.module import digests
from bridge.module import keys as k
from bridge.module import state as bs
from bridge.module import withdrawals as wd
from bridge.module.errors import MalformedExtension
from bridge.module.events import SIGNED_BATCH, SIGNED_VALSET, DigestSig, uint256_bytes
from bridge.module.genesis import POWER_THRESHOLD, L1Valset
from bridge.module.sigs import recover, signed_power
from sidechain.gen.sidechain.bridge.v1 import bridge_pb2 as pb
from sidechain.store.api import KVReader, KVStore, prefix_end


@dataclass(frozen=True, slots=True)
class ValsetRec:
    nonce: int
    validators: tuple[bytes, ...]
    powers: tuple[int, ...]
    digest: bytes
    created_height: int
    ready_height: int = 0

    @property
    def valset(self) -> L1Valset:
        return L1Valset(self.nonce, self.validators, self.powers)

    def encode(self) -> bytes:
        return pb.ValsetRecord(nonce=uint256_bytes(self.nonce), validators=list(self.validators),
                               powers=list(self.powers), digest=self.digest, created_height=self.created_height,
                               ready_height=self.ready_height).SerializeToString(deterministic=True)

    @classmethod
    def decode(cls, raw: bytes) -> ValsetRec:
        m = pb.ValsetRecord.FromString(raw)
        return cls(int.from_bytes(m.nonce, "big"), tuple(bytes(a) for a in m.validators), tuple(m.powers),
                   bytes(m.digest), m.created_height, m.ready_height)


# --- valsets ------------------------------------------------------------------------------------


def get_valset(reader: KVReader, nonce: int) -> ValsetRec | None:
    raw = reader.get(k.valset_key(nonce))
    return ValsetRec.decode(raw) if raw is not None else None


def latest_valset_nonce(reader: KVReader) -> int | None:
    raw = reader.get(k.LATEST_VALSET_NONCE)
    return int.from_bytes(raw, "big") if raw is not None else None


def latest_valset(reader: KVReader) -> ValsetRec | None:
    nonce = latest_valset_nonce(reader)
    return None if nonce is None else get_valset(reader, nonce)


def put_valset(state: KVStore, rec: ValsetRec) -> None:
    state.set(k.valset_key(rec.nonce), rec.encode())
    latest = latest_valset_nonce(state)
    if latest is None or rec.nonce > latest:
        state.set(k.LATEST_VALSET_NONCE, k.u256(rec.nonce))


def make_valset(state: KVStore, valset: L1Valset, height: int) -> ValsetRec:
    found = bs.get_config(state)
    assert found is not None
    config = found[0]
    digest = digests.valset_digest(config.l1_chain_id, config.contract, valset.nonce, valset.validators,
                                   valset.powers)
    rec = ValsetRec(valset.nonce, valset.validators, valset.powers, digest, height)
    put_valset(state, rec)
    return rec


def pending_valsets(reader: KVReader) -> Iterator[ValsetRec]:
    """Valsets the chain made above the contract's nonce, ascending: what validators sign."""
    current = bs.get_l1_valset(reader)
    start = k.valset_key(current.nonce + 1) if current is not None else k.VALSET
    for _, raw in reader.iterate(start, prefix_end(k.VALSET)):
        yield ValsetRec.decode(raw)


def valset_status(reader: KVReader, nonce: int) -> str:
    current = bs.get_l1_valset(reader)
    if current is None or nonce > current.nonce:
        return "pending"
    return "current" if nonce == current.nonce else "superseded"


# --- subjects and signatures --------------------------------------------------------------------


def subject_digest(reader: KVReader, kind: int, nonce: int) -> bytes | None:
    """The digest of a subject validators sign now: a pending valset or a pending batch."""
    if kind == SIGNED_VALSET:
        current = bs.get_l1_valset(reader)
        if current is not None and nonce <= current.nonce:
            return None
        v = get_valset(reader, nonce)
        return v.digest if v is not None else None
    if kind == SIGNED_BATCH and nonce < 2**64:
        b = wd.get_batch(reader, nonce)
        return b.digest if b is not None and b.status == wd.PENDING else None
    return None


def subjects(reader: KVReader) -> list[tuple[int, int, bytes]]:
    """(kind, nonce, digest) of every subject, in (kind, nonce) order: valsets first."""
    out = [(SIGNED_VALSET, v.nonce, v.digest) for v in pending_valsets(reader)]
    batches = sorted(wd.pending_batches(reader))
    for nonce in batches:
        b = wd.get_batch(reader, nonce)
        assert b is not None
        out.append((SIGNED_BATCH, nonce, b.digest))
    return out


def signatures(reader: KVReader, kind: int, nonce: int) -> list[tuple[bytes, bytes]]:
    """(bridge address, signature) stored for a subject, ascending address."""
    prefix = k.signatures_prefix(kind, nonce)
    return [(key[len(prefix):], value) for key, value in reader.iterate(prefix, prefix_end(prefix))]


def has_signature(reader: KVReader, kind: int, nonce: int, address: bytes) -> bool:
    return reader.get(k.signature_key(kind, nonce, address)) is not None


def signers_power(reader: KVReader, kind: int, nonce: int, valset: L1Valset | None) -> int:
    if valset is None:
        return 0
    return signed_power(valset, {a: s for a, s in signatures(reader, kind, nonce)})


def to_sign(reader: KVReader, address: bytes, skip: frozenset[tuple[int, int]],
            limit: int) -> list[tuple[int, int, bytes]]:
    """The subjects `address` has not signed (stored or in `skip`), oldest first, at most `limit`."""
    out: list[tuple[int, int, bytes]] = []
    for kind, nonce, digest in subjects(reader):
        if len(out) == limit:
            break
        if (kind, nonce) in skip or has_signature(reader, kind, nonce, address):
            continue
        out.append((kind, nonce, digest))
    return out


class RecoveryCache:
    """Memo of `recover` (a pure function of digest and signature): VerifyVoteExtension recovers each
    signature of an on-time vote, and FinalizeBlock step 3 checks the same signatures again a block
    later; with the memo it recovers only those it has not seen (late votes). A hit returns what the
    computation would, so the state machine's results do not depend on the memo. Bounded: the oldest
    half is dropped when it is full."""

    def __init__(self, limit: int = 1 << 16) -> None:
        self.limit = limit
        self._memo: dict[tuple[bytes, bytes], bytes | None] = {}

    def recover(self, digest: bytes, signature: bytes) -> bytes | None:
        """The address, or None when the signature is malformed or recovers to no key."""
        key = (digest, signature)
        if key in self._memo:
            return self._memo[key]
        try:
            found: bytes | None = recover(digest, signature)
        except MalformedExtension:
            found = None
        if len(self._memo) >= self.limit:
            for old in list(self._memo)[: self.limit // 2]:  # insertion order: the oldest first
                del self._memo[old]
        self._memo[key] = found
        return found


RECOVERED = RecoveryCache()


def verify_signatures(reader: KVReader, sigs: Sequence[DigestSig], bridge_address: bytes | None, limit: int) -> None:
    """VerifyVoteExtension's rule: each signature is over a subject of `reader` and recovers to the
    validator's registered bridge address. MalformedExtension otherwise."""
    if not sigs:
        return
    if len(sigs) > limit:
        raise MalformedExtension(f"the extension carries {len(sigs)} signatures, over the limit of {limit}")
    if not bridge_address:
        raise MalformedExtension("signatures from a validator with no registered bridge address")
    for s in sigs:
        digest = subject_digest(reader, s.kind, s.nonce)
        if digest is None:
            raise MalformedExtension(f"a signature over {_name(s.kind)} {s.nonce}, which the chain is not "
                                     "asking validators to sign (unknown, or already done)")
        found = RECOVERED.recover(digest, s.signature)
        if found is None:
            recover(digest, s.signature)  # malformed, malleable or no key: refused with its reason
        if found != bridge_address:
            raise MalformedExtension(f"the signature over {_name(s.kind)} {s.nonce} is not by the validator's "
                                     f"bridge address 0x{bridge_address.hex()}")


def store_signatures(state: KVStore, by_validator: Sequence[tuple[bytes, Sequence[DigestSig]]]) -> set[tuple[int, int]]:
    """Step 3: store each (bridge address, signatures) pair's valid signatures over pending subjects;
    a signature that fails (late votes are not verified by CometBFT) counts as not given. Returns the
    subjects that gained one."""
    touched: set[tuple[int, int]] = set()
    digest_of: dict[tuple[int, int], bytes | None] = {}
    for address, sigs in by_validator:
        for s in sigs:
            key = (s.kind, s.nonce)
            if key not in digest_of:
                digest_of[key] = subject_digest(state, s.kind, s.nonce)
            digest = digest_of[key]
            if digest is None or has_signature(state, s.kind, s.nonce, address):
                continue
            if RECOVERED.recover(digest, s.signature) != address:
                continue
            state.set(k.signature_key(s.kind, s.nonce, address), s.signature)
            touched.add(key)
    return touched


def mark_ready(state: KVStore, keys: Sequence[tuple[int, int]], height: int) -> list[tuple[int, int]]:
    """Re-judge readiness of `keys` against the contract's valset; returns those that became ready."""
    valset = bs.get_l1_valset(state)
    became = []
    for kind, nonce in keys:
        ready = signers_power(state, kind, nonce, valset) > POWER_THRESHOLD
        if kind == SIGNED_VALSET:
            v = get_valset(state, nonce)
            if v is None or bool(v.ready_height) == ready:
                continue
            state.set(k.valset_key(nonce), ValsetRec(v.nonce, v.validators, v.powers, v.digest, v.created_height,
                                                      height if ready else 0).encode())
        else:
            b = wd.get_batch(state, nonce)
            if b is None or b.status != wd.PENDING or bool(b.ready_height) == ready:
                continue
            wd.set_ready_height(state, b, height if ready else 0)
        if ready:
            became.append((kind, nonce))
    return became


def all_subject_keys(reader: KVReader) -> list[tuple[int, int]]:
    return [(kind, nonce) for kind, nonce, _ in subjects(reader)]


def _name(kind: int) -> str:
    return "valset" if kind == SIGNED_VALSET else "batch"


def signature_json(reader: KVReader, kind: int, nonce: int) -> dict[str, object]:
    valset = bs.get_l1_valset(reader)
    sigs = signatures(reader, kind, nonce)
    power = signed_power(valset, {a for a, _ in sigs}) if valset is not None else 0
    return {"signatures": [{"validator": "0x" + a.hex(), "signature": "0x" + s.hex()} for a, s in sigs],
            "signed_power": str(power), "ready": power > POWER_THRESHOLD}



# --- forged signatures --------------------------------------------------------------------------


def produced(reader: KVReader, kind: int, nonce: int, digest: bytes) -> bool:
    """Whether the chain made this digest: its valset or batch `nonce` has exactly it."""
    if kind == SIGNED_VALSET:
        v = get_valset(reader, nonce)
        return v is not None and v.digest == digest
    b = wd.get_batch(reader, nonce) if nonce < 2**64 else None
    return b is not None and b.digest == digest


def has_forged(reader: KVReader, digest: bytes, signer: bytes) -> bool:
    return reader.get(k.forged_key(digest, signer)) is not None


def record_forged(state: KVStore, rec: pb.ForgedSignature) -> None:
    state.set(k.forged_key(rec.digest, rec.signer), rec.SerializeToString(deterministic=True))


def forged_json(reader: KVReader) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for _, raw in reader.iterate(k.FORGED, prefix_end(k.FORGED)):
        m = pb.ForgedSignature.FromString(raw)
        out.append({"digest": "0x" + m.digest.hex(), "signer": "0x" + m.signer.hex(),
                    "operator": m.operator.hex(), "kind": _name(m.kind), "nonce": str(int.from_bytes(m.nonce, "big")),
                    "signature": "0x" + m.signature.hex(), "height": m.height, "submitter": m.submitter.hex()})
    return out
