"""Schema management: migrations when present, else create the tables from the models."""
import importlib.util
from pathlib import Path

from flask_babel import gettext as _
from sqlalchemy import inspect, text

from models import db
from workflow.errors import Conflict

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def upgrade_schema():
    """Bring the database to the latest schema."""
    if not (MIGRATIONS / "env.py").exists():
        db.create_all()
        return
    from flask_migrate import stamp, upgrade
    if _created_without_migrations():
        # A database made by create_all before the migrations existed: adopt it when it
        # matches the models exactly, so the next revisions apply on top of it.
        _require_models_schema()
        _install_audit_guard()
        stamp(directory=str(MIGRATIONS), revision="head")
    upgrade(directory=str(MIGRATIONS))
    refresh_statistics()


def refresh_statistics():
    """SQLite: gather the query planner's statistics (ANALYZE); PostgreSQL's autovacuum keeps its own.

    Without them SQLite's planner guesses, and at the scale of a region it guesses some plans badly
    (see bench/). Run by `flask init-db`; the app keeps them fresh with PRAGMA optimize (app.py).
    """
    if db.engine.dialect.name != "sqlite":
        return
    with db.engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE")
        connection.commit()


def _created_without_migrations():
    tables = set(inspect(db.engine).get_table_names())
    return "alembic_version" not in tables and bool(tables & set(db.metadata.tables))


def _require_models_schema():
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    with db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}),
                                db.metadata)
    if diff:
        raise Conflict(_("база данных создана без миграций и отличается от моделей; сделайте резервную "
                         "копию (flask --app app backup) и создайте базу заново"))


def _install_audit_guard():
    """Add the initial migration's append-only triggers of route_events to an adopted database."""
    spec = importlib.util.spec_from_file_location("_initial_migration", MIGRATIONS / "versions" / "0001_initial.py")
    initial = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(initial)
    statements = {"postgresql": initial.POSTGRESQL_GUARD, "sqlite": initial.SQLITE_GUARD}
    with db.engine.begin() as connection:
        for statement in statements.get(connection.dialect.name, []):
            connection.execute(text(statement))
