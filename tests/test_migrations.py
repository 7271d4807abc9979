"""Migrations: an empty database upgrades to head, equals the models, and downgrades to nothing;
the audit trail is append-only in the migrated database itself."""
from types import SimpleNamespace

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import DBAPIError

from _databases import app_config, scratch_database
from app import create_app
from conftest import District
from models import Route, RouteEvent, User, db
from workflow import service
from workflow.schema import MIGRATIONS


@pytest.fixture
def empty_app(database_url, tmp_path):
    """An app bound to a new, empty database (no tables at all)."""
    with scratch_database(database_url, tmp_path, "mig") as url:
        app = create_app(app_config(url))
        with app.app_context():
            yield app
            db.session.remove()
            db.engine.dispose()


def _triggers(connection):
    if connection.dialect.name == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
    else:
        sql = ("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal "
               "UNION ALL SELECT proname FROM pg_proc WHERE proname = 'route_events_append_only'")
    return sorted(connection.execute(text(sql)).scalars())


def test_upgrade_to_head_equals_models_and_downgrade_leaves_nothing(empty_app):
    assert inspect(db.engine).get_table_names() == []
    upgrade(directory=str(MIGRATIONS), revision="head")

    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert context.get_current_revision() == "0001_initial"
        diff = compare_metadata(context, db.metadata)
        assert diff == [], f"the migrations differ from the models; run make migration: {diff}"
        tables = set(inspect(connection).get_table_names())
        assert tables == set(db.metadata.tables) | {"alembic_version"}
        assert _triggers(connection)

    downgrade(directory=str(MIGRATIONS), revision="base")
    with db.engine.connect() as connection:
        assert set(inspect(connection).get_table_names()) <= {"alembic_version"}
        assert _triggers(connection) == []
        assert MigrationContext.configure(connection).get_current_revision() is None


def test_init_db_upgrades_an_empty_database_and_is_idempotent(empty_app):
    runner = empty_app.test_cli_runner()
    for _ in range(2):
        result = runner.invoke(args=["init-db"])
        assert result.exit_code == 0, result.output
        assert "База данных готова" in result.output
    with db.engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == "0001_initial"
        assert set(db.metadata.tables) <= set(inspect(connection).get_table_names())


@pytest.fixture(scope="module")
def migrated(database_url, tmp_path_factory):
    """The test district on a migrated schema (one database for the module), with a route that has
    audit rows; each test leaves it as it found it or only appends."""
    with scratch_database(database_url, tmp_path_factory.mktemp("guard"), "guard") as url:
        app = create_app(app_config(url))
        with app.app_context():
            upgrade(directory=str(MIGRATIONS), revision="head")
            district = District()
            route = district.route(state="curator_approved")
            ids = SimpleNamespace(route=route.id, teacher=district.teacher.id)
            db.session.remove()
            yield ids
            db.session.remove()
            db.engine.dispose()


def _audit_rows(route_id):
    return db.session.execute(
        select(RouteEvent.id, RouteEvent.event, RouteEvent.comment, RouteEvent.to_state)
        .where(RouteEvent.route_id == route_id).order_by(RouteEvent.id)).all()


@pytest.mark.parametrize("statement", [
    "UPDATE route_events SET comment = 'подмена'",
    "UPDATE route_events SET to_state = 'closed' WHERE id = (SELECT min(id) FROM route_events)",
    "DELETE FROM route_events",
    "DELETE FROM route_events WHERE id = (SELECT max(id) FROM route_events)",
])
def test_database_rejects_update_and_delete_of_audit_rows(migrated, statement):
    before = _audit_rows(migrated.route)
    assert len(before) >= 2
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(text(statement))
    db.session.rollback()
    assert _audit_rows(migrated.route) == before
    db.session.remove()


def test_database_rejects_truncate_of_audit_rows_on_postgresql(migrated):
    before = _audit_rows(migrated.route)
    if db.engine.dialect.name == "sqlite":
        # SQLite has no TRUNCATE; its only bulk removal is DELETE, which the trigger rejects.
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(text("DELETE FROM route_events WHERE 1 = 1"))
    else:
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(text("TRUNCATE route_events CASCADE"))
    db.session.rollback()
    assert _audit_rows(migrated.route) == before
    db.session.remove()


def test_orm_rejects_update_and_delete_of_audit_rows(migrated):
    before = _audit_rows(migrated.route)
    event = db.session.get(RouteEvent, before[0].id)
    event.comment = "подмена"
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.commit()
    db.session.rollback()
    db.session.delete(db.session.get(RouteEvent, before[0].id))
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.commit()
    db.session.rollback()
    assert _audit_rows(migrated.route) == before
    db.session.remove()


def test_workflow_keeps_appending_on_the_guarded_table(migrated):
    before = db.session.execute(select(func.count(RouteEvent.id))).scalar_one()
    route = db.session.get(Route, migrated.route)
    teacher = db.session.get(User, migrated.teacher)
    service.apply_transition(route.id, "start", teacher, version=route.version)
    db.session.expire_all()
    assert db.session.get(Route, migrated.route).state == "in_progress"
    assert [row.event for row in _audit_rows(migrated.route)] == ["request_review", "approve", "start"]
    assert db.session.execute(select(func.count(RouteEvent.id))).scalar_one() == before + 1
    db.session.remove()


def test_init_db_adopts_a_database_created_before_the_migrations(empty_app):
    db.create_all()
    result = empty_app.test_cli_runner().invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    with db.engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == "0001_initial"
        assert _triggers(connection)  # the append-only guard is added to the adopted database


def test_init_db_refuses_to_adopt_a_database_that_differs_from_the_models(empty_app):
    db.create_all()
    with db.engine.begin() as connection:
        connection.execute(text("DROP INDEX ix_routes_school_state"))
    db.session.remove()
    result = empty_app.test_cli_runner().invoke(args=["init-db"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Ошибка: база данных создана без миграций и отличается от моделей; сделайте резервную копию "
        "(flask --app app backup) и создайте базу заново"]
    with db.engine.connect() as connection:
        assert "alembic_version" not in inspect(connection).get_table_names()


def test_every_foreign_key_is_indexed():
    """Queues, lists and monitoring filter and join by foreign keys: each one leads some index."""
    unindexed = []
    for table in db.metadata.sorted_tables:
        leading = [tuple(c.name for c in index.columns) for index in table.indexes]
        leading += [tuple(c.name for c in constraint.columns) for constraint in table.constraints
                    if constraint.__class__.__name__ in {"UniqueConstraint", "PrimaryKeyConstraint"}]
        for fk in table.foreign_key_constraints:
            columns = tuple(c.name for c in fk.columns)
            if not any(names[:len(columns)] == columns for names in leading):
                unindexed.append(f"{table.name}{columns}")
    assert unindexed == []
