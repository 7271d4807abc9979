"""The API answers a transition with the route's new state, or with the whole route when asked for it
(Prefer: return=representation), from the route as the transition left it, without reading it again:
the answer must be exactly what reading the route afterwards gives."""
import pytest
from sqlalchemy import event, select

from models import db
from models.notification import Notification
from test_api import ApiClient


def _statements_during(app, call):
    with app.app_context():
        engine = db.engine
    seen = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        response = call()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return response, seen


def test_transition_answer_equals_the_route_read_afterwards(app, client, district):
    api = ApiClient(client)
    route_id = district.route(state="in_progress", activities=2).id
    db.session.close()
    version = api.get(f"/routes/{route_id}", "teacher").json["version"]
    for trigger, login, comment in [("submit_reflection", "teacher", ""),
                                    ("return_reflection", "curator", "Дополните выводы"),
                                    ("submit_reflection", "teacher", "")]:
        if trigger == "submit_reflection":
            body = api.get(f"/routes/{route_id}", "teacher").json
            for activity in body["activities"]:
                if activity["status"] == "planned":
                    response = api.post(f"/routes/{route_id}/activities/{activity['id']}/result", "teacher",
                                        json={"status": "done", "product": "Конспект урока",
                                              "version": body["version"]})
                    assert response.status_code == 200, response.json
                    body = response.json if "activities" in response.json else api.get(
                        f"/routes/{route_id}", "teacher").json
            response = api.patch(f"/routes/{route_id}", "teacher",
                                 json={"reflection": "Маршрут выполнен", "version": body["version"]})
            assert response.status_code == 200, response.json
            version = response.json["version"]
        answer = api.fire(route_id, trigger, login, comment=comment, version=version, whole=True)
        assert answer.status_code == 200, answer.json
        assert answer.headers["Preference-Applied"] == "return=representation"
        read = api.get(f"/routes/{route_id}", login)
        assert answer.json == read.json
        assert answer.json["history"][-1]["event"] == trigger
        assert answer.json["history"][-1]["actor"]["login"] == login
        version = answer.json["version"]


def test_transition_reads_the_token_and_its_user_in_one_statement(app, client, district):
    api = ApiClient(client)
    route = district.route(state="under_review")
    route_id, version = route.id, route.version
    api.token("curator")
    db.session.close()
    response, statements = _statements_during(app, lambda: api.fire(route_id, "approve", "curator",
                                                                     version=version))
    assert response.status_code == 200, response.json
    token_reads = [s for s in statements if "FROM api_tokens" in s]
    assert len(token_reads) == 1 and "JOIN users" in token_reads[0]
    assert not [s for s in statements if s.startswith("SELECT users.") and "FROM users WHERE users.id" in s]


# --- the new state, the default answer; Prefer (RFC 7240) ---------------------------------------------

MINIMAL_FIELDS = {"id", "state", "state_label", "version", "updated_at"}


def _fire(api, route_id, trigger, login, version, prefer=None, comment=""):
    headers = {"Prefer": prefer} if prefer is not None else {}
    return api.post(f"/routes/{route_id}/transitions", login, headers=headers,
                    json={"trigger": trigger, "comment": comment, "version": version})


def test_default_answer_is_the_new_state_of_the_route_read_afterwards(app, client, district):
    api = ApiClient(client)
    route = district.route(state="under_review")
    route_id, version, teacher_id = route.id, route.version, route.teacher_id
    db.session.close()
    api.token("curator")
    response, statements = _statements_during(app, lambda: _fire(api, route_id, "approve", "curator", version))
    assert response.status_code == 200, response.json
    assert "Preference-Applied" not in response.headers
    assert "Prefer" in response.headers["Vary"]
    assert set(response.json) == MINIMAL_FIELDS
    read = api.get(f"/routes/{route_id}", "curator").json
    assert response.json == {key: read[key] for key in MINIMAL_FIELDS}
    assert response.json["state"] == "curator_approved" and response.json["version"] == version + 1
    # The same transition as with the whole route for an answer: its audit row and the teacher's
    # notification are written; only the history, which the answer leaves out, is not read.
    assert read["history"][-1]["event"] == "approve" and read["history"][-1]["actor"]["login"] == "curator"
    assert _notified(route_id, "approve") == [teacher_id]
    assert not [s for s in statements if s.startswith("SELECT") and "FROM route_events" in s]


def _notified(route_id, kind):
    """The users notified of `kind` on the route, in order."""
    users = db.session.execute(select(Notification.user_id).where(
        Notification.route_id == route_id, Notification.kind == kind).order_by(Notification.id)).scalars().all()
    db.session.close()
    return users


def test_a_transition_writes_in_one_statement_on_postgresql_and_three_on_sqlite(app, client, district):
    """The route's UPDATE, its audit row and its notifications: on PostgreSQL one statement (one round
    trip to the server), its INSERTs selecting from the UPDATE's RETURNING; on SQLite three."""
    api = ApiClient(client)
    route = district.route(state="under_review")
    route_id, version, teacher_id = route.id, route.version, route.teacher_id
    api.token("curator")
    db.session.close()
    response, statements = _statements_during(
        app, lambda: _fire(api, route_id, "approve", "curator", version))
    assert response.status_code == 200, response.json
    writes = [s for s in statements if not s.startswith("SELECT")]
    if db.engine.dialect.name == "postgresql":
        assert len(writes) == 1 and writes[0].startswith("WITH moved AS (UPDATE routes SET")
        assert "INSERT INTO route_events" in writes[0] and "INSERT INTO notifications" in writes[0]
    else:
        assert [w.split(" SET ")[0].split(" (")[0] for w in writes] == [
            "UPDATE routes", "INSERT INTO route_events", "INSERT INTO notifications"]
    read = api.get(f"/routes/{route_id}", "curator").json
    assert (read["state"], read["version"]) == ("curator_approved", version + 1)
    assert [(e["event"], e["actor"]["login"]) for e in read["history"][-1:]] == [("approve", "curator")]
    assert _notified(route_id, "approve") == [teacher_id]


@pytest.mark.parametrize("prefer, whole, applied", [
    (None, False, None),
    ("", False, None),
    ("handling=lenient", False, None),
    ("return=minimal", False, "return=minimal"),
    ("RETURN = \"minimal\"", False, "return=minimal"),
    ("respond-async, return=minimal; charset=utf-8", False, "return=minimal"),
    ("return=representation", True, "return=representation"),
    ("Return=\"Representation\", wait=10", True, "return=representation"),
    ("return=minimal, return=representation", False, "return=minimal"),  # the first one counts
    ("return=everything", False, None),
])
def test_prefer_header_chooses_the_answer(client, district, prefer, whole, applied):
    api = ApiClient(client)
    route = district.route(state="under_review")
    version = route.version
    response = _fire(api, route.id, "approve", "curator", version, prefer=prefer)
    assert response.status_code == 200, response.json
    assert "Prefer" in response.headers["Vary"]
    assert response.headers.get("Preference-Applied") == applied
    if whole:
        assert "activities" in response.json and "history" in response.json
        assert response.json["allowed_transitions"]
    else:
        assert set(response.json) == MINIMAL_FIELDS
    assert response.json["state"] == "curator_approved" and response.json["version"] == version + 1


@pytest.mark.parametrize("prefer", [None, "return=minimal", "return=representation"])
def test_every_answer_keeps_every_check(client, district, prefer):
    api = ApiClient(client)
    route = district.route(state="under_review")
    stale = _fire(api, route.id, "approve", "curator", route.version - 1, prefer=prefer)
    assert stale.status_code == 409 and stale.json["error"] == "stale_version"
    refused = _fire(api, route.id, "approve", "teacher", route.version, prefer=prefer)
    assert refused.status_code == 403 and set(refused.json) >= {"error", "message"}
    missing = _fire(api, route.id, "return_to_draft", "curator", route.version, prefer=prefer)
    assert missing.status_code == 422 and set(missing.json) >= {"error", "message"}
    assert not any("Preference-Applied" in r.headers for r in (stale, refused, missing))
    ok = _fire(api, route.id, "approve", "curator", route.version, prefer=prefer)
    assert ok.status_code == 200 and ok.json["state"] == "curator_approved"


def test_openapi_documents_the_prefer_header_and_both_answers(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    path = spec["paths"]["/api/v1/routes/{route_id}/transitions"]
    parameters = path.get("parameters", []) + path["post"].get("parameters", [])
    prefer = [p for p in parameters if p["in"] == "header" and p["name"] == "Prefer"]
    assert len(prefer) == 1 and "return=representation" in prefer[0]["description"]
    answer = path["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"oneOf": [{"$ref": "#/components/schemas/RouteState"},
                                {"$ref": "#/components/schemas/Route"}]}
    assert set(spec["components"]["schemas"]["RouteState"]["properties"]) == MINIMAL_FIELDS
    assert {"history", "activities", "allowed_transitions"} <= set(spec["components"]["schemas"]["Route"]["properties"])


# --- the minimal answer is built directly: it must equal RouteStateSchema's dump -----------------------

@pytest.mark.parametrize("language", ["ru", "en"])
def test_route_state_equals_the_schema_dump_in_every_state(app, district, language):
    from datetime import datetime, timezone
    from views.api.schemas import RouteStateSchema, route_state
    from workflow.states import STATES
    schema = RouteStateSchema()
    with app.test_request_context("/api/v1/routes", headers={"Accept-Language": language}):
        for state in STATES:
            route = district.route(state=state)
            assert route_state(route) == schema.dump(route)
            assert list(route_state(route)) == list(schema.dump(route))
        # Timestamps as stored (naive UTC), as an aware value, and without microseconds.
        for updated_at in (datetime(2026, 12, 3, 10, 0, 0), datetime(2026, 12, 3, 10, 0, 0, 5),
                           datetime(2026, 12, 3, 10, 0, tzinfo=timezone.utc)):
            route.updated_at = updated_at
            assert route_state(route) == schema.dump(route)
            assert route_state(route)["updated_at"].startswith("2026-12-03T10:00:00")
            assert route_state(route)["updated_at"].endswith("+00:00")
        db.session.rollback()


def test_utc_datetime_field_answers_what_marshmallow_iso_gives_on_the_utc_value():
    from datetime import datetime, timedelta, timezone
    from marshmallow import Schema, fields
    from views.api.schemas import UtcDateTime

    class Ours(Schema):
        at = UtcDateTime(allow_none=True)
        rfc = UtcDateTime(format="rfc", allow_none=True)

    class Reference(Schema):
        at = fields.DateTime(allow_none=True)
        rfc = fields.DateTime(format="rfc", allow_none=True)

    moscow = timezone(timedelta(hours=3))
    for value in (datetime(2026, 1, 2, 3, 4, 5), datetime(2026, 1, 2, 3, 4, 5, 678),
                  datetime(2026, 1, 2, 3, 4, 5, tzinfo=moscow), None):
        utc = value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value
        assert Ours().dump({"at": value, "rfc": value}) == Reference().dump({"at": utc, "rfc": utc})


def test_state_labels_follow_each_requests_language(client, district):
    api = ApiClient(client)
    route = district.route(state="reflected")
    version = route.version
    labels = {}
    for trigger, login, language in [("return_reflection", "curator", "en"), ("submit_reflection", "teacher", "ru"),
                                     ("return_reflection", "curator", "ru"), ("submit_reflection", "teacher", "en"),
                                     ("return_reflection", "curator", "en")]:
        response = api.post(f"/routes/{route.id}/transitions", login,
                            headers={"Accept-Language": language},
                            json={"trigger": trigger, "comment": "Дополните выводы", "version": version})
        assert response.status_code == 200, response.json
        version = response.json["version"]
        labels.setdefault((response.json["state"], language), set()).add(response.json["state_label"])
    assert all(len(texts) == 1 for texts in labels.values())
    english = {state: texts.pop() for (state, language), texts in labels.items() if language == "en"}
    russian = {state: texts.pop() for (state, language), texts in labels.items() if language == "ru"}
    assert set(english) == set(russian) == {"in_progress", "reflected"}
    for state in english:
        assert english[state] != russian[state]
        assert english[state].isascii() and not russian[state].isascii()
