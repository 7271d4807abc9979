"""SQLite's WAL is checkpointed after responses, not inside requests' commits (sqlite_wal.py)."""
import logging

import pytest
from sqlalchemy import text

import sqlite_wal
from app import create_app
from models import db
from tests.conftest import PASSWORD
from workflow import accounts


def _checkpointer(app):
    return app.extensions.get("iom_wal_checkpointer")


def _autocheckpoint():
    with db.engine.connect() as conn:
        return conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one()


@pytest.fixture
def database_url():
    """The checkpointer is SQLite's: these tests run on a SQLite file whatever database the suite runs on
    (tests/test_production.py checks that PostgreSQL gets none)."""
    return None


def test_connections_checkpoint_by_themselves_only_past_the_safety_net(app):
    assert _autocheckpoint() == sqlite_wal.SAFETY_PAGES


def _touch(user_id):
    """One committed write transaction."""
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE users SET full_name = full_name WHERE id = :id"), {"id": user_id})


def test_every_nth_commit_is_followed_by_a_checkpoint_after_its_response(app, district):
    checkpointer = _checkpointer(app)
    checkpointer.every, checkpointer.commits, runs = 3, 0, checkpointer.runs
    token, _ = accounts.issue_token(district.teacher, ttl_hours=1)
    headers = {"Authorization": f"Bearer {token}"}
    teacher_id = district.teacher.id
    db.session.rollback()  # outside requests a transaction holds the write lock: end the session's
    client = app.test_client()
    called = []
    real = checkpointer.checkpoint
    checkpointer.checkpoint = lambda: called.append(real())
    try:
        checkpointer.commits = 0
        _touch(teacher_id)
        _touch(teacher_id)
        client.get("/api/v1/routes", headers=headers).close()
        assert not called and checkpointer.commits == 2  # two commits: not yet
        _touch(teacher_id)
        response = client.get("/api/v1/routes", headers=headers, buffered=False)
        assert response.status_code == 200 and not called  # the answer is not sent yet
        response.get_data()
        response.close()  # the server has sent it: the checkpoint runs now
    finally:
        checkpointer.checkpoint = real
    assert len(called) == 1 and checkpointer.runs == runs + 1 and checkpointer.commits == 0
    busy, in_log, copied = called[0]
    assert busy == 0 and in_log > 0 and copied == in_log  # all the log held went back into the database


def test_a_failed_checkpoint_is_logged_and_changes_nothing_for_the_response(app, district, monkeypatch, caplog):
    checkpointer = _checkpointer(app)
    monkeypatch.setattr(sqlite_wal, "CHECKPOINT", "PRAGMA no_such_thing(")  # a statement SQLite refuses
    checkpointer.every, checkpointer.commits = 1, 1
    client = app.test_client()
    with caplog.at_level(logging.WARNING, logger="iom"):
        response = client.post("/login", data={"login": district.teacher.login, "password": PASSWORD})
        response.close()
    assert response.status_code == 302
    assert "WAL checkpoint failed" in caplog.text
    assert db.session.execute(text("SELECT count(*) FROM users")).scalar_one() > 0  # the database still answers


def test_zero_leaves_sqlites_own_schedule(app):
    other = create_app({"TESTING": True, "SECRET_KEY": "test", "SQLITE_CHECKPOINT_EVERY": 0,
                        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"]})
    with other.app_context():
        try:
            assert _checkpointer(other) is None
            assert _autocheckpoint() == 1000  # SQLite's default
        finally:
            db.session.remove()
            db.engine.dispose()
