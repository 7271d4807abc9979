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
# The browser tests (tests/e2e) run when Chromium is installed (CHROMIUM_PATH, default /usr/bin/chromium).
CHROMIUM_PATH ?= /usr/bin/chromium
export CHROMIUM_PATH
BROWSER_NOTE = @test -x "$(CHROMIUM_PATH)" || echo "NOTE: $(CHROMIUM_PATH) not found: the browser tests (tests/e2e) are SKIPPED. Install Debian's chromium package (apt-get install chromium) to run them."

test: venv
	$(BROWSER_NOTE)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS)
	$(BROWSER_NOTE)

test-postgres: venv
	$(BROWSER_NOTE)
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
