"""What every `sidechain` command group shares: the client config, `--node` resolution, `--output`,
one-line errors, secrets without a terminal, and denom checks against the chain.

A new command group (e.g. `sidechain tx staking ...`) uses these by importing them:

    from sidechain.commands.common import ClientContext, CommandError, client_command

    @tx.command("delegate")
    @click.argument("amount")
    @client_command                      # adds --home, --node, --output; errors become one line
    def delegate(amount: str, cc: ClientContext) -> None:
        coins = cc.check_denoms(parse_coins(amount), "AMOUNT")   # refused unless the chain knows the denom
        ...
        cc.emit({"txhash": h}, f"delegated {amount}")            # text, or JSON with --output json

The pieces:

- `client_command`: decorator for commands that talk to a node. Adds `--home` (also
  $SIDECHAIN_HOME), `--node` and `--output/-o`, and passes a `ClientContext` as the `cc` argument.
  Any `SidechainError`, OSError or unexpected exception is printed as ONE line on stderr
  (`error: ...`, or a JSON object with `--output json`) with exit status 1; never a traceback.
- `one_line_errors`: the same error handling, for commands that do not talk to a node (`keys`).
- `ClientContext`: `client` (a `NodeClient` for the resolved URL), `prefix()`, `chain_id()`
  (checked against the client config's chain-id), `known_denoms()`, `check_denoms(coins, what)`,
  `fee_coin(text)` (one coin in an accepted fee denom, at least the chain's minimum for it),
  `resolve_address(text)` (a bech32 address or a key name), `require_home(why)`, `emit(data, text)`,
  `fail(message)`.
- The client config, `HOME/config/client.toml` (like a Cosmos client.toml): `node`, `chain-id`,
  `output`. `sidechain config KEY VALUE --home HOME` sets one. The testnet writes one for its
  client home, so printed commands need no `--node`.
- `resolve_node(home, flag)`: the URL and where it came from, in this order: `--node`, the client
  config's `node`, the RPC address in HOME's CometBFT config.toml (a node's own home), else
  http://127.0.0.1:26657. Every form of `normalize_node_url` is accepted (host:port, http(s)://,
  tcp://).
- `read_secret(file, env, prompt, new=...)`: a passphrase from a file, else an environment
  variable, else the terminal. Without a terminal it reads one line from standard input (two for a
  new one), and with nothing there it fails in one line naming the options: never a Python
  warning, never a hang.
- `confirm(question, output)`: yes/no on the terminal; without one, an error telling to pass --yes.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click

from sidechain.client import ClientError, NodeClient, normalize_node_url
from sidechain.errors import SidechainError
from sidechain.types import Coin, bech32_decode, validate_denom

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_NODE = "http://127.0.0.1:26657"
CLIENT_CONFIG = Path("config") / "client.toml"
OUTPUTS = ("text", "json")


class CommandError(click.ClickException):
    """One line on stderr (a JSON object with --output json), exit status 1."""

    def __init__(self, message: str, output: str = "text", code: int = 1, codespace: str = "") -> None:
        super().__init__(" ".join(message.split()) if "\n" in message else message)
        self.output, self.err_code, self.codespace = output, code, codespace

    def show(self, file: Any = None) -> None:
        if self.output == "json":
            click.echo(json.dumps({"error": self.message, "codespace": self.codespace, "code": self.err_code}),
                       err=True)
        else:
            click.echo(f"error: {self.message}", err=True)


def one_line_errors(fn: F) -> F:
    """Every failure of `fn` becomes one CommandError line (see the module docstring)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        cc = kwargs.get("cc")
        output = cc.output if isinstance(cc, ClientContext) else (kwargs.get("output") or "text")
        try:
            return fn(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit):
            raise
        except click.Abort:
            raise CommandError("aborted", output) from None
        except SidechainError as e:
            raise CommandError(e.message, output, e.code, e.codespace) from None
        except OSError as e:
            where = f" ({e.filename})" if e.filename else ""
            raise CommandError(f"{e.strerror or e}{where}", output) from None
        except Exception as e:  # noqa: BLE001 - a CLI prints a bug as one line too, never a traceback
            if os.environ.get("SIDECHAIN_DEBUG"):
                raise
            raise CommandError(f"internal error ({type(e).__name__}): {e} (set SIDECHAIN_DEBUG=1 for a traceback)",
                               output) from None

    return wrapper  # type: ignore[return-value]


# --- the client config ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientConfig:
    node: str = ""
    chain_id: str = ""
    output: str = ""

    KEYS = ("node", "chain-id", "output")

    @staticmethod
    def path(home: Path) -> Path:
        return home / CLIENT_CONFIG

    @classmethod
    def load(cls, home: Path | None) -> ClientConfig:
        if home is None:
            return cls()
        path = cls.path(home)
        try:
            doc = tomllib.loads(path.read_text())
        except FileNotFoundError:
            return cls()
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ClientError(f"{path} is not valid TOML ({e}); fix it or delete it") from None
        unknown = sorted(set(doc) - set(cls.KEYS))
        if unknown:
            raise ClientError(f"{path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(cls.KEYS)}")
        values = {k: doc.get(k, "") for k in cls.KEYS}
        for k, v in values.items():
            if not isinstance(v, str):
                raise ClientError(f"{path}: {k} must be a string, got {v!r}")
            if v:
                check_setting(k, v, str(path))
        return cls(node=values["node"], chain_id=values["chain-id"], output=values["output"])

    def get(self, key: str) -> str:
        return {"node": self.node, "chain-id": self.chain_id, "output": self.output}[key]

    def with_value(self, key: str, value: str) -> ClientConfig:
        d = {"node": self.node, "chain_id": self.chain_id, "output": self.output}
        d[key.replace("-", "_")] = value
        return ClientConfig(**d)

    def save(self, home: Path) -> Path:
        import tomli_w

        path = self.path(home)
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {k: v for k in self.KEYS if (v := self.get(k))}
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("# sidechain client settings: `sidechain config KEY VALUE --home HOME` edits them\n"
                       + tomli_w.dumps(doc))
        tmp.replace(path)
        return path


def check_setting(key: str, value: str, where: str = "") -> str:
    """A client setting's value, checked (and the node URL normalized)."""
    at = f"{where}: " if where else ""
    if key not in ClientConfig.KEYS:
        raise ClientError(f"{at}unknown setting {key!r}; known: {', '.join(ClientConfig.KEYS)}")
    if key == "node":
        return normalize_node_url(value)
    if key == "output" and value not in OUTPUTS:
        raise ClientError(f"{at}output must be one of {', '.join(OUTPUTS)}, got {value!r}")
    if key == "chain-id" and (not value or any(c.isspace() for c in value) or len(value) > 50):
        raise ClientError(f"{at}chain-id {value!r}: 1-50 characters without spaces")
    return value


def write_client_config(home: Path, node: str = "", chain_id: str = "", output: str = "") -> Path:
    """Write HOME/config/client.toml (used by the testnet for its client home)."""
    cfg = ClientConfig(node=check_setting("node", node) if node else "",
                       chain_id=check_setting("chain-id", chain_id) if chain_id else "",
                       output=check_setting("output", output) if output else "")
    return cfg.save(home)


def resolve_node(home: Path | None, flag: str | None) -> tuple[str, str]:
    """(URL, where it came from): --node, else client.toml, else HOME's config.toml, else the default."""
    if flag:
        return normalize_node_url(flag), "--node"
    cfg = ClientConfig.load(home)
    if cfg.node and home is not None:
        return cfg.node, str(ClientConfig.path(home))
    if home is not None and (home / "config" / "config.toml").is_file():
        from sidechain.cometbft import read_rpc_laddr
        from sidechain.config import NodeHome

        return normalize_node_url(read_rpc_laddr(NodeHome(home))), f"{home / 'config' / 'config.toml'} rpc.laddr"
    if home is None:
        return DEFAULT_NODE, "the default; no --node and no --home"
    return DEFAULT_NODE, f"the default; no node in {ClientConfig.path(home)}"


def resolve_output(home: Path | None, flag: str | None) -> str:
    if flag:
        return flag
    try:
        return ClientConfig.load(home).output or "text"
    except ClientError:
        return "text"  # the broken config is reported by whatever reads it next


# --- secrets and questions without a terminal -----------------------------------------------------


def stdin_is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):  # closed
        return False


def _stdin_line() -> str | None:
    try:
        line = sys.stdin.readline() if sys.stdin is not None else ""
    except (ValueError, OSError):
        return None
    if not line:
        return None
    return line[:-1] if line.endswith("\n") else line


def read_secret_file(path: Path) -> str:
    text = path.read_text()
    return text[:-1] if text.endswith("\n") else text


def read_secret(file: Path | None, env: str, prompt: str, *, new: bool = False, file_option: str = "--passphrase-file",
                check: Callable[[str], Any] | None = None) -> str:
    """A secret from `file`, else $env, else the terminal (hidden; asked twice when `new`).

    Without a terminal: one line of standard input (two when `new`), else an error naming the options."""
    if file is not None:
        value = read_secret_file(file)
    elif os.environ.get(env):
        value = os.environ[env]
    elif stdin_is_terminal():
        value = click.prompt(prompt, hide_input=True, confirmation_prompt=new, err=True)
    else:
        value = _stdin_line()  # type: ignore[assignment]
        if value is None:
            raise CommandError(f"no {prompt}: there is no terminal to ask on; give {file_option} FILE or set ${env}")
        if new:
            again = _stdin_line()
            if again is not None and again != value:
                raise CommandError(f"the two {prompt} entries on standard input differ")
    if check is not None:
        check(value)
    return value


def read_text_input(file: Path | None, prompt: str, file_option: str, hide: bool = True) -> str:
    """A longer secret (a recovery phrase): FILE ('-' = stdin), else the terminal, else one stdin line."""
    if file is not None:
        return sys.stdin.read() if str(file) == "-" else file.read_text()
    if stdin_is_terminal():
        return str(click.prompt(prompt, hide_input=hide, err=True))
    line = _stdin_line()
    if line is None:
        raise CommandError(f"no {prompt}: there is no terminal to ask on; give {file_option} FILE ('-' for stdin)")
    return line


def confirm(question: str, output: str = "text") -> bool:
    if not stdin_is_terminal():
        line = _stdin_line()
        if line is None:
            raise CommandError(f"{question}: no terminal to ask on; pass --yes to go ahead", output)
        return line.strip().lower() in ("y", "yes")
    return click.confirm(question, err=True)


# --- the context of a command that talks to a node ------------------------------------------------


@dataclass
class ClientContext:
    home: Path | None
    node_flag: str | None
    output: str
    _client: NodeClient | None = field(default=None, repr=False)
    _params: dict[str, Any] | None = field(default=None, repr=False)
    _denoms: dict[str, str] | None = field(default=None, repr=False)

    @property
    def config(self) -> ClientConfig:
        return ClientConfig.load(self.home)

    @property
    def client(self) -> NodeClient:
        if self._client is None:
            url, source = resolve_node(self.home, self.node_flag)
            self._client = NodeClient(url, source=source)
        return self._client

    def fail(self, message: str, code: int = 1, codespace: str = "") -> CommandError:
        return CommandError(message, self.output, code, codespace)

    def emit(self, data: Any, text: str) -> None:
        click.echo(json.dumps(data, indent=2) if self.output == "json" else text)

    def note(self, text: str) -> None:
        """Something the command did on its own (e.g. broadcast a tx again): one line on stderr."""
        click.echo(f"note: {text}", err=True)

    def require_home(self, why: str) -> Path:
        if self.home is None:
            raise self.fail(f"--home is required: {why} (or set $SIDECHAIN_HOME)")
        return self.home

    def params(self) -> dict[str, Any]:
        if self._params is None:
            self._params = self.client.params()
        return self._params

    def prefix(self) -> str:
        return str(self.params()["auth"]["address_prefix"])

    def chain_id(self) -> str:
        """The node's chain id; refused if the client config names another."""
        actual = self.client.chain_id()
        expected = self.config.chain_id
        if expected and actual != expected:
            raise self.fail(f"the node at {self.client.url} serves chain {actual!r}, but "
                            f"{ClientConfig.path(self.home or Path('.'))} says chain-id {expected!r}; "
                            "pick the right node with --node, or fix the setting with `sidechain config chain-id`")
        return actual

    def known_denoms(self) -> dict[str, str]:
        """Every denom the chain knows, with why: fee denoms (auth params), the staking denom, and every
        denom with a supply (native and bridged)."""
        if self._denoms is None:
            known: dict[str, list[str]] = {}
            p = self.params()
            for c in (p.get("auth") or {}).get("min_fees") or []:
                known.setdefault(str(c["denom"]), []).append("fee denom")
            staking = p.get("staking") or p.get("validators") or {}
            bond = (staking.get("staking") or staking).get("bond_denom") if isinstance(staking, dict) else None
            if isinstance(bond, str):
                known.setdefault(bond, []).append("staking denom")
            for c in self.client.query_ok("/supply").json().get("supply") or []:
                known.setdefault(str(c["denom"]), []).append(f"supply {c['amount']}")
            self._denoms = {d: ", ".join(why) for d, why in sorted(known.items())}
        return self._denoms

    def check_denoms(self, coins: Iterable[Coin], what: str) -> tuple[Coin, ...]:
        """`coins` unchanged if the chain knows every denom; else an error listing the known ones."""
        out = tuple(coins)
        known = self.known_denoms()
        for c in out:
            if c.denom not in known:
                raise self.fail(f"{what}: unknown denom {c.denom!r}; this chain knows {', '.join(known)}")
        return out

    def check_denom(self, denom: str, what: str) -> str:
        validate_denom(denom)
        known = self.known_denoms()
        if denom not in known:
            raise self.fail(f"{what}: unknown denom {denom!r}; this chain has never had it "
                            f"(it knows {', '.join(known)})")
        return denom

    def fee_coin(self, fee: str, option: str = "--fee") -> Coin:
        """`--fee`: one coin in an accepted fee denom (auth params' min_fees), at least its minimum."""
        from sidechain.errors import InvalidInput

        parts = [p for p in fee.split(",") if p.strip()]
        if len(parts) != 1:
            raise self.fail(f"{option} takes one coin, e.g. 1stake, not {fee!r}")
        try:
            coin = Coin.parse(parts[0])
        except InvalidInput as e:
            raise self.fail(f"{option}: {e.message}") from None
        mins = {str(c["denom"]): int(c["amount"]) for c in self.params()["auth"]["min_fees"]}
        accepted = ", ".join(f"{a}{d}" for d, a in sorted(mins.items()))
        if coin.denom not in mins:
            raise self.fail(f"{option} {fee}: fees are not accepted in {coin.denom!r}; the minimums are {accepted}")
        if int(coin.amount) < mins[coin.denom]:
            raise self.fail(f"{option} {fee} is below the chain's minimum fee of {mins[coin.denom]}{coin.denom} "
                            f"(minimums: {accepted})")
        return coin

    def resolve_address(self, text: str) -> bytes:
        """A bech32 address, or the name of a key in HOME's keyring."""
        from sidechain import keyring as kr

        prefix = self.prefix()
        if text.lower().startswith(prefix + "1") or self.home is None:
            return bech32_decode(text, prefix)
        try:
            return bytes(kr.Keyring(self.home).show(text).address)
        except (kr.KeyNotFound, kr.InvalidKeyName):
            pass
        try:
            return bech32_decode(text, prefix)
        except SidechainError as e:
            raise self.fail(f"{text!r} is neither a key in {kr.Keyring(self.home).dir} nor an address: "
                            f"{e.message}") from None


def home_option(required: bool, help: str) -> Callable[[F], F]:
    return click.option("--home", type=click.Path(file_okay=False, path_type=Path), required=required,
                        default=None, envvar="SIDECHAIN_HOME", help=help)


def output_option(fn: F) -> F:
    return click.option("--output", "-o", type=click.Choice(OUTPUTS), default=None,
                        help="text or json (default: the client config's output, else text).")(fn)


def client_command(fn: F) -> F:
    """--home, --node and --output; the command receives `cc: ClientContext`; one-line errors."""

    @functools.wraps(fn)
    def wrapper(*args: Any, home: Path | None, node: str | None, output: str | None, **kwargs: Any) -> Any:
        cc = ClientContext(home, node, resolve_output(home, output))
        return one_line_errors(fn)(*args, cc=cc, **kwargs)

    wrapper = click.option("--node", default=None, metavar="URL",
                           help="The node's RPC: host:port, http(s)://... or tcp://... (default: the client "
                                f"config's node, else HOME's config.toml, else {DEFAULT_NODE}).")(wrapper)
    wrapper = home_option(False, "Client home: its keyring and client config (config/client.toml).")(wrapper)
    wrapper = output_option(wrapper)
    return wrapper  # type: ignore[return-value]


def split_names(values: Sequence[str]) -> list[str]:
    return [v for item in values for v in item.split(",") if v]


# --- the top-level group: usage errors in one line too --------------------------------------------


def usage_error_line(e: click.UsageError) -> str:
    """click's usage error (usage text, hint, message) as one line naming the command's help."""
    message = " ".join(e.format_message().split()).rstrip(".")
    path = e.ctx.command_path if e.ctx is not None else ""
    return f"error: {message} (see `{path} --help`)" if path else f"error: {message}"


class OneLineGroup(click.Group):
    """A click group whose every failure is one line on stderr: usage errors as
    `error: <what> (see `<command> --help`)` with exit status 2, Ctrl-C or a closed prompt as
    `error: aborted` with status 1 (130 for Ctrl-C). Commands' own errors are CommandError lines."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,  # type: ignore[override]
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as e:
            if not standalone_mode:
                raise
            click.echo(usage_error_line(e), err=True)
            sys.exit(e.exit_code)
        except click.ClickException as e:
            if not standalone_mode:
                raise
            e.show()
            sys.exit(e.exit_code)
        except click.Abort:
            if not standalone_mode:
                raise
            click.echo("error: aborted", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            if not standalone_mode:
                raise
            click.echo("error: interrupted", err=True)
            sys.exit(130)
        if standalone_mode:
            sys.exit(rv if isinstance(rv, int) else 0)
        return rv
