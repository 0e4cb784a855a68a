"""Who may import whom (the map is in sidechain/module.py and docs/ARCHITECTURE.md).

Every import in the installed packages is read from the source (module level and inside functions;
`if TYPE_CHECKING:` imports count only for cycles they would not create at run time), and checked
against the rules below. A failure names the importing file, the line and the rule it breaks.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("sidechain", "abci_app", "validators", "genesis", "bridge")
GENERATED = ("sidechain.gen", "abci_app.gen")

# The chain's modules: they see core only, never each other, the composition or anything above.
MODULES = ("sidechain.auth", "sidechain.bank", "validators", "bridge.module")
CORE = ("sidechain.env", "sidechain.tx", "sidechain.types", "sidechain.errors", "sidechain.blocks",
        "sidechain.extcommit", "sidechain.varint", "sidechain.store", "sidechain.gen")
COMPOSITION = ("sidechain.module", "sidechain.txflow", "sidechain.block", "sidechain.app")
# Consensus code: what FinalizeBlock, ProcessProposal and VerifyVoteExtension can reach.
CONSENSUS = (*COMPOSITION, *MODULES, *CORE)
# Never reachable from consensus code: network clients, L1 tooling, CLIs, process control.
OFF_CHAIN = ("abci_app", "bridge.l1", "bridge.watcher", "bridge.cli", "bridge.operations", "bridge.keys",
             "bridge.revert", "bridge.artifacts", "bridge.signing", "bridge.devnet", "bridge.deposit", "bridge.status",
             "bridge.erc20", "genesis", "sidechain.cli", "sidechain.commands",
             "sidechain.node", "sidechain.client", "sidechain.keyring", "sidechain.cometbft",
             "sidechain.config", "sidechain.export", "sidechain.metrics",
             "web3", "requests", "grpc", "click", "rich", "subprocess", "socket", "urllib")
# The only modules of ours that may import abci_app: the node process (it runs the servers).
ABCI_IMPORTERS = ("abci_app", "sidechain.node")


@dataclass(frozen=True)
class Import:
    source: str  # importing module
    target: str  # imported module (as written, absolute)
    line: int
    type_checking: bool


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def module_name(path: Path, root: Path = REPO) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(source: str, name: str, is_package: bool) -> list[Import]:
    tree = ast.parse(source)
    out: list[Import] = []
    guarded: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                for n in ast.walk(sub):
                    guarded.add(id(n))
    base = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                out.append(Import(name, a.name, node.lineno, id(node) in guarded))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                pkg = base.split(".")
                pkg = pkg[: len(pkg) - (node.level - 1)]
                mod = ".".join(pkg + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append(Import(name, mod, node.lineno, id(node) in guarded))
            for a in node.names:  # `from pkg import submodule`
                out.append(Import(name, f"{mod}.{a.name}", node.lineno, id(node) in guarded))
    return out


def all_imports(root: Path = REPO) -> list[Import]:
    out: list[Import] = []
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            name = module_name(path, root)
            if _within(name, GENERATED) or "node_modules" in path.parts:
                continue
            out.extend(imports_of(path.read_text(), name, path.name == "__init__.py"))
    return out


def violations(imports: list[Import], known: set[str]) -> list[str]:
    bad: list[str] = []

    def say(i: Import, rule: str) -> None:
        bad.append(f"{i.source}:{i.line} imports {i.target}: {rule}")

    for i in imports:
        src, dst = i.source, i.target
        if _within(dst, ("abci_app",)) and not _within(src, ABCI_IMPORTERS):
            say(i, "only the node process (sidechain.node) may import abci_app")
        if _within(src, ("sidechain.store",)) and _within(dst, PACKAGES) and not _within(
                dst, ("sidechain.store", "sidechain.errors")):
            say(i, "the store imports nothing of the chain but sidechain.errors")
        if _within(src, MODULES):
            own = next(m for m in MODULES if _within(src, (m,)))
            if _within(dst, PACKAGES) and not _within(dst, (own, *CORE)):
                say(i, f"a module ({own}) imports only itself and core ({', '.join(CORE)}); what it needs "
                       "from another module it declares as a Protocol")
        if _within(src, CORE) and _within(dst, (*MODULES, *COMPOSITION)) and not i.type_checking:
            say(i, "core imports no module and nothing that composes modules")
        if _within(src, CONSENSUS) and _within(dst, OFF_CHAIN) and not i.type_checking:
            say(i, "consensus code never reaches network clients, L1 tooling, CLIs or processes")
    # cycles between our modules, through run-time imports at module level or in functions
    graph: dict[str, set[str]] = {}
    for i in imports:
        if not i.type_checking and i.target in known and i.target != i.source:
            graph.setdefault(i.source, set()).add(i.target)
    for cycle in _cycles(graph):
        bad.append("import cycle: " + " -> ".join(cycle))
    return bad


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _known_modules(root: Path = REPO) -> set[str]:
    return {module_name(p, root) for pkg in PACKAGES for p in (root / pkg).rglob("*.py")
            if "node_modules" not in p.parts}


def test_imports_point_one_way() -> None:
    imports = all_imports()
    assert len(imports) > 300  # the scan sees the code base, not an empty tree
    assert violations(imports, _known_modules()) == []


def test_the_checker_catches_each_kind_of_violation(tmp_path: Path) -> None:
    files = {
        "sidechain/__init__.py": "",
        "sidechain/errors.py": "",
        "sidechain/env.py": "from sidechain.module import CHAIN\n",  # core -> composition
        "sidechain/module.py": "from sidechain.bank.module import BankModule\n",
        "sidechain/store/__init__.py": "",
        "sidechain/store/merkle.py": "from sidechain.bank import keys\n",  # store -> module
        "sidechain/bank/__init__.py": "",
        "sidechain/bank/keys.py": "",
        "sidechain/bank/module.py": "from sidechain.auth.state import get_params\n",  # module -> module
        "sidechain/auth/__init__.py": "",
        "sidechain/auth/state.py": "def f():\n    import web3\n",  # consensus -> off-chain, in a function
        "sidechain/cli.py": "import abci_app.servers\n",  # not the node process
        "abci_app/__init__.py": "",
        "abci_app/servers.py": "",
        "genesis/__init__.py": "",
        "genesis/a.py": "from genesis import b\n",
        "genesis/b.py": "from genesis import a\n",  # a cycle
        "validators/__init__.py": "",
        "bridge/__init__.py": "",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    found = violations(all_imports(tmp_path), _known_modules(tmp_path))
    expected = [
        "sidechain.env:1 imports sidechain.module: core imports no module",
        "sidechain.store.merkle:1 imports sidechain.bank: the store imports nothing",
        "sidechain.bank.module:1 imports sidechain.auth.state: a module (sidechain.bank) imports only itself",
        "sidechain.auth.state:2 imports web3: consensus code never reaches",
        "sidechain.cli:1 imports abci_app.servers: only the node process",
        "import cycle: genesis.a -> genesis.b",
    ]
    for e in expected:
        assert any(f.startswith(e) for f in found), (e, found)
