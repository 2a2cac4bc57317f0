#!/usr/bin/env bash
# Builds the real control plane the tests run (kube-apiserver, kube-controller-manager, kube-scheduler, etcd, kwok)
# from the Go modules pinned beside this script, with CGO_ENABLED=0, into a cache outside git keyed by the pins:
# a second run with the same go.mod/go.sum files builds nothing. Prints the directory holding the binaries.
# Usage: tests/controlplane/build.sh [CACHE_ROOT]   (default: $XDG_CACHE_HOME/llmaas or ~/.cache/llmaas)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache_root=${1:-${LLMAAS_CONTROLPLANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llmaas}}
key=$(cat "$here"/*/go.mod "$here"/*/go.sum "$0" | sha256sum | cut -c1-16)
bin="$cache_root/controlplane-$key"
tools=(kube-apiserver kube-controller-manager kube-scheduler etcd kwok epp keda-operator)

have_all() { for t in "${tools[@]}"; do [ -x "$bin/$t" ] || return 1; done; }
if have_all; then echo "$bin"; exit 0; fi

command -v go >/dev/null || { echo "build.sh: the go command is not on PATH (Go >= 1.26 is needed)" >&2; exit 1; }
mkdir -p "$bin.tmp"
export CGO_ENABLED=0 GOFLAGS="-trimpath -buildvcs=false"
# kube-apiserver reports this version at /version; the release is the one go.mod pins, written once there.
k8s=$(awk '$1 == "k8s.io/kubernetes" {print $2}' "$here/kubernetes/go.mod")
[[ $k8s =~ ^v1\.([0-9]+)\.[0-9]+$ ]] || { echo "build.sh: no k8s.io/kubernetes release in kubernetes/go.mod" >&2; exit 1; }
v=k8s.io/component-base/version
ldflags="-s -w -X $v.gitVersion=$k8s -X $v.gitMajor=1 -X $v.gitMinor=${BASH_REMATCH[1]} -X $v.gitTreeState=clean"
build() {  # module dir, ldflags, packages...
  local dir=$1 flags=$2; shift 2
  echo "build.sh: building $* ($(basename "$dir"))" >&2
  (cd "$dir" && go build -ldflags "$flags" -o "$bin.tmp/" "$@")
}
build "$here/kubernetes" "$ldflags" k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler
build "$here/etcd" "-s -w" go.etcd.io/etcd/server/v3
mv "$bin.tmp/server" "$bin.tmp/etcd"  # go names the binary of .../server/v3 after "server"
build "$here/kwok" "-s -w" sigs.k8s.io/kwok/cmd/kwok
build "$here/epp" "-s -w" sigs.k8s.io/gateway-api-inference-extension/cmd/epp
keda=$(awk '$1 == "github.com/kedacore/keda/v2" {print $2}' "$here/keda/go.mod")  # the operator logs it at start
build "$here/keda" "-s -w -X github.com/kedacore/keda/v2/version.Version=$keda" github.com/kedacore/keda/v2/cmd/operator
mv "$bin.tmp/operator" "$bin.tmp/keda-operator"
rm -rf "$bin" && mv "$bin.tmp" "$bin"
echo "$bin"
