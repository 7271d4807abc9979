"""flask backup / restore: a consistent copy of the demo district round-trips into an empty database."""
import os
import stat
from contextlib import contextmanager

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from _databases import app_config, scratch_database
from app import create_app
from models import Route, RouteEvent, School, db
from workflow import accounts, backup, demo


@contextmanager
def _database(database_url, tmp_path, label, *, schema=True):
    """Push an app bound to a new scratch database, migrated to head unless schema=False."""
    with scratch_database(database_url, tmp_path, label) as url:
        app = create_app(app_config(url))
        with app.app_context():
            if schema:
                result = app.test_cli_runner().invoke(args=["init-db"])
                assert result.exit_code == 0, result.output
            try:
                yield app
            finally:
                db.session.remove()
                db.engine.dispose()


def _snapshot():
    """What must survive a round trip: row counts of every table and every route's state."""
    db.session.remove()
    routes = db.session.execute(select(Route.id, Route.state, Route.version, Route.request)
                                .order_by(Route.id)).all()
    events = db.session.execute(select(RouteEvent.route_id, RouteEvent.event, RouteEvent.to_state)
                                .order_by(RouteEvent.id)).all()
    counts = backup.table_counts()
    db.session.remove()  # no open transaction may hold locks while pg_restore replaces tables
    return counts, [tuple(r) for r in routes], [tuple(e) for e in events]


def _cli(app, *args):
    db.session.remove()
    return app.test_cli_runner().invoke(args=list(args))


@pytest.fixture(scope="module")
def demo_backup(database_url, tmp_path_factory):
    """The demo district in a migrated database, its snapshot and a backup file of it."""
    tmp_path = tmp_path_factory.mktemp("backup")
    with _database(database_url, tmp_path, "src") as app:
        demo.load()
        snapshot = _snapshot()
        result = _cli(app, "backup", str(tmp_path / "district.backup"))
        assert result.exit_code == 0, result.output
        assert "Резервная копия записана" in result.output
        yield tmp_path / "district.backup", snapshot


def test_round_trip_of_the_demo_district(demo_backup, database_url, tmp_path):
    path, (counts, routes, events) = demo_backup
    assert counts["routes"] == 56 and counts["route_events"] > 56 and counts["users"] > 56
    assert {state for _, state, _, _ in routes} == {"drafted", "curator_approved", "in_progress",
                                                    "reflected", "closed"}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with _database(database_url, tmp_path, "dst", schema=False) as app:
        result = _cli(app, "restore", str(path))
        assert result.exit_code == 0, result.output
        assert f"маршрутов {counts['routes']}" in result.output
        assert _snapshot() == (counts, routes, events)
        # The restored district is usable: demo users sign in, the audit trail is still guarded.
        assert accounts.authenticate("ezhkova", demo.DEMO_PASSWORD) is not None
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(text("DELETE FROM route_events"))
        db.session.rollback()


def test_restore_into_a_fresh_schema_then_refuse_a_database_with_data(demo_backup, database_url, tmp_path):
    path, snapshot = demo_backup
    with _database(database_url, tmp_path, "dst") as app:
        # A schema without rows (after init-db) counts as empty.
        assert backup.is_empty()
        assert _cli(app, "restore", str(path)).exit_code == 0
        accounts.create_school("СОШ № 99")
        db.session.remove()
        changed = _snapshot()
        assert changed[0]["schools"] == snapshot[0]["schools"] + 1

        result = _cli(app, "restore", str(path))
        assert result.exit_code == 1
        assert result.output.strip().splitlines() == [
            "Ошибка: база данных не пуста; восстановление заменит её данные — повторите с --force"]
        assert _snapshot() == changed

        result = _cli(app, "restore", "--force", str(path))
        assert result.exit_code == 0, result.output
        assert _snapshot() == snapshot
        assert db.session.execute(select(School).where(School.name == "СОШ № 99")).first() is None


@pytest.mark.parametrize("make_file, message", [
    (lambda p: p.write_text("это не резервная копия", encoding="utf-8"), "не является резервной копией"),
    (lambda p: None, "файл резервной копии не найден"),
])
def test_restore_rejects_what_is_not_a_backup(database_url, tmp_path, make_file, message):
    bogus = tmp_path / "bogus.backup"
    make_file(bogus)
    with _database(database_url, tmp_path, "dst") as app:
        accounts.create_school("СОШ № 7")
        before = _snapshot()
        result = _cli(app, "restore", "--force", str(bogus))
        assert result.exit_code == 1
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.output
        assert _snapshot() == before


def test_backup_is_a_consistent_snapshot_without_uncommitted_writes(database_url, tmp_path):
    with _database(database_url, tmp_path, "src") as app:
        accounts.create_school("СОШ № 1")
        db.session.remove()
        # Another writer is in the middle of a transaction while the backup runs.
        writer = db.engine.connect()
        transaction = writer.begin()
        writer.execute(text("INSERT INTO schools (municipality_id, name) "
                            "SELECT id, 'СОШ № 2' FROM municipalities"))
        try:
            result = _cli(app, "backup", str(tmp_path))
        finally:
            transaction.rollback()
            writer.close()
        assert result.exit_code == 0, result.output
        written = [p for p in tmp_path.iterdir() if p.name.startswith("iom-")]
        assert len(written) == 1 and written[0].suffix in {".sqlite3", ".dump"}
    with _database(database_url, tmp_path, "dst", schema=False) as app:
        assert _cli(app, "restore", str(written[0])).exit_code == 0
        assert [s.name for s in db.session.execute(select(School)).scalars()] == ["СОШ № 1"]
