# Two commands do all set-up on a fresh machine with only Python 3.11+: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench bench-full bench-capacity screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The end-of-turn model's weights, from the pinned pipecat-ai wheel (checksum verified; a no-op
# once they are in ~/.cache/aybiza or $$AYBIZA_TURN_MODEL).
TURN_MODEL := $(BIN)/python -m aybiza.providers.turn.weights

# The model is off by default (agents turn it on), so a failed fetch does not stop `make run`.
run: $(STAMP)
	-$(TURN_MODEL)
	$(BIN)/aybiza serve --host 127.0.0.1 --port 8080

# checkov (the deployment tests' scanner) pins many packages of its own: it gets its own venv.
CHECKOV_VERSION := 3.3.30
CHECKOV := $(VENV)/tools/checkov/bin/checkov

$(CHECKOV):
	$(PYTHON) -m venv $(VENV)/tools/checkov
	$(VENV)/tools/checkov/bin/pip install --quiet --upgrade pip
	$(VENV)/tools/checkov/bin/pip install --quiet 'checkov==$(CHECKOV_VERSION)'

test: $(STAMP) $(CHECKOV)
	$(TURN_MODEL)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest -n 2 -q --durations=25

BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

# A short side-by-side run (about 10 minutes: the default engines, callers staggered and in
# step, the OpenAI-compatible engine, SIP, Pipecat) that prints the headline ratio.
bench: $(BENCH_STAMP)
	PYTHONPATH=. $(BIN)/python -m bench.run --short
	$(BIN)/pytest -q -m sip_load tests/telephony/sip/test_sipp_load.py

# The full sweep that writes docs/benchmarks.md and docs/benchmarks.png.
bench-full: $(BENCH_STAMP)
	PYTHONPATH=. $(BIN)/python -m bench.run --write

# The capacity search (docs/benchmarks.md, "Capacity search"): one worker on one core, two
# workers on two, interleaved, then the ratio; and the same path under Poisson arrivals.
bench-capacity: $(BENCH_STAMP)
	PYTHONPATH=. $(BIN)/python -m bench.run --capacity --setups aybiza,aybiza-2w
	PYTHONPATH=. $(BIN)/python -m bench.run --capacity --setups aybiza-poisson

# docs/screenshots/*.png of each dashboard page (Debian's Chromium through Playwright).
screenshots: $(STAMP)
	PYTHONPATH=. $(BIN)/python -m tests.dashboard.screenshots docs/screenshots

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
