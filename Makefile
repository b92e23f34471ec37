# pausewatch — every target sets itself up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROTO_SRC := $(wildcard proto/pausewatch/v1/*.proto)

.PHONY: all test lint typecheck proto proto-check pytest bench bench-quick demo sensitivity sysdeps clean

all: test

# Set-up talks on stderr, so that `make bench` prints nothing but its JSON on stdout.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) >&2
	@echo "setting up $(VENV): pip install -e '.[dev]'" >&2
	@$(PY) -m pip install -q --upgrade pip >&2
	@$(PY) -m pip install -q -e '.[dev]' >&2
	@touch $(STAMP)

# Debian packages the tests need: Go and golang.org/x/mod for the reference-implementation
# interop test, Chromium for the HTML report test, systemd-analyze for the unit checks,
# promtool (Debian package prometheus) for the metrics checks, PostgreSQL's server (initdb,
# pg_ctl: the tests start a throwaway cluster) for the PostgreSQL storage. Installed only when
# missing.
sysdeps:
	@missing=""; \
	command -v go >/dev/null || missing="$$missing golang-go"; \
	test -d /usr/share/gocode/src/golang.org/x/mod || missing="$$missing golang-golang-x-mod-dev"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v systemd-analyze >/dev/null || missing="$$missing systemd"; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	{ command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "missing Debian packages:$$missing (run as root, or install them)" >&2; exit 1; \
	  fi; \
	fi

proto: $(STAMP)
	$(PY) tools/gen_proto.py --out .

proto-check: $(STAMP)
	$(PY) tools/gen_proto.py --check

# ruff (with the core's banned I/O APIs) and the import layers of pyproject's [tool.importlinter]
lint: $(STAMP)
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports --no-cache

typecheck: $(STAMP)
	$(PY) -m mypy

pytest: $(STAMP) sysdeps
	$(PY) -m pytest -q

test: $(STAMP) sysdeps lint typecheck proto-check pytest

bench: $(STAMP)
	@$(PY) -m bench

# Every bench at small sizes (seconds): the figures mean little, but each bench must complete and
# print its JSON. `make test` runs it through tests/bench/test_bench_quick.py, so no bench rots.
bench-quick: $(STAMP)
	@$(PY) -m bench --quick

demo: $(STAMP)
	$(PY) -m sim.demo

# docs/detection.md: the smallest hidden run each signal catches (Monte Carlo over the evaluation's own rules)
sensitivity: $(STAMP)
	$(PY) -m sim.sensitivity

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache demo-out
