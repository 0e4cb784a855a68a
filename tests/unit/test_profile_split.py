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
    # the adapter's prefetch of a turn's CheckTx, and a proposal's txs verified on the ABCI thread
    f"{MAIN};prefetch (/r/abci_app/adapter.py:80);Application.preverify_check_txs (/r/sidechain/app.py:362);"
    "decode_tx (/r/sidechain/tx.py:100) 7",
    f"{MAIN};Application.process_proposal (/r/sidechain/app.py:452);_verify_chunk (/r/sidechain/txflow.py:99);"
    "crypto_sign_open (/r/nacl/bindings/crypto_sign.py:9) 3",
    'thread (0x7F00BB): "ed25519_0";_bootstrap (threading.py:1);crypto_sign_open (nacl/bindings.py:9) 40',
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
    assert sorted(threads) == sorted([MAIN, 'thread (0x7F00BB): "ed25519_0"',
                                      "thread (13331): Thread-5 (process_request_thread)"])
    assert sum(threads[MAIN].values()) == 100
    out, busy, others = split(f, rate=11, seconds=10)
    assert busy == 100 and others == {"ed25519": 40, "other": 5}
    assert out["CheckTx"] == 37 and out["  of which ed25519 verify (CheckTx)"] == 30  # 7 from the prefetch
    assert out["ProcessProposal"] == 3 and out["  of which ed25519 verify (ProcessProposal)"] == 3
    assert out["FinalizeBlock"] == 50
    assert out["ABCI framing, encode/decode"] == 10
    assert out["idle"] == 10  # 110 sampling slots, 100 busy


def test_empty_profile(tmp_path: Path) -> None:
    f = tmp_path / "empty.txt"
    f.write_text("")
    assert split(f, rate=200, seconds=1) == ({}, 0, {})


# `go tool pprof -traces` of a CometBFT CPU profile: a header, then stacks leaf first after separators.
TRACES = """File: cometbft
Type: cpu
Duration: 20s, Total samples = 1.52s ( 7.60%)
-----------+-------------------------------------------------------
      20ms   github.com/syndtr/goleveldb/leveldb/table.(*Writer).Append
             github.com/cometbft/cometbft/state/txindex/kv.(*TxIndex).AddBatch
             github.com/cometbft/cometbft/state/txindex.(*IndexerService).OnStart.func1
-----------+-------------------------------------------------------
     1.20s   github.com/golang/snappy.encodeBlock
             github.com/syndtr/goleveldb/leveldb.(*DB).tableCompaction
             github.com/syndtr/goleveldb/leveldb.(*DB).tCompaction
-----------+-------------------------------------------------------
     100ms   syscall.write
             github.com/cometbft/cometbft/abci/client.(*socketClient).sendRequestsRoutine
-----------+-------------------------------------------------------
     150us   runtime.memmove
             github.com/cometbft/cometbft/mempool.(*CListMempool).CheckTx
             github.com/cometbft/cometbft/rpc/core.(*Environment).BroadcastTxSync
             net/http.(*conn).serve
-----------+-------------------------------------------------------
     190ms   runtime.scanobject
             runtime.gcBgMarkWorker
-----------+-------------------------------------------------------
      10ms   time.(*Timer).Reset
             github.com/cometbft/cometbft/libs/timer.(*ThrottleTimer).fireRoutine (inline)
-----------+-------------------------------------------------------
      10ms   main.main
-----------+-------------------------------------------------------
      30ms   golang.org/x/crypto/chacha20poly1305.chacha20Poly1305Seal
             github.com/cometbft/cometbft/p2p/conn.(*SecretConnection).Write
             github.com/cometbft/cometbft/p2p/conn.(*MConnection).sendRoutine
-----------+-------------------------------------------------------
"""


def test_cometbft_traces() -> None:
    from tests.bench.profile_split import parse_pprof_traces

    out = parse_pprof_traces(TRACES)
    assert round(out["tx indexer"], 6) == 0.02
    assert round(out["LevelDB compaction (every store)"], 6) == 1.2
    assert round(out["ABCI client (the socket to the app)"], 6) == 0.1
    assert round(out["mempool"], 6) == 0.00015  # the RPC's CheckTx counts as mempool (first rule that matches)
    assert round(out["Go runtime (GC, scheduler)"], 6) == 0.19
    assert round(out["flush timers (ABCI client, P2P)"], 6) == 0.01  # whose timer, its stack does not say
    assert round(out["P2P"], 6) == 0.03
    assert round(out["other"], 6) == 0.01
    assert round(sum(out.values()), 6) == 1.56015
