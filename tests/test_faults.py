"""Faults in the middle of a change leave nothing half-done; side effects run only after commit;
stale and repeated submissions have one effect."""
import logging
from contextlib import contextmanager

import pytest
from sqlalchemy import event, func, select

from conftest import PASSWORD
from models import Activity, Notification, Route, RouteEvent, StoredFile, db
from workflow import service
from workflow.errors import STALE_MESSAGE, StaleVersion

API = "/api/v1"


class Boom(RuntimeError):
    """An injected fault."""


@contextmanager
def fault(target, identifier):
    """Make the ORM event `identifier` of `target` raise while the block runs."""
    def explode(*args, **kwargs):
        raise Boom(f"injected fault in {identifier}")
    event.listen(target, identifier, explode)
    try:
        yield
    finally:
        event.remove(target, identifier, explode)


@contextmanager
def statement_fault(prefix):
    """Make the database refuse the statements that begin with `prefix`, or run it as a WITH query (a
    PostgreSQL transition writes in one statement), while the block runs: a fault at the very write,
    whichever layer (the ORM's flush or a prebuilt statement) issues it."""
    wanted = prefix.upper()

    def explode(conn, cursor, statement, parameters, context, executemany):
        text = " ".join(statement.split()).upper()
        if text.startswith(wanted) or f" AS ({wanted}" in text:
            raise Boom(f"injected fault in {prefix}")
    engine = db.engine
    event.listen(engine, "before_cursor_execute", explode)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", explode)


def _token(client, login):
    response = client.post(f"{API}/tokens", json={"login": login, "password": PASSWORD})
    assert response.status_code == 201, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def _snapshot(route_id):
    """Everything a failed change must leave as it was."""
    db.session.expire_all()
    route = db.session.get(Route, route_id)
    return {
        "route": (route.state, route.version, route.request, route.review_requested_at, route.state_changed_at),
        "events": db.session.execute(select(RouteEvent.id, RouteEvent.event).where(RouteEvent.route_id == route_id)
                                     .order_by(RouteEvent.id)).all(),
        "activities": db.session.execute(
            select(Activity.id, Activity.status, Activity.product, Activity.product_file_id)
            .where(Activity.route_id == route_id).order_by(Activity.id)).all(),
        "files": db.session.execute(select(func.count(StoredFile.id))).scalar_one(),
    }


def test_failing_audit_insert_leaves_state_history_and_files_unchanged(app, client, district):
    route = district.route(state="under_review")
    headers = _token(client, "curator")
    before = _snapshot(route.id)
    body = {"trigger": "approve", "comment": "Утверждаю", "version": route.version}
    with statement_fault("INSERT INTO route_events"):
        response = client.post(f"{API}/routes/{route.id}/transitions", headers=headers, json=body)
    assert response.status_code == 500
    assert response.get_json()["error"] == "internal_error" and "Traceback" not in response.get_data(as_text=True)
    assert _snapshot(route.id) == before
    # Nothing was left half-done: the same request now succeeds, once.
    response = client.post(f"{API}/routes/{route.id}/transitions", headers=headers, json=body)
    assert response.status_code == 200 and response.get_json()["state"] == "curator_approved"
    after = _snapshot(route.id)
    assert [e.event for e in after["events"]] == ["request_review", "approve"]


@pytest.mark.parametrize("statement", ["UPDATE routes", "INSERT INTO route_events", "INSERT INTO notifications"])
def test_failure_after_the_state_moved_in_memory_rolls_everything_back(district, statement):
    # A transition writes the route, then its audit row, then its notifications (on PostgreSQL in one
    # statement): a failure at any of them leaves the route, its history and everyone's notifications
    # as they were.
    route = district.route(state="curator_approved")
    before = _snapshot(route.id)
    notifications_before = db.session.execute(select(func.count(Notification.id))).scalar_one()
    with statement_fault(statement), pytest.raises(Boom):
        service.apply_transition(route.id, "start", district.teacher, version=route.version)
    assert _snapshot(route.id) == before
    assert db.session.execute(select(func.count(Notification.id))).scalar_one() == notifications_before
    assert db.session.get(Route, route.id).state == "curator_approved"
    # Nothing was left half-done: the same transition now goes through, once.
    service.apply_transition(route.id, "start", district.teacher, version=route.version)
    assert [e.event for e in _snapshot(route.id)["events"]] == [*(e.event for e in before["events"]), "start"]


def test_failure_while_storing_a_product_file_keeps_no_file_and_no_result(district):
    route = district.route(state="in_progress")
    activity_id = route.activities[0].id
    before = _snapshot(route.id)
    upload = {"original_name": "Конспект урока.pdf", "content_type": "application/pdf", "size": 9,
              "sha256": "0" * 64, "data": b"%PDF-1.4\n"}
    # The file row is inserted first; the route's version bump then fails in the same flush.
    with fault(Route, "before_update"), pytest.raises(Boom):
        service.record_activity_result(route.id, activity_id, district.teacher, status="done",
                                       product="Конспект", file=upload, version=route.version)
    assert _snapshot(route.id) == before


@pytest.fixture
def listeners():
    """Connect route_changed receivers for one test; disconnect them afterwards."""
    connected = []

    def connect(receiver):
        service.route_changed.connect(receiver)
        connected.append(receiver)
        return receiver

    yield connect
    for receiver in connected:
        service.route_changed.disconnect(receiver)


def _committed_state(route_id):
    """Read the route through a separate connection: what is committed, not what this session holds."""
    connection = db.engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute(f"SELECT state, version FROM routes WHERE id = {int(route_id)}")
        state = tuple(cursor.fetchone())
        cursor.execute(f"SELECT count(*) FROM route_events WHERE route_id = {int(route_id)}")
        return state + (cursor.fetchone()[0],)
    finally:
        connection.close()


def test_failing_listeners_cannot_undo_or_fail_a_committed_transition(client, district, listeners, caplog):
    route = district.route(state="under_review")
    route_id, version = route.id, route.version
    headers = _token(client, "curator")
    files_before = _snapshot(route_id)["files"]
    seen = []

    @listeners
    def render_document(sender, **kwargs):
        # A document listener stores a file and then fails: its file must not survive.
        db.session.add(StoredFile(original_name="ИОМ.docx", content_type="application/octet-stream", size=1,
                                  sha256="1" * 64, data=b"x"))
        db.session.flush()
        raise Boom("document rendering failed")

    @listeners
    def notify_by_mail(sender, **kwargs):
        raise Boom("mail server is down")

    @listeners
    def record_side_effect(sender, event, actor_id):
        # Runs after the commit: a separate connection already sees the new state and its audit row.
        seen.append((sender, event, actor_id, _committed_state(sender)))

    with caplog.at_level(logging.ERROR, logger="workflow.service"):
        response = client.post(f"{API}/routes/{route_id}/transitions", headers=headers,
                               json={"trigger": "approve", "comment": "", "version": version})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["state"] == "curator_approved"
    assert seen == [(route_id, "approve", district.curator.id, ("curator_approved", version + 1, 2))]
    after = _snapshot(route_id)
    assert after["route"][:2] == ("curator_approved", version + 1)
    assert [e.event for e in after["events"]] == ["request_review", "approve"]
    assert after["files"] == files_before
    failures = [r for r in caplog.records if "route_changed listener" in r.getMessage()]
    assert sorted(r.getMessage().split()[2] for r in failures) == sorted(
        [render_document.__qualname__, notify_by_mail.__qualname__])
    assert all(r.exc_info and isinstance(r.exc_info[1], Boom) for r in failures)


def test_side_effects_do_not_run_when_the_change_fails(client, district, listeners):
    route = district.route(state="under_review")
    headers = _token(client, "curator")
    calls = []
    listeners(lambda sender, **kwargs: calls.append(sender))
    stale = route.version - 1
    response = client.post(f"{API}/routes/{route.id}/transitions", headers=headers,
                           json={"trigger": "approve", "comment": "", "version": stale})
    assert response.status_code == 409 and response.get_json()["error"] == "stale_version"
    with statement_fault("INSERT INTO route_events"):
        response = client.post(f"{API}/routes/{route.id}/transitions", headers=headers,
                               json={"trigger": "approve", "comment": "", "version": route.version})
    assert response.status_code == 500
    assert calls == []


# --- stale and repeated submissions ------------------------------------------------------------------

def test_lost_update_second_edit_from_the_same_version_is_409_and_the_first_text_survives(client, district):
    route = district.route()
    headers = _token(client, "teacher")
    version = route.version
    first = client.patch(f"{API}/routes/{route.id}", headers=headers,
                         json={"request": "Текст первого редактора", "version": version})
    assert first.status_code == 200 and first.get_json()["version"] == version + 1
    second = client.patch(f"{API}/routes/{route.id}", headers=headers,
                          json={"request": "Текст второго редактора", "version": version})
    assert second.status_code == 409
    assert second.get_json() == {"error": "stale_version", "message": STALE_MESSAGE}
    db.session.expire_all()
    current = db.session.get(Route, route.id)
    assert (current.request, current.version) == ("Текст первого редактора", version + 1)


def test_lost_update_in_the_service(district):
    route = district.route()
    version = route.version
    service.update_route(route.id, district.teacher, {"request": "Первый"}, version)
    with pytest.raises(StaleVersion):
        service.update_route(route.id, district.curator, {"request": "Второй"}, version)
    db.session.expire_all()
    assert db.session.get(Route, route.id).request == "Первый"


def test_double_submit_of_a_transition_form_has_one_effect(client, auth, district):
    route = district.route(state="under_review")
    route_id, version = route.id, route.version
    auth.login("curator")
    form = {"version": version, "comment": "Согласовано"}
    first = client.post(f"/routes/{route_id}/transitions/approve", data=form)
    second = client.post(f"/routes/{route_id}/transitions/approve", data=form)
    assert first.status_code == 302
    assert second.status_code == 409
    assert "Маршрут уже изменён другим пользователем" in second.get_data(as_text=True)
    after = _snapshot(route_id)
    assert after["route"][:2] == ("curator_approved", version + 1)
    assert [e.event for e in after["events"]] == ["request_review", "approve"]


def test_double_submit_of_an_activity_form_adds_one_activity(client, auth, district):
    route = district.route(activities=1)
    route_id, version = route.id, route.version
    auth.login("teacher")
    form = {"version": version, "stage": "design", "direction": "methodical",
            "deficit": "Оценивание результатов", "tasks": "Разработать КИМ", "forms": "Семинар",
            "deadline": "2030-05-20", "result_form": "КИМ"}
    first = client.post(f"/routes/{route_id}/activities/new", data=form)
    second = client.post(f"/routes/{route_id}/activities/new", data=form)
    assert first.status_code == 302, first.get_data(as_text=True)
    assert second.status_code == 409
    after = _snapshot(route_id)
    assert len(after["activities"]) == 2 and after["route"][1] == version + 1


def test_double_submit_through_the_api_has_one_effect(client, district):
    route = district.route(state="curator_approved")
    headers = _token(client, "teacher")
    body = {"trigger": "start", "comment": "", "version": route.version}
    responses = [client.post(f"{API}/routes/{route.id}/transitions", headers=headers, json=body)
                 for _ in range(2)]
    assert [r.status_code for r in responses] == [200, 409]
    assert responses[1].get_json()["error"] == "stale_version"
    assert [e.event for e in _snapshot(route.id)["events"]].count("start") == 1
