# The two commands a newcomer needs: `make sandbox` (the main job) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

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

# The real Kubernetes binaries the tests run against: built once with Go into
# ~/.cache/healthdemo (cold: see sandbox/kubebin/README.md), reused afterwards. Without Go (and
# without envtest assets) the tests that need them skip with the reason.
kube-binaries: $(STAMP)
	@if command -v go >/dev/null; then $(BIN)/python -m healthdemo_sandbox.controlplane build; \
	else echo "kube-binaries: Go not found; control-plane tests will skip unless KUBEBUILDER_ASSETS is set"; fi

# Our images (webapp, operator, pause) built by podman on a local Debian base; needs root and
# sandbox/setup-host.sh. The tests build them on demand too.
images: $(STAMP)
	$(BIN)/python -m healthdemo_sandbox.images build

test: lint kube-binaries
	$(BIN)/pytest $(PYTEST_ARGS)

# The whole demo on this machine (root): control plane, a real node, the operator, the sample.
sandbox: kube-binaries
	@if [ "$$(id -u)" = 0 ]; then bash sandbox/setup-host.sh; fi
	$(BIN)/python -m healthdemo_sandbox up

# Just the webapp, on http://0.0.0.0:5000 (no Kubernetes needed).
webapp: $(STAMP)
	$(BIN)/python -m webapp

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
