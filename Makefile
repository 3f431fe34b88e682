# baocao: one command for each thing a developer or CI does.
#
#   make demo        the whole pipeline on the local stack (the README's main command)
#   make test        start the local stack, run every test (PYTEST_ARGS="-k stack -x" ...)
#   make lint        ruff check, ruff format --check, mypy, lint-imports (the layers)
#   make stack-up    start Kafka and ClickHouse (make stack-down stops them, and the demo's
#                    worker and sink)
#   make bench       benchmarks of the hot paths (make bench-pipeline: end to end on the stack;
#                    make bench-gateway: HTTP submissions; make bench-publish: baocao publish
#                    against a bare producer; make bench-freshness: p50/p99;
#                    make bench-schedule: the schedule's tick time and RSS by lock window;
#                    make bench-sink: the sink on a preloaded backlog;
#                    make bench-worker: the worker on a backlog, MONTHS=12 for the full one;
#                    make bench-retention: bytes per report on Kafka's disk, 10 years projected;
#                    make bench-notifier: a national deadline day's e-mails against raw smtplib;
#                    make bench-history: every dashboard route at 1 month and at 10 years)
#   make check-current-clickhouse  the migrations and BI views on a current ClickHouse (chdb),
#                    alone and compared row by row with the local 18.16 (CI runs it)
#   make chaos       faults injected for real (SIGKILL worker/sink, ClickHouse frozen, a broker
#                    lost, poison records) on a stack of its own, then exact views
#                    (CHAOS_ARGS="--communes 400 --freeze-seconds 20": smaller, as in CI),
#                    then one of two ClickHouse replicas lost for 60 s (CHAOS_REPLICAS_ARGS)
#   make clean       stop the stack, remove its data and the caches (make distclean: .venv too)
#
# Every target first installs what it needs: the system packages (scripts/install-system-deps.sh,
# a no-op when present) and .venv with the project in editable mode (redone only when
# pyproject.toml changes).

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# Written once `pip install -e '.[dev]'` succeeded; pyproject.toml newer than it means redo.
INSTALLED := $(VENV)/.installed
SYSTEM_DEPS := scripts/install-system-deps.sh
# ruff does not follow baocao/'s symlinks, so it is given the real folders too (mypy and
# lint-imports follow them).
LINT_PATHS := baocao producers streams sinks schemas tests bench scripts
PYTEST_ARGS ?=
CHAOS_ARGS ?=
# A venv of its own for chdb (a current ClickHouse in process): pinned, without its optional
# dependencies, so the project's .venv stays what pyproject.toml says.
CHDB_VENV := .venv-chdb
CHDB_REQUIREMENTS := scripts/chdb-requirements.txt
CLICKHOUSE_HTTP_URL = http://127.0.0.1:$${BAOCAO_STACK_CLICKHOUSE_HTTP_PORT:-18123}

.DEFAULT_GOAL := help
.PHONY: help demo test lint stack-up stack-down stack-status bench bench-pipeline bench-gateway bench-publish bench-freshness bench-schedule bench-sink bench-worker bench-retention bench-notifier bench-history clean distclean system-deps setup \
	check-current-clickhouse chaos

help:
	@sed -n 's/^#   //p' $(MAKEFILE_LIST)

system-deps:
	bash $(SYSTEM_DEPS)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# System packages first: they include python3.11-venv, which creating .venv needs.
setup: system-deps
	@$(MAKE) --no-print-directory $(INSTALLED)

demo: setup
	$(BIN)/baocao demo

stack-up: setup
	$(BIN)/baocao stack up

stack-down:
	@if [ -x $(BIN)/baocao ]; then $(BIN)/baocao stack down; else echo "no .venv: nothing to stop"; fi

stack-status: setup
	$(BIN)/baocao stack status

test: stack-up
	$(BIN)/pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy --explicit-package-bases baocao tests bench
	$(BIN)/lint-imports

$(CHDB_VENV)/.installed: $(CHDB_REQUIREMENTS)
	rm -rf $(CHDB_VENV)
	$(PYTHON) -m venv $(CHDB_VENV)
	$(CHDB_VENV)/bin/python -m pip install --quiet --no-deps --only-binary=:all: \
		-r $(CHDB_REQUIREMENTS)
	touch $@

check-current-clickhouse: stack-up $(CHDB_VENV)/.installed
	$(CHDB_VENV)/bin/python scripts/check_current_clickhouse.py
	$(CHDB_VENV)/bin/python scripts/check_current_clickhouse.py --server "$(CLICKHOUSE_HTTP_URL)"

# Its own stack (.baocao-chaos, three Kafka nodes, ports 25000..25123 by default: see
# `PYTHONPATH=tests .venv/bin/python -m chaos.run --help`), stopped at the end.
# Then the replica fault on a stack of two ClickHouse replicas (.baocao-chaos-replicas, ports
# 26000..26133): one replica SIGKILLed for 60 s while a chunk streams in.
chaos: setup
	PYTHONPATH=tests $(BIN)/python -m chaos.run $(CHAOS_ARGS)
	PYTHONPATH=tests $(BIN)/python -m chaos.run --clickhouse-replicas 2 --worker-kills 0 \
		--sink-kills 0 --home .baocao-chaos-replicas --port-base 26000 $(CHAOS_REPLICAS_ARGS)

bench: setup
	$(BIN)/python -m bench

bench-pipeline: stack-up
	$(BIN)/python -m bench.pipeline

bench-freshness: stack-up
	$(BIN)/python -m bench.freshness

bench-gateway: stack-up
	$(BIN)/python -m bench.gateway --workers 2

bench-publish: stack-up
	$(BIN)/python -m bench.publish

bench-schedule: setup
	$(BIN)/python -m bench.schedule

bench-sink: stack-up
	$(BIN)/python -m bench.sink

MONTHS ?= 3
bench-worker: stack-up
	$(BIN)/python -m bench.worker --months $(MONTHS)

bench-retention: stack-up
	$(BIN)/python -m bench.retention

bench-notifier: stack-up
	$(BIN)/python -m bench.notifier

bench-history: stack-up
	$(BIN)/python -m bench.history

clean: stack-down
	@if [ -d .baocao-chaos ] && [ -x $(BIN)/baocao ]; then \
		BAOCAO_STACK_HOME=.baocao-chaos $(BIN)/baocao stack down; fi
	rm -rf .baocao .baocao-chaos ci-artifacts build .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) $(CHDB_VENV) *.egg-info
