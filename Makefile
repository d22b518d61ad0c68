# Safehold — the two commands are `make run` and `make test`; `make help` lists the rest.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help run test lint format bench clean

help: ## List the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# make run prints e-mails (e.g. the privacy center's sign-in code) to the terminal instead of
# sending them; `make run SAFEHOLD_MAIL_BACKEND=smtp` with SAFEHOLD_SMTP_* sends them.
SAFEHOLD_MAIL_BACKEND ?= console
run: $(STAMP) ## Start Safehold on 127.0.0.1:8000 (embedded SQLite under ./var, default policy)
	SAFEHOLD_MAIL_BACKEND=$(SAFEHOLD_MAIL_BACKEND) $(BIN)/safehold serve

test: $(STAMP) ## Run the whole test suite (PostgreSQL tier when SAFEHOLD_TEST_POSTGRES_URL is set)
	$(BIN)/python -m pytest

lint: $(STAMP) ## ruff (lint + format check) and mypy strict on src/
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP) ## Apply ruff's formatter and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP) ## Run the benchmarks under bench/ and print their figures
	@for b in bench/[a-z]*.py; do m=$$(basename $$b .py); echo "== bench/$$m"; $(BIN)/python -m bench.$$m || exit 1; done

.PHONY: fuzz
fuzz: $(STAMP) ## Fuzz the API longer (schemathesis; SAFEHOLD_FUZZ_EXAMPLES, default 150 per operation)
	SAFEHOLD_FUZZ_EXAMPLES=$${SAFEHOLD_FUZZ_EXAMPLES:-150} $(BIN)/python -m pytest -m fuzz tests/fuzz

clean: ## Remove the virtualenv and local data (./var)
	rm -rf $(VENV) var
