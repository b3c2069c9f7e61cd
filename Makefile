# gridmap — the README's commands. Every target is idempotent and installs what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
WEB := maps/web
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup system demo test test-unit bench bench-city loadtest lint serve clean

setup: system $(VENV)/.installed $(WEB)/node_modules/.installed

# System packages (apt, when root on Debian): PostGIS 3 for the installed PostgreSQL, npm for web assets,
# Chromium and CJK fonts for the browser tests and their screenshots, GDAL's ogrinfo as a real OGC API client.
system:
	@pgver=$$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1); \
	need=""; \
	if [ -z "$$pgver" ]; then need="postgresql postgresql-contrib"; pgver=15; fi; \
	[ -f /usr/share/postgresql/$$pgver/extension/postgis.control ] || need="$$need postgresql-$$pgver-postgis-3"; \
	command -v npm >/dev/null || need="$$need npm"; \
	command -v chromium >/dev/null || need="$$need chromium"; \
	command -v ogrinfo >/dev/null || need="$$need gdal-bin"; \
	fc-list :lang=zh 2>/dev/null | grep -q . || need="$$need fonts-noto-cjk"; \
	if [ -n "$$need" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing system packages:$$need"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$need >/dev/null; \
	  else \
	    echo "missing system packages:$$need — install them (as root: apt-get install$$need)" >&2; exit 1; \
	  fi; \
	fi

$(VENV)/.installed: pyproject.toml
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

$(WEB)/node_modules/.installed: $(WEB)/package.json $(WEB)/package-lock.json
	cd $(WEB) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

demo: setup
	$(BIN)/gridmap demo --host $(HOST) --port $(PORT)

serve: setup
	$(BIN)/gridmap serve --host $(HOST) --port $(PORT)

# Every kind of test: tests/unit (no database), tests/db, tests/api, tests/browser (Chromium), tests/external (GDAL).
test: setup
	$(BIN)/mypy
	$(BIN)/python -m pytest

# The fast ones: pure functions, no database, no browser (includes the package-dependency contract).
test-unit: setup
	$(BIN)/python -m pytest tests/unit

bench: setup
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq wrk >/dev/null; } || \
	  echo "wrk is missing (apt-get install wrk): the /api/locate load benchmark will be skipped"
	$(BIN)/python -m bench

# A whole city at 50 k and 200 k buildings, stage by stage (import, units, coverage, /api/coverage, tiles, locate,
# assign), with the growth between the sizes. About 15 minutes on 2 cores.
bench-city: setup
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq wrk >/dev/null; } || \
	  { echo "wrk is missing (apt-get install wrk)" >&2; exit 1; }
	$(BIN)/python -m bench.bench_city

# 5,000 incident reports with retries and Idempotency-Keys while the server is SIGKILLed and restarted;
# fails when an acknowledged report is lost or any report is stored twice.
loadtest: setup
	$(BIN)/python -m bench.loadtest

# Style, the one-way package dependencies (import-linter contracts in pyproject.toml) and types (mypy on api/ and gis/).
lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

clean:
	-$(BIN)/gridmap db stop
	rm -rf $(VENV) $(WEB)/node_modules
