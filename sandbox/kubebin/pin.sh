#!/usr/bin/env bash
# pin.sh VERSION — write releases/VERSION.mod and .sum: the pinned build list kubebin builds
# VERSION (e.g. v1.37.2) from. Run it once per new release and commit both files; build.sh never
# changes them (it builds with -mod=readonly).
#
# The list is Kubernetes' own: k8s.io/kubernetes's go.mod replaces every staging module with its
# ./staging/src copy, which a module outside its repository cannot use, so each becomes
# `k8s.io/<name> v0.<minor>.<patch>` — the same code, published on its own. etcd's server is
# required at the version of the etcd client that go.mod pins, so both sides of the API server's
# storage speak one release.
set -euo pipefail

[[ $# -eq 1 && "$1" =~ ^v1\.[0-9]+\.[0-9]+$ ]] || { echo "usage: $0 v1.MINOR.PATCH" >&2; exit 2; }
KUBE_VERSION="$1"
STAGING_VERSION="v0.${KUBE_VERSION#v1.}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"

upstream="$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["GoMod"])')"
go_line="$(grep -m1 '^go ' "$upstream")"
godebug_line="$(grep -m1 '^godebug ' "$upstream" || true)"
etcd_version="$(awk '$1 == "go.etcd.io/etcd/client/v3" { print $2; exit }' "$upstream")"
mapfile -t staging < <(awk '$2 == "=>" && $3 ~ /^\.\/staging\// { print $1 }' "$upstream")

modfile="releases/$KUBE_VERSION.mod"
{
  echo "// The build list for Kubernetes $KUBE_VERSION, written by pin.sh (do not edit by hand)."
  echo "module healthdemo.local/kubebin"
  echo
  echo "$go_line"
  [[ -n "$godebug_line" ]] && echo && echo "$godebug_line"
  echo
  echo "require ("
  echo "	go.etcd.io/etcd/server/v3 $etcd_version"
  echo "	k8s.io/kubernetes $KUBE_VERSION"
  for m in k8s.io/client-go k8s.io/component-base k8s.io/kubectl; do
    echo "	$m $STAGING_VERSION"
  done
  echo ")"
  echo
  echo "replace ("
  for m in "${staging[@]}"; do
    echo "	$m => $m $STAGING_VERSION"
  done
  echo ")"
} > "$modfile"
rm -f "releases/$KUBE_VERSION.sum"
go mod tidy -modfile="$modfile"
echo "pinned $KUBE_VERSION (etcd $etcd_version, ${#staging[@]} staging modules at $STAGING_VERSION): $modfile"
