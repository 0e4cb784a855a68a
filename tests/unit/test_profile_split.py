"""The bench's py-spy profile splitter (tests/bench/profile_split.py) on a raw profile written by hand."""

from __future__ import annotations

from pathlib import Path

from tests.bench.profile_split import parse_raw, split

MAIN = 'thread (0x7F00AA): "MainThread"'
RAW = "\n".join([
    f'process 41: "python -m sidechain start";{MAIN};<module> (sidechain/node.py:1);'
    "Application.check_tx (/r/sidechain/app.py:300);verify_signature (/r/sidechain/tx.py:400) 30",
    f"{MAIN};<module> (sidechain/node.py:1);Application.finalize_block (/r/sidechain/app.py:500) 50",
    f"{MAIN};process_frames (/r/abci_app/servers.py:120) 10",
    'thread (0x7F00BB): "verify_0";_bootstrap (threading.py:1);crypto_sign_open (nacl/bindings.py:9) 40',
    # a metrics scrape's thread: its root frame's name begins with "process" (this once looped forever)
    "thread (13331): Thread-5 (process_request_thread);process_request_thread (socketserver.py:691);"
    "finish_request (socketserver.py:361) 5",
    "garbage line without a count",
    "",
])


def test_threads_and_buckets(tmp_path: Path) -> None:
    f = tmp_path / "app1-node0.txt"
    f.write_text(RAW)
    threads = parse_raw(f)
    assert sorted(threads) == sorted([MAIN, 'thread (0x7F00BB): "verify_0"',
                                      "thread (13331): Thread-5 (process_request_thread)"])
    assert sum(threads[MAIN].values()) == 90
    out, busy, others = split(f, rate=10, seconds=10)
    assert (busy, others) == (90, 45)
    assert out["CheckTx"] == 30 and out["  of which ed25519 verify"] == 30
    assert out["FinalizeBlock"] == 50
    assert out["ABCI framing, encode/decode"] == 10
    assert out["idle"] == 10  # 100 sampling slots, 90 busy


def test_empty_profile(tmp_path: Path) -> None:
    f = tmp_path / "empty.txt"
    f.write_text("")
    assert split(f, rate=200, seconds=1) == ({}, 0, 0)
