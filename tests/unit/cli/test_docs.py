"""The docs a clone carries: the README stays short and links only to files in the repository."""

from __future__ import annotations

import re

from tests.support.node import REPO


def test_readme_links_resolve_inside_the_repo() -> None:
    for page in ("README.md", "docs/GUIDE.md", "docs/BRIDGE.md"):
        text = (REPO / page).read_text()
        assert "../shared" not in text and "shared/design" not in text, f"{page} points outside the repository"
        for target in re.findall(r"\]\(([^)#\s]+)", text):
            if "://" in target:
                continue
            assert (REPO / page).parent.joinpath(target).resolve().is_file(), f"{page}: broken link {target}"
    readme = (REPO / "README.md").read_text()
    for doc in ("docs/GUIDE.md", "docs/BRIDGE.md", "docs/ARCHITECTURE.md"):
        assert f"]({doc})" in readme
    assert len(readme.splitlines()) <= 60, "the README stays short: details go to docs/"


def test_guide_documents_the_derivation_the_code_uses() -> None:
    from sidechain import keyring as kr

    guide = (REPO / "docs" / "GUIDE.md").read_text()
    assert kr.ACCOUNT_PATH.format(index="INDEX") in guide and kr.BRIDGE_PATH.format(index="INDEX") in guide
    assert "SLIP-0010" in guide and "BIP-39" in guide


def test_bridge_doc_constants_match_the_code() -> None:
    from bridge import protocol

    doc = (REPO / "docs" / "BRIDGE.md").read_text()
    sol = (REPO / "bridge" / "contracts" / "SidechainBridge.sol").read_text()
    assert str(protocol.POWER_THRESHOLD) in doc and "+1_000_000" in doc
    assert f"{protocol.ETH_PAYOUT_GAS:,}" in doc and f"{protocol.ERC20_PAYOUT_GAS:,}" in doc
    for error in re.findall(r"^\s*error (\w+)\(", sol, re.M):
        assert f"`{error}(" in doc, f"contract error {error} is not in docs/BRIDGE.md"
    for event in re.findall(r"^\s*event (\w+)\(", sol, re.M):
        assert f"event {event}(" in doc, f"contract event {event} is not in docs/BRIDGE.md"
