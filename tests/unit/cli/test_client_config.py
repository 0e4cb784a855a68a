"""The client config (HOME/config/client.toml), --node forms and resolution order, and --help that reads
well in 100 columns, for every command of both CLIs."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from sidechain.client import ClientError, NodeClient, normalize_node_url
from sidechain.commands.common import ClientConfig, resolve_node, write_client_config
from tests.support.cli import assert_one_line_error, run_inprocess
from tests.support.node import free_ports


@pytest.mark.parametrize(("given", "url"), [
    ("127.0.0.1:26657", "http://127.0.0.1:26657"),
    ("tcp://127.0.0.1:26600", "http://127.0.0.1:26600"),  # the form CometBFT's config.toml uses
    ("tcp://0.0.0.0:26657", "http://127.0.0.1:26657"),  # listen-everywhere is reached on loopback
    ("http://localhost:26657/", "http://localhost:26657"),
    ("HTTP://node.example:80", "http://node.example:80"),
    ("https://rpc.example.org", "https://rpc.example.org:443"),
    ("https://rpc.example.org/cometbft/", "https://rpc.example.org:443/cometbft"),
    ("[::1]:26657", "http://[::1]:26657"),
])
def test_node_url_forms(given: str, url: str) -> None:
    assert normalize_node_url(given) == url


@pytest.mark.parametrize(("given", "why"), [
    ("unix:///tmp/rpc.sock", "unsupported scheme 'unix://'"),
    ("localhost", "needs a port"),
    ("127.0.0.1:0", "needs a port in 1-65535"),
    ("127.0.0.1:99999", "needs a port in 1-65535"),
    ("http://:26657", "no host"),
])
def test_bad_node_urls(given: str, why: str) -> None:
    with pytest.raises(ClientError, match=why):
        normalize_node_url(given)


def test_resolution_order(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert resolve_node(None, None) == ("http://127.0.0.1:26657", "the default; no --node and no --home")
    assert resolve_node(home, None)[0] == "http://127.0.0.1:26657"
    (home / "config").mkdir(parents=True)
    (home / "config" / "config.toml").write_text('[rpc]\nladdr = "tcp://0.0.0.0:26111"\n')
    assert resolve_node(home, None) == ("http://127.0.0.1:26111", f"{home}/config/config.toml rpc.laddr")
    write_client_config(home, node="tcp://127.0.0.1:26222", chain_id="c-1")
    assert resolve_node(home, None) == ("http://127.0.0.1:26222", f"{home}/config/client.toml")
    assert resolve_node(home, "127.0.0.1:26333") == ("http://127.0.0.1:26333", "--node")
    assert ClientConfig.load(home) == ClientConfig(node="http://127.0.0.1:26222", chain_id="c-1")


def test_unreachable_node_names_url_source_and_remedy() -> None:
    port = free_ports(1)[0]
    with pytest.raises(ClientError) as e:
        NodeClient(f"127.0.0.1:{port}", timeout=2, source="--node").status()
    assert str(e.value) == (f"cannot reach the node's RPC at http://127.0.0.1:{port} (from --node) "
                            "(connection refused); is the node running? pick a node with --node URL, or save one with "
                            "`sidechain config node URL --home HOME`")


def test_config_command_round_trip(tmp_path: Path) -> None:
    home = str(tmp_path)
    ok = run_inprocess("sidechain", ["config", "node", "tcp://127.0.0.1:26600", "--home", home])
    assert ok.code == 0 and "node = 'http://127.0.0.1:26600'" in ok.stdout
    assert run_inprocess("sidechain", ["config", "node", "--home", home]).stdout == "http://127.0.0.1:26600\n"
    assert run_inprocess("sidechain", ["config", "output", "json", "--home", home]).code == 0
    shown = run_inprocess("sidechain", ["config", "--home", home])
    assert shown.code == 0 and '"node": "http://127.0.0.1:26600"' in shown.stdout  # output json from the config
    assert run_inprocess("sidechain", ["config", "output", "--unset", "--home", home]).code == 0
    assert "output (not set)" in run_inprocess("sidechain", ["config", "--home", home]).stdout
    (tmp_path / "config" / "client.toml").write_text('node = "x:1"\nbogus = "1"\n')
    assert_one_line_error(run_inprocess("sidechain", ["status", "--home", home]), "unknown setting(s) bogus")


def test_client_config_chain_id_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ClientError, match="chain-id"):
        write_client_config(tmp_path, chain_id="has space")


def _walk(cmd: click.Command, path: list[str]):  # type: ignore[no-untyped-def]
    yield path, cmd
    if isinstance(cmd, click.Group):
        for name, sub in sorted(cmd.commands.items()):
            yield from _walk(sub, [*path, name])


def test_help_reads_well_in_100_columns() -> None:
    from bridge.cli import cli as bridge_cli
    from sidechain.cli import cli as sidechain_cli

    seen = 0
    for prog, root in (("sidechain", sidechain_cli), ("bridge", bridge_cli)):
        for path, _ in _walk(root, []):
            r = CliRunner().invoke(root, [*path, "--help"], prog_name=prog, terminal_width=100)
            where = f"{prog} {' '.join(path)} --help"
            assert r.exit_code == 0, f"{where}: {r.output}"
            lines = r.output.splitlines()
            assert all(len(ln) <= 100 for ln in lines), f"{where}: a line is wider than 100 columns"
            cut = [ln for ln in lines if ln.startswith("  ") and ln.rstrip().endswith("...")]
            assert not cut, f"{where}: summaries cut mid-sentence: {cut}"
            seen += 1
    assert seen > 30


def test_completion_scripts() -> None:
    for shell, marker in (("bash", "_sidechain_completion"), ("zsh", "#compdef sidechain"), ("fish", "complete")):
        r = run_inprocess("sidechain", ["completion", shell])
        assert r.code == 0 and marker in r.stdout, r.stdout + r.stderr
    r = run_inprocess("sidechain", ["completion", "bash", "--prog", "bridge"])
    assert r.code == 0 and "_bridge_completion" in r.stdout
