"""`sidechain config [KEY [VALUE]]`: the client settings in HOME/config/client.toml (node, chain-id,
output), and `sidechain completion SHELL`: the shell completion script of either CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click

from sidechain.commands.common import (
    ClientConfig,
    CommandError,
    check_setting,
    home_option,
    one_line_errors,
    output_option,
)


@click.command("config", short_help="Show or set the client settings (node, chain-id, output).")
@click.argument("key", required=False, type=click.Choice(ClientConfig.KEYS))
@click.argument("value", required=False)
@click.option("--unset", is_flag=True, help="Remove KEY's setting (back to the default).")
@home_option(True, "Client home; the settings live in HOME/config/client.toml.")
@output_option
@one_line_errors
def config(key: str | None, value: str | None, unset: bool, home: Path, output: str | None) -> None:
    """Show all settings, show KEY, or set KEY to VALUE, in HOME/config/client.toml.

    KEY is one of: node (the RPC URL: host:port, http(s)://... or tcp://...), chain-id (commands
    refuse a node that serves another chain), output (text or json). Example:

        sidechain config node 127.0.0.1:26657 --home ~/.sidechain
    """
    import json

    cfg = ClientConfig.load(home)
    path = ClientConfig.path(home)
    if unset:
        if key is None or value is not None:
            raise click.UsageError("--unset takes a KEY and no VALUE")
        cfg.with_value(key, "").save(home)
        click.echo(f"{key} unset in {path}")
        return
    if key is None:
        data = {k: cfg.get(k) for k in ClientConfig.KEYS}
        if (output or cfg.output) == "json":
            click.echo(json.dumps(data, indent=2))
        else:
            click.echo("\n".join(f"{k} = {v!r}" if v else f"{k} (not set)" for k, v in data.items()))
        return
    if value is None:
        click.echo(cfg.get(key))
        return
    value = check_setting(key, value)
    cfg.with_value(key, value).save(home)
    click.echo(f"{key} = {value!r} in {path}")


@click.command("completion", short_help="Print the shell completion script (bash, zsh or fish).")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
@click.option("--prog", type=click.Choice(["sidechain", "bridge"]), default="sidechain", show_default=True,
              help="Which command to complete.")
@one_line_errors
def completion(shell: str, prog: str) -> None:
    """Print the completion script of `sidechain` (or `bridge` with --prog bridge) for SHELL.

    Load it in the current shell with `eval "$(sidechain completion bash)"`, or save it: e.g.
    `sidechain completion bash > ~/.local/share/bash-completion/completions/sidechain`.
    """
    env = {**os.environ, f"_{prog.upper()}_COMPLETE": f"{shell}_source"}
    module = "sidechain.cli" if prog == "sidechain" else "bridge.cli"
    code = f"import sys; sys.argv[0] = {prog!r}; from {module} import cli; cli.main(prog_name={prog!r})"
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    if r.returncode != 0 or not r.stdout.strip():
        raise CommandError(f"could not generate the {shell} completion for {prog}: "
                                   f"{(r.stderr.strip().splitlines() or ['no output'])[-1]}")
    click.echo(r.stdout, nl=False)


__all__ = ["completion", "config"]
