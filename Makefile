# Two commands do all set-up on a fresh machine with only Python 3.11+: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench bench-full clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/aybiza serve --host 127.0.0.1 --port 8080

test: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest -n 2 -q

BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

# A short side-by-side run (under 5 minutes) that prints the headline ratio.
bench: $(BENCH_STAMP)
	PYTHONPATH=. $(BIN)/python -m bench.run --short

# The full sweep that writes docs/benchmarks.md and docs/benchmarks.png.
bench-full: $(BENCH_STAMP)
	PYTHONPATH=. $(BIN)/python -m bench.run --write

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
