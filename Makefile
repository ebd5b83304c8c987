# Two commands on a fresh machine: `make demo` and `make test`. Each builds .venv by itself.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA   ?= ../shared/data/tiktok
DEMO   := var/demo

.PHONY: venv test demo bench-train bench-knn bench-ingest clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest

# Convert the bundled TikTok set (or generate a synthetic one when it is absent), train MGCN, evaluate it.
demo: $(STAMP)
	@if [ -f "$(DATA)/tiktok.inter" ]; then \
	  $(BIN)/mmrecun convert-mmrec "$(DATA)" $(DEMO)/data; \
	else \
	  echo "TikTok set not found at $(DATA): generating a synthetic catalogue instead"; \
	  $(BIN)/mmrecun make-synthetic $(DEMO)/data; \
	fi
	$(BIN)/mmrecun train --data $(DEMO)/data --model mgcn --out $(DEMO)/models/mgcn
	$(BIN)/mmrecun evaluate --data $(DEMO)/data --model $(DEMO)/models/mgcn --json $(DEMO)/models/mgcn/evaluation.json

bench-train: $(STAMP)
	$(BIN)/python bench/train.py --data $(DATA) --json bench/results/train.json

bench-knn: $(STAMP)
	$(BIN)/python bench/knn.py --json bench/results/knn.json

bench-ingest: $(STAMP)
	$(BIN)/python bench/ingest.py --rows 10000000 --json bench/results/ingest.json

clean:
	rm -rf $(VENV) var bench/results
