"""PostgreSQL: a transaction that ran only SELECTs ends with COMMIT, so psycopg keeps its prepared
statements (app._keep_prepared_statements); every other transaction still ends with ROLLBACK.

psycopg drops all its prepared statements at each ROLLBACK. Without the hook no statement would stay
prepared past a read-only request, and PostgreSQL would plan every statement of every page anew.
On SQLite nothing changes: the tests check that the dialect's rollback is its own there, and that
rolling back discards writes on both databases.
"""
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from models import Municipality, db

API = "/api/v1"


def _sqlite_untouched():
    """True on SQLite, where the hook is not installed (the dialect's own rollback); False on PostgreSQL."""
    if db.engine.dialect.name == "postgresql":
        return False
    assert "do_rollback" not in vars(db.engine.dialect)
    return True


def _token(client, login):
    from conftest import PASSWORD
    response = client.post(f"{API}/tokens", json={"login": login, "password": PASSWORD})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["token"]


def test_read_only_requests_keep_the_prepared_statements(app, client, district):
    route_id = district.route(state="in_progress").id
    headers = {"Authorization": f"Bearer {_token(client, 'teacher')}"}
    db.session.close()
    if _sqlite_untouched():
        return
    # One worker, one request at a time: every request gets the same pooled connection back.
    for _ in range(8):
        response = client.get(f"{API}/routes/{route_id}", headers=headers)
        assert response.status_code == 200, response.get_json()
    db.session.remove()
    with db.engine.connect() as conn:
        statements = conn.execute(text("SELECT statement FROM pg_prepared_statements")).scalars().all()
    # psycopg prepares a statement at its fifth run on a connection: the route's load is among them.
    assert any("FROM routes" in s for s in statements), statements
    assert any("FROM api_tokens" in s for s in statements), statements


def test_a_read_only_transaction_rolled_back_keeps_them_a_write_drops_them(app):
    if _sqlite_untouched():
        return
    db.session.remove()
    with db.engine.connect() as conn:
        for _ in range(6):
            conn.execute(text("SELECT count(*) FROM municipalities WHERE id > :id"), {"id": 0}).scalar_one()
        conn.rollback()
        assert conn.execute(text("SELECT count(*) FROM pg_prepared_statements")).scalar_one() >= 1
        conn.execute(text("UPDATE municipalities SET name = name WHERE id < 0"))
        conn.rollback()  # a write: a real ROLLBACK, after which psycopg forgets what it prepared
        assert conn.execute(text("SELECT count(*) FROM pg_prepared_statements")).scalar_one() == 0
        conn.rollback()


@pytest.mark.parametrize("how", ["orm", "core", "write_then_select"])
def test_a_transaction_that_wrote_is_still_rolled_back(app, district, how):
    db.session.remove()
    before = db.session.execute(select(Municipality.name).order_by(Municipality.id)).scalars().all()
    db.session.rollback()
    if how == "orm":
        db.session.add(Municipality(name="Не сохранится", department_name="—", place="—", head_name="—"))
        db.session.flush()
    elif how == "core":
        db.session.execute(text("UPDATE municipalities SET name = 'Не сохранится'"))
    else:
        db.session.execute(text("UPDATE municipalities SET name = 'Не сохранится'"))
        # Reads after the write do not make the transaction read-only again.
        assert db.session.execute(text("SELECT count(*) FROM municipalities")).scalar_one() >= 1
    db.session.rollback()
    db.session.remove()
    after = db.session.execute(select(Municipality.name).order_by(Municipality.id)).scalars().all()
    assert after == before and "Не сохранится" not in after


def test_a_setting_changed_in_a_transaction_is_rolled_back(app):
    if _sqlite_untouched():
        return
    db.session.remove()
    with db.engine.connect() as conn:
        original = conn.execute(text("SHOW application_name")).scalar_one()
        conn.rollback()
        conn.execute(text("SET application_name = 'iom-not-kept'"))
        conn.rollback()
        assert conn.execute(text("SHOW application_name")).scalar_one() == original


def test_a_failed_read_only_transaction_is_rolled_back_and_the_connection_usable(app):
    db.session.remove()
    with db.engine.connect() as conn:
        with pytest.raises(DBAPIError):
            conn.execute(text("SELECT no_such_column FROM municipalities")).scalar_one()
        conn.rollback()
        assert conn.execute(text("SELECT 1")).scalar_one() == 1
        conn.rollback()
