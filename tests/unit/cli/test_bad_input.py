"""No traceback, no Python warning, ever: every command of `sidechain` and `bridge` given bad input,
with no terminal (stdin is not a tty) and no passphrase source, prints exactly one line on stderr
(`error: ...`) and exits non-zero.

The table is the spec: one row per case, `(name, argv, expected text of the error line)`. To add a
case, add a row. `{home}`, `{dead}` (a closed port), `{valset}`, `{keystore}`... are filled in from
the fixture. Cases that need a running chain (unknown denoms, a fee below the minimum, a block that
does not exist, a typo in a recipient) are in tests/integration/testnet/test_printed_commands.py,
which runs the same check against a live testnet.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account

from sidechain import keyring as kr
from sidechain.types import bech32_address
from tests.support.cli import (
    assert_one_line_error,
    bridge_argv,
    run_inprocess,
    run_subprocess,
    sidechain_argv,
)
from tests.support.node import free_ports

PASS = "correct horse battery"
GOOD = bech32_address(bytes(range(20)), "side")  # side1qqqsyqcyq5rqwzqfpg9scrgwpugpzysnhhvq07
TYPO = GOOD[:12] + ("p" if GOOD[12] != "p" else "q") + GOOD[13:]  # one mistyped character
ETH = "0x" + "ab" * 20
KEY = bytes.fromhex("11" * 32)


@dataclass
class Fixture:
    home: Path
    values: dict[str, str]

    def fill(self, argv: tuple[str, ...]) -> list[str]:
        return [a.format(**self.values) for a in argv]


@pytest.fixture(scope="module")
def fx(tmp_path_factory: pytest.TempPathFactory) -> Fixture:
    root = tmp_path_factory.mktemp("badinput")
    home = root / "home"
    kr.Keyring(home, kr.KdfCost.MIN).add("alice", PASS)
    dead = free_ports(1)[0]  # nothing listens there
    deadhome = root / "deadhome"
    (deadhome / "config").mkdir(parents=True)
    (deadhome / "config" / "client.toml").write_text(f'node = "127.0.0.1:{dead}"\n')
    badtoml = root / "badtoml"
    (badtoml / "config").mkdir(parents=True)
    (badtoml / "config" / "client.toml").write_text("node = [\n")
    badword = root / "badword.txt"
    badword.write_text(" ".join(["abandon"] * 2 + ["abandn"] + ["abandon"] * 20 + ["art"]) + "\n")
    keystore = root / "key.json"
    keystore.write_text(json.dumps(Account.encrypt(KEY, PASS, iterations=2)))
    valset = root / "valset.json"
    valset.write_text('{"not": "a valset"}')
    passfile = root / "pass.txt"
    passfile.write_text(PASS + "\n")
    return Fixture(home, {"home": str(home), "dead": str(dead), "deadhome": str(deadhome), "badtoml": str(badtoml),
                          "badword": str(badword), "keystore": str(keystore), "valset": str(valset),
                          "root": str(root), "typo": TYPO, "good": GOOD, "eth": ETH,
                          "passfile": str(passfile)})


def init_with(n: int, account: str) -> tuple[str, ...]:
    """`sidechain init` funding one genesis account: address and amount checks without a node."""
    return ("init", "--home", f"{{root}}/n{n}", "--chain-id", "c-1", "--account", account)


SEND = ("tx", "send", "alice", "{good}", "1stake", "--fee", "1stake", "--home", "{home}")

SIDECHAIN_CASES: list[tuple[str, tuple[str, ...], str]] = [
    # the client config and --node (issue items 1 and 2)
    ("node host:port unreachable", (*SEND, "--node", "127.0.0.1:{dead}"),
     "cannot reach the node's RPC at http://127.0.0.1:{dead} (from --node)"),
    ("node tcp:// unreachable", ("status", "--node", "tcp://127.0.0.1:{dead}"),
     "cannot reach the node's RPC at http://127.0.0.1:{dead} (from --node)"),
    ("client.toml node unreachable", ("status", "--home", "{deadhome}"),
     "(from {deadhome}/config/client.toml) (connection refused); is the node running? pick a node with --node URL"),
    ("node URL scheme", ("status", "--node", "ftp://127.0.0.1:1"), "unsupported scheme 'ftp://'; use host:port"),
    ("node URL without port", ("status", "--node", "localhost"), "needs a port in 1-65535"),
    ("client.toml broken", ("status", "--home", "{badtoml}"), "client.toml is not valid TOML"),
    ("config bad node", ("config", "node", "ftp://x:1", "--home", "{root}/cfg"), "unsupported scheme"),
    ("config bad output", ("config", "output", "yaml", "--home", "{root}/cfg"), "output must be one of text, json"),
    ("config unknown key", ("config", "colour", "red", "--home", "{root}/cfg"),
     "'colour' is not one of 'node', 'chain-id', 'output'"),
    ("tx send without --home", ("tx", "send", "alice", "{good}", "1stake", "--fee", "1stake"), "--home is required"),
    # addresses (item 3), through genesis accounts (no node needed)
    ("address one typo", init_with(1, "{typo}=1stake"),
     "bad checksum: a character is mistyped"),
    ("address wrong prefix", init_with(2, "cosmos1qqqsyqcyq5rqwzqfpg9scrgwpugpzysnhhvq07=1stake"),
     "prefix is 'cosmos', expected 'side'"),
    ("address bad character", init_with(3, "side1qqqsybcyq5rqwzqfpg9scrgwpugpzysnhhvq07=1stake"),
     "invalid character 'b' at position 11"),
    ("address a '1' typed", init_with(3, "side1qqqsy1cyq5rqwzqfpg9scrgwpugpzysnhhvq07=1stake"),
     "invalid character '1' at position 11"),
    ("address too short", init_with(4, GOOD[:-1] + "=1stake"),
     "wrong length: 37 characters after 'side1'"),
    # amounts (item 7)
    ("amount 80 digits", init_with(5, "{good}=" + "9" * 80 + "stake"),
     "(80 digits) is too large: at most 2**256 - 1"),
    ("amount not a coin", init_with(6, "{good}=lots"),
     "expected <amount><denom>"),
    # keys and secrets with no terminal (items 5 and 6)
    ("keys add no passphrase", ("keys", "add", "bob", "--home", "{home}"),
     "no new passphrase: there is no terminal to ask on; give --passphrase-file FILE or set "
     "$SIDECHAIN_KEYRING_PASSPHRASE"),
    ("keys recover no phrase", ("keys", "add", "bob", "--recover", "--home", "{home}"), "no recovery phrase"),
    ("keys recover wrong word", ("keys", "add", "bob", "--recover", "--mnemonic-file", "{badword}", "--home", "{home}"),
     "word 3 ('abandn') is not in the BIP-39 English word list; did you mean 'abandon'"),
    ("keys export no passphrase", ("keys", "export", "alice", "--home", "{home}"),
     "no passphrase of 'alice': there is no terminal"),
    ("keys export unsafe no terminal", ("keys", "export", "alice", "--unsafe-hex", "--home", "{home}"), "pass --yes"),
    ("keys delete no terminal", ("keys", "delete", "alice", "--home", "{home}"), "pass --yes to go ahead"),
    ("keys show unknown", ("keys", "show", "nobody", "--home", "{home}"), "no key named 'nobody'"),
    ("keys bad name", ("keys", "add", "../x", "--home", "{home}"), "invalid key name"),
    ("keys import hex garbage", ("keys", "import", "h", "{badword}", "--hex", "--home", "{home}"), "64 hex digits"),
    ("keys import not armor", ("keys", "import", "h", "{badword}", "--home", "{home}"), "not an exported key"),
    ("keys bridge-key no phrase", ("keys", "bridge-key", "--out", "{root}/b.json"), "no recovery phrase"),
    # usage errors: one line naming the help
    ("missing argument", ("tx", "send", "alice"), "Missing argument 'TO' (see `sidechain tx send --help`)"),
    ("missing option", ("tx", "send", "alice", "bob", "1stake", "--home", "{home}"), "Missing option '--fee'"),
    ("unknown command", ("bogus",), "No such command 'bogus'"),
    ("unknown option", ("status", "--colour"), "No such option '--colour'"),
    ("block height 0", ("query", "block", "0"), "Invalid value for '[HEIGHT]'"),
    ("block height text", ("query", "block", "abc"), "'abc' is not a valid integer"),
    ("completion shell", ("completion", "tcsh"), "'tcsh' is not one of 'bash', 'zsh', 'fish'"),
    # staking and distribution (sidechain/commands/staking.py): the same rules
    ("delegate missing amount", ("tx", "staking", "delegate", "val0"), "Missing argument 'AMOUNT'"),
    ("delegate dead node", ("tx", "staking", "delegate", "val0", "10stake", "--from", "alice", "--fee", "1stake",
                            "--home", "{home}", "--node", "127.0.0.1:{dead}"),
     "cannot reach the node's RPC at http://127.0.0.1:{dead} (from --node)"),
    ("query validator dead node", ("query", "staking", "validator", "val0", "--node", "tcp://127.0.0.1:{dead}"),
     "cannot reach the node's RPC at http://127.0.0.1:{dead}"),
    ("withdraw-rewards no --from", ("tx", "distribution", "withdraw-rewards", "--fee", "1stake", "--home", "{home}"),
     "Missing option '--from'"),
    # genesis tools and state sync
    ("genesis bad moniker", ("genesis", "init-validator", "--home", "{root}/v", "--moniker", "bad name!",
                             "--chain-id", "c-1"), "moniker 'bad name!' must be"),
    ("genesis join no home", ("genesis", "join", "--home", "{root}/none", "--stake", "1", "--out", "{root}/j.json"),
     "is not a node home"),
    ("genesis collect missing file", ("genesis", "collect", "--chain-id", "c-1", "--join", "{root}/none.json",
                                      "--out", "{root}/g.json"), "none.json: no such file"),
    ("genesis peers not a join file", ("genesis", "peers", "--join", "{valset}"), "not a join file"),
    ("statesync one source", ("statesync-config", "--home", "{root}/none", "--from", "127.0.0.1:1"),
     "state sync needs two different RPC servers"),
    ("start without init", ("start", "--home", "{root}/none"), "sidechain init"),
    ("export without a node home", ("export", "--home", "{root}/none"), "{root}/none"),
]

BRIDGE_CASES: list[tuple[str, tuple[str, ...], str]] = [
    ("bad address", ("deploy", "--l1-rpc", "http://127.0.0.1:{dead}", "--valset", "{valset}", "--guardian", "0x12"),
     "Invalid value for '--guardian': not an Ethereum address: '0x12' (see `bridge deploy --help`)"),
    ("missing option", ("deploy", "--l1-rpc", "http://127.0.0.1:{dead}"), "Missing option '--valset'"),
    ("unknown command", ("bogus",), "No such command 'bogus'"),
    ("bad valset", ("deploy", "--l1-rpc", "http://127.0.0.1:{dead}", "--valset", "{valset}", "--guardian", "{eth}"),
     "valset"),
    ("missing valset file", ("deploy", "--l1-rpc", "http://127.0.0.1:{dead}", "--valset", "{root}/none.json",
                             "--guardian", "{eth}"), "none.json"),
    ("keystore missing", ("claim", "--l1-rpc", "http://127.0.0.1:{dead}", "--contract", "{eth}", "--token", "{eth}",
                          "--to", "{eth}", "--keystore", "{root}/none.json"), "cannot read keystore"),
    ("keystore no passphrase", ("claim", "--l1-rpc", "http://127.0.0.1:{dead}", "--contract", "{eth}", "--token",
                                "{eth}", "--to", "{eth}", "--keystore", "{keystore}"),
     "no passphrase for {keystore}: pass --passphrase-file or set $BRIDGE_PASSPHRASE"),
    ("chain id not a number", ("claim", "--l1-rpc", "http://x", "--contract", "{eth}", "--token", "{eth}", "--to",
                               "{eth}", "--chain-id", "one"), "'one' is not a valid integer"),
    ("sign without rpc or chain id", ("guardian", "sign", "--contract", "{eth}", "--new-guardian", "{eth}",
                                      "--keystore", "{keystore}", "--passphrase-file", "{badword}"),
     "wrong passphrase"),
    ("no key at all", ("claim", "--l1-rpc", "http://127.0.0.1:{dead}", "--contract", "{eth}", "--token", "{eth}",
                       "--to", "{eth}"), "BRIDGE_PRIVATE_KEY"),
    # deposit and status: they ask the sidechain node first
    ("deposit node unreachable", ("deposit", "1eth", "--to", "{good}", "--node", "127.0.0.1:{dead}"),
     "cannot reach the node's RPC at http://127.0.0.1:{dead}"),
    ("deposit without --to", ("deposit", "1eth", "--node", "127.0.0.1:{dead}"), "Missing option '--to'"),
    ("deposit bad --token", ("deposit", "1", "--to", "{good}", "--token", "0x12"),
     "Invalid value for '--token': not an Ethereum address: '0x12'"),
    ("deposit bad bridge config", ("deposit", "1eth", "--to", "{good}", "--bridge-config", "{valset}",
                                   "--l1-key", "alice"), "--l1-key 'alice' is not in {valset} (its keys: none)"),
    ("deposit missing bridge config", ("deposit", "1eth", "--to", "{good}", "--bridge-config", "{root}/none.json"),
     "cannot read --bridge-config {root}/none.json"),
    ("deposit --l1-key without config", ("deposit", "1eth", "--to", "{good}", "--l1-key", "alice"),
     "--l1-key names a key of --bridge-config's l1_keys"),
    ("status node unreachable", ("status", "--node", "127.0.0.1:{dead}"), "cannot reach the node's RPC"),
    ("status deposit node unreachable", ("status", "deposit", "3", "--node", "127.0.0.1:{dead}"),
     "cannot reach the node's RPC"),
    ("status deposit bad nonce", ("status", "deposit", "three", "--node", "127.0.0.1:{dead}"),
     "NONCE 'three': give a deposit's event nonce"),
    # relay: the node first, with bounded retries
    ("relay node unreachable", ("relay", "--once", "--retries", "0", "--node", "127.0.0.1:{dead}", "--l1-rpc",
                                "http://127.0.0.1:{dead}", "--keystore", "{keystore}", "--passphrase-file",
                                "{passfile}"),
     "reading /bridge/state from the node: cannot reach the node's RPC at http://127.0.0.1:{dead}"),
    ("relay passphrase file missing", ("relay", "--once", "--node", "127.0.0.1:{dead}", "--l1-rpc",
                                       "http://127.0.0.1:{dead}", "--keystore", "{keystore}", "--passphrase-file",
                                       "{root}/none.txt"), "cannot read passphrase file {root}/none.txt"),
    ("relay no key", ("relay", "--once", "--retries", "0", "--node", "127.0.0.1:{dead}", "--l1-rpc",
                      "http://127.0.0.1:{dead}"), "no key: pass --keystore FILE or set $BRIDGE_PRIVATE_KEY"),
    ("relay bad interval", ("relay", "--interval", "fast", "--l1-rpc", "http://127.0.0.1:{dead}"),
     "--interval 'fast': write a duration like 1s, 500ms or 2m"),
    ("relay bad token price", ("relay", "--token-price", "0x12=5", "--l1-rpc", "http://127.0.0.1:{dead}"),
     "--token-price '0x12=5': '0x12' is not a token address"),
    ("relay without --l1-rpc", ("relay", "--once"), "Missing option '--l1-rpc'"),
    # withdrawals: the node is asked first, the duration before that
    ("withdraw node unreachable", ("withdraw", "1l1/eth", "--to", "{eth}", "--fee", "0", "--from", "alice",
                                   "--home", "{home}", "--node", "127.0.0.1:{dead}"),
     "cannot reach the node's RPC at http://127.0.0.1:{dead}"),
    ("withdraw without --fee", ("withdraw", "1l1/eth", "--to", "{eth}", "--from", "alice"), "Missing option '--fee'"),
    ("withdraw bad --timeout", ("withdraw", "1l1/eth", "--to", "{eth}", "--fee", "0", "--from", "alice",
                                "--timeout", "soon"), "--timeout 'soon': give a duration such as 90s, 10m or 1h"),
    ("cancel bad id", ("cancel", "first", "--from", "alice"), "'first' is not a valid integer"),
    ("cancel node unreachable", ("cancel", "3", "--from", "alice", "--home", "{home}", "--node", "127.0.0.1:{dead}"),
     "cannot reach the node's RPC"),
    ("status withdrawal node unreachable", ("status", "withdrawal", "3", "--node", "127.0.0.1:{dead}"),
     "cannot reach the node's RPC"),
    ("status withdrawal id 0", ("status", "withdrawal", "0"), "Invalid value for 'ID': 0 is not in the range x>=1"),
    ("status batch bad nonce", ("status", "batch", "x"), "'x' is not a valid integer"),
    ("status valset bad nonce", ("status", "valset", "first", "--node", "127.0.0.1:{dead}"),
     "NONCE 'first': give a valset nonce (an integer) or `latest`"),
    ("guardian pause without L1", ("guardian", "pause"),
     "bridge guardian pause needs the L1 and the contract: give --l1-rpc URL and --contract 0x..."),
    ("guardian unpause no key", ("guardian", "unpause", "--l1-rpc", "http://127.0.0.1:{dead}", "--contract", "{eth}"),
     "no key: pass --keystore FILE or set $BRIDGE_PRIVATE_KEY"),
    ("guardian set-daily-limit bad token", ("guardian", "set-daily-limit", "0x12", "5"),
     "TOKEN '0x12': give eth, an ERC-20 address (0x + 40 hex) or its denom l1/0x<token>"),
    ("guardian set-daily-limit bad limit", ("guardian", "set-daily-limit", "eth", "lots"),
     "LIMIT 'lots': an amount"),
]


def _ids(cases: list[tuple[str, tuple[str, ...], str]]) -> list[str]:
    return [c[0] for c in cases]


@pytest.mark.parametrize(("name", "argv", "expected"), SIDECHAIN_CASES, ids=_ids(SIDECHAIN_CASES))
def test_sidechain_bad_input_is_one_line(fx: Fixture, name: str, argv: tuple[str, ...], expected: str) -> None:
    r = run_inprocess("sidechain", fx.fill(argv))
    assert_one_line_error(r, expected.format(**fx.values), f"sidechain {name}")


@pytest.mark.parametrize(("name", "argv", "expected"), BRIDGE_CASES, ids=_ids(BRIDGE_CASES))
def test_bridge_bad_input_is_one_line(fx: Fixture, name: str, argv: tuple[str, ...], expected: str) -> None:
    r = run_inprocess("bridge", fx.fill(argv))
    assert_one_line_error(r, expected.format(**fx.values), f"bridge {name}")


# A few cases as real processes: what a user runs (console entry points, stdin from /dev/null).
SUBPROCESS_CASES: list[tuple[str, list[str], str]] = [
    ("sidechain keys add", sidechain_argv("keys", "add", "carol", "--home", "{home}"), "no new passphrase"),
    ("sidechain tx send tcp node", sidechain_argv(*SEND, "--node", "tcp://127.0.0.1:{dead}"),
     "cannot reach the node's RPC at http://127.0.0.1:{dead}"),
    ("sidechain usage", sidechain_argv("tx", "send"), "Missing argument 'FROM'"),
    ("bridge bad address", bridge_argv("claim", "--l1-rpc", "http://x", "--contract", "0xnope", "--token", "{eth}",
                                       "--to", "{eth}"), "not an Ethereum address"),
    ("bridge keystore no passphrase", bridge_argv("claim", "--l1-rpc", "http://127.0.0.1:{dead}", "--contract", "{eth}",
                                                  "--token", "{eth}", "--to", "{eth}", "--keystore", "{keystore}"),
     "no passphrase for"),
    ("make testnet N=abc", ["{python}", "-m", "genesis.testnet", "--dir", "{root}/tn", "up", "-n", "abc"],
     "error: N: 'abc' is not a whole number from 1 to 100"),
    ("make testnet BASE_PORT=1", ["{python}", "-m", "genesis.testnet", "--dir", "{root}/tn", "up", "--base-port", "1"],
     "BASE_PORT: '1' is not a whole number from 1024 to 65535"),
]


@pytest.mark.parametrize(("name", "argv", "expected"), SUBPROCESS_CASES, ids=[c[0] for c in SUBPROCESS_CASES])
def test_as_a_process(fx: Fixture, name: str, argv: list[str], expected: str) -> None:
    import sys

    values = {**fx.values, "python": sys.executable}
    r = run_subprocess([a.format(**values) for a in argv])
    assert_one_line_error(r, expected.format(**values), name)


def test_the_table_covers_both_clis_and_every_top_level_command() -> None:
    from sidechain.cli import cli

    named = {c[1][0] for c in SIDECHAIN_CASES}
    assert {"tx", "status", "config", "keys", "init", "query", "start", "export", "completion"} <= named
    assert set(cli.commands) <= named, f"a new command needs a bad-input row: {set(cli.commands) - named}"
    groups = {(c[1][0], c[1][1]) for c in SIDECHAIN_CASES if c[1][0] in ("tx", "query", "genesis", "keys")}
    assert {("tx", "send"), ("tx", "staking"), ("tx", "distribution"), ("query", "staking")} <= groups
    assert len(BRIDGE_CASES) >= 8
