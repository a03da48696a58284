# vitalstream: `make help` lists the targets. Everything installs itself on first use.
SHELL := bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
VS := $(VENV)/bin/vitalstream
# reinstall when the dependencies or a compiled module (the engine path
# detectors/reading_path.py/.pxd, the minute fold ingest/influx/minutes.py/.pxd, the fetch pass
# ingest/fetch_pass.py/.pxd, the line protocol ingest/influx/line_protocol.py) change
COMPILED := detectors/reading_path.py detectors/reading_path.pxd ingest/influx/minutes.py ingest/influx/minutes.pxd \
	ingest/fetch_pass.py ingest/fetch_pass.pxd ingest/influx/line_protocol.py
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(COMPILED) | cksum | cut -d' ' -f1)

.PHONY: help venv stack-up stack-down stack-status demo test test-unit chaos chaos-long fuzz fuzz-merge ui-check lint typecheck check bench schemas clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml $(COMPILED)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP) ## create .venv and install vitalstream with its dev tools

stack-up: venv ## install (first run builds InfluxDB: 5-30 min, Alertmanager: ~8 min) and start Kafka + InfluxDB + Alertmanager on 127.0.0.1
	$(VS) stack up

stack-down: ## stop the local Kafka + InfluxDB + Alertmanager that stack-up started
	@if [ -x $(VS) ]; then $(VS) stack down; else echo "nothing to stop (no venv)"; fi

stack-status: venv ## state, version, address and PID of each local service
	$(VS) stack status

demo: stack-up ## the main job: simulated devices -> Kafka -> daemon -> InfluxDB, then a summary
	$(VS) demo

test: stack-up ## the whole test suite (unit + integration against the real local stack)
	$(PY) -m pytest

test-unit: venv ## unit tests and doctests only (no services)
	$(PY) -m pytest -m "not integration"

chaos: stack-up ## the chaos suite, short version (also part of `make test`)
	$(PY) -m pytest -m chaos -s

chaos-long: stack-up ## the chaos suite at full scale (200k readings, 20 kills, 2 min outage, 40 s hung InfluxDB); report to bench/results/chaos-long.txt
	VITALSTREAM_CHAOS=long $(PY) -m pytest -m chaos -s -p no:randomly 2>&1 | tee bench/results/chaos-long.txt

FUZZ_SECONDS ?= 600
fuzz: venv ## coverage-guided fuzzing of the per-record path (atheris, FUZZ_SECONDS=600); finds in var/fuzz/
	@mkdir -p var/fuzz/corpus
	$(PY) tests/fuzz/fuzz_records.py -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=var/fuzz/ var/fuzz/corpus tests/fuzz/corpus

fuzz-merge: venv ## add what `make fuzz` found that widens coverage to the committed corpus (tests/fuzz/corpus)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) tests/fuzz/fuzz_records.py -merge=1 tests/fuzz/corpus var/fuzz/corpus

ui-check: stack-up ## the Alertmanager web UI in headless Chromium (installs Debian's chromium if missing)
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	VITALSTREAM_BROWSER_CHECKS=1 $(PY) -m pytest tests/browser -p no:randomly

lint: venv ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv ## mypy, strict on our packages
	$(VENV)/bin/mypy

check: lint typecheck test ## everything CI runs

bench: stack-up ## run the benchmarks under bench/ (figures to stdout, JSON to bench/results/)
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

schemas: venv ## export the wire format's JSON Schema to docs/schemas/
	$(VS) schema --out docs/schemas

clean: stack-down ## stop the stack and remove var/ (data, logs) and the venv
	rm -rf var $(VENV)
