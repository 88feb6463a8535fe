# Sourced by kubebin/build.sh and runtime/build.sh: the smoke check before a build is stamped.
# reports BINARY EXPECTED-SUBSTRING ARGS... — run BINARY ARGS...; exit 1, with its output, unless
# it succeeds and prints EXPECTED-SUBSTRING (its version, say).
reports() {
  local binary="$1" want="$2"; shift 2
  local out
  if ! out="$("$binary" "$@" 2>&1)" || [[ "$out" != *"$want"* ]]; then
    echo "build.sh: '$(basename "$binary") $*' did not report '$want':" >&2
    echo "$out" >&2
    exit 1
  fi
}
