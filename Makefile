# Two commands: `make run` (the whole pipeline on a local broker) and `make test` (the whole suite).
# Both install what is missing first: a virtualenv with the project's packages, and Kafka's jars.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: run test install clean lint typecheck bench topics broker

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	$(VENV)/bin/loyalty-stream broker fetch >/dev/null
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

# The domain core compiled with mypyc where a C compiler is at hand (a no-op when current; plain Python otherwise).
install: $(STAMP)
	$(PY) -m loyalty_stream.tools.compile_domain

run: install
	$(VENV)/bin/loyalty-stream run

test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy --strict loyalty_stream/domain

# Issue 7's benchmark: its own broker, every phase, a table; JSON and PNGs in bench/results/ (docs/benchmarks.md).
# BENCH_ARGS passes options, e.g. `make bench BENCH_ARGS="--events 1000000"` (the full size) or "--phases pipe,processor".
bench: install $(VENV)/.bench-installed
	$(PY) -m bench $(BENCH_ARGS)

$(VENV)/.bench-installed: pyproject.toml
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev,bench]'
	touch $@

clean:
	rm -rf "$${LOYALTY_DATA_DIR:-.data}"
