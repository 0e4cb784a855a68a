"""Running the `sidechain` and `bridge` CLIs as a user does, with no terminal (stdin is not a tty,
no passphrase in the environment), and the one rule every failure must follow."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from click.testing import CliRunner

from tests.support.node import REPO

# Variables that would answer a prompt: a bad-input case must not get its secret from the caller's shell.
SECRET_ENV = ("SIDECHAIN_KEYRING_PASSPHRASE", "SIDECHAIN_ARMOR_PASSPHRASE", "SIDECHAIN_HOME", "BRIDGE_PASSPHRASE",
              "BRIDGE_PASSPHRASE_FILE", "BRIDGE_PRIVATE_KEY", "BRIDGE_KEYSTORE", "BRIDGE_L1_RPC", "BRIDGE_CONTRACT",
              "BRIDGE_CONFIG", "BRIDGE_DEBUG", "SIDECHAIN_DEBUG")


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SECRET_ENV}
    return {**env, **(extra or {})}


def run_inprocess(prog: str, args: Sequence[str], env: Mapping[str, str] | None = None) -> Run:
    """`sidechain ARGS` or `bridge ARGS` in this process (click's CliRunner: stdin is empty, not a tty)."""
    runner = CliRunner()
    extra: dict[str, str | None] = {k: None for k in SECRET_ENV}
    extra.update(env or {})
    if prog == "sidechain":
        from sidechain.cli import cli

        r = runner.invoke(cli, list(args), env=extra, prog_name="sidechain")
        if r.exception is not None and not isinstance(r.exception, SystemExit):
            raise AssertionError(f"sidechain {' '.join(args)} raised {r.exception!r}") from r.exception
        return Run(r.exit_code, r.stdout, r.stderr)
    from bridge.cli import main

    with runner.isolation(env=extra) as (out, err, _):
        code = main(list(args))
        return Run(code, out.getvalue().decode(), err.getvalue().decode())


def run_subprocess(argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: str | None = None,
                   timeout: float = 60) -> Run:
    """A real process, stdin from /dev/null (no terminal)."""
    p = subprocess.run(list(argv), stdin=subprocess.DEVNULL, capture_output=True, text=True, env=clean_env(env),
                       cwd=cwd or REPO, timeout=timeout)
    return Run(p.returncode, p.stdout, p.stderr)


def sidechain_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "sidechain.cli", *args]


def bridge_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "bridge.cli", *args]


def assert_one_line_error(r: Run, expected: str, what: str = "") -> None:
    """Exactly one line on stderr, `error: ...` containing `expected`; a non-zero exit; nothing on stdout;
    no traceback and no Python warning anywhere."""
    label = what or expected
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.code != 0, f"{label}: exit status 0\n{r.stdout}{r.stderr}"
    assert len(lines) == 1, f"{label}: {len(lines)} lines on stderr:\n{r.stderr}"
    assert lines[0].startswith("error: "), f"{label}: {lines[0]!r}"
    assert expected in lines[0], f"{label}: expected {expected!r} in {lines[0]!r}"
    for word in ("Traceback", "Warning", "warnings.warn", ".py\", line"):
        assert word not in r.stdout + r.stderr, f"{label}: {word!r} in the output:\n{r.stdout}{r.stderr}"
    assert r.stdout.strip() == "", f"{label}: stdout is not empty: {r.stdout!r}"
