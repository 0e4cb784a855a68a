"""One error root: every error class of the installed packages is a SidechainError with a registered
(codespace, code) >= 2, or a grouping class that nothing raises; code 1 stays for bugs."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil

import click
import pytest

import abci_app
import bridge
import genesis
import sidechain
import validators
from sidechain.errors import INTERNAL_CODE, InvalidInput, SidechainError, registered_errors
from sidechain.tx import TxError

PACKAGES = (sidechain, abci_app, validators, genesis, bridge)


def _modules() -> list[object]:
    out = []
    for pkg in PACKAGES:
        for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            if ".gen" in info.name or info.name.endswith("__main__"):
                continue
            out.append(importlib.import_module(info.name))
    return out


def _error_classes() -> list[type[BaseException]]:
    seen: dict[str, type[BaseException]] = {}
    for mod in _modules():
        for _, obj in inspect.getmembers(mod, inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__ == mod.__name__:  # type: ignore[attr-defined]
                seen[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return list(seen.values())


def _raised_names() -> set[str]:
    names: set[str] = set()
    for mod in _modules():
        tree = ast.parse(inspect.getsource(mod))  # type: ignore[arg-type]
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                f = node.exc.func
                names.add(f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else "")
    return names


def test_every_error_is_under_the_root_with_a_code() -> None:
    classes = _error_classes()
    assert len(classes) > 60
    registered = {(cs, code): name for cs, code, name in registered_errors()}
    raised = _raised_names()
    for cls in classes:
        if issubclass(cls, click.ClickException):
            continue  # how a CLI prints an error it caught (the error itself is a SidechainError)
        assert issubclass(cls, SidechainError), f"{cls.__module__}.{cls.__name__} is not under SidechainError"
        if cls is SidechainError:
            continue
        if "code" in cls.__dict__:
            assert cls.code > INTERNAL_CODE and registered[(cls.codespace, cls.code)] == cls.__name__
        elif cls.__name__ in raised:
            # raised: it must report a registered code (its parent's, in its parent's codespace)
            cls("probe")  # raises TypeError for a grouping class


def test_a_grouping_class_cannot_be_raised() -> None:
    with pytest.raises(TypeError, match="without a code"):
        TxError("bare")
    with pytest.raises(TypeError, match="without a code"):
        InvalidInput("bare")
    with pytest.raises(TypeError, match="without a code"):
        SidechainError("bare")


def test_codes_are_unique_and_never_internal() -> None:
    table = registered_errors()
    assert len({(cs, c) for cs, c, _ in table}) == len(table)
    assert all(c >= 2 for _, c, _ in table)
    with pytest.raises(TypeError, match="already used"):
        class Clash(InvalidInput):
            codespace = "tx"
            code = 2
    with pytest.raises(TypeError, match="start at 2"):
        class Internal(InvalidInput):
            codespace = "test-only"
            code = 1
