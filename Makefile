# Two entry points (see README): `make scenarios` runs the scenario suite,
# `make test` runs lint plus every test. Both build the venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: scenarios test lint format bench flake-check leak-check gate-power fuzz mutation-check clean
.PHONY: new-scenario report-screenshot

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

scenarios: $(STAMP)
	$(BIN)/pytest scenarios/ -n auto

# The scenario suite runs twice: in-process (inside the pytest run) and through our
# CLI as any coordinator would be driven, which is the path real runs take (posix_spawn).
OURS_CLI := $(abspath $(BIN))/python -m coordinator run {hooks_file} --hook {hook} \
	--state-dir {state_dir} --invocation {invocation} --worktree {worktree}

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -n auto
	$(BIN)/pytest scenarios/ -n auto -q --coordinator-cmd "$(OURS_CLI)"

# A commented skeleton that validates and runs: make new-scenario NAME=topic/name
new-scenario: $(STAMP)
	@test -n "$(NAME)" || { echo 'usage: make new-scenario NAME=topic/name' >&2; exit 2; }
	$(BIN)/python -m harness.new $(NAME)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Slow, not in CI. The bench extra (ninja, go-task) goes into .venv; python -m bench
# builds .bench-venv, the regular install that ours runs from, when its sources change.
$(VENV)/.bench-extra: pyproject.toml $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $@

bench: $(VENV)/.bench-extra
	$(BIN)/python -m bench --out docs/benchmarks.md $(BENCH_ARGS)

flake-check: $(STAMP)
	scripts/flake-check

leak-check: $(STAMP)
	$(BIN)/python scripts/leak-check

# Slow, not in CI: the --scenario-report page in headless Chromium, as a PNG to look at.
report-screenshot: $(STAMP)
	scripts/report-screenshot

gate-power: $(STAMP)
	$(BIN)/python scripts/gate-power

fuzz: $(STAMP)
	$(BIN)/python -m harness fuzz $(FUZZ_ARGS)

# Slow (tens of minutes), not in CI: mutmut on the decision core, judged by
# the scenario suite only. See docs/mutation.md.
mutation-check: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[mutation]'
	scripts/mutation-check --no-install $(MUTATION_ARGS)

clean:
	rm -rf $(VENV) .bench-venv .bench-work .coordinator-state build *.egg-info
