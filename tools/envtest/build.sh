#!/usr/bin/env bash
# Builds the two binaries controller-runtime's envtest starts, kube-apiserver and etcd, from
# the Go module proxy (nothing else can be downloaded here). The pins live in two modules of
# their own, which nothing in Sextant imports:
#   go.mod       k8s.io/kubernetes v1.37.1, its staging modules replaced by their v0.37.1
#                releases (upstream points them at ./staging/...)
#   etcd/go.mod  go.etcd.io/etcd/server/v3 v3.6.16 (its own module, so Kubernetes' etcd 3.7
#                client pins do not pull the server to 3.7)
# Both are `tool` directives; the build flags follow upstream's release builds.
#
# The binaries go to $ENVTEST_CACHE/k8s-1.37.1/ (default ~/.cache/sextant-envtest). Each is
# skipped when it exists and was built from the current pins and flags. A cold build is
# ~480 CPU-seconds and 2.3 GB of RAM (the link) for kube-apiserver, ~95 CPU-seconds and
# 0.4 GB for etcd: 5 to 10 minutes in all on 2 cores, depending on what else runs.
#
# Progress goes to stderr; stdout gets one line, the directory for KUBEBUILDER_ASSETS
# (or envtest.Environment.BinaryAssetsDirectory):
#   export KUBEBUILDER_ASSETS="$(tools/envtest/build.sh)"
set -euo pipefail

readonly K8S_VERSION=1.37.1
readonly ETCD_VERSION=3.6.16

GO="${GO:-go}"
here="$(cd "$(dirname "$0")" && pwd)"
out="${ENVTEST_CACHE:-$HOME/.cache/sextant-envtest}/k8s-$K8S_VERSION"

say() { echo "[envtest] $*" >&2; }

# These modules stand alone: never resolve them through a workspace. Static binaries, as
# upstream ships them.
export GOWORK=off CGO_ENABLED=0

mkdir -p "$out"
out="$(cd "$out" && pwd)"
# One build at a time per cache directory (parallel `make` or test runs).
exec 9>"$out/.lock"
flock 9

# build NAME MODULE_DIR PACKAGE VERSION_CHECK_ARGS GO_BUILD_ARGS...
build() {
	local name=$1 dir=$2 pkg=$3 check=$4
	shift 4
	local bin="$out/$name" stamp="$out/$name.stamp" want
	# The stamp ties the binary to the pins and the flags, so changing either rebuilds.
	want=$(cd "$dir" && { cat go.mod go.sum; printf '%s\n' "$@"; } | sha256sum | cut -d' ' -f1)
	if [[ -x "$bin" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
		say "cached: $bin"
		return
	fi

	local start=$SECONDS total log pid last
	say "$name: resolving the packages of $pkg (downloads modules on a fresh machine)"
	total=$(cd "$dir" && "$GO" list -deps "$@" "$pkg" | grep -c .)
	say "$name: compiling up to $total packages"
	log=$(mktemp)
	(cd "$dir" && exec "$GO" build -v "$@" -o "$bin.tmp" "$pkg") 2>"$log" &
	pid=$!
	# An interrupted script must not leave go build running (background jobs ignore SIGINT).
	trap 'kill "$pid" 2>/dev/null; rm -f "$log" "$bin.tmp"' EXIT
	last=$SECONDS
	while kill -0 "$pid" 2>/dev/null; do
		sleep 2
		if ((SECONDS - last >= 30)); then
			last=$SECONDS
			say "$name: $(grep -c . "$log" || true)/$total packages compiled, $((SECONDS - start))s"
		fi
	done
	if ! wait "$pid"; then
		say "$name: build failed; last lines of go build:"
		tail -n 40 "$log" >&2
		exit 1
	fi
	trap - EXIT
	rm -f "$log"
	mv "$bin.tmp" "$bin"
	echo "$want" >"$stamp"
	say "$name: built $bin in $((SECONDS - start))s: $("$bin" $check 2>&1 | head -n 1)"
}

kv=v$K8S_VERSION
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldflags+=" -X $pkg.gitVersion=$kv -X $pkg.gitMajor=${K8S_VERSION%%.*}"
	ldflags+=" -X $pkg.gitMinor=$(cut -d. -f2 <<<"$K8S_VERSION") -X $pkg.gitTreeState=clean"
done
build kube-apiserver "$here" k8s.io/kubernetes/cmd/kube-apiserver --version \
	-trimpath -tags selinux,notest,grpcnotrace -ldflags "$ldflags"

build etcd "$here/etcd" go.etcd.io/etcd/server/v3 --version \
	-trimpath -ldflags "-s -w"

# Check that what envtest will start is what the pins say. The output is captured first:
# grep -q stops reading at the first match, and under pipefail the writer's SIGPIPE
# would fail the check.
v=$("$out/kube-apiserver" --version)
grep -qx "Kubernetes $kv" <<<"$v" || { say "$out/kube-apiserver is not $kv"; exit 1; }
v=$("$out/etcd" --version)
grep -qx "etcd Version: $ETCD_VERSION" <<<"$v" || { say "$out/etcd is not $ETCD_VERSION"; exit 1; }

say "ready; for envtest: export KUBEBUILDER_ASSETS=$out"
echo "$out"
