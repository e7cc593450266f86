# The two commands a new machine needs: `make run` (the whole service) and `make test` (the suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format install

# (Re)create the virtualenv and install whenever pyproject.toml changes.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# API + admin on http://127.0.0.1:$${PORT:-8000}, a Celery worker and celery-beat; embedded PostgreSQL
# under .data/ unless DATABASE_URL is set. Ctrl-C stops everything.
run: $(STAMP)
	$(BIN)/python manage.py serve

# The whole suite on PostgreSQL (embedded unless DATABASE_URL is set).
test: $(STAMP)
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
