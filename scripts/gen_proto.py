"""Generate Python protobuf modules at build time (never committed).

* CometBFT's ABCI types (and everything they import) from the `.proto` files of the exact
  CometBFT module version pinned in the Makefile, as the Go module cache holds them, plus the
  gogoproto `.proto` files at the version CometBFT's go.mod requires -> `abci_app/gen/`.
* Our own schemas under `sidechain/proto/` -> `sidechain/gen/`.

grpcio-tools emits absolute imports (`from tendermint.abci import types_pb2`); we rewrite them
to package-relative ones (`from abci_app.gen.tendermint.abci import ...`) so that no top-level
`tendermint` or `gogoproto` package is ever put on sys.path.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def go_module_dir(module: str, version: str) -> Path:
    out = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        check=True, capture_output=True, text=True, cwd="/",
    ).stdout
    info = json.loads(out)
    if "Error" in info:
        sys.exit(f"go mod download {module}@{version}: {info['Error']}")
    return Path(info["Dir"])


def required_version(go_mod: Path, module: str) -> str:
    m = re.search(rf"^\s*{re.escape(module)}\s+(v\S+)", go_mod.read_text(), re.M)
    if not m:
        sys.exit(f"{module} is not required by {go_mod}")
    return m.group(1)


def protoc(include_dirs: list[Path], files: list[Path], out: Path, grpc_files: set[Path]) -> None:
    import grpc_tools
    from grpc_tools import protoc as _protoc  # dev dependency, build time only

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    inc = [f"-I{d}" for d in include_dirs] + [f"-I{well_known}"]
    rel = [str(f) for f in files]
    args = ["protoc", *inc, f"--python_out={out}", f"--pyi_out={out}", *rel]
    if _protoc.main(args) != 0:
        sys.exit(f"protoc failed: {' '.join(args)}")
    if grpc_files:
        args = ["protoc", *inc, f"--grpc_python_out={out}", *[str(f) for f in sorted(grpc_files)]]
        if _protoc.main(args) != 0:
            sys.exit(f"protoc (grpc) failed: {' '.join(args)}")


def rewrite_imports(out: Path, package: str, roots: list[str]) -> None:
    pattern = re.compile(rf"^(\s*)(from|import) ({'|'.join(map(re.escape, roots))})(\.|\s)", re.M)
    for py in out.rglob("*.py*"):
        if py.suffix not in (".py", ".pyi"):
            continue
        text = py.read_text()
        new = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)} {package}.{m.group(3)}{m.group(4)}", text)
        if new != text:
            py.write_text(new)
    for d in [out, *[p for p in out.rglob("*") if p.is_dir()]]:
        (d / "__init__.py").touch()


def gen_cometbft(version: str) -> None:
    cmt = go_module_dir("github.com/cometbft/cometbft", version)
    gogo_version = required_version(cmt / "go.mod", "github.com/cosmos/gogoproto")
    gogo = go_module_dir("github.com/cosmos/gogoproto", gogo_version)
    proto_root = cmt / "proto"
    files = sorted(
        p.relative_to(proto_root)
        for sub in ("abci", "crypto", "types", "version", "libs")
        for p in (proto_root / "tendermint" / sub).rglob("*.proto")
    )
    out = ROOT / "abci_app" / "gen"
    tmp = out.with_name("gen.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    protoc([proto_root, gogo], [Path("gogoproto/gogo.proto"), *files], tmp,
           {Path("tendermint/abci/types.proto")})
    rewrite_imports(tmp, "abci_app.gen", ["tendermint", "gogoproto"])
    (tmp / "VERSION").write_text(f"cometbft {version}\ngogoproto {gogo_version}\n")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    print(f"generated abci_app/gen from cometbft {version} (gogoproto {gogo_version})")


def gen_sidechain() -> None:
    src = ROOT / "sidechain" / "proto"
    files = sorted(p.relative_to(src) for p in src.rglob("*.proto"))
    out = ROOT / "sidechain" / "gen"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    if files:
        protoc([src], files, out, set())
        roots = sorted({f.parts[0] for f in files})
        rewrite_imports(out, "sidechain.gen", roots)
    else:
        (out / "__init__.py").touch()
    print(f"generated sidechain/gen from {len(files)} schema file(s)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cometbft-version", required=True)
    args = ap.parse_args()
    gen_cometbft(args.cometbft_version)
    gen_sidechain()


if __name__ == "__main__":
    main()
