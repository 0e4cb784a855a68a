"""The local testnet's L1: a `geth --dev` it runs (bridge.devnet) or an existing L1, and the bridge on it.

With a dev L1 (the default of `make testnet`), `prepare_dev_l1` starts geth in `<root>/l1`, deploys
`SidechainBridge` holding the genesis validators' valset (`genesis_valset`: their bridge addresses and
stakes, BRIDGE.md section 2) with a guardian key, deploys a test ERC-20 (`TestERC20`, open minting: TEST
ONLY) and funds a few L1 test keys with ETH and that token. With an existing L1 (`L1_RPC=... CONTRACT=...`),
`attach_l1` reads the contract's deployment block and valset from its logs and refuses a contract whose
valset is not the genesis validators'.

Either way the chain gets `app_state.bridge` (`bridge_genesis_section`) before its nodes first start, each
validator's app.toml gets `[bridge] l1_rpc` (`set_node_bridge_config`), and `<root>/bridge.json` tells
tools and users where everything is:

    {"l1_rpc": "http://127.0.0.1:26640", "l1_chain_id": 1337, "contract": "0x...", "erc20": "0x...",
     "guardian": {"name": "guardian", "address": "0x...", "keystore": ".../l1/keys/guardian.json",
                  "passphrase_file": ".../l1/keys/passphrase"},
     "l1_keys": [{"name": "alice", "address": "0x...", "keystore": "...", "passphrase_file": "..."}, ...],
     "test_keys_only": true}

The keys are TEST ONLY: random, encrypted with the published testnet passphrase at a low KDF cost, files
0600 in a 0700 directory. `guardian` and `erc20` are null and `l1_keys` empty on an existing L1.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import tomli_w

from bridge.devnet import DevL1, DevL1Config, DevL1Error, rpc_call
from genesis.build import check_app_state, write_genesis
from genesis.errors import GenesisToolError, TestnetError
from genesis.network import Network
from genesis.testkeys import TEST_PASSPHRASE
from sidechain.errors import SidechainError

if TYPE_CHECKING:  # web3 and eth-* load on first use: `make testnet-status` stays quick
    from bridge.protocol import Valset

BRIDGE_JSON = "bridge.json"
L1_DIR = "l1"
DEV_L1_JSON = "dev-l1.json"  # in L1_DIR: how to restart the dev L1 (datadir, ports)
GENESIS_VALSET_JSON = "genesis-valset.json"  # the genesis validators' valset, for `bridge deploy --valset`
L1_TEST_KEYS = ("alice", "bob", "carol", "dave")
GUARDIAN = "guardian"
ETH_PER_KEY = 100 * 10**18
TOKEN_PER_KEY = 1_000_000 * 10**18
TOKEN_ARTIFACT = "TestERC20"
TOKEN_NAME, TOKEN_SYMBOL = "Testnet Token", "TTK"
DEV_L1_CONFIRMATIONS = 2  # l1_confirmations on a dev chain (no finality): head - 2
# A dev L1 makes a block a second: a batch not relayed within 40 blocks is refunded on the sidechain.
# Batches of at most 50: the pinned geth's dev chain charges about 225,000 gas for an ETH payout to an
# address that never held any (25,000 on mainnet today), so 100 such payouts would need more than the
# 2^24 gas one L1 transaction may use (EIP-7825) and could never execute.
DEFAULT_PARAMS = {"max_events_per_extension": 32, "max_extension_bytes": 16384, "batch_timeout_l1_blocks": 40,
                  "max_batch_size": 50}
KEYSTORE_KDF_COST = 2**10  # scrypt n: test keys with a published passphrase; a high cost protects nothing
FINALITY_CONFIRMATIONS = "confirmations"


# --- bridge.json ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class L1Key:
    name: str
    address: str
    keystore: Path
    passphrase_file: Path

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "address": self.address, "keystore": str(self.keystore),
                "passphrase_file": str(self.passphrase_file)}

    @classmethod
    def from_json(cls, d: Any) -> L1Key:
        return cls(str(d["name"]), str(d["address"]), Path(d["keystore"]), Path(d["passphrase_file"]))


@dataclass(frozen=True)
class BridgeInfo:
    """What `<root>/bridge.json` holds."""

    l1_rpc: str
    l1_chain_id: int
    contract: str
    erc20: str | None = None
    guardian: L1Key | None = None
    l1_keys: tuple[L1Key, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "l1_rpc": self.l1_rpc,
            "l1_chain_id": self.l1_chain_id,
            "contract": self.contract,
            "erc20": self.erc20,
            "guardian": self.guardian.to_json() if self.guardian else None,
            "l1_keys": [k.to_json() for k in self.l1_keys],
            "test_keys_only": True,
        }

    @classmethod
    def from_json(cls, d: Any) -> BridgeInfo:
        return cls(
            l1_rpc=str(d["l1_rpc"]),
            l1_chain_id=int(d["l1_chain_id"]),
            contract=str(d["contract"]),
            erc20=None if d.get("erc20") is None else str(d["erc20"]),
            guardian=None if d.get("guardian") is None else L1Key.from_json(d["guardian"]),
            l1_keys=tuple(L1Key.from_json(k) for k in d.get("l1_keys", [])),
        )


def write_bridge_json(root: Path, info: BridgeInfo) -> Path:
    path = root / BRIDGE_JSON
    path.write_text(json.dumps(info.to_json(), indent=2) + "\n")
    return path


def read_bridge_json(root: Path) -> BridgeInfo | None:
    path = root / BRIDGE_JSON
    try:
        return BridgeInfo.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise TestnetError(f"{path} is damaged ({type(e).__name__}: {e}); remove {root} and build again") from None


# --- the genesis section -------------------------------------------------------------------------


def bridge_module_enabled() -> bool:
    """Whether this build's chain has a bridge module (only then may app_state hold a `bridge` section)."""
    from sidechain.module import CHAIN

    return any(m.name == "bridge" for m in CHAIN)


def genesis_valset(app_state: Mapping[str, Any]) -> Valset:
    """The genesis valset (bridge.protocol.Valset, nonce 0): the genesis validators' bridge addresses, each
    with its self-delegation as stake, normalised as BRIDGE.md section 2 says."""
    from bridge.protocol import Valset

    try:
        validators = app_state["staking"]["validators"]
        stakes: dict[str, int] = {}
        for v in validators:
            stakes[v["bridge_address"]] = stakes.get(v["bridge_address"], 0) + int(v["self_delegation"])
    except (KeyError, TypeError, ValueError) as e:
        raise TestnetError(
            f"the genesis has no usable app_state.staking.validators ({type(e).__name__}: {e})") from None
    try:
        return Valset.from_stakes(0, stakes)
    except SidechainError as e:
        raise TestnetError(f"the genesis validators make no valid valset: {e}") from None


def bridge_genesis_section(l1_chain_id: int, contract: str, deployed_at: int, valset: Valset,
                           l1_confirmations: int = DEV_L1_CONFIRMATIONS) -> dict[str, object]:
    """`app_state.bridge` for a contract deployed at L1 block `deployed_at` holding `valset` (its event 1,
    the constructor's ValsetUpdated, is the last one the chain has seen)."""
    from bridge.protocol import checksum

    return {
        "l1_chain_id": int(l1_chain_id),
        "contract": checksum(contract),
        "deployed_at": int(deployed_at),
        "last_event_nonce": 1,
        "valset": valset.to_json(),
        "params": {"l1_confirmations": int(l1_confirmations), **DEFAULT_PARAMS},
    }


def install_bridge_genesis(root: Path, keyring: Path, homes: Sequence[Path], section: Mapping[str, object]) -> None:
    """Put `section` into the network's genesis (root, client home and every node home), checked as InitChain
    will check it. Only for a network whose nodes have never started."""
    from sidechain.config import NodeHome

    path = root / "genesis.json"
    try:
        genesis = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise TestnetError(f"cannot read {path}: {e}") from None
    genesis["app_state"]["bridge"] = dict(section)
    check_app_state(genesis["app_state"], genesis["chain_id"])
    try:
        write_genesis(path, genesis)
        write_genesis(keyring / "config" / "genesis.json", genesis)
        for home in homes:
            NodeHome(home).genesis.write_text(json.dumps(genesis, indent=2) + "\n")
    except OSError as e:
        raise TestnetError(f"cannot write the genesis with the bridge section: {e}") from None


# A local dev L1 seals a block a second and answers in a millisecond: poll it often, so that a deposit's
# latency is the sidechain's (one vote, one block) and not the poll's. A public RPC keeps app.toml's 1 s.
DEV_L1_POLL_INTERVAL = "100ms"


def connect_network(net: Network, info: BridgeInfo, deployed_at: int, valset: Valset,
                    poll_interval: str = DEV_L1_POLL_INTERVAL) -> None:
    """Give a never-started network its L1: `app_state.bridge` in its genesis (when this build's chain has
    a bridge module), `[bridge] l1_rpc` in every node's app.toml, and `<root>/bridge.json`."""
    from sidechain.config import NodeHome

    if bridge_module_enabled():
        section = bridge_genesis_section(info.l1_chain_id, info.contract, deployed_at, valset)
        install_bridge_genesis(net.root, net.keyring, [n.home for n in net.nodes], section)
    for n in net.nodes:
        set_node_bridge_config(NodeHome(n.home).app_config, info.l1_rpc, poll_interval=poll_interval)
    write_bridge_json(net.root, info)


def read_genesis(root: Path) -> dict[str, Any]:
    path = root / "genesis.json"
    try:
        genesis = json.loads(path.read_text())
        assert isinstance(genesis, dict) and isinstance(genesis.get("app_state"), dict)
        return genesis
    except (OSError, ValueError, AssertionError) as e:
        raise TestnetError(f"cannot read the network's genesis {path}: {e or 'no app_state'}") from None


# --- app.toml [bridge] ---------------------------------------------------------------------------


def set_node_bridge_config(app_toml: Path, l1_rpc: str, finality: str = FINALITY_CONFIRMATIONS,
                           poll_interval: str = DEV_L1_POLL_INTERVAL) -> None:
    """Write `[bridge] l1_rpc` and `finality` into a node's app.toml (the app config's own writer where
    sidechain.config has one; else the two TOML keys, keeping the file's other keys and header comments)."""
    import sidechain.config as app_config

    setter = getattr(app_config, "set_bridge_watcher", None)
    if setter is not None:
        try:
            setter(app_toml, l1_rpc, finality, poll_interval)
        except SidechainError as e:
            raise TestnetError(f"cannot set the bridge watcher in {app_toml}: {e}") from None
        return
    try:
        text = app_toml.read_text()
        doc = tomllib.loads(text)
    except OSError as e:
        raise TestnetError(f"cannot read {app_toml}: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise TestnetError(f"{app_toml} is not valid TOML: {e}") from None
    section = doc.get("bridge", {})
    if not isinstance(section, dict):
        raise TestnetError(f"{app_toml}: bridge is not a table")
    doc["bridge"] = {**section, "l1_rpc": l1_rpc, "finality": finality, "poll_interval": poll_interval}
    header = "".join(line for line in text.splitlines(keepends=True)[:_header_lines(text)])
    app_toml.write_text(header + tomli_w.dumps(doc))


def _header_lines(text: str) -> int:
    n = 0
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            n += 1
        else:
            break
    return n


# --- keys ----------------------------------------------------------------------------------------


def make_test_key(keys_dir: Path, name: str) -> tuple[Any, L1Key]:
    """A new random L1 key NAME in `keys_dir` (0700), encrypted with the published test passphrase."""
    from eth_account import Account

    from bridge.keys import write_keystore

    keys_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(keys_dir, 0o700)
    passphrase_file = keys_dir / "passphrase"
    if not passphrase_file.exists():
        fd = os.open(passphrase_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(TEST_PASSPHRASE + "\n")
    account = Account.create()
    keystore = keys_dir / f"{name}.json"
    write_keystore(account, keystore, TEST_PASSPHRASE, iterations=KEYSTORE_KDF_COST)
    return account, L1Key(name, account.address, keystore, passphrase_file)


# --- a dev L1 this tool runs ---------------------------------------------------------------------


def dev_l1_config(root: Path, http_port: int, auth_port: int) -> DevL1Config:
    return DevL1Config(root / L1_DIR, http_port=http_port, auth_port=auth_port, period=1)


def save_dev_l1_config(root: Path, config: DevL1Config) -> None:
    path = root / L1_DIR / DEV_L1_JSON
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config.to_json(), indent=2) + "\n")


def load_dev_l1_config(root: Path) -> DevL1Config | None:
    """The dev L1 this testnet runs (None: it has none, or uses an existing L1)."""
    path = root / L1_DIR / DEV_L1_JSON
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise TestnetError(f"{path} is damaged ({e}); remove {root} and build again") from None
    try:
        return DevL1Config.from_json(data, str(path))
    except DevL1Error as e:
        raise TestnetError(str(e)) from None


def start_dev_l1(config: DevL1Config, timeout: float = 30.0) -> DevL1:
    try:
        return DevL1.start(config, timeout=timeout)
    except SidechainError as e:
        raise TestnetError(f"cannot start the dev L1: {e}") from None


def find_dev_l1(root: Path) -> DevL1 | None:
    config = load_dev_l1_config(root)
    return DevL1.find(config) if config is not None else None


def _send_all(w3: Any, sends: Sequence[Any], what: str, timeout: float = 60.0) -> list[Any]:
    """Wait for the receipts of transactions already sent; every one must have succeeded."""
    receipts = []
    for tx_hash in sends:
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout)
        if receipt["status"] != 1:
            raise TestnetError(f"{what}: transaction {tx_hash.hex()} failed on the dev L1")
        receipts.append(receipt)
    return receipts


def deploy_dev_bridge(l1_rpc: str, root: Path, valset: Valset) -> tuple[BridgeInfo, int]:
    """On a dev L1 (its unlocked dev account pays): a guardian key that deploys `SidechainBridge` with
    `valset`, a test ERC-20, and the funded L1 test keys. Returns bridge.json's content and the deployment
    block."""
    from web3.types import Wei

    from bridge.artifacts import load_artifact
    from bridge.l1 import BridgeContract, L1Client
    from bridge.operations import deploy

    try:
        client = L1Client.connect(l1_rpc)
        w3 = client.w3
        dev = w3.eth.accounts[0]
        keys_dir = root / L1_DIR / "keys"
        guardian_account, guardian = make_test_key(keys_dir, GUARDIAN)
        users = [make_test_key(keys_dir, name)[1] for name in L1_TEST_KEYS]
        token_artifact = load_artifact(TOKEN_ARTIFACT)
        token_factory = w3.eth.contract(abi=token_artifact.abi, bytecode=token_artifact.bytecode)
        # One block: ETH for every key, and the token's deployment, all from the dev account.
        sends = [w3.eth.send_transaction({"from": dev, "to": k.address, "value": Wei(ETH_PER_KEY)})
                 for k in (guardian, *users)]
        sends.append(token_factory.constructor(TOKEN_NAME, TOKEN_SYMBOL).transact({"from": dev}))
        receipts = _send_all(w3, sends, "funding the L1 test keys")
        erc20 = receipts[-1]["contractAddress"]
        token = w3.eth.contract(address=erc20, abi=token_artifact.abi)
        # The next block: the token for every key (dev account) and the bridge (guardian key).
        mints = [token.functions.mint(k.address, TOKEN_PER_KEY).transact({"from": dev}) for k in users]
        result = deploy(client, valset, guardian.address, guardian_account)
        assert client.last_receipt is not None
        deployed_at = int(client.last_receipt["blockNumber"])
        _send_all(w3, mints, "minting the test ERC-20")
        bridge = BridgeContract(client, result.contract)
        if bridge.event_nonce() != 1 or bridge.valset_checkpoint() != bridge.domain.valset_digest(valset):
            raise TestnetError(f"the contract deployed at {result.contract} does not hold the genesis valset")
    except GenesisToolError:
        raise
    except SidechainError as e:
        raise TestnetError(f"cannot deploy the bridge on the dev L1 at {l1_rpc}: {e}") from None
    except Exception as e:  # web3 and transport errors come in many types
        raise TestnetError(f"cannot deploy the bridge on the dev L1 at {l1_rpc}: {type(e).__name__}: {e}") from None
    info = BridgeInfo(l1_rpc, client.chain_id, result.contract, erc20, guardian, tuple(users))
    return info, deployed_at


# --- an existing L1 ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContractGenesis:
    """What a deployed contract says about itself: chain, deployment block, the valset it holds."""

    l1_chain_id: int
    contract: str
    deployed_at: int
    valset: Valset
    event_nonce: int


def read_contract_genesis(l1_rpc: str, contract: str) -> ContractGenesis:
    """The deployment block (the block of its event 1, the constructor's ValsetUpdated) and the valset of
    a deployed SidechainBridge, from its logs; refuses a contract whose valset changed since deployment."""
    from eth_utils import keccak

    from bridge.l1 import BridgeContract, L1Client
    from bridge.protocol import Valset, checksum

    try:
        address = checksum(contract)
    except SidechainError:
        raise TestnetError(f"CONTRACT={contract!r} is not an Ethereum address") from None
    try:
        client = L1Client.connect(l1_rpc)
        w3 = client.w3
        if not w3.eth.get_code(address):
            raise TestnetError(f"no contract at {address} on the L1 at {l1_rpc} (chain id {client.chain_id})")
        bridge = BridgeContract(client, address)
        try:
            valset_nonce, checkpoint = bridge.valset_nonce(), bridge.valset_checkpoint()
            event_nonce = bridge.event_nonce()
        except Exception:  # noqa: BLE001 - any failure here means it is not our contract
            raise TestnetError(f"{address} on chain {client.chain_id} is not a SidechainBridge "
                               "(valsetNonce/valsetCheckpoint/eventNonce do not answer)") from None
        topic = "0x" + keccak(text="ValsetUpdated(uint256,uint256,address[],uint256[])").hex()
        logs = w3.eth.get_logs({"address": address, "fromBlock": 0, "toBlock": "latest",
                                "topics": [topic, "0x" + (1).to_bytes(32, "big").hex()]})
        if len(logs) != 1:
            raise TestnetError(f"{address} on chain {client.chain_id}: found {len(logs)} logs of its event 1 "
                               "(the constructor's ValsetUpdated), expected 1")
        event = bridge.contract.events.ValsetUpdated().process_log(logs[0])
        deployed_at = int(logs[0]["blockNumber"])
        valset = Valset.of(int(event["args"]["valsetNonce"]), event["args"]["validators"], event["args"]["powers"])
    except GenesisToolError:
        raise
    except SidechainError as e:
        raise TestnetError(f"cannot read the bridge contract {address} at {l1_rpc}: {e}") from None
    except Exception as e:  # web3 and transport errors come in many types
        raise TestnetError(f"cannot read the bridge contract {address} at {l1_rpc}: {type(e).__name__}: {e}") from None
    if valset_nonce != valset.nonce or bridge.domain.valset_digest(valset) != checkpoint:
        raise TestnetError(
            f"{address} on chain {client.chain_id} holds valset nonce {valset_nonce}, no longer its genesis "
            f"valset (nonce {valset.nonce}): a new chain needs a contract that still holds its genesis valset"
        )
    return ContractGenesis(client.chain_id, address, deployed_at, valset, event_nonce)


def check_contract_valset(found: ContractGenesis, expected: Valset, valset_file: Path) -> None:
    """The contract's valset must be the genesis validators' (same addresses, same normalised powers)."""
    if (found.valset.validators, found.valset.powers) == (expected.validators, expected.powers):
        return
    raise TestnetError(
        f"contract {found.contract} on chain {found.l1_chain_id} holds a valset of "
        f"{len(found.valset.validators)} validator(s) that is not this testnet's genesis valset "
        f"({len(expected.validators)} validators, written to {valset_file}); deploy a bridge for it "
        f"(bridge deploy --valset {valset_file} ...) and give its address with CONTRACT=, "
        "or leave L1_RPC and CONTRACT unset for a local dev L1"
    )


def write_genesis_valset(root: Path, valset: Valset) -> Path:
    path = root / GENESIS_VALSET_JSON
    path.write_text(json.dumps(valset.to_json(), indent=2) + "\n")
    return path


# --- status --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class L1Status:
    head: int | None
    finalized: int | None
    confirmations: int
    observed: int | None  # the chain's observed_l1_height (None: unknown)
    finality: str = FINALITY_CONFIRMATIONS  # the watchers' mode (app.toml [bridge] finality)

    @property
    def confirmed(self) -> int | None:
        return None if self.head is None else max(self.head - self.confirmations, 0)

    @property
    def safe_height(self) -> int | None:
        """What the watchers read up to: head - l1_confirmations, or the finalized block ("finalized" mode)."""
        return self.finalized if self.finality == "finalized" else self.confirmed

    @property
    def lag(self) -> int | None:
        if self.safe_height is None or self.observed is None:
            return None
        return max(self.safe_height - self.observed, 0)


def node_finality(app_toml: Path) -> str:
    """The finality mode a node's watcher uses (app.toml [bridge] finality; default "confirmations")."""
    try:
        value = tomllib.loads(app_toml.read_text()).get("bridge", {}).get("finality", FINALITY_CONFIRMATIONS)
    except (OSError, tomllib.TOMLDecodeError, AttributeError):
        return FINALITY_CONFIRMATIONS
    return str(value)


def l1_status(l1_rpc: str, confirmations: int, node_rpc: str | None,
              finality: str = FINALITY_CONFIRMATIONS) -> L1Status:
    head: int | None = None
    finalized: int | None = None
    try:
        head = int(str(rpc_call(l1_rpc, "eth_blockNumber")), 16)
        block = rpc_call(l1_rpc, "eth_getBlockByNumber", ["finalized", False])
        finalized = int(block["number"], 16) if isinstance(block, dict) else None
    except (OSError, ValueError, KeyError, TypeError, DevL1Error):
        pass
    return L1Status(head, finalized, confirmations, observed_l1_height(node_rpc) if node_rpc else None, finality)


def observed_l1_height(node_rpc: str) -> int | None:
    """The chain's `observed_l1_height` (ABCI query /bridge/state), or None when it cannot be read."""
    from sidechain.client import NodeClient

    try:
        state = NodeClient(node_rpc, timeout=3.0).query_ok("/bridge/state").json()
        return int(state["observed_l1_height"])
    except (SidechainError, ValueError, KeyError, TypeError):
        return None


def write_status(info: BridgeInfo, st: L1Status, managed: bool, running: bool | None, out: TextIO) -> None:
    what = "dev L1 (geth --dev)" if managed else "L1"
    if st.head is None:
        state = "stopped" if managed and not running else "not answering"
        out.write(f"{what} {info.l1_rpc} (chain id {info.l1_chain_id}): {state}\n")
    else:
        fin = f"finalized {st.finalized}" if st.finalized else "finalized -"
        out.write(f"{what} {info.l1_rpc} (chain id {info.l1_chain_id}): head {st.head}, {fin}, "
                  f"confirmed (head - {st.confirmations}) {st.confirmed}\n")
    observed = "unknown" if st.observed is None else str(st.observed)
    lag = "unknown" if st.lag is None else f"{st.lag} block{'s' if st.lag != 1 else ''}"
    basis = "finalized" if st.finality == "finalized" else "confirmed"
    out.write(f"bridge {info.contract}: observed_l1_height {observed}, lag {lag} (behind the {basis} height)\n")
