#!/usr/bin/env bash
# build.sh CONTAINERD_VERSION RUNC_VERSION OUTDIR — build the node's container runtime from its
# published Go modules: containerd, its runc shim and ctr (github.com/containerd/containerd/v2),
# and runc (github.com/opencontainers/runc), into OUTDIR. Each is built with `go install
# <module>/<cmd>@<version>`, so each uses exactly its own project's pinned build list (go.mod and
# go.sum of that release, checked against the Go checksum database).
#
# Idempotent, works from any cwd. OUTDIR/.built holds a hash of the inputs and is written only
# after every binary reports its version; a later run with the same hash returns at once.
# FORCE=1 rebuilds anyway.
#
# containerd and the shim are static (CGO_ENABLED=0: the btrfs snapshotter, the only cgo part,
# is left out, as we use overlayfs). runc needs cgo (its nsenter is C) and libseccomp's headers
# (Debian's libseccomp-dev, from setup-host.sh) for seccomp profiles, which the restricted Pod
# Security profile requires (RuntimeDefault). Its optional libpathrs (a Rust library) is left out.
set -euo pipefail

usage() { echo "usage: $0 CONTAINERD_VERSION RUNC_VERSION OUTDIR" >&2; exit 2; }
[[ $# -eq 3 && "$1" =~ ^v2\. && "$2" =~ ^v1\. && -n "$3" ]] || usage
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../build-check.sh
source "$HERE/../build-check.sh"
CONTAINERD_VERSION="$1"
RUNC_VERSION="$2"
mkdir -p "$3"
OUTDIR="$(cd "$3" && pwd)"
STAMP="$OUTDIR/.built"
BINARIES=(containerd containerd-shim-runc-v2 ctr runc)

# Outside any module of ours: `go install pkg@version` ignores the current module anyway, but a
# neutral directory keeps GOFLAGS like -modfile from leaking in.
cd /
unset GOFLAGS

inputs_hash() {
  { cat "$HERE/build.sh" "$HERE/../build-check.sh"; go version; echo "$CONTAINERD_VERSION $RUNC_VERSION"; } |
    sha256sum | cut -d' ' -f1
}
HASH="$(inputs_hash)"
installed_ok() {
  local b
  for b in "${BINARIES[@]}"; do [[ -x "$OUTDIR/$b" ]] || return 1; done
}
if [[ -z "${FORCE:-}" && -f "$STAMP" && "$(cat "$STAMP")" == "$HASH" ]] && installed_ok; then
  echo "runtime already built in $OUTDIR (containerd $CONTAINERD_VERSION, runc $RUNC_VERSION)"
  exit 0
fi
rm -f "$STAMP"

if ! pkg-config --exists libseccomp 2>/dev/null; then
  echo "build.sh: runc needs libseccomp's headers and pkg-config; run sandbox/setup-host.sh as root" >&2
  exit 1
fi

TMP="$(mktemp -d "$OUTDIR/.build.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
echo "building the node runtime: containerd $CONTAINERD_VERSION, runc $RUNC_VERSION, $(go version | cut -d' ' -f3) -> $OUTDIR"

containerd=github.com/containerd/containerd/v2
GOBIN="$TMP" CGO_ENABLED=0 go install -trimpath -tags "no_btrfs" \
  -ldflags "-s -w -X $containerd/version.Version=$CONTAINERD_VERSION -X $containerd/version.Revision=go-module-$CONTAINERD_VERSION" \
  "$containerd/cmd/containerd@$CONTAINERD_VERSION" \
  "$containerd/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION" \
  "$containerd/cmd/ctr@$CONTAINERD_VERSION"
GOBIN="$TMP" CGO_ENABLED=1 go install -trimpath -tags "seccomp urfave_cli_no_docs" \
  -ldflags "-s -w -X main.gitCommit=go-module-$RUNC_VERSION" \
  "github.com/opencontainers/runc@$RUNC_VERSION"

check() { reports "$TMP/$1" "${@:2}"; }
check containerd "$CONTAINERD_VERSION" --version
check containerd-shim-runc-v2 "$CONTAINERD_VERSION" -v
check ctr "$CONTAINERD_VERSION" --version
check runc "runc version ${RUNC_VERSION#v}" --version
check runc "seccomp" --version   # "libseccomp: 2.5.x": built with seccomp support

for b in "${BINARIES[@]}"; do mv -f "$TMP/$b" "$OUTDIR/$b"; done  # atomic per file
echo "$HASH" > "$STAMP"
echo "done: $(cd "$OUTDIR" && du -ch "${BINARIES[@]}" | tail -1 | cut -f1) in $OUTDIR"
