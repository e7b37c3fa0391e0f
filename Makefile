# RLS Referrals — two commands: `make run` (the platform on embedded defaults) and `make test` (everything).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run run-secure stop stop-secure test lint typecheck schemas schemas-check system-deps deploy-tools unit integration e2e bench clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements.lock -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

## run: start Kafka (fetched once into ~/.cache/rls), the five services, the demo network; Ctrl-C stops all
run: install
	$(BIN)/rls run

## stop: stop a platform started by `make run` from another terminal
stop: install
	$(BIN)/rls stop

SECURE_VAR ?= var/secure

## run-secure: the production shape: SASL_SSL (SCRAM-SHA-512) with TLS from a local CA, ACLs from deploy/kafka/acls.toml,
## a principal per service; its data under var/secure (a broker keeps the shape it was created with)
run-secure: install
	RLS_KAFKA_SECURITY=sasl_ssl RLS_VAR_DIR=$(SECURE_VAR) $(BIN)/rls run

## stop-secure: stop a platform started by `make run-secure`
stop-secure: install
	RLS_VAR_DIR=$(SECURE_VAR) $(BIN)/rls stop

lint: install
	$(BIN)/ruff check services tests bench
	$(BIN)/ruff format --check services tests bench

typecheck: install
	$(BIN)/mypy

schemas: install
	$(BIN)/rls schemas export

schemas-check: install
	$(BIN)/rls schemas check

## system-deps: Debian's PostgreSQL server (throw-away test clusters), Chromium (the audit report and console browser
## tests) and npm (the console's sign-in test runs an OpenID provider from npm), when missing
system-deps:
	@deploy/debian-packages '/usr/lib/postgresql/*/bin/pg_ctl=postgresql' 'chromium=chromium' 'npm=npm'

RLS_CACHE_DIR ?= $(HOME)/.cache/rls
KUSTOMIZE_VERSION := v5.7.1
KUSTOMIZE := $(RLS_CACHE_DIR)/tools/kustomize-$(KUSTOMIZE_VERSION)/kustomize

## deploy-tools: kustomize (pinned, built with Go into the cache outside git) for the offline checks of deploy/
deploy-tools: $(KUSTOMIZE)

$(KUSTOMIZE):
	GOBIN=$(dir $@) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)

## test: quality gate (ruff, mypy, schemas) then unit, integration and end-to-end tests on real Kafka and PostgreSQL,
## and the offline checks of deploy/ (YAML lint, Compose and Kubernetes schemas, kustomize build, hadolint)
test: system-deps lint typecheck schemas-check deploy-tools
	$(BIN)/pytest -p no:cacheprovider tests

## unit: every test that needs no broker, database server or platform process (in-memory stores and fakes)
unit: install
	$(BIN)/pytest -p no:cacheprovider -m "not integration" tests

## integration: the tests on a real Kafka broker and PostgreSQL server (end-to-end included)
integration: install
	$(BIN)/pytest -p no:cacheprovider -m integration tests

e2e: install
	$(BIN)/pytest tests/e2e

## bench: print the benchmarks' figures (referral flow, consent decisions, audit replay, standards board, read models at scale, the notifications board)
bench: install
	PYTHONPATH=. $(BIN)/python bench/referral_flow.py --secure
	PYTHONPATH=. $(BIN)/python bench/consent_decisions.py
	PYTHONPATH=. $(BIN)/python bench/audit_replay.py
	PYTHONPATH=. $(BIN)/python bench/standards_board.py
	PYTHONPATH=. $(BIN)/python bench/scale.py --referrals 10000 100000
	PYTHONPATH=. $(BIN)/python bench/notifications_board.py --deliveries 10000 100000

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache
