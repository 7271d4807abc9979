# The README's two commands: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TEST_WORKERS ?= 2
export FLASK_APP := app

.PHONY: translations run test test-postgres bench venv clean migration loadtest

venv: $(VENV)/.installed translations

# The English catalog of the interface, compiled from translations/en/LC_MESSAGES/messages.po.
translations: $(VENV)/.installed
	$(BIN)/python scripts/i18n.py compile

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

run: venv
	IOM_DEMO=1 $(BIN)/flask --app app init-db
	IOM_DEMO=1 $(BIN)/flask --app app seed-demo --if-empty
	IOM_DEMO=1 $(BIN)/flask --app app run --host 127.0.0.1 --port 5000

# The suite runs in TEST_WORKERS processes (pytest-xdist); each has its own scratch databases.
test: venv
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS)

test-postgres: venv
	DATABASE_URL=$${DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test} $(BIN)/python -m pytest -q -n $(TEST_WORKERS)

bench: venv
	$(BIN)/python -m bench.run

# Regenerate the single initial migration from the current models (scratch SQLite, fixed id 0001_initial).
migration: venv
	VENV=$(VENV) ./scripts/regenerate_migration.sh

# A bounded load test on loopback: gunicorn + a scratch PostgreSQL database, 50 users for 60 s.
loadtest: venv
	$(BIN)/python -m loadtest.run

clean:
	rm -rf $(VENV) instance/*.sqlite3*
