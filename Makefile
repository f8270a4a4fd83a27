# labelbatch: every command a developer or CI needs, from a fresh clone with Python 3.11 and Node.js.
#   make demo   the main job on the local stack: sample images in, results out
#   make test   every check and test (what CI runs)

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CHECKOV_VENV := .tools/checkov
UV_VENV := .tools/uv
UV := $(UV_VENV)/bin/uv
# The SAM CLI and cfn-lint must never reach for the network or an AWS account here.
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0
export AWS_EC2_METADATA_DISABLED := true

.PHONY: setup chromium demo test lint validate reliability bench clean

setup: $(VENV)/.installed node_modules/.installed $(CHECKOV_VENV)/.installed chromium

$(UV_VENV)/.installed: requirements-uv.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (set PYTHON=...)" >&2; exit 1; }
	$(PYTHON) -m venv $(UV_VENV)
	$(UV_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-uv.txt
	touch $@

$(VENV)/.installed: requirements-dev.txt pyproject.toml $(UV_VENV)/.installed
	$(PYTHON) -m venv $(VENV)
	$(UV) pip install --quiet --python $(BIN)/python -r requirements-dev.txt
	$(UV) pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $@

# checkov pins versions that conflict with aws-sam-cli's, so it lives in its own environment (as pipx would).
$(CHECKOV_VENV)/.installed: requirements-checkov.txt $(UV_VENV)/.installed
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(UV) pip install --quiet --python $(CHECKOV_VENV)/bin/python -r requirements-checkov.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The contact-sheet test opens `labelbatch annotate`'s page in a real browser: Debian's chromium. Without
# root or apt-get it is not installed, and that one test says so when it skips.
chromium:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { apt-get install -y -qq --no-install-recommends chromium >/dev/null || \
	    { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; }; }; } || \
	echo "note: chromium could not be installed (apt-get as root); the contact-sheet browser test will skip" >&2

demo: $(VENV)/.installed
	$(BIN)/labelbatch demo

lint: $(VENV)/.installed
	$(BIN)/ruff check functions src tests bench
	$(BIN)/ruff format --check functions src tests bench
	$(BIN)/mypy functions src bench

# cfn-lint's --append-rules adds the serverless rules to its default ones: one run checks both.
validate: setup
	$(BIN)/sam validate --lint
	$(BIN)/sam build --cached --parallel
	$(BIN)/cfn-lint --append-rules cfn_lint_serverless.rules -t template.yaml
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation --file template.yaml
	node_modules/.bin/asl-validator --json-path statemachine/batch_run.asl.json

# Local-stack tests mostly wait on polls: eight workers (each its own moto) keep two cores busy, and
# work stealing keeps the longest scenarios from ending the run alone (pytest took 939 s with four workers,
# 602 s with eight, on 2 cores).
# The calibration compares timings and a case can land a whole poll off (bursts -20.9% in one of four runs):
# it runs alone, as make test-calibration, not here.
test: lint validate
	$(BIN)/pytest -n 8 --dist worksteal -m "not calibration" --durations=15

# The fault-injection suite at full sizes (1,000 images for throttling); make test runs it reduced.
reliability: $(VENV)/.installed
	LABELBATCH_RELIABILITY=full $(BIN)/pytest -m reliability -n 2

# One tier of tests/, named after its folder: make test-unit, test-template, test-statemachine, test-emulator,
# test-local, test-e2e, test-reliability (reduced), test-bench.
test-%: $(VENV)/.installed
	$(BIN)/pytest -m $*

# Figures, never asserted (the machine is shared and noisy): bench/results.json and docs/PERFORMANCE.md.
bench: $(VENV)/.installed
	$(BIN)/python bench/drain.py
	$(BIN)/python bench/cost_policy.py
	$(BIN)/python bench/cost_model_calibration.py

clean:
	rm -rf $(VENV) .tools node_modules .aws-sam .pytest_cache .mypy_cache .ruff_cache demo-results
