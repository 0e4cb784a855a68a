"""Fuzzing the mempool and proposal entry points: 100,000 mutated and random byte strings through
CheckTx and ProcessProposal. None may crash the app; each must be rejected (a non-zero code, a
rejected proposal), and the state must be unchanged."""

from __future__ import annotations

import random

from sidechain.gen.sidechain.tx.v1 import tx_pb2
from tests.unit.app.appchain import new_app, process, run_block
from tests.unit.tx.chain import addr, coin, key, send_tx

N = 100_000


def mutations(seed_txs: list[bytes], rng: random.Random) -> list[bytes]:
    originals = set(seed_txs)
    out: list[bytes] = []

    def flip(t: bytes) -> bytes:
        b = bytearray(t)
        for _ in range(rng.randrange(1, 4)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        return bytes(b)

    def replace(t: bytes) -> bytes:
        b = bytearray(t)
        b[rng.randrange(len(b))] = rng.randrange(256)
        return bytes(b)

    def truncate(t: bytes) -> bytes:
        return t[: rng.randrange(len(t))]

    def extend(t: bytes) -> bytes:
        return t + rng.randbytes(rng.randrange(1, 40))

    def splice(t: bytes) -> bytes:
        other = rng.choice(seed_txs)
        i, j = rng.randrange(len(t)), rng.randrange(len(other))
        return t[:i] + other[j:]

    def insert(t: bytes) -> bytes:
        i = rng.randrange(len(t) + 1)
        return t[:i] + rng.randbytes(rng.randrange(1, 8)) + t[i:]

    def random_bytes(_: bytes) -> bytes:
        return rng.randbytes(rng.choice([0, 1, 2, 5, 32, 100, 200, 1000, 9000]))

    def wrapped(t: bytes) -> bytes:
        # A well-formed TxRaw around corrupted parts: reaches the inner decoders and the signature.
        raw = tx_pb2.TxRaw()
        raw.ParseFromString(t)
        which = rng.randrange(3)
        if which == 0:
            raw.body_bytes = flip(raw.body_bytes)
        elif which == 1:
            raw.auth_info_bytes = flip(raw.auth_info_bytes) if raw.auth_info_bytes else b"\x00"
        else:
            raw.signature = flip(raw.signature)
        return raw.SerializeToString()

    ops = [flip, replace, truncate, extend, splice, insert, random_bytes, wrapped]
    while len(out) < N:
        t = rng.choice(ops)(rng.choice(seed_txs))
        if t not in originals:
            out.append(t)
    return out


def test_fuzz_check_tx_and_process_proposal() -> None:
    rng = random.Random(20261124)
    keys = [key(i) for i in range(4)]
    app = new_app([(addr(k), [coin(10**9)]) for k in keys])
    run_block(app, [])
    seeds = [send_tx(k, addr(keys[(i + 1) % 4]), rng.randrange(1, 10**6), 0, memo="m" * rng.randrange(0, 20))
             for i, k in enumerate(keys) for _ in range(5)]
    hash_before = app.last_app_hash
    codes: dict[int, int] = {}
    for t in mutations(seeds, rng):
        r = app.check_tx(t, recheck=False)
        assert r.code != 0, f"mutated tx accepted: {t.hex()}"
        assert r.log, "a rejection must say why"
        codes[r.code] = codes.get(r.code, 0) + 1
        assert not process(app, [t]), f"proposal with mutated tx accepted: {t.hex()}"
    # Several distinct failure kinds were exercised, not one early exit.
    assert len(codes) >= 4, codes
    # The valid originals still go through: nothing was corrupted along the way.
    assert all(app.check_tx(t, recheck=False).code == 0 for t in seeds[::5])
    assert app.last_app_hash == hash_before
