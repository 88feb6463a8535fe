# The two commands a newcomer needs: `make webapp` (later `make sandbox`) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: test lint webapp clean

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

test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

webapp: $(STAMP)
	$(BIN)/python -m webapp

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
