#!/usr/bin/env bash
# Regenerate the single initial migration (migrations/versions/0001_initial.py) from the current
# models, against a scratch SQLite database, then prove it: upgrade the scratch database to head
# and check that no differences remain. Deterministic: a fixed revision id and no creation date,
# so unchanged models give a byte-identical file.
set -euo pipefail
cd "$(dirname "$0")/.."

FLASK="${VENV:-.venv}/bin/flask"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

export SECRET_KEY="regenerate-migration"
export DATABASE_URL="sqlite:///${scratch}/scratch.sqlite3"
export IOM_INSTANCE_DIR="${scratch}/instance"
unset IOM_DEMO

rm -f migrations/versions/0001_initial.py
rm -rf migrations/versions/__pycache__
"$FLASK" --app app db revision --autogenerate --rev-id 0001_initial -m "Initial schema"
"$FLASK" --app app db upgrade
"$FLASK" --app app db check
"$FLASK" --app app db downgrade base
echo "migrations/versions/0001_initial.py regenerated and checked (upgrade, compare, downgrade)."
