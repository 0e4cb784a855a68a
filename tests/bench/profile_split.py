"""Split a py-spy profile (raw format, --threads) of a `sidechain start` process into where its CPU goes.

    python -m tests.bench.profile_split --bench bench-results/profile-net.json --dir bench-results/profile-net \
        --out bench-results/profile-net.md [--label before]

Only the thread that serves ABCI (the one with the most samples: the event loop) is split; the signature
verifier's pool threads (`ed25519_*`) are one line, the other threads (metrics, snapshots, the L1 watcher)
another. Each sample of that thread is put in the first
bucket whose rule matches its stack (root to leaf):

    CheckTx (of which ed25519 verify)  Application.check_tx / _check_new / preverify_check_txs (the
                                       adapter's prefetch of one turn's CheckTx), not a recheck
    recheck                            Application._recheck
    PrepareProposal / ProcessProposal / FinalizeBlock / Commit / other ABCI methods: by Application method
    ABCI adapter                       abci_app/adapter.py translating protobuf <-> the app's types
    ABCI framing, encode/decode        abci_app/servers.py, framing.py, protobuf parse/serialize
    ABCI socket writes + event loop    asyncio (transports, streams, the selector) outside the above
    idle                               wall time the thread was not sampled (waiting in epoll)

CPU per committed tx = the bucket's samples / sampling rate / txs committed while the profile ran.
py-spy samples wall time: on an oversubscribed machine a thread that waits for a core is sampled as
busy, so compare shares, not absolute figures, between machines or loads.

CometBFT's own CPU profiles (`<run>-node<i>-cometbft.pprof`, Go's pprof: CPU time, exact) are split
too, each sample into the first of these that any frame of its stack matches:

    tx indexer                  state/txindex, state/indexer (CometBFT's tx and block event index)
    LevelDB compaction          goleveldb's background compaction, of every store (it cannot tell which)
    ABCI client                 abci/client (the socket to the app, both directions)
    block execution + storing   state.(*BlockExecutor) (FinalizeBlock/Commit calls, state and results
                                saved), store (the block store)
    mempool                     mempool (CheckTx calls, gossip, reap, recheck), reached from the RPC too
    consensus                   consensus (votes, proposals, block parts, the WAL), privval, types signing
    flush timers                libs/timer.(*ThrottleTimer) firing: the ABCI socket client's or a P2P
                                connection's (its goroutine does not say which)
    P2P                         p2p (connections, encryption, peer routines)
    RPC server                  rpc, net/http (broadcast_tx_sync, queries)
    event bus                   types.(*EventBus), libs/pubsub
    Go runtime (GC, scheduler)  only runtime frames
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

APP_METHODS = {
    "check_tx": "CheckTx", "_check_new": "CheckTx", "preverify_check_txs": "CheckTx", "_recheck": "recheck",
    "prepare_proposal": "PrepareProposal", "process_proposal": "ProcessProposal",
    "finalize_block": "FinalizeBlock", "commit": "Commit",
    "extend_vote": "ExtendVote/VerifyVoteExtension", "verify_vote_extension": "ExtendVote/VerifyVoteExtension",
    "query": "Query/Info", "info": "Query/Info",
}
# the ABCI thread's own signature verifications (the pool threads' are counted apart)
VERIFY = {m: f"  of which ed25519 verify ({m})" for m in ("CheckTx", "ProcessProposal", "FinalizeBlock")}
ORDER = ["CheckTx", VERIFY["CheckTx"], "recheck", "PrepareProposal", "ProcessProposal", VERIFY["ProcessProposal"],
         "FinalizeBlock", VERIFY["FinalizeBlock"], "Commit", "ExtendVote/VerifyVoteExtension", "Query/Info",
         "ABCI adapter (protobuf <-> app types)", "ABCI framing, encode/decode", "ABCI socket writes + event loop",
         "other (GC, logging, metrics)", "idle"]
FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^:()]+)(?::\d+)?\)$")


def parse_raw(path: Path) -> dict[str, Counter[tuple[str, ...]]]:
    """{thread: Counter(stack tuple of 'func@file' root..leaf -> samples)}."""
    threads: dict[str, Counter[tuple[str, ...]]] = {}
    for line in path.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        frames = stack.split(";")
        thread = "main"
        # py-spy puts "thread (<id>): <name>" (and "process <pid>: ..." with --subprocesses) before the
        # stack's root; a root function may itself be named process_... (socketserver's request threads).
        while frames and frames[0].startswith(("thread (", "process ")):
            head = frames.pop(0)
            if head.startswith("thread ("):
                thread = head
        out = []
        for f in frames:
            m = FRAME.match(f.strip())
            out.append(f"{m.group('func')}@{m.group('file')}" if m else f.strip())
        threads.setdefault(thread, Counter())[tuple(out)] += int(n)
    return threads


def bucket(stack: tuple[str, ...]) -> list[str]:
    for i, fr in enumerate(stack):
        func, _, file = fr.partition("@")
        func = func.rsplit(".", 1)[-1]  # "Application.check_tx" -> "check_tx"
        if file.endswith("sidechain/app.py") and func in APP_METHODS:
            name = APP_METHODS[func]
            if name in VERIFY and any("verify_signature" in f or "nacl" in f for f in stack[i:]):
                return [name, VERIFY[name]]
            return [name]
    leafish = stack[-4:] if stack else ()
    if any(f.partition("@")[2].endswith("abci_app/adapter.py") for f in stack):
        if not any("SerializeToString" in f or "ParseFromString" in f for f in leafish):
            return ["ABCI adapter (protobuf <-> app types)"]
    files = [f.partition("@")[2] for f in stack]
    leaf_file = files[-1] if files else ""
    if "asyncio" in leaf_file or "selectors" in leaf_file or "uvloop" in leaf_file or "socket" in leaf_file:
        return ["ABCI socket writes + event loop"]
    if any(f.endswith(("abci_app/servers.py", "abci_app/framing.py")) for f in files) or any(
            "SerializeToString" in f or "ParseFromString" in f for f in leafish):
        return ["ABCI framing, encode/decode"]
    if any("asyncio" in f for f in files):
        return ["ABCI socket writes + event loop"]
    return ["other (GC, logging, metrics)"]


def split(path: Path, rate: int, seconds: float) -> tuple[Counter[str], int, Counter[str]]:
    """(the ABCI thread's samples by bucket, with idle; its busy samples; the other threads' samples,
    "ed25519" for the verifier's pool and "other" for the rest)."""
    threads = parse_raw(path)
    if not threads:
        return Counter(), 0, Counter()
    main = max(threads, key=lambda t: sum(threads[t].values()))
    out: Counter[str] = Counter()
    for stack, n in threads[main].items():
        for b in bucket(stack):
            out[b] += n
    busy = sum(n for b, n in out.items() if not b.startswith("  "))
    out["idle"] = max(0, int(rate * seconds) - busy)
    others: Counter[str] = Counter()
    for t, c in threads.items():
        if t != main:
            others["ed25519" if "ed25519" in t else "other"] += sum(c.values())
    return out, busy, others


COMET_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("tx indexer", ("cometbft/state/txindex", "cometbft/state/indexer")),
    ("LevelDB compaction (every store)", ("leveldb.(*DB).tCompaction", "leveldb.(*DB).mCompaction",
                                          "leveldb.(*DB).compactionTransact", "leveldb.(*DB).tableAutoCompaction",
                                          "leveldb.(*DB).memCompaction")),
    ("ABCI client (the socket to the app)", ("cometbft/abci/client",)),
    ("block execution + storing", ("cometbft/state.(*BlockExecutor)", "cometbft/store.")),
    ("mempool", ("cometbft/mempool",)),
    ("consensus (votes, proposals, WAL)", ("cometbft/consensus", "cometbft/privval")),
    # A ThrottleTimer's own goroutine does not say whose it is: the ABCI socket client's (stock CometBFT's
    # 20-ns one: patches/cometbft/0001) or a P2P connection's flush throttle.
    ("flush timers (ABCI client, P2P)", ("cometbft/libs/timer.(*ThrottleTimer)",)),
    ("P2P", ("cometbft/p2p",)),
    ("RPC server", ("cometbft/rpc", "net/http")),
    ("event bus", ("cometbft/types.(*EventBus)", "cometbft/libs/pubsub")),
)
COMET_RUNTIME = "Go runtime (GC, scheduler)"
COMET_OTHER = "other"
COMET_ORDER = [name for name, _ in COMET_RULES] + [COMET_RUNTIME, COMET_OTHER]
_UNITS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, "hrs": 3600.0}
_TRACE_HEAD = re.compile(r"^\s*([\d.]+)(ns|us|\u00b5s|ms|s|min|hrs)\s+(\S.*)$")


def comet_bucket(frames: list[str]) -> str:
    for name, needles in COMET_RULES:
        if any(n in f for f in frames for n in needles):
            return name
    if frames and all(f.startswith("runtime.") or f.startswith("internal/runtime") for f in frames):
        return COMET_RUNTIME
    return COMET_OTHER


def parse_pprof_traces(text: str) -> dict[str, float]:
    """`go tool pprof -traces` output -> CPU seconds by bucket."""
    out: dict[str, float] = {}
    for block in text.split("-----------+")[1:]:
        lines = [ln for ln in block.splitlines()[1:] if ln.strip()]  # [0]: the rest of the separator line
        if not lines:
            continue
        m = _TRACE_HEAD.match(lines[0])
        if m is None:
            continue
        frames = [m.group(3).strip()] + [ln.strip() for ln in lines[1:]]
        frames = [f.removesuffix(" (inline)") for f in frames]
        name = comet_bucket(frames)
        out[name] = out.get(name, 0.0) + float(m.group(1)) * _UNITS[m.group(2)]
    return out


def comet_split(path: Path) -> dict[str, float] | None:
    """CPU seconds by bucket of one CometBFT profile; None without `go` (its pprof reads the file)."""
    go = shutil.which("go")
    if go is None:
        return None
    res = subprocess.run([go, "tool", "pprof", "-traces", str(path)], capture_output=True, text=True, timeout=300)
    if res.returncode != 0:
        raise RuntimeError(f"go tool pprof -traces {path}: {res.stderr.strip()}")
    return parse_pprof_traces(res.stdout)


def comet_table(run: dict[str, Any], prof_dir: Path) -> list[str]:
    files = sorted(prof_dir.glob(f"{run['name']}-node*-cometbft.pprof"))
    if not files:
        return []
    total: dict[str, float] = {}
    for f in files:
        c = comet_split(f)
        if c is None:
            return ["(CometBFT profiles present, but `go` is not on PATH to read them)", ""]
        for k, v in c.items():
            total[k] = total.get(k, 0.0) + v
    secs, txs = run["profile_seconds"], max(1, run["profile_txs"])
    cpu = sum(total.values())
    lines = [f"CometBFT ({len(files)} process(es), Go's CPU profile over the same {secs:.0f} s: "
             f"{cpu / secs:.2f} cores, {cpu / txs * 1e6:,.0f} us per committed tx)", "",
             "| where | share of CometBFT's CPU | CPU per committed tx (all CometBFT processes) |",
             "|---|---:|---:|"]
    for b in COMET_ORDER:
        n = total.get(b, 0.0)
        lines.append(f"| {b} | {100 * n / max(1e-9, cpu):.1f}% | {n / txs * 1e6:,.0f} us |")
    lines.append("")
    return lines


def table(bench: dict[str, Any], prof_dir: Path, rate: int, label: str) -> str:
    lines = [f"## {label}", ""]
    for run in bench["runs"]:
        if run["app"] != "sidechain" or not run.get("profile_seconds"):
            continue
        secs, txs = run["profile_seconds"], run["profile_txs"]
        files = sorted(prof_dir.glob(f"{run['name']}-node*.txt"))  # the app's (py-spy raw)
        if not files:
            continue
        total: Counter[str] = Counter()
        others: Counter[str] = Counter()
        for f in files:
            c, _busy, o = split(f, rate, secs)
            total.update(c)
            others.update(o)
        nodes = len(files)
        all_samples = sum(n for b, n in total.items() if not b.startswith("  "))
        lines.append(f"### {run['name']}: {run['validators']} validator(s), "
                     f"{run['committed_tps']:,.0f} tx/s committed; py-spy {secs:.0f} s at {rate} Hz "
                     f"on {nodes} app process(es), {txs:,} txs committed meanwhile")
        lines.append("")
        lines.append("| where | share of the ABCI thread | CPU per committed tx (all app processes) |")
        lines.append("|---|---:|---:|")
        for b in ORDER:
            n = total.get(b, 0)
            per_tx = "" if b == "idle" else f"{n / rate / max(1, txs) * 1e6:,.0f} us"
            lines.append(f"| {b} | {100 * n / max(1, all_samples):.1f}% | {per_tx} |")
        busy = all_samples - total.get("idle", 0)
        lines.append(f"| **busy total** | {100 * busy / max(1, all_samples):.1f}% | "
                     f"**{busy / rate / max(1, txs) * 1e6:,.0f} us** |")
        for key, what in (("ed25519", "signature verifier threads (ed25519_*)"),
                          ("other", "other threads (metrics, snapshots, watcher)")):
            n = others[key]
            lines.append(f"| {what} | {n:,} samples | {n / rate / max(1, txs) * 1e6:,.0f} us |")
        lines.append("")
        lines.extend(comet_table(run, prof_dir))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Split py-spy profiles of bench-net into a CPU table.")
    p.add_argument("--bench", type=Path, required=True)
    p.add_argument("--dir", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--rate", type=int, default=200)
    p.add_argument("--label", default="profile")
    args = p.parse_args(argv)
    text = table(json.loads(args.bench.read_text()), args.dir, args.rate, args.label)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
