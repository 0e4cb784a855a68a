"""`sidechain start`: serve the application over ABCI and run, supervised, the CometBFT node.

Order of things: the ABCI server listens first, then `cometbft node` starts and connects to it.
On SIGINT/SIGTERM CometBFT is stopped first (it is the client), then the server, then the
database is closed. If CometBFT exits on its own, or the application hits a bug, the other side
is stopped too and the command exits non-zero with a message that says what happened.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import json
import logging
import logging.handlers
import os
import signal
import subprocess
import sys
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from bridge.module.observe import NO_OBSERVER
from bridge.module.sigs import SECP256K1_N, KeySigner
from sidechain import blocks as b
from sidechain import txflow
from sidechain.app import BEHIND_AFTER_NS, Application, ApplicationAPI
from sidechain.cometbft import find_cometbft, read_mempool_limits
from sidechain.config import AppConfig, ConfigError, NodeHome, load_config
from sidechain.errors import SidechainError
from sidechain.metrics import AppMetrics

if TYPE_CHECKING:
    from bridge.watcher import Watcher

# The cyclic garbage collector's thresholds while serving. Executing a tx allocates about a hundred
# short-lived objects, almost none of them in reference cycles (refcounting frees them), so with
# CPython's default young-generation threshold (700) the collector ran every few txs and walked the
# survivors each time: 549 young and 50 middle collections, 0.245 s, in `tests.bench.bench_app_node
# --blocks 8`, against 31 and 0 (0.103 s) with these. What cycles there are wait a little longer.
GC_THRESHOLDS = (10_000, 20, 100)


def tune_gc() -> None:
    """Freeze what is loaded at start (the Merkle tree, caches: it lives as long as the process, so
    the collector never walks it again) and set GC_THRESHOLDS."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


log = logging.getLogger("sidechain.node")
blocks_log = logging.getLogger("sidechain.blocks")

STOP_GRACE_SECONDS = 10.0


class NodeExit(SidechainError):
    """The node stopped abnormally; `str(e)` is the message for the operator."""

    codespace = "node"
    code = 5


def setup_logging(home: NodeHome, level: str, console: TextIO) -> None:
    home.logs.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(getattr(logging, level.upper()))
    fh = logging.handlers.RotatingFileHandler(home.logs / "app.log", maxBytes=50 * 1024 * 1024, backupCount=3)
    fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(fh)
    ch = logging.StreamHandler(console)
    ch.setFormatter(logging.Formatter("%(message)s"))
    ch.setLevel(logging.WARNING)
    root.addHandler(ch)
    # One line per committed block on the console, whatever the file's level.
    bh = logging.StreamHandler(console)
    bh.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    blocks_log.addHandler(bh)
    blocks_log.setLevel(logging.INFO)
    blocks_log.propagate = True


class BlockPrinter:
    def __init__(self, metrics: AppMetrics | None) -> None:
        self.metrics = metrics
        self.prev_time_ns: int | None = None

    def __call__(self, res: b.CommitResult) -> None:
        interval = ""
        if self.prev_time_ns is not None and res.time_ns:
            interval = f"  interval {(res.time_ns - self.prev_time_ns) / 1e9:.2f}s"
        self.prev_time_ns = res.time_ns or self.prev_time_ns
        failed = f" ({res.failed_txs} failed)" if res.failed_txs else ""
        blocks_log.info("block %d  txs %d%s  app_hash %s%s", res.height, res.num_txs, failed,
                        res.app_hash.hex()[:12].upper(), interval)
        if self.metrics is not None:
            self.metrics.set_height(res.height)


def _set_pdeathsig() -> None:
    """In the child: get SIGTERM if the supervisor dies, even by SIGKILL (Linux only)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def cometbft_env(cfg: AppConfig, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment CometBFT runs in: ours, with app.toml's cometbft.gogc as GOGC unless the
    environment sets GOGC already (0 in app.toml: Go's own default), and without the bridge key's
    passphrase (the app's secret: CometBFT has no use for it)."""
    env = {k: v for k, v in environ.items() if k != BRIDGE_PASSPHRASE_ENV}
    if cfg.cometbft_gogc and "GOGC" not in env:
        env["GOGC"] = str(cfg.cometbft_gogc)
    return env


def _tail(path: Path, n: int = 15) -> str:
    try:
        with path.open("rb") as f:
            return b"".join(deque(f, maxlen=n)).decode(errors="replace")
    except FileNotFoundError:
        return ""


@dataclass
class _Outcome:
    code: int = 0
    message: str = ""


# Wraps the application before the ABCI server gets it (fault-injection tests install one; the
# node never does on its own).
AppWrapper = Callable[[Application], ApplicationAPI]


async def _run(home: NodeHome, cfg: AppConfig, abci_only: bool, console: TextIO,
               wrap_app: AppWrapper | None) -> _Outcome:
    # We fork cometbft while gRPC threads may run: its fork handlers are not needed (the child
    # execs at once) and only print warnings.
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
    from abci_app.adapter import Adapter
    from abci_app.servers import GrpcServer, SocketServer
    from abci_app.wire import IndexFilter

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    outcome = _Outcome()

    def request_stop(code: int, message: str) -> None:
        if not stop.is_set():
            outcome.code, outcome.message = code, message
            stop.set()

    def fatal(message: str) -> None:
        loop.call_soon_threadsafe(request_stop, 1, message)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, request_stop, 0, f"received {signal.Signals(sig).name}, stopped")

    metrics = AppMetrics() if cfg.metrics_enabled else None
    l1_watcher = _bridge_watcher(cfg, metrics)
    try:
        signer = load_bridge_signer(cfg, home.root)
    except ConfigError as e:
        if l1_watcher is not None:
            l1_watcher.stop(timeout=2.0)
        return _Outcome(1, e.message)
    app = Application(home.app_data, tree=cfg.store_tree, observer=l1_watcher or NO_OBSERVER, signer=signer)
    app.verifier = txflow.ParallelVerifier(cfg.verify_threads)
    if metrics is not None:
        metrics.track_signatures(lambda: app.sig_cache)
    app.set_mempool_limits(*read_mempool_limits(home))  # refuse "mempool full" before CometBFT would drop a tx
    app.behind_after_ns = BEHIND_AFTER_NS  # refuse new txs while catching up (Application.behind)

    def close_app() -> None:
        if l1_watcher is not None:
            l1_watcher.stop(timeout=2.0)  # a daemon thread: a request in flight to a hung L1 does not hold us
        app.close()

    tune_gc()
    served: ApplicationAPI = app if wrap_app is None else wrap_app(app)
    on_commit: Callable[[b.CommitResult], None] = BlockPrinter(metrics)
    snapshots = None
    if cfg.snapshot_interval:
        from sidechain.snapshots import SnapshotManager

        snapshots = SnapshotManager(home.app_data / "snapshots", cfg.snapshot_interval, cfg.snapshot_keep_recent)
        app.enable_snapshots(snapshots)
        printer = on_commit

        def on_commit(res: b.CommitResult) -> None:  # right after Commit, before the next block
            printer(res)
            app.snapshot_after_commit()

    if metrics is not None:
        before_bridge = on_commit

        def on_commit(res: b.CommitResult) -> None:
            before_bridge(res)
            _bridge_metrics(app, metrics, l1_watcher)

    adapter = Adapter(served, on_commit=on_commit, observe=metrics.observe if metrics else None,
                      index_events=IndexFilter.of(cfg.index_events, cfg.skip_events))
    if metrics is not None:
        try:
            metrics.serve(cfg.metrics_address)
        except OSError as e:
            close_app()
            return _Outcome(1, f"cannot serve metrics on {cfg.metrics_address}: {e.strerror or e}")
        metrics.set_height(app.last_height)

    server: Any
    try:
        if cfg.abci_transport == "grpc":
            server = GrpcServer(adapter, cfg.abci_address, cfg.max_frame_bytes, on_fatal=fatal)
            server.start()
        else:
            server = SocketServer(adapter, cfg.abci_address, cfg.max_frame_bytes, on_fatal=fatal)
            await server.start()
    except (OSError, RuntimeError) as e:
        close_app()
        return _Outcome(1, f"cannot listen for ABCI on {cfg.abci_address}: {getattr(e, 'strerror', None) or e}")

    print(f"app: height {app.last_height}, ABCI {cfg.abci_transport} on {cfg.abci_address}"
          + (f", metrics on http://{cfg.metrics_address}/metrics" if metrics else "")
          + f", logs in {home.logs}", file=console, flush=True)
    if l1_watcher is not None:
        l1_watcher.start()
        print(f"bridge watcher: {l1_watcher.describe()}", file=console, flush=True)
    if signer is not None:
        print(f"bridge signer: 0x{signer.address.hex()} (app.toml [bridge] key_file)", file=console, flush=True)

    proc: asyncio.subprocess.Process | None = None
    comet_log: Path = home.logs / "cometbft.log"
    watcher: asyncio.Task[None] | None = None
    if not abci_only:
        binary = find_cometbft(cfg.cometbft_binary)
        logf = comet_log.open("ab")
        proc = await asyncio.create_subprocess_exec(
            binary, "node", "--home", str(home.root), env=cometbft_env(cfg, os.environ),
            stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
            preexec_fn=_set_pdeathsig, start_new_session=True,
        )
        logf.close()
        print(f"cometbft: pid {proc.pid}, log {comet_log}", file=console, flush=True)

        async def watch(p: asyncio.subprocess.Process) -> None:
            rc = await p.wait()
            request_stop(1, f"cometbft exited with code {rc}; last lines of {comet_log}:\n{_tail(comet_log)}")

        watcher = asyncio.create_task(watch(proc))

    await stop.wait()

    if proc is not None and proc.returncode is None:
        if watcher is not None:
            watcher.cancel()
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), STOP_GRACE_SECONDS)
        except TimeoutError:
            log.warning("cometbft did not stop within %.0fs; killing it", STOP_GRACE_SECONDS)
            proc.kill()
            await proc.wait()
    if isinstance(server, SocketServer):
        await server.stop()
    else:
        server.stop()
    if snapshots is not None:
        snapshots.stop()  # its view reads the database: finish before closing it
    close_app()
    return outcome


def _bridge_metrics(app: Application, metrics: AppMetrics, l1_watcher: Watcher | None) -> None:
    res = app.query(b.QueryRequest(path="/bridge/state", data=b"", height=0, prove=False))
    if res.code == 0:
        metrics.bridge_state(json.loads(res.value), l1_watcher.observed().final_height if l1_watcher else None)


BRIDGE_PASSPHRASE_ENV = "SIDECHAIN_BRIDGE_PASSPHRASE"


def load_bridge_signer(cfg: AppConfig, home: Path, *, interactive: bool | None = None) -> KeySigner | None:
    """The bridge key app.toml names (`[bridge] key_file`), or None when it names none or the file does
    not exist (a node that is no validator). A plain key file must be readable by its owner only; a
    keystore is decrypted with its passphrase. ConfigError, naming the file and never its content."""
    if not cfg.bridge_key_file:
        return None
    path = Path(cfg.bridge_key_file)
    path = path if path.is_absolute() else home / path
    try:
        text = path.read_text()
    except FileNotFoundError:
        log.warning("no bridge key at %s (app.toml [bridge] key_file): this node signs no valsets or batches",
                    path)
        return None
    except OSError as e:
        raise ConfigError(f"cannot read the bridge key {path}: {e.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise ConfigError(f"the bridge key {path} is not JSON") from None
    if isinstance(data, dict) and "crypto" in data:
        from bridge.errors import KeystoreError
        from bridge.keys import load_account

        phrase = Path(cfg.bridge_key_passphrase_file) if cfg.bridge_key_passphrase_file else None
        if phrase is not None and not phrase.is_absolute():
            phrase = home / phrase
        try:
            account = load_account(path, passphrase_file=phrase, passphrase_env=BRIDGE_PASSPHRASE_ENV,
                                   interactive=interactive)
        except KeystoreError as e:
            raise ConfigError(f"bridge key: {e}") from None
        return KeySigner(bytes(account.key))
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConfigError(f"the bridge key {path} is readable by others (mode {mode:o}): chmod 600 it, or "
                          "use an Ethereum keystore")
    try:
        key = bytes.fromhex(str(data["private_key"]).removeprefix("0x"))
        if len(key) != 32 or not 0 < int.from_bytes(key, "big") < SECP256K1_N:
            raise ValueError("not a secp256k1 private key")
        return KeySigner(key)
    except (KeyError, TypeError, ValueError):
        raise ConfigError(f"the bridge key {path} holds no valid private_key (32 bytes, hex)") from None


def _bridge_watcher(cfg: AppConfig, metrics: AppMetrics | None) -> Watcher | None:
    """The L1 watcher when app.toml names an L1 RPC (validators); None otherwise (no L1 traffic at all)."""
    if not cfg.bridge_l1_rpc:
        return None
    from bridge.watcher import Watcher

    return Watcher(cfg.bridge_l1_rpc, finality=cfg.bridge_finality, poll_interval=cfg.bridge_poll_seconds,
                   max_block_range=cfg.bridge_max_block_range, metrics=metrics)


def _event_loop_runner() -> Callable[[Any], Any]:
    """uvloop's event loop when it is installed (a pinned dependency): the ABCI server spends less time in
    the loop and the transports; asyncio's own otherwise, or with SIDECHAIN_UVLOOP=0."""
    if os.environ.get("SIDECHAIN_UVLOOP", "1") != "0":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.run  # type: ignore[no-any-return]
    return asyncio.run


def start(home_dir: Path, abci_only: bool = False, console: TextIO = sys.stdout,
          wrap_app: AppWrapper | None = None) -> int:
    home = NodeHome(home_dir)
    cfg = load_config(home.app_config)
    if not abci_only and not home.cometbft_config.exists():
        raise NodeExit(f"no CometBFT config in {home.config_dir}; run `sidechain init --home {home_dir}` first")
    from sidechain.store import tree

    if cfg.store_tree == "auto" and not tree.native_available():
        # A validator on the pure-Python tree commits many times slower: never fall back silently.
        raise NodeExit("the native Merkle tree (sidechain/store/native) is not built: run `make install`, "
                       f'or set tree = "python" under [store] in {home.app_config} to run on the slow '
                       "pure-Python tree")
    setup_logging(home, cfg.log_level, console)
    log.info("starting node in %s (pid %d)", home.root, os.getpid())
    outcome = _event_loop_runner()(_run(home, cfg, abci_only, console, wrap_app))
    if outcome.code != 0:
        log.error("node stopped: %s", outcome.message)
        raise NodeExit(outcome.message)
    print(outcome.message or "stopped", file=console)
    return 0
