# Two commands on a fresh machine: `make demo` and `make test`. Each builds .venv by itself.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA   ?= ../shared/data/tiktok
DEMO   := var/demo

.PHONY: venv test demo airflow bench-train bench-knn bench-ingest clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,airflow]"
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest

# Airflow on SQLite in a project-local AIRFLOW_HOME; runs, models and reports under var/.
AIRFLOW_ENV := AIRFLOW_HOME=$(CURDIR)/var/airflow AIRFLOW__CORE__DAGS_FOLDER=$(CURDIR)/dags AIRFLOW__CORE__LOAD_EXAMPLES=False \
  MMRECUN_WORKSPACE=$(CURDIR)/var/runs MMRECUN_STORE=$(CURDIR)/var/store \
  MMRECUN_DATA=$(CURDIR)/$(DEMO)/data MMRECUN_REQUESTS=$(CURDIR)/$(DEMO)/requests

# The TikTok set (or a synthetic one when it is absent) -> requests -> mmrecun_train -> mmrecun_unlearn (with Gold),
# through Airflow, published to var/store; then the summary table and the report's path.
demo: $(STAMP)
	@if [ -f "$(DATA)/tiktok.inter" ]; then \
	  $(BIN)/mmrecun convert-mmrec "$(DATA)" $(DEMO)/data; \
	else \
	  echo "TikTok set not found at $(DATA): generating a synthetic catalogue instead"; \
	  $(BIN)/mmrecun make-synthetic $(DEMO)/data; \
	fi
	$(BIN)/mmrecun -q make-requests --data $(DEMO)/data --scenario both --fraction 0.05 --seed 0 --out $(DEMO)/requests
	$(AIRFLOW_ENV) $(BIN)/airflow db migrate > /dev/null
	$(AIRFLOW_ENV) $(BIN)/airflow dags test mmrecun_train
	$(AIRFLOW_ENV) $(BIN)/airflow dags test mmrecun_unlearn -c '{"run_gold": true}'
	$(BIN)/mmrecun runs --store var/store

# The Airflow UI with the project's DAGs (same AIRFLOW_HOME as the demo).
airflow: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(AIRFLOW_ENV) $(BIN)/airflow standalone

bench-train: $(STAMP)
	$(BIN)/python bench/train.py --data $(DATA) --json bench/results/train.json

bench-knn: $(STAMP)
	$(BIN)/python bench/knn.py --json bench/results/knn.json

bench-ingest: $(STAMP)
	$(BIN)/python bench/ingest.py --rows 10000000 --json bench/results/ingest.json

clean:
	rm -rf $(VENV) var bench/results
