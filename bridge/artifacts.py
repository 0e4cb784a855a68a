"""Compiled contract artifacts (ABI and bytecode) written by `make contracts` into bridge/contracts/build/."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from bridge.errors import ArtifactError

BUILD_DIR = Path(__file__).resolve().parent / "contracts" / "build"


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    compiler: dict[str, Any]


@cache
def load_artifact(name: str, build_dir: Path = BUILD_DIR) -> Artifact:
    path = build_dir / f"{name}.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ArtifactError(f"contract artifact {path} not found: run `make contracts`") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"contract artifact {path} is unreadable ({exc}): run `make contracts`") from None
    try:
        return Artifact(name=name, abi=data["abi"], bytecode=data["bytecode"], compiler=data.get("compiler", {}))
    except KeyError as exc:
        raise ArtifactError(f"contract artifact {path} lacks {exc}: run `make contracts`") from None
