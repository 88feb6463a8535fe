# The two commands a newcomer needs: `make sandbox` (the main job) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The Kubernetes release the sandbox and the tests run (sandbox/healthdemo_sandbox/releases.py);
# empty means the newest supported: `make sandbox KUBE_VERSION=v1.35.4`, likewise `make test`.
KUBE_VERSION ?=
export KUBE_VERSION
# `make test` then runs the real-node tests and the RBAC audit once more on the oldest supported
# release, so that every run proves both ends; `make test ALSO_OLDEST=` leaves that out.
ALSO_OLDEST ?= 1
NODE_TESTS := tests/node tests/reliability/test_rbac_audit.py
# On the oldest release, all of them but those whose outcome no release changes (the operator's
# own crash safety, the kubelet stand-in's format, traffic through a Service and its lessons:
# preStop sleep is GA since 1.34, the oldest is newer; the Helm chart's install, the same objects
# as deploy/; Prometheus scraping the operator): they alone took 8 minutes.
OLDEST_LEAVES_OUT := tests/node/test_crash_safety.py tests/node/test_kubelet_standin.py \
	tests/node/test_traffic.py tests/node/test_traffic_lessons.py tests/node/test_helm_install.py \
	tests/node/test_prometheus.py
RELEASES := $(BIN)/python -m healthdemo_sandbox.releases

.PHONY: sandbox test lint webapp kube-binaries images clean

# (Re)install when pyproject.toml changes; editable, so code edits need no reinstall.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The real Kubernetes binaries of the selected release, and the node's runtime (containerd 2,
# runc): built once with Go into ~/.cache/healthdemo (cold: see sandbox/kubebin/README.md and
# sandbox/runtime/README.md), reused afterwards. Without Go (and without envtest assets) the tests
# that need them skip with the reason; without libseccomp-dev (sandbox/setup-host.sh) the node's.
kube-binaries: $(STAMP)
	@$(RELEASES) check "$(KUBE_VERSION)" >/dev/null
	@if command -v go >/dev/null; then $(BIN)/python -m healthdemo_sandbox.controlplane build; \
	else echo "kube-binaries: Go not found; control-plane tests will skip unless KUBEBUILDER_ASSETS is set"; fi
	@if command -v go >/dev/null && pkg-config --exists libseccomp 2>/dev/null; then \
	  $(BIN)/python -m healthdemo_sandbox.node build; \
	else echo "kube-binaries: no Go or no libseccomp-dev (sandbox/setup-host.sh): no node runtime (containerd, runc), so no real node"; fi
	@# Helm, for charts/healthdemo (sandbox/healthdemo_sandbox/helm.py; cold: 3 to 4 minutes).
	@if command -v go >/dev/null; then $(BIN)/python -m healthdemo_sandbox.helm build >/dev/null; \
	else echo "kube-binaries: Go not found; the Helm chart's tests will skip"; fi

# Our images (webapp, operator, pause) built by podman on a local Debian base; needs root and
# sandbox/setup-host.sh. The tests build them on demand too.
images: $(STAMP)
	$(BIN)/python -m healthdemo_sandbox.images build

test: lint kube-binaries
	$(BIN)/pytest $(PYTEST_ARGS)
	@oldest=$$($(RELEASES) oldest); \
	if [ -n "$(ALSO_OLDEST)" ] && [ "$$($(RELEASES) check "$(KUBE_VERSION)")" != "$$oldest" ]; then \
	  echo "== the real-node tests and the RBAC audit on the oldest supported release, Kubernetes $$oldest (all but $(OLDEST_LEAVES_OUT): no release changes them)"; \
	  $(MAKE) --no-print-directory kube-binaries KUBE_VERSION=$$oldest && \
	  KUBE_VERSION=$$oldest $(BIN)/pytest $(NODE_TESTS) $(addprefix --ignore=,$(OLDEST_LEAVES_OUT)); \
	fi

# The whole demo on this machine (root): control plane, a real node, the operator, the sample.
sandbox: $(STAMP)
	@$(RELEASES) check "$(KUBE_VERSION)" >/dev/null
	@if [ "$$(id -u)" = 0 ]; then bash sandbox/setup-host.sh; fi
	@$(MAKE) --no-print-directory kube-binaries
	$(BIN)/python -m healthdemo_sandbox up

# Just the webapp, on http://0.0.0.0:5000 (no Kubernetes needed).
webapp: $(STAMP)
	$(BIN)/python -m webapp

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
