"""A transition reads outside SQLite's write lock and takes it at its first write (app.lock_at_first_write).

Another writer may then commit between a transition's reads and its writes. The route's version check
turns that into a 409 stale_version with nothing written, never a lost update, a second audit row or a
500. On PostgreSQL reads never block writers, so the same answers are expected there.
"""
import threading

from sqlalchemy import select

from models import Route, RouteEvent, db
from models.notification import Notification
from workflow import service

API = "/api/v1"


def _token(app, login):
    from conftest import PASSWORD
    response = app.test_client().post(f"{API}/tokens", json={"login": login, "password": PASSWORD})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["token"]


def test_a_change_committed_between_a_transitions_reads_and_writes_is_a_409(app, district, monkeypatch):
    route = district.route(state="under_review")
    route_id, version = route.id, route.version
    token = _token(app, "curator")
    db.session.close()
    headers = {"Authorization": f"Bearer {token}"}
    real_fire = service.fire
    other = {}

    def approve_elsewhere():
        # Another request, with its own app context, session and connection, approves the same version.
        response = app.test_client().post(f"{API}/routes/{route_id}/transitions", headers=headers,
                                          json={"trigger": "approve", "comment": "", "version": version})
        other["answer"] = (response.status_code, response.get_json())

    def fire_after_a_concurrent_commit(*args, **kwargs):
        if threading.current_thread() is threading.main_thread() and "answer" not in other:
            # The first request has read the route (version, state, guards) and holds no write lock:
            # the other writer must get through without waiting for it.
            thread = threading.Thread(target=approve_elsewhere)
            thread.start()
            thread.join(timeout=20)
            assert not thread.is_alive(), "the other writer waited for the first request's reads"
        return real_fire(*args, **kwargs)

    monkeypatch.setattr(service, "fire", fire_after_a_concurrent_commit)
    response = app.test_client().post(f"{API}/routes/{route_id}/transitions", headers=headers,
                                      json={"trigger": "approve", "comment": "", "version": version})

    assert other["answer"][0] == 200 and other["answer"][1]["version"] == version + 1, other
    body = response.get_json()
    assert response.status_code == 409 and body["error"] == "stale_version", body
    assert body["message"]
    db.session.expire_all()
    route = db.session.get(Route, route_id)
    assert (route.state, route.version) == ("curator_approved", version + 1)
    events = db.session.execute(select(RouteEvent.event).where(RouteEvent.route_id == route_id)).scalars().all()
    assert events.count("approve") == 1
    # Nor a second notification: the stale transition wrote none of its rows.
    kinds = db.session.execute(select(Notification.kind).where(Notification.route_id == route_id)).scalars().all()
    assert kinds.count("approve") == 1
    db.session.close()


def test_only_marked_views_read_outside_the_write_lock(app):
    from app import _locks_at_first_write
    with app.test_request_context():
        assert _locks_at_first_write("api_routes.transition")
        assert _locks_at_first_write("web.transition")
        # Edits check versions too but read what they write (road map positions...): they keep the lock.
        assert not _locks_at_first_write("api_routes.update_route")
        assert not _locks_at_first_write("api_routes.add_activity")
        assert not _locks_at_first_write(None)


def test_transition_texts_follow_each_requests_language(app, client, district):
    # service._TEXTS keeps the transitions' fixed texts per language: each request still gets its own.
    from test_api import ApiClient
    api = ApiClient(client)
    route_id = district.route(state="under_review").id
    db.session.close()
    answers = {}
    for language in ("en", "ru", "en"):
        body = api.get(f"/routes/{route_id}", "teacher", headers={"Accept-Language": language}).json
        texts = {t["trigger"]: (t["label"], t["reason"]) for t in body["allowed_transitions"]}
        assert answers.setdefault(language, texts) == texts
    assert answers["en"] != answers["ru"]
    label, reason = answers["ru"]["approve"]
    assert any("а" <= ch <= "я" for ch in (label + reason).lower())
    label, reason = answers["en"]["approve"]
    assert not any("а" <= ch <= "я" for ch in (label + reason).lower()), (label, reason)


def test_sqlite_transactions_begin_immediate_for_writes_and_deferred_for_reads(app):
    """The begin hook (app._configure_engine) runs BEGIN on the driver's connection: which one, by request."""
    from sqlalchemy import text
    if db.engine.dialect.name != "sqlite":
        # PostgreSQL needs no lock at BEGIN (reads never block writers there); its begin hook only
        # notes that a transaction has written nothing yet (app._keep_prepared_statements).
        assert [fn.__name__ for fn in db.engine.dispatch.begin] == ["_read_only_so_far"]
        return
    seen = []
    for method, path, expected in [("GET", "/routes", "BEGIN"), ("POST", "/routes/new", "BEGIN IMMEDIATE"),
                                   ("POST", "/api/v1/routes/1/transitions", "BEGIN")]:  # locks at first write
        with app.test_request_context(path, method=method):
            with db.engine.connect() as conn:
                conn.connection.dbapi_connection.set_trace_callback(seen.append)
                try:
                    with conn.begin():
                        conn.execute(text("SELECT 1"))
                finally:
                    conn.connection.dbapi_connection.set_trace_callback(None)
        assert seen[0] == expected, (method, path, seen)
        seen.clear()


def test_an_engine_made_where_a_dropped_one_was_still_gets_its_begin_hook(tmp_path, monkeypatch):
    """The configured engines are remembered by the engine, not by id(): CPython gives a new engine the
    address (the id) of a dropped one, and by id() it was taken for configured and got no BEGIN hook.
    Here every object of app.py shares one id, as the two engines would."""
    import app as app_module
    from sqlalchemy import create_engine, text

    monkeypatch.setattr(app_module, "id", lambda obj: 1, raising=False)
    url = f"sqlite:///{tmp_path / 'reuse.sqlite3'}"
    dropped = create_engine(url)
    app_module._configure_engine(dropped)
    dropped.dispose()
    engine = create_engine(url)
    app_module._configure_engine(engine)
    seen = []
    with engine.connect() as conn:
        conn.connection.dbapi_connection.set_trace_callback(seen.append)
        with conn.begin():
            conn.execute(text("SELECT 1"))
    assert seen[:2] == ["BEGIN IMMEDIATE", "SELECT 1"]  # outside a request: a write transaction
    engine.dispose()
