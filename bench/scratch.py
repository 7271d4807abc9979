"""Scratch databases for the benchmark: a SQLite file under bench/scratch/, or a throwaway PostgreSQL database."""
import os
import uuid
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

import config

SCRATCH_DIR = Path(__file__).resolve().parent / "scratch"
SECRET_KEY = "bench-secret-key-not-for-production"


def app_config(url):
    """The app's configuration for a benchmark database: production settings, CSRF on."""
    return {"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET_KEY, "TESTING": False}


def _postgres_base(database_url):
    url = database_url or os.environ.get("DATABASE_URL") or ""
    if not url.startswith(("postgres", "postgresql")):
        return None
    if database_url is None:
        return config.database_url()
    return url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url


def create_schema(app):
    """Bring the database to the app's schema the way `flask init-db` does; return notes on gaps.

    The migrations are what a deployment runs, so they build the scratch schema. Should they lag
    behind the models (while the models change), the schema is built from the models instead, and
    the report says so.
    """
    from models import db
    from workflow.schema import upgrade_schema
    notes = []
    with app.app_context():
        upgrade_schema()
        inspector = inspect(db.engine)
        present = set(inspector.get_table_names())
        missing = []
        for name, table in db.metadata.tables.items():
            if name not in present:
                missing.append(name)
                continue
            columns = {c["name"] for c in inspector.get_columns(name)}
            missing += [f"{name}.{c.name}" for c in table.columns if c.name not in columns]
            # Indexes decide the plans the benchmark measures: the models' set, no more, no less.
            # (PostgreSQL lists the indexes behind unique constraints too; those are not the models' indexes.)
            unique = {u["name"] for u in inspector.get_unique_constraints(name)}
            indexes = {i["name"] for i in inspector.get_indexes(name)
                       if not i.get("duplicates_constraint") and i["name"] not in unique}
            wanted = {i.name for i in table.indexes}
            missing += [f"index {i}" for i in sorted(wanted - indexes)]
            missing += [f"index {i} (dropped from the models)" for i in sorted(indexes - wanted)]
        if missing:
            db.drop_all()
            with db.engine.begin() as conn:
                conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
            db.create_all()
            notes.append("schema: the migrations differ from the models (" + ", ".join(sorted(missing)[:8])
                         + (" …" if len(missing) > 8 else "") + "); built from the models instead")
    return notes


@contextmanager
def scratch_database(database_url=None, name="region", keep=False, directory=None, config=None):
    """Yield (url, app, notes) for a fresh, empty database with the app's schema; drop it afterwards.

    PostgreSQL when database_url (or DATABASE_URL) names a server: a new database on it, dropped at
    the end unless keep. Otherwise a SQLite file <directory or bench/scratch>/<name>.sqlite3.
    config: settings over the benchmark's (production) ones.
    """
    from app import create_app
    from models import db
    base = _postgres_base(database_url)
    if base is not None:
        base_url = make_url(base)
        db_name = f"iom_bench_{name}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{db_name}"'))
        url = base_url.set(database=db_name).render_as_string(hide_password=False)
    else:
        directory = Path(directory or SCRATCH_DIR)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{name}.sqlite3"
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    app = create_app({**app_config(url), **(config or {})})
    try:
        notes = create_schema(app)
        yield url, app, notes
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        if base is not None and not keep:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
            admin.dispose()
