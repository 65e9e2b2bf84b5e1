# Two entry points (see README): `make scenarios` runs the scenario suite,
# `make test` runs lint plus every test. Both build the venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: scenarios test lint format bench flake-check leak-check gate-power mutation-check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

scenarios: $(STAMP)
	$(BIN)/pytest scenarios/ -n auto

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -n auto

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench --out docs/benchmarks.md

flake-check: $(STAMP)
	scripts/flake-check

leak-check: $(STAMP)
	$(BIN)/python scripts/leak-check

gate-power: $(STAMP)
	$(BIN)/python scripts/gate-power

# Slow (tens of minutes), not in CI: mutmut on the decision core, judged by
# the scenario suite only. See docs/mutation.md.
mutation-check: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[mutation]'
	scripts/mutation-check --no-install $(MUTATION_ARGS)

clean:
	rm -rf $(VENV) .coordinator-state build *.egg-info
