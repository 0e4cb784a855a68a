#!/usr/bin/env bash
# Build CometBFT from its Go module source (the same source `go install ...@VERSION` builds) with our
# patches applied, in that order:
#     scripts/build_cometbft.sh VERSION OUTPUT_BINARY [PATCH ...]
# Each patch is a unified diff against the module's root; docs/ARCHITECTURE.md says why each exists.
set -euo pipefail
version=$1
out=$2
shift 2
src=$(go mod download -json "github.com/cometbft/cometbft@${version}" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin).get("Dir", ""))')
if [ ! -d "$src" ]; then
    echo "build_cometbft: go mod download found no source for github.com/cometbft/cometbft@${version}" >&2
    exit 1
fi
work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null || true; rm -rf "$work"' EXIT
cp -R "$src"/. "$work"/
chmod -R u+w "$work"   # the module cache is read-only
for p in "$@"; do
    abs="$(cd "$(dirname "$p")" && pwd)/$(basename "$p")"
    # git apply works outside a repository; the ceiling keeps it from finding one around $work.
    GIT_CEILING_DIRECTORIES="$(dirname "$work")" git -C "$work" apply --verbose "$abs"
done
mkdir -p "$(dirname "$out")"
(cd "$work" && GOWORK=off go build -o "$out.tmp" ./cmd/cometbft)
mv "$out.tmp" "$out"
