#!/usr/bin/env bash
# build.sh VERSION OUTDIR — build the kubebin multi-call binary (kube-apiserver,
# kube-controller-manager, kube-scheduler, kubelet, kube-proxy, kubectl, etcd) of
# Kubernetes VERSION from the published Go modules pinned in releases/VERSION.mod and
# .sum (written by pin.sh), and install it as OUTDIR/kubebin plus one symlink per component.
#
# Idempotent, works from any cwd. OUTDIR/.built-<version> is written only after
# the binary and all symlinks are in place and answer --version correctly; it
# holds a hash of the build inputs, and a later run with an unchanged hash
# returns immediately. FORCE=1 rebuilds anyway (GOCACHE makes that cheap-ish:
# mostly the final link).
#
# GOMODCACHE and GOCACHE are left at the Go defaults (outside the repo), so
# module downloads and compiled packages are reused across runs and checkouts.
#
# CGO: CGO_ENABLED=0 (override with CGO_ENABLED=1 in the environment).
# Upstream builds every component static except the kubelet, but the only cgo
# the kubelet could use here is libc's user/DNS lookups (cadvisor's cgo parts
# — libpfm perf events, libipmctl NVM — sit behind build tags upstream doesn't
# set either). With CGO_ENABLED=0 the kubelet builds and starts, the binary is
# fully static (no glibc version coupling with the host or a container), and
# the build needs no C toolchain.
set -euo pipefail

usage() { echo "usage: $0 VERSION OUTDIR (VERSION: one of releases/*.mod, e.g. v1.37.2)" >&2; exit 2; }
[[ $# -eq 2 && -n "$1" && -n "$2" ]] || usage

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KUBE_VERSION="$1"
MODFILE="releases/$KUBE_VERSION.mod"
if [[ ! -f "$HERE/$MODFILE" ]]; then
  echo "build.sh: no build list for $KUBE_VERSION; pinned: $(cd "$HERE/releases" && ls *.mod | sed 's/\.mod$//' | xargs)" >&2
  exit 2
fi
mkdir -p "$2"
OUTDIR="$(cd "$2" && pwd)"

BIN_NAME=kubebin            # must match multiCallName in main.go
COMPONENTS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl etcd)
STAMP="$OUTDIR/.built-$KUBE_VERSION"

export CGO_ENABLED="${CGO_ENABLED:-0}"

cd "$HERE"
# shellcheck source=../build-check.sh
source ../build-check.sh

# Everything that determines the output: sources, module pins, this script,
# the Go toolchain and the cgo setting.
inputs_hash() {
  {
    cat "$MODFILE" "${MODFILE%.mod}.sum" ./*.go "${BASH_SOURCE[0]}" ../build-check.sh
    go version
    echo "CGO_ENABLED=$CGO_ENABLED"
  } | sha256sum | cut -d' ' -f1
}
HASH="$(inputs_hash)"

installed_ok() {
  [[ -x "$OUTDIR/$BIN_NAME" ]] || return 1
  local c
  for c in "${COMPONENTS[@]}"; do
    [[ -L "$OUTDIR/$c" && "$(readlink "$OUTDIR/$c")" == "$BIN_NAME" ]] || return 1
  done
}

if [[ -z "${FORCE:-}" && -f "$STAMP" && "$(cat "$STAMP")" == "$HASH" ]] && installed_ok; then
  echo "kubebin $KUBE_VERSION already built in $OUTDIR (stamp $STAMP matches; FORCE=1 to rebuild)"
  exit 0
fi
rm -f "$STAMP"

# Versions come from the module graph, not from git (there is none).
# -mod=readonly: the pinned list is used as it is, never updated by a build.
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-modfile=$MODFILE -mod=readonly"
mod_field() { go list -m -f "$2" "$1"; }
K8S_MOD_VERSION="$(mod_field k8s.io/kubernetes '{{.Version}}')"
if [[ "$K8S_MOD_VERSION" != "$KUBE_VERSION" ]]; then
  echo "build.sh: $MODFILE pins k8s.io/kubernetes $K8S_MOD_VERSION, not $KUBE_VERSION" >&2
  exit 1
fi
ETCD_VERSION="$(mod_field go.etcd.io/etcd/server/v3 '{{.Version}}')"
# Reproducible build date: the module's publication time on the Go proxy
# (recorded in the module cache), not "now" — keeps rebuilds byte-identical.
BUILD_DATE="$(mod_field k8s.io/kubernetes '{{if .Time}}{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}')"
BUILD_DATE="${BUILD_DATE:-1970-01-01T00:00:00Z}"
MAJOR="${KUBE_VERSION#v}"; MAJOR="${MAJOR%%.*}"
MINOR="${KUBE_VERSION#v*.}"; MINOR="${MINOR%%.*}"
# The module zip carries no git metadata. Upstream's hack/lib/version.sh calls
# such source trees "archive"; pass KUBE_GIT_COMMIT=<sha> to record the commit.
GIT_COMMIT="${KUBE_GIT_COMMIT:-}"
GIT_TREE_STATE=archive

ldflags=(-s -w)
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=(
    -X "$pkg.gitVersion=$KUBE_VERSION"
    -X "$pkg.gitMajor=$MAJOR"
    -X "$pkg.gitMinor=$MINOR"
    -X "$pkg.gitCommit=$GIT_COMMIT"
    -X "$pkg.gitTreeState=$GIT_TREE_STATE"
    -X "$pkg.buildDate=$BUILD_DATE"
  )
done
# etcd's Version is a constant in go.etcd.io/etcd/api/v3/version; only GitSHA
# is a variable (default "Not provided (use ./build instead of go build)").
ldflags+=(-X "go.etcd.io/etcd/api/v3/version.GitSHA=go-module-$ETCD_VERSION")

echo "building $BIN_NAME: kubernetes $KUBE_VERSION, etcd $ETCD_VERSION, $(go version | cut -d' ' -f3), CGO_ENABLED=$CGO_ENABLED -> $OUTDIR"
TMP_BIN="$OUTDIR/.$BIN_NAME.tmp.$$"
trap 'rm -f "$TMP_BIN"' EXIT
go build -trimpath -buildvcs=false -ldflags "${ldflags[*]}" -o "$TMP_BIN" .
# rename is atomic, so processes still running the old binary are unaffected
mv -f "$TMP_BIN" "$OUTDIR/$BIN_NAME"

for c in "${COMPONENTS[@]}"; do
  ln -sfn "$BIN_NAME" "$OUTDIR/$c"
done

# Smoke check before stamping: every component starts and reports its version.
check() { reports "$OUTDIR/$1" "${@:2}"; }
for c in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy; do
  check "$c" "Kubernetes $KUBE_VERSION" --version
done
check kubectl "Client Version: $KUBE_VERSION" version --client
check etcd "etcd Version: ${ETCD_VERSION#v}" --version

echo "$HASH" > "$STAMP"
echo "done: $OUTDIR/$BIN_NAME ($(du -h "$OUTDIR/$BIN_NAME" | cut -f1)); stamp $STAMP"
