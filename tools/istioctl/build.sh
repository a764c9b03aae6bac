#!/usr/bin/env bash
# Builds upstream istioctl 1.31.1 from the Go module proxy, as a real client for the e2e
# tests (tests/e2e/istioctl_test.go). The pins live in this directory's own module
# (go.mod/go.sum), which nothing in Sextant imports.
#
# The binary goes to $ISTIOCTL_CACHE/istioctl (default ~/.cache/sextant-istioctl/istioctl).
# The build is skipped when that binary exists and was built from the current pins: a cold
# build takes about 5 minutes and 2.5 GB of RAM on 2 cores.
set -euo pipefail

readonly VERSION=1.31.1
readonly PKG=istio.io/istio/istioctl/cmd/istioctl
GO="${GO:-go}"

cd "$(dirname "$0")"
cache="${ISTIOCTL_CACHE:-$HOME/.cache/sextant-istioctl}"
out="$cache/istioctl"
stamp="$out.stamp"

say() { echo "[istioctl] $*"; }

# The stamp ties the cached binary to the pins and this script, so bumping either rebuilds.
want=$(cat go.mod go.sum build.sh | sha256sum | cut -d' ' -f1)
if [[ -x "$out" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
	say "cached: $out"
	exit 0
fi

# This module stands alone: never resolve it through a workspace.
export GOWORK=off
mkdir -p "$cache"
start=$SECONDS

say "resolving the packages of $PKG $VERSION (downloads modules on a fresh machine)"
total=$("$GO" list -deps "$PKG" | grep -c .)
say "compiling up to $total packages (cold: about 5 minutes on 2 cores)"

log=$(mktemp)
trap 'rm -f "$log" "$out.tmp"' EXIT
ldflags="-s -w -X istio.io/istio/pkg/version.buildVersion=$VERSION"
ldflags+=" -X istio.io/istio/pkg/version.buildTag=$VERSION"
ldflags+=" -X istio.io/istio/pkg/version.buildStatus=Clean"
"$GO" build -v -ldflags "$ldflags" -o "$out.tmp" "$PKG" 2>"$log" &
pid=$!
last=$SECONDS
while kill -0 "$pid" 2>/dev/null; do
	sleep 2
	if ((SECONDS - last >= 30)); then
		last=$SECONDS
		say "$(grep -c . "$log" || true)/$total packages compiled, $((SECONDS - start))s"
	fi
done
if ! wait "$pid"; then
	say "build failed; last lines of go build:"
	tail -n 40 "$log" >&2
	exit 1
fi
mv "$out.tmp" "$out"
echo "$want" >"$stamp"
say "built $out in $((SECONDS - start))s: $("$out" version --remote=false 2>/dev/null || echo "version unknown")"
