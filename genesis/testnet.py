"""A local multi-validator testnet in the background: `python -m genesis.testnet up|status|logs|stop|clean`.

`up` builds the network (genesis.network) on first use, checks that every port is free, starts
each validator as a detached `sidechain start --home <node home>` (its own session; output in
`<home>/logs/console.log`; its pid in `<dir>/pids/`), waits for the first block and prints the
endpoints, chain id and funded test keys. A second `up` finds it running and says so; `up` on a
stopped network restarts it with its data. `stop` sends SIGTERM and waits; `clean` stops and
deletes the directory. Ports: node i uses BASE_PORT + 10*i + (0 rpc, 1 p2p, 2 abci, 3 app metrics,
4 cometbft metrics), all on 127.0.0.1.

The testnet has an L1 (genesis.l1): by default a `geth --dev` it runs in `<dir>/l1` on BASE_PORT + 10*N
(HTTP RPC) and + 1 (engine API), with the bridge contract deployed for the genesis validators, a test ERC-20
and funded L1 test keys; or an existing L1 (`--l1-rpc URL --contract ADDRESS`); or none (`--no-l1`).
`<dir>/bridge.json` says where it is. `stop` and `clean` stop the dev L1 too.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from bridge.devnet import DevL1, process_alive
from genesis import l1 as l1net
from genesis import testnet_relayer
from genesis.errors import GenesisToolError, TestnetError
from genesis.home import NodePorts
from genesis.network import MANIFEST, MARKER, Network, NodeInfo, build_network
from genesis.spec import NodeSettings, default_spec, load_spec
from genesis.testkeys import TEST_PASSPHRASE, TestKeyring

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DIR = REPO / ".testnet"
DEFAULT_BASE_PORT = 26600
DEFAULT_VALIDATORS = 4
STOP_TIMEOUT = 20.0


# --- ports ---------------------------------------------------------------------------------------


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # Go's listeners set SO_REUSEADDR: a port in TIME_WAIT from a previous run is usable.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _socket_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                inodes.add(fields[9])
    return inodes


def port_holder(port: int) -> str:
    """'pid 123 (cometbft node --home ...)' for the process listening on `port`, if it can be seen."""
    inodes = {f"socket:[{i}]" for i in _socket_inodes(port)}
    if not inodes:
        return ""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    cmd = (
                        (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
                    )
                    return f"pid {proc.name} ({cmd[:100]})"
        except OSError:
            continue
    return ""


def check_ports(nodes: Sequence[NodeInfo]) -> None:
    for n in nodes:
        for label, port in n.ports.named().items():
            if not port_is_free(port):
                holder = port_holder(port)
                raise TestnetError(
                    f"port {port} ({n.moniker} {label.replace('_', ' ')}) on 127.0.0.1 is already in use"
                    + (f" by {holder}" if holder else "")
                    + "; stop that process or choose other ports with BASE_PORT="
                )


def dev_l1_ports(base_port: int, n_validators: int) -> tuple[int, int]:
    """(HTTP RPC, engine API) of the dev L1: the two ports after the nodes' blocks of ten."""
    return base_port + 10 * n_validators, base_port + 10 * n_validators + 1


def check_l1_ports(http_port: int, auth_port: int) -> None:
    for label, port in (("dev L1 RPC", http_port), ("dev L1 engine API", auth_port)):
        if not port_is_free(port):
            holder = port_holder(port)
            raise TestnetError(
                f"port {port} ({label}) on 127.0.0.1 is already in use" + (f" by {holder}" if holder else "")
                + "; stop that process or choose other ports with BASE_PORT="
            )


# --- RPC -----------------------------------------------------------------------------------------


def rpc(url: str, path: str, timeout: float = 3.0) -> Any:
    with urllib.request.urlopen(f"{url}/{path}", timeout=timeout) as r:
        body = json.loads(r.read())
    if "error" in body:
        raise TestnetError(
            f"{url}/{path}: {body['error'].get('message', '')} {body['error'].get('data', '')}"
        )
    return body["result"]


def try_rpc(url: str, path: str, timeout: float = 3.0) -> Any | None:
    try:
        return rpc(url, path, timeout)
    except (OSError, urllib.error.URLError, ValueError, TestnetError):
        return None


def node_height(n: NodeInfo) -> int | None:
    st = try_rpc(n.rpc_url, "status")
    return int(st["sync_info"]["latest_block_height"]) if st else None


def block_hashes(n: NodeInfo, height: int) -> tuple[str, str] | None:
    """(block hash, app hash) of `height` as node `n` has it."""
    res = try_rpc(n.rpc_url, f"block?height={height}")
    if not res:
        return None
    return res["block_id"]["hash"], res["block"]["header"]["app_hash"]


# --- processes -----------------------------------------------------------------------------------


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


class Processes:
    """The node processes of one network: start, find, stop. Pids live in `<root>/pids/`."""

    def __init__(self, net: Network, python: str = sys.executable) -> None:
        self.net = net
        self.python = python
        self._popen: dict[int, subprocess.Popen[bytes]] = {}

    def pid_file(self, i: int) -> Path:
        return self.net.root / "pids" / f"node{i}.pid"

    def console_log(self, i: int) -> Path:
        return self.net.nodes[i].home / "logs" / "console.log"

    def pid(self, i: int) -> int | None:
        """The pid of node i's `sidechain start`, if it is running (a stale pid file is ignored)."""
        p = self._popen.get(i)
        if p is not None and p.poll() is not None:
            del self._popen[i]
        try:
            pid = int(self.pid_file(i).read_text().strip())
        except (OSError, ValueError):
            return None
        cmd = _cmdline(pid)
        if process_alive(pid) and b"start" in cmd and str(self.net.nodes[i].home).encode() in cmd:
            return pid
        return None

    def running(self) -> list[int]:
        return [n.index for n in self.net.nodes if self.pid(n.index) is not None]

    def start(self, i: int) -> int:
        if self.pid(i) is not None:
            raise TestnetError(f"{self.net.nodes[i].moniker} is already running")
        home = self.net.nodes[i].home
        log = self.console_log(i)
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            out.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting {home}\n".encode())
            out.flush()
            proc = subprocess.Popen(
                [self.python, "-m", "sidechain.cli", "start", "--home", str(home)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.net.root,
                start_new_session=True,
            )
        self._popen[i] = proc
        self.pid_file(i).parent.mkdir(parents=True, exist_ok=True)
        self.pid_file(i).write_text(f"{proc.pid}\n")
        return proc.pid

    def exited(self, i: int) -> bool:
        """Whether node i was started by us and has exited since."""
        p = self._popen.get(i)
        return p is not None and p.poll() is not None

    def _wait_gone(self, pids: Sequence[int], timeout: float) -> list[int]:
        deadline = time.monotonic() + timeout
        left = list(pids)
        while left and time.monotonic() < deadline:
            for p in self._popen.values():
                p.poll()  # reap our own children
            left = [p for p in left if process_alive(p)]
            if left:
                time.sleep(0.1)
        return left

    def stop(self, indices: Sequence[int] | None = None, timeout: float = STOP_TIMEOUT) -> list[int]:
        """SIGTERM each running node of `indices` (default all) and wait; SIGKILL what is left.
        Returns the indices that were running."""
        targets = {
            i: pid
            for i in (indices if indices is not None else range(len(self.net.nodes)))
            if (pid := self.pid(i)) is not None
        }
        kids = {i: _children(pid) for i, pid in targets.items()}
        for pid in targets.values():
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        left = self._wait_gone(list(targets.values()), timeout)
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        stray = [c for i in targets for c in kids[i] if process_alive(c)]
        for c in self._wait_gone(stray, 5.0):
            try:
                os.kill(c, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._wait_gone(list(targets.values()) + stray, 5.0)
        for i in targets:
            self.pid_file(i).unlink(missing_ok=True)
            self._popen.pop(i, None)
        return sorted(targets)

    def kill_all(self) -> None:
        """SIGKILL every node and its cometbft, and stop the network's dev L1 and relayer if they run (test
        teardown)."""
        testnet_relayer.stop(self.net.root, timeout=2.0)
        geth = l1net.find_dev_l1(self.net.root)
        if geth is not None:
            geth.stop(timeout=2.0)
        for n in self.net.nodes:
            pid = self.pid(n.index)
            if pid is None:
                continue
            kids = _children(pid)
            for p in [pid, *kids]:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self._wait_gone([pid, *kids], 10.0)
            self.pid_file(n.index).unlink(missing_ok=True)
        self._popen.clear()

    def tail(self, i: int, lines: int = 15) -> str:
        try:
            return "".join(self.console_log(i).read_text(errors="replace").splitlines(keepends=True)[-lines:])
        except OSError:
            return ""

    def wait_height(self, indices: Sequence[int], height: int, timeout: float) -> float:
        """Wait until every node of `indices` reports `height`; returns the seconds waited.
        A node that exits meanwhile fails at once, with the end of its console log."""
        t0 = time.monotonic()
        while True:
            pending = []
            for i in indices:
                if self.exited(i) or (i not in self._popen and self.pid(i) is None):
                    raise TestnetError(
                        f"{self.net.nodes[i].moniker} exited; end of {self.console_log(i)}:\n" + self.tail(i)
                    )
                h = node_height(self.net.nodes[i])
                if h is None or h < height:
                    pending.append(i)
            if not pending:
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout:
                names = ", ".join(self.net.nodes[i].moniker for i in pending)
                raise TestnetError(
                    f"height {height} not reached within {timeout:.0f}s by {names}; "
                    f"logs: {self.console_log(pending[0])}"
                )
            time.sleep(0.1)


# --- agreement -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Agreement:
    height: int
    agree: bool
    detail: str


def check_agreement(nodes: Sequence[NodeInfo], height: int | None = None) -> Agreement:
    """Block hash and app hash of one height (default: the lowest latest height) on every node."""
    if height is None:
        heights = [h for n in nodes if (h := node_height(n)) is not None]
        if not heights:
            return Agreement(0, False, "no node answers")
        height = min(heights)
    seen: dict[tuple[str, str], list[str]] = {}
    for n in nodes:
        hashes = block_hashes(n, height)
        if hashes is None:
            return Agreement(height, False, f"{n.moniker} has no block {height}")
        seen.setdefault(hashes, []).append(n.moniker)
    if len(seen) == 1:
        ((block_hash, app_hash),) = seen
        return Agreement(height, True, f"block {block_hash[:12]}, app hash {app_hash[:12] or '-'}")
    parts = [f"{', '.join(ms)}: block {bh[:12]} app hash {ah[:12]}" for (bh, ah), ms in seen.items()]
    return Agreement(height, False, "; ".join(parts))


# --- commands ------------------------------------------------------------------------------------


def _rel(p: Path) -> str:
    try:
        return str(p.relative_to(Path.cwd()))
    except ValueError:
        return str(p)


def _load(root: Path) -> Network | None:
    return Network.load(root) if (root / MANIFEST).exists() else None


def write_client_config(net: Network) -> None:
    """The client home's config/client.toml: node 0's RPC and the chain id, so commands need no --node."""
    from sidechain.commands.common import write_client_config as write

    write(net.keyring, node=net.nodes[0].rpc_url, chain_id=net.chain_id)


def _print_summary(net: Network, out: TextIO) -> None:
    p = out.write
    p(f"chain id: {net.chain_id}   validators: {len(net.nodes)}   timeout_commit: {net.timeout_commit}\n")
    for n in net.nodes:
        p(
            f"  {n.moniker:<8} rpc {n.rpc_url:<24} p2p {n.p2p_address:<16} node id {n.node_id[:12]}  "
            f"home {_rel(n.home)}\n"
        )
    client = _rel(net.keyring)
    p(f"funded test keys (TEST ONLY: published passphrase {TEST_PASSPHRASE!r}; keyring {client}/keyring):\n")
    for k in net.keys:
        p(f"  {k.name:<8} {k.address}\n")
    p(f"client home {client}: its config/client.toml points at {net.nodes[0].moniker} ({net.nodes[0].rpc_url})\n")
    if len(net.keys) >= 2 and _cli_has("tx", "send"):
        a, b = (net.keys[-2], net.keys[-1])
        exe = _rel(Path(sys.executable).parent / "sidechain")
        p("try it (each line as printed; add --node URL to ask another node):\n")
        p(f"  export SIDECHAIN_KEYRING_PASSPHRASE={TEST_PASSPHRASE}\n")
        p(f"  {exe} tx send {a.name} {b.name} 10stake --fee 1stake --home {client}\n")
        p(f"  {exe} query balance {b.name} --home {client}\n")
        p(f"  {exe} status --home {client}\n")
    _print_l1_summary(net.root, out)
    p("status: make testnet-status   logs: make testnet-logs\n")
    p("stop with: make testnet-stop   (make testnet-clean also deletes the chain data)\n")


def _print_l1_summary(root: Path, out: TextIO) -> None:
    info = l1net.read_bridge_json(root)
    p = out.write
    if info is None:
        p("L1: none (a chain without bridge)\n")
        return
    config = l1net.load_dev_l1_config(root)
    if config is not None:
        p(f"L1: geth --dev, chain id {info.l1_chain_id}, rpc {info.l1_rpc}, data {_rel(config.datadir)} "
          f"(log {_rel(config.log_path)})\n")
    else:
        p(f"L1: {info.l1_rpc} (chain id {info.l1_chain_id}, not run by this tool)\n")
    p(f"  bridge contract {info.contract}" + (f"   test ERC-20 {info.erc20}" if info.erc20 else "") + "\n")
    if info.guardian is not None:
        p(f"  guardian {info.guardian.address}  keystore {_rel(info.guardian.keystore)}\n")
    if info.l1_keys:
        p(f"  funded L1 test keys (TEST ONLY: passphrase in {_rel(info.l1_keys[0].passphrase_file)}):\n")
        for k in info.l1_keys:
            p(f"    {k.name:<8} {k.address}  keystore {_rel(k.keystore)}\n")
    if not l1net.bridge_module_enabled():
        p("  note: this build's chain has no bridge module yet, so the genesis has no app_state.bridge and "
          "nothing watches the contract\n")
    p(f"  everything above, for tools: {_rel(root / l1net.BRIDGE_JSON)}\n")


def _cli_has(group: str, command: str) -> bool:
    """Whether `sidechain GROUP COMMAND` exists (so that the summary only shows commands that work)."""
    import importlib

    try:
        cli = importlib.import_module("sidechain.cli").cli
    except Exception:  # noqa: BLE001 - a broken CLI only hides the hint; `sidechain` reports it itself
        return False
    g = cli.commands.get(group)
    return g is not None and command in getattr(g, "commands", {})


@dataclass(frozen=True)
class L1Options:
    """Which L1 the testnet uses: "dev" (a geth --dev it runs), "existing" (rpc + contract) or "none"."""

    mode: str = "dev"
    rpc: str = ""
    contract: str = ""

    @classmethod
    def of(cls, no_l1: bool, rpc: str, contract: str) -> L1Options:
        rpc, contract = rpc.strip(), contract.strip()
        if no_l1 and (rpc or contract):
            raise TestnetError("NO_L1=1 and L1_RPC=/CONTRACT= contradict each other; give one or the other")
        if bool(rpc) != bool(contract):
            raise TestnetError("an existing L1 needs both L1_RPC=URL and CONTRACT=ADDRESS (a SidechainBridge "
                               "deployed for the testnet's genesis validators)")
        if no_l1:
            return cls("none")
        return cls("existing", rpc, contract) if rpc else cls("dev")


def _check_dev_l1_prerequisites() -> None:
    """geth and the contract artifacts, before anything is built (one line each: how to get them)."""
    from bridge.artifacts import load_artifact
    from bridge.devnet import geth_binary

    try:
        geth_binary()
        load_artifact("SidechainBridge")
        load_artifact(l1net.TOKEN_ARTIFACT)
    except GenesisToolError:
        raise
    except Exception as e:  # noqa: BLE001 - the bridge tooling's own one-line errors
        raise TestnetError(f"the testnet's dev L1 needs {e} (or run with NO_L1=1 for a chain without L1)") from None


def _never_started(net: Network) -> bool:
    """No node of `net` was ever started (so its genesis may still change)."""
    procs = Processes(net)
    return not any(procs.console_log(n.index).exists() for n in net.nodes)


def setup_l1(net: Network, l1: L1Options, base_port: int, out: TextIO) -> DevL1 | None:
    """Give a never-started network its L1: the bridge section in its genesis, `[bridge] l1_rpc` in every
    node's app.toml and bridge.json. With a dev L1, returns the running geth."""
    root = net.root
    valset = l1net.genesis_valset(l1net.read_genesis(root)["app_state"])
    valset_file = l1net.write_genesis_valset(root, valset)
    geth: DevL1 | None = None
    try:
        if l1.mode == "dev":
            config = l1net.dev_l1_config(root, *dev_l1_ports(base_port, len(net.nodes)))
            check_l1_ports(config.http_port, config.auth_port)
            out.write(f"starting the dev L1 (geth --dev) on {config.rpc_url}; deploying the bridge\n")
            geth = l1net.start_dev_l1(config)
            l1net.save_dev_l1_config(root, config)
            info, deployed_at = l1net.deploy_dev_bridge(config.rpc_url, root, valset)
            contract_valset = valset
        else:
            found = l1net.read_contract_genesis(l1.rpc, l1.contract)
            l1net.check_contract_valset(found, valset, valset_file)
            info = l1net.BridgeInfo(l1.rpc, found.l1_chain_id, found.contract)
            deployed_at, contract_valset = found.deployed_at, found.valset
        l1net.connect_network(net, info, deployed_at, contract_valset,
                              poll_interval=l1net.DEV_L1_POLL_INTERVAL if l1.mode == "dev" else "1s")
    except BaseException:
        if geth is not None:
            geth.stop()
        raise
    return geth


def restart_dev_l1(root: Path, out: TextIO) -> DevL1 | None:
    """Start the stopped dev L1 of `root` again on its datadir and ports (None: it has no dev L1)."""
    config = l1net.load_dev_l1_config(root)
    if config is None:
        return None
    running = DevL1.find(config)
    if running is not None:
        return running
    check_l1_ports(config.http_port, config.auth_port)
    out.write(f"restarting the dev L1 (geth --dev) on {config.rpc_url} (its chain is kept)\n")
    return l1net.start_dev_l1(config)


def _check_recorded_l1(root: Path, l1: L1Options) -> None:
    info = l1net.read_bridge_json(root)
    if l1.mode == "none" and info is not None:
        raise TestnetError(f"{_rel(root)} holds a testnet with an L1 ({info.l1_rpc}); drop NO_L1=1 to restart it")
    same = info is not None and (info.l1_rpc, info.contract.lower()) == (l1.rpc, l1.contract.lower())
    if l1.mode == "existing" and not same:
        where = f"its L1 is {info.l1_rpc}, contract {info.contract}" if info else "it has no L1"
        raise TestnetError(f"{_rel(root)} holds a stopped testnet whose L1 cannot change ({where}); "
                           "restart it without L1_RPC/CONTRACT, or delete it with make testnet-clean")


def up(
    root: Path,
    n_validators: int,
    base_port: int,
    spec_path: Path | None,
    settings: NodeSettings,
    out: TextIO,
    timeout: float = 120.0,
    l1: L1Options | None = None,
) -> int:
    l1 = l1 or L1Options()
    t0 = time.monotonic()
    net = _load(root)
    fresh = net is None
    geth: DevL1 | None = None
    if net is not None:
        procs = Processes(net)
        running = procs.running()
        if running:
            out.write(
                f"testnet already running in {_rel(root)} ({len(running)} of {len(net.nodes)} nodes up); "
                "make testnet-status to see it, make testnet-stop to stop it\n"
            )
            if len(running) < len(net.nodes):
                out.write("some nodes are down: make testnet-stop, then make testnet, restarts them all\n")
            _start_relayer(net, out)
            return 0
        if len(net.nodes) != n_validators or net.nodes[0].ports.rpc != base_port:
            raise TestnetError(
                f"{_rel(root)} holds a stopped {len(net.nodes)}-validator network on base port "
                f"{net.nodes[0].ports.rpc}; start it with N={len(net.nodes)} "
                f"BASE_PORT={net.nodes[0].ports.rpc}, "
                "or delete it with make testnet-clean"
            )
        check_ports(net.nodes)
        if _never_started(net) and l1net.read_bridge_json(root) is None and l1.mode != "none":
            if l1.mode == "dev":
                _check_dev_l1_prerequisites()
            out.write(f"starting the testnet built in {_rel(root)} (never started yet)\n")
            geth = setup_l1(net, l1, base_port, out)
        else:
            _check_recorded_l1(root, l1)
            geth = restart_dev_l1(root, out)
            out.write(f"restarting the stopped testnet in {_rel(root)} (its chain data is kept)\n")
    else:
        spec = load_spec(spec_path) if spec_path else default_spec(n_validators, node=settings)
        ports = [NodePorts.from_base(base_port, i) for i in range(len(spec.validators))]
        l1_ports = dev_l1_ports(base_port, len(spec.validators))
        if (l1_ports[1] if l1.mode == "dev" else ports[-1].cometbft_metrics) >= 65536 or base_port < 1024:
            raise TestnetError(f"BASE_PORT={base_port} puts ports outside 1024-65535 for {len(ports)} nodes")
        planned = [
            NodeInfo(i, v.moniker, root / f"node{i}", p, "", "", v.stake)
            for i, (v, p) in enumerate(zip(spec.validators, ports, strict=True))
        ]
        check_ports(planned)
        if l1.mode == "dev":
            check_l1_ports(*l1_ports)
            _check_dev_l1_prerequisites()
        if root.exists() and any(root.iterdir()):
            raise TestnetError(f"{_rel(root)} exists but holds no network; remove it (make testnet-clean)")
        out.write(f"building a {len(spec.validators)}-validator network in {_rel(root)}\n")
        try:
            net = build_network(spec, root, ports, TestKeyring(root / "client", spec.params.address_prefix))
        except GenesisToolError:
            _remove(root)
            raise
        enable_testnet_snapshots(net)
        procs = Processes(net)
        if l1.mode != "none":
            try:
                geth = setup_l1(net, l1, base_port, out)
            except GenesisToolError:
                if l1.mode == "dev":
                    _remove(root)  # nothing ran yet: the next `make testnet` starts over
                else:
                    out.write(f"the network is kept in {_rel(root)} (never started): run again with the "
                              "CONTRACT= of a bridge deployed for its genesis valset, or make testnet-clean\n")
                raise
    write_client_config(net)
    start_height = max((_stored_height(n) for n in net.nodes), default=0)
    for n in net.nodes:
        procs.start(n.index)
    try:
        procs.wait_height([n.index for n in net.nodes], start_height + 1, timeout)
    except TestnetError:
        procs.stop()
        if geth is not None:
            geth.stop()
        raise
    elapsed = time.monotonic() - t0
    what = "first block" if fresh else f"block {start_height + 1}"
    out.write(f"testnet up: all {len(net.nodes)} validators committed {what} {elapsed:.1f}s after start\n")
    _start_relayer(net, out)
    _print_summary(net, out)
    return 0


def _start_relayer(net: Network, out: TextIO) -> None:
    """The network's relayer (genesis.testnet_relayer); a failure to start it is reported, the network stays up."""
    try:
        testnet_relayer.start(net, out)
    except GenesisToolError as e:
        out.write(f"warning: the relayer did not start: {e}\n")


# Every testnet node takes a state-sync snapshot every this many heights and keeps two, so that a
# node can join by state sync (docs/STATESYNC.md).
TESTNET_SNAPSHOT_INTERVAL = 100
TESTNET_SNAPSHOT_KEEP = 2


def enable_testnet_snapshots(net: Network, interval: int = TESTNET_SNAPSHOT_INTERVAL,
                             keep_recent: int = TESTNET_SNAPSHOT_KEEP) -> None:
    from sidechain.config import NodeHome, set_snapshots

    for n in net.nodes:
        set_snapshots(NodeHome(n.home).app_config, interval, keep_recent)


def _stored_height(n: NodeInfo) -> int:
    """The last height CometBFT saved for node `n` (0 for a new node), read without starting it."""
    try:
        state = json.loads((n.home / "data" / "priv_validator_state.json").read_text())
        return int(state.get("height", 0))
    except (OSError, ValueError):
        return 0


def status(root: Path, out: TextIO) -> int:
    net = _load(root)
    if net is None:
        out.write(f"no testnet in {_rel(root)}; start one with make testnet\n")
        return 0
    procs = Processes(net)
    up_nodes = []
    out.write(f"testnet {net.chain_id} in {_rel(root)}: {len(net.nodes)} validators\n")
    out.write(f"  {'node':<8} {'state':<8} {'height':>7}  {'app hash':<16} {'peers':>5}  catching up\n")
    for n in net.nodes:
        pid = procs.pid(n.index)
        st = try_rpc(n.rpc_url, "status") if pid else None
        ni = try_rpc(n.rpc_url, "net_info") if st else None
        if st is None:
            out.write(
                f"  {n.moniker:<8} {'running' if pid else 'stopped':<8} {'-':>7}  {'-':<16} {'-':>5}  -\n"
            )
            continue
        up_nodes.append(n)
        sync = st["sync_info"]
        out.write(
            f"  {n.moniker:<8} {'running':<8} {sync['latest_block_height']:>7}  "
            f"{(sync['latest_app_hash'] or '-')[:16]:<16} {ni['n_peers'] if ni else '?':>5}  "
            f"{'yes' if sync['catching_up'] else 'no'}\n"
        )
    _print_l1_status(net, up_nodes, out)
    testnet_relayer.write_status(root, out)
    if not up_nodes:
        out.write("not running: start it with make testnet\n")
        return 0
    ag = check_agreement(up_nodes)
    who = f"all {len(up_nodes)} running nodes have" if len(up_nodes) > 1 else "the only running node has"
    if ag.agree:
        out.write(f"agree: at height {ag.height} {who} the same {ag.detail}\n")
        return 0
    out.write(f"DISAGREE at height {ag.height}: {ag.detail}\n")
    return 1


def _print_l1_status(net: Network, up_nodes: Sequence[NodeInfo], out: TextIO) -> None:
    info = l1net.read_bridge_json(net.root)
    if info is None:
        return
    config = l1net.load_dev_l1_config(net.root)
    running = DevL1.find(config) is not None if config is not None else None
    try:
        bridge = l1net.read_genesis(net.root)["app_state"].get("bridge") or {}
        confirmations = int(bridge.get("params", {}).get("l1_confirmations", l1net.DEV_L1_CONFIRMATIONS))
    except (TestnetError, AttributeError, TypeError, ValueError):
        confirmations = l1net.DEV_L1_CONFIRMATIONS
    from sidechain.config import NodeHome

    finality = l1net.node_finality(NodeHome(net.nodes[0].home).app_config)
    st = l1net.l1_status(info.l1_rpc, confirmations, up_nodes[0].rpc_url if up_nodes else None, finality)
    l1net.write_status(info, st, config is not None, running, out)


def logs(root: Path, lines: int, follow: bool, out: TextIO) -> int:
    net = _load(root)
    if net is None:
        out.write(f"no testnet in {_rel(root)}; start one with make testnet\n")
        return 0
    procs = Processes(net)
    for n in net.nodes:
        out.write(
            f"==> {n.moniker} ({_rel(procs.console_log(n.index))}; also app.log, cometbft.log there) <==\n"
        )
        out.write(procs.tail(n.index, lines))
    if not follow:
        return 0
    out.flush()
    files = {}
    for n in net.nodes:
        f = (
            procs.console_log(n.index).open("r", errors="replace")
            if procs.console_log(n.index).exists()
            else None
        )
        if f is not None:
            f.seek(0, os.SEEK_END)
            files[n.moniker] = f
    try:
        while True:
            idle = True
            for name, f in files.items():
                line = f.readline()
                while line:
                    idle = False
                    out.write(f"{name:<8}| {line}")
                    line = f.readline()
            out.flush()
            if idle:
                time.sleep(0.3)
    except KeyboardInterrupt:
        return 0


def stop(root: Path, out: TextIO) -> int:
    net = _load(root)
    if net is None:
        out.write(f"no testnet in {_rel(root)}: nothing to stop\n")
        return 0
    relayer_stopped = testnet_relayer.stop(root)
    stopped = Processes(net).stop()
    l1_stopped = _stop_dev_l1(root)
    if not stopped and not l1_stopped and not relayer_stopped:
        out.write("testnet is not running: nothing to stop\n")
    else:
        what = f"{len(stopped)} node(s)" + (", the relayer" if relayer_stopped else "") + (
            " and the dev L1 (geth)" if l1_stopped else "")
        out.write(
            f"stopped {what}; data kept in {_rel(root)} (make testnet restarts, "
            "make testnet-clean deletes)\n"
        )
    return 0


def _stop_dev_l1(root: Path) -> bool:
    """Stop the testnet's dev L1 if it runs; whether it did."""
    geth = l1net.find_dev_l1(root)
    if geth is None:
        return False
    try:
        geth.stop()
    except GenesisToolError:
        raise
    except Exception as e:  # noqa: BLE001 - bridge.devnet's one-line errors
        raise TestnetError(f"cannot stop the dev L1: {e}") from None
    return True


def _remove(root: Path) -> None:
    if (root / MARKER).exists() or (root / MANIFEST).exists():
        shutil.rmtree(root)


def clean(root: Path, out: TextIO) -> int:
    if not root.exists():
        out.write(f"no testnet in {_rel(root)}: nothing to clean\n")
        return 0
    if not (root / MARKER).exists() and not (root / MANIFEST).exists():
        raise TestnetError(f"{root} was not made by this tool; not deleting it")
    net = _load(root)
    if testnet_relayer.stop(root):
        out.write("stopped the relayer\n")
    if net is not None:
        stopped = Processes(net).stop()
        if stopped:
            out.write(f"stopped {len(stopped)} node(s)\n")
    if _stop_dev_l1(root):
        out.write("stopped the dev L1 (geth)\n")
    _remove(root)
    out.write(f"deleted {_rel(root)}\n")
    return 0


# --- entry point ---------------------------------------------------------------------------------


def _int_env(name: str, default: int) -> int:
    v = os.environ.get(name, "")
    return int(v) if v.strip().isdigit() else default


class _Parser(argparse.ArgumentParser):
    """Bad arguments are one line naming the make variable (N=, BASE_PORT=), not argparse's usage text."""

    def error(self, message: str) -> Any:
        for flag, var in (("-n/--validators", "N"), ("--base-port", "BASE_PORT"), ("-n/--lines", "LINES")):
            message = message.replace(f"argument {flag}: ", f"{var}: ")
        self.exit(2, f"error: {message} (see make help)\n")


def _whole(name: str, lo: int, hi: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        t = text.strip()
        if not t.isdigit() or not lo <= int(t) <= hi:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from {lo} to {hi} ({name})")
        return int(t)

    return parse


def main(argv: Sequence[str] | None = None) -> int:
    ap = _Parser(prog="python -m genesis.testnet", description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--dir", type=Path, default=DEFAULT_DIR, help="where the network lives (default .testnet)"
    )
    sub = ap.add_subparsers(dest="cmd", required=True, parser_class=_Parser)
    p_up = sub.add_parser("up", help="build (first time) and start the network in the background")
    p_up.add_argument("-n", "--validators", type=_whole("the number of validators, e.g. N=4", 1, 100),
                      default=DEFAULT_VALIDATORS)
    p_up.add_argument("--base-port", type=_whole("the first port, e.g. BASE_PORT=26600", 1024, 65535),
                      default=DEFAULT_BASE_PORT)
    p_up.add_argument("--spec", type=Path, default=None, help="a network spec (JSON); see genesis/spec.py")
    p_up.add_argument("--timeout-commit", default=NodeSettings().timeout_commit)
    p_up.add_argument("--wait", type=float, default=120.0, help="seconds to wait for the first block")
    p_up.add_argument("--no-l1", action="store_true", help="no L1: a chain without bridge (make NO_L1=1)")
    p_up.add_argument("--l1-rpc", default="", help="an existing L1 instead of a dev L1 (make L1_RPC=URL)")
    p_up.add_argument("--contract", default="",
                      help="the SidechainBridge on that L1, deployed for the genesis validators (make CONTRACT=)")
    sub.add_parser("status", help="height, app hash and peers of every node, and whether they agree")
    p_logs = sub.add_parser("logs", help="the end of every node's log")
    p_logs.add_argument("-n", "--lines", type=_whole("how many lines, e.g. LINES=20", 1, 100000), default=20)
    p_logs.add_argument("-f", "--follow", action="store_true")
    sub.add_parser("stop", help="stop every node (SIGTERM), keeping the data")
    sub.add_parser("clean", help="stop, then delete the network's directory")
    args = ap.parse_args(argv)
    root: Path = args.dir.resolve()
    out = sys.stdout
    commands: dict[str, Callable[[], int]] = {
        "up": lambda: up(
            root,
            args.validators,
            args.base_port,
            args.spec,
            NodeSettings(timeout_commit=args.timeout_commit),
            out,
            args.wait,
            L1Options.of(args.no_l1, args.l1_rpc, args.contract),
        ),
        "status": lambda: status(root, out),
        "logs": lambda: logs(root, args.lines, args.follow, out),
        "stop": lambda: stop(root, out),
        "clean": lambda: clean(root, out),
    }
    try:
        return commands[args.cmd]()
    except GenesisToolError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        return 0


if __name__ == "__main__":
    sys.exit(main())
