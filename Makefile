# Two commands on a fresh machine: `make demo` and `make test`. Each builds the virtual environment by itself.
# It lives outside the project tree (third-party sources, torch's included, stay out of scans of the project's
# own files), one per checkout, and is linked as .venv so that `.venv/bin/python ...` works as documented.
PYTHON    ?= $(shell command -v python3.11 || command -v python3)
VENV_HOME ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/mmrecun/venvs
VENV_DIR  := $(VENV_HOME)/$(notdir $(CURDIR))-$(shell printf '%s' '$(CURDIR)' | sha256sum | cut -c1-12)
VENV      := .venv
BIN       := $(VENV)/bin
STAMP     := $(VENV_DIR)/.installed
DATA   ?= ../shared/data/tiktok
DEMO   := var/demo
SHELL  := /bin/bash
.SHELLFLAGS := -o pipefail -c

.PHONY: venv test test-cluster lint demo airflow bench-train bench-vs-mmrec bench-knn bench-ingest bench-check clean

venv: $(STAMP)
	@[ -L $(VENV) ] || ln -sfn $(VENV_DIR) $(VENV)

$(STAMP): pyproject.toml
	@if [ -d $(VENV) ] && [ ! -L $(VENV) ]; then echo "replacing the in-tree $(VENV)/ by a link to $(VENV_DIR)"; rm -rf $(VENV); fi
	$(PYTHON) -m venv $(VENV_DIR)
	ln -sfn $(VENV_DIR) $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,airflow]"
	touch $(STAMP)

test: venv
	$(BIN)/python -m pytest

# A real cluster on this machine, on loopback only (tests/cluster/): PostgreSQL and Redis (Debian packages, installed
# when missing), the S3 test server, Airflow with the CeleryExecutor, a worker on queue default and one on queue gpu
# sharing no folder; mmrecun_train then mmrecun_unlearn through the REST API, then the gpu worker killed mid-unlearn.
# Minutes; not part of `make test`. MMRECUN_CLUSTER_WORKSPACE=local|s3 (run directories), MMRECUN_CLUSTER_DATA=tiktok.
CLUSTER_STAMP := $(VENV_DIR)/.installed-cluster
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

$(CLUSTER_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[test,airflow,cluster]"
	touch $@

test-cluster: venv $(CLUSTER_STAMP)
	@if ! command -v redis-server > /dev/null || ! ls /usr/lib/postgresql/*/bin/initdb > /dev/null 2>&1; then \
	  echo "installing PostgreSQL and Redis (Debian packages)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql redis-server > /dev/null; \
	fi
	MMRECUN_CLUSTER_TEST=1 PYTHONPATH=$(CURDIR) $(BIN)/python -m pytest tests/cluster -s -p no:cacheprovider

# ruff's lint rules and formatting, as pyproject.toml configures them (ruff is a test dependency).
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Airflow on SQLite in a project-local AIRFLOW_HOME; runs, models and reports under var/.
AIRFLOW_ENV := AIRFLOW_HOME=$(CURDIR)/var/airflow AIRFLOW__CORE__DAGS_FOLDER=$(CURDIR)/dags AIRFLOW__CORE__LOAD_EXAMPLES=False \
  MMRECUN_WORKSPACE=$(CURDIR)/var/runs MMRECUN_STORE=$(CURDIR)/var/store \
  MMRECUN_DATA=$(CURDIR)/$(DEMO)/data MMRECUN_REQUESTS=$(CURDIR)/$(DEMO)/requests

# Airflow logs every task-state call; the terminal shows the task boundaries, mmrecun's own progress (epochs,
# validation, publication) and anything that looks like an error. Each DAG's whole log is kept in var/demo/<dag>.log;
# when the DAG run fails, its last 60 lines (the traceback) are printed and the demo stops.
DEMO_LOG = 2>&1 | tee $(DEMO)/$(1).log | { grep --line-buffered -E '\[DAG TEST\] (starting|end task)|mmrecun\.|DagRun Finished|[Ee]rror|Traceback|FAILED|[Ff]ailed' || true; } \
  || { echo "$(1) failed; the last lines of its whole log, $(DEMO)/$(1).log:"; tail -n 60 $(DEMO)/$(1).log; exit 1; }

# The TikTok set (or a synthetic one when it is absent) -> requests -> mmrecun_train -> mmrecun_unlearn (with Gold),
# through Airflow, published to var/store (emptied first); then the summary table, the report's path, and a scan of
# every file the pipeline wrote for an erased user's id or data or a revoked item's content (tests/forgotten.py).
demo: venv
	@if [ -d var/store ] || [ -d var/runs ]; then echo "starting from an empty demo store: removing var/store and var/runs"; fi
	rm -rf var/store var/runs
	@if [ -f "$(DATA)/tiktok.inter" ]; then \
	  $(BIN)/mmrecun convert-mmrec "$(DATA)" $(DEMO)/data; \
	else \
	  echo "TikTok set not found at $(DATA): generating a synthetic catalogue instead"; \
	  $(BIN)/mmrecun make-synthetic $(DEMO)/data; \
	fi
	$(BIN)/mmrecun -q make-requests --data $(DEMO)/data --scenario both --fraction 0.05 --seed 0 --out $(DEMO)/requests
	$(AIRFLOW_ENV) $(BIN)/airflow db migrate > /dev/null
	@echo "airflow dags test mmrecun_train (whole log: $(DEMO)/mmrecun_train.log)"
	@$(AIRFLOW_ENV) $(BIN)/airflow dags test mmrecun_train $(call DEMO_LOG,mmrecun_train)
	@echo "airflow dags test mmrecun_unlearn -c '{\"run_gold\": true}' (whole log: $(DEMO)/mmrecun_unlearn.log)"
	@$(AIRFLOW_ENV) $(BIN)/airflow dags test mmrecun_unlearn -c '{"run_gold": true}' $(call DEMO_LOG,mmrecun_unlearn)
	$(BIN)/mmrecun runs --store var/store
	$(BIN)/python -m tests.forgotten --data $(DEMO)/data --requests $(DEMO)/requests var/store/models var/store/reports var/runs

# The Airflow UI with the project's DAGs (same AIRFLOW_HOME as the demo).
airflow: venv
	$(AIRFLOW_ENV) $(BIN)/airflow db migrate > /dev/null
	$(AIRFLOW_ENV) $(BIN)/airflow pools set mmrecun_registry 1 "runs that touch one model registry queue here" > /dev/null
	$(AIRFLOW_ENV) $(BIN)/airflow pools set mmrecun_gpu 1 "training and unlearning: one slot per GPU worker" > /dev/null
	PATH=$(CURDIR)/$(BIN):$$PATH $(AIRFLOW_ENV) $(BIN)/airflow standalone

bench-train: venv
	$(BIN)/python bench/train.py --data $(DATA) --json bench/results/train.json

# mmrecun's MGCN beside MMRec's own, in one run; MMREC is a checkout of https://github.com/enoche/MMRec.
bench-vs-mmrec: venv
	@[ -n "$(MMREC)" ] || { echo "set MMREC to an MMRec checkout outside this repository: git clone https://github.com/enoche/MMRec ../MMRec && make bench-vs-mmrec MMREC=../MMRec"; exit 2; }
	$(BIN)/python bench/vs_mmrec.py --mmrec $(MMREC) --data $(DATA) --epochs 1000 --rounds 2 --json bench/results/vs_mmrec.json

bench-knn: venv
	$(BIN)/python bench/knn.py --json bench/results/knn.json

bench-ingest: venv
	$(BIN)/python bench/ingest.py --rows 10000000 --json bench/results/ingest.json

# Every benchmark command of BENCHMARKS.md on a small slice of $(DATA) (synthetic data when absent), tiny settings,
# results in a temporary folder; bench/vs_mmrec.py only with MMREC set. Not part of `make test`.
bench-check: venv
	$(BIN)/python bench/check.py --data $(DATA) $(if $(MMREC),--mmrec $(MMREC))

clean:
	rm -rf $(VENV_DIR) $(VENV) var bench/results
