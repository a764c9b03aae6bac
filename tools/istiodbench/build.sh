#!/usr/bin/env bash
# Builds istiodbench (upstream istiod 1.31.1's PushContext build times on a mesh directory;
# see README.md) into $ISTIODBENCH_CACHE/istiodbench (default
# ~/.cache/sextant-istiodbench/istiodbench) and prints the binary's path on stdout.
# The pins live in this directory's own module (go.mod/go.sum), which nothing in Sextant
# imports; they are the oracle's (../../../shared/oracle), so where the oracle has been built
# (shared module and build caches) this takes seconds; with cold caches, minutes.
#
# The build is skipped while the cached binary was built from the current sources.
set -euo pipefail

GO="${GO:-go}"

cd "$(dirname "$0")"
cache="${ISTIODBENCH_CACHE:-$HOME/.cache/sextant-istiodbench}"
out="$cache/istiodbench"
stamp="$out.stamp"

say() { echo "[istiodbench] $*" >&2; }

# The stamp ties the cached binary to the pins, the source and this script.
want=$(cat go.mod go.sum main.go build.sh | sha256sum | cut -d' ' -f1)
if [[ -x "$out" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
	say "cached: $out"
	echo "$out"
	exit 0
fi

# This module stands alone: never resolve it through a workspace.
export GOWORK=off
mkdir -p "$cache"
start=$SECONDS
say "building (downloads istio's modules on a fresh machine; cold: minutes)"
trap 'rm -f "$out.tmp"' EXIT
"$GO" build -ldflags "-s -w" -o "$out.tmp" .
mv "$out.tmp" "$out"
echo "$want" >"$stamp"
say "built $out in $((SECONDS - start))s"
echo "$out"
