# CWA: `make run` starts the product with demo data; `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export DEBUG ?= true
# `make run PORT=8080` serves there; links and the demo's webhook receivers follow the port.
PORT ?= 8000
export PORT
export SITE_URL ?= http://127.0.0.1:$(PORT)

.PHONY: run test test-browser test-all lint format bench install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py start

# The browser tests run in their own pytest invocation after the main suite: Playwright's sync
# API keeps an event loop running, which needs DJANGO_ALLOW_ASYNC_UNSAFE and would break the
# asyncio tests if they shared a process. Without /usr/bin/chromium they are skipped.
test: $(STAMP)
	$(BIN)/python -m pytest -n auto $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-browser

test-browser: $(STAMP)
	DJANGO_ALLOW_ASYNC_UNSAFE=true $(BIN)/python -m pytest -m browser -p no:randomly $(PYTEST_ARGS) tests/browser

test-all: test

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) var staticfiles
