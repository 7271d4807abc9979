"""The JSON API under /api/v1: tokens, routes, road map, corrections, transitions, errors, OpenAPI."""
import threading
from datetime import date, datetime, timedelta

import pytest
from flask import Blueprint
from sqlalchemy import event, func, select

from conftest import PASSWORD, activity_data
from models import ApiToken, Route, RouteEvent, db
from models._time import utcnow
from views.api.auth import current_api_user, roles_required, token_required
from workflow import accounts, service

API = "/api/v1"

ROUTE_KEYS = {"id", "state", "version", "teacher", "curator", "period_start", "period_end", "general_info",
              "request", "activities", "reflection", "recommendations", "history", "allowed_transitions"}
GENERAL_KEYS = {"workplace", "education", "position", "subject", "experience_years", "qualification_category",
                "attestation_date"}
ACTIVITY_KEYS = {"id", "stage", "direction", "deficit", "tasks", "forms", "deadline", "result_form", "status",
                 "product", "reason"}
HISTORY_KEYS = {"event", "from_state", "to_state", "actor", "comment", "created_at"}
USER_KEYS = {"id", "login", "full_name", "school"}


class ApiClient:
    """A test client speaking to the API with a bearer token per login."""

    def __init__(self, client):
        self.client = client
        self.tokens = {}

    def token(self, login):
        if login not in self.tokens:
            response = self.client.post(f"{API}/tokens", json={"login": login, "password": PASSWORD})
            assert response.status_code == 201, response.json
            self.tokens[login] = response.json["token"]
        return self.tokens[login]

    def call(self, method, path, login=None, **kwargs):
        headers = kwargs.pop("headers", {})
        if login:
            headers["Authorization"] = f"Bearer {self.token(login)}"
        return self.client.open(f"{API}{path}", method=method, headers=headers, **kwargs)

    def get(self, path, login=None, **kwargs):
        return self.call("GET", path, login, **kwargs)

    def post(self, path, login=None, **kwargs):
        return self.call("POST", path, login, **kwargs)

    def patch(self, path, login=None, **kwargs):
        return self.call("PATCH", path, login, **kwargs)

    def delete(self, path, login=None, **kwargs):
        return self.call("DELETE", path, login, **kwargs)

    def fire(self, route_id, trigger, login, comment="", version=None, whole=False):
        """POST a transition; whole: ask for the whole route (Prefer: return=representation) rather
        than its new state."""
        if version is None:
            version = self.get(f"/routes/{route_id}", login).json["version"]
        headers = {"Prefer": "return=representation"} if whole else {}
        return self.post(f"/routes/{route_id}/transitions", login, headers=headers,
                         json={"trigger": trigger, "comment": comment, "version": version})


@pytest.fixture
def api(client):
    return ApiClient(client)


def assert_error(response, status, code=None):
    """The response is the API's JSON error: {"error", "message"}, no HTML, no traceback."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json, response.content_type
    body = response.json
    assert set(body) <= {"error", "message", "details"}
    assert body["error"] and body["message"]
    assert "Traceback" not in response.get_data(as_text=True)
    if code:
        assert body["error"] == code, body
    return body


def route_count():
    return db.session.execute(select(func.count(Route.id))).scalar_one()


def fresh_route(route_id):
    db.session.expire_all()
    return db.session.get(Route, route_id)


# --- tokens ------------------------------------------------------------------------------------------

def test_issue_token_and_use_it(api, district):
    response = api.client.post(f"{API}/tokens", json={"login": "teacher", "password": PASSWORD})
    assert response.status_code == 201
    assert set(response.json) == {"token", "expires_at"}
    expires_at = datetime.fromisoformat(response.json["expires_at"])
    assert expires_at.utcoffset() == timedelta(0) and expires_at.replace(tzinfo=None) > utcnow()
    assert len(response.json["token"]) >= 32
    ok = api.client.get(f"{API}/routes", headers={"Authorization": f"Bearer {response.json['token']}"})
    assert ok.status_code == 200
    # Only the token's hash is stored.
    stored = db.session.execute(select(ApiToken.token_hash)).scalars().all()
    assert response.json["token"] not in stored and len(stored) == 1


def test_wrong_password_and_unknown_user_get_the_same_401(api, district):
    wrong = api.client.post(f"{API}/tokens", json={"login": "teacher", "password": "wrong-password"})
    unknown = api.client.post(f"{API}/tokens", json={"login": "nobody", "password": "wrong-password"})
    assert_error(wrong, 401, "invalid_credentials")
    assert_error(unknown, 401, "invalid_credentials")
    assert wrong.json == unknown.json
    assert db.session.execute(select(func.count(ApiToken.id))).scalar_one() == 0


def test_token_request_needs_login_and_password(api, district):
    body = assert_error(api.client.post(f"{API}/tokens", json={"login": "teacher"}), 422, "validation_error")
    assert "password" in body["details"]
    assert_error(api.client.post(f"{API}/tokens", data="login=teacher"), 422, "validation_error")


def test_token_requests_are_throttled(api, district, app):
    app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"] = 2
    for _ in range(2):
        assert_error(api.client.post(f"{API}/tokens", json={"login": "teacher", "password": "bad-one"}), 401)
    throttled = api.client.post(f"{API}/tokens", json={"login": "teacher", "password": PASSWORD})
    assert_error(throttled, 429, "too_many_attempts")
    assert int(throttled.headers["Retry-After"]) > 0


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer not-a-real-token", "Basic dGVhY2hlcjpw",
                                    "Token abc"])
def test_missing_or_bad_token_is_401_json(api, district, header):
    headers = {"Authorization": header} if header else {}
    response = api.client.get(f"{API}/routes", headers=headers)
    assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_expired_token_is_401(api, district):
    token = api.token("teacher")
    record = db.session.execute(select(ApiToken)).scalar_one()
    record.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert_error(api.client.get(f"{API}/routes", headers={"Authorization": f"Bearer {token}"}), 401)


def test_revoked_token_and_inactive_user_are_401(api, district):
    token = api.token("teacher")
    headers = {"Authorization": f"Bearer {token}"}
    assert api.client.delete(f"{API}/tokens/current", headers=headers).status_code == 204
    assert db.session.execute(select(ApiToken.revoked_at)).scalar_one() is not None
    assert_error(api.client.get(f"{API}/routes", headers=headers), 401)
    assert_error(api.client.delete(f"{API}/tokens/current", headers=headers), 401)

    curator_headers = {"Authorization": f"Bearer {api.token('curator')}"}
    assert api.client.get(f"{API}/routes", headers=curator_headers).status_code == 200
    accounts.update_user(district.curator, active=False)
    assert_error(api.client.get(f"{API}/routes", headers=curator_headers), 401)


def test_session_cookie_is_not_accepted(api, auth, district):
    auth.login("teacher")
    assert api.client.get("/").status_code in {200, 302}
    assert_error(api.client.get(f"{API}/routes"), 401)
    assert_error(api.client.post(f"{API}/routes", json={}), 401)
    assert route_count() == 0


def test_api_is_csrf_exempt_but_the_web_is_not(api, district, app):
    app.config["WTF_CSRF_ENABLED"] = True
    assert api.client.post(f"{API}/tokens", json={"login": "teacher", "password": PASSWORD}).status_code == 201
    assert api.post("/routes", "teacher", json={}).status_code == 201
    web = api.client.post("/login", data={"login": "teacher", "password": PASSWORD})
    assert web.status_code == 400 and not web.is_json


def test_auth_helpers_protect_views_of_other_blueprints(app, api, district):
    bp = Blueprint("api_helpers_probe", __name__, url_prefix="/api/v1/probe")

    @bp.route("/any")
    @token_required
    def any_user():
        return {"login": current_api_user().login}

    @bp.route("/heads")
    @roles_required("department_head", "admin")
    def heads_only():
        return {"login": current_api_user().login}

    app.register_blueprint(bp)
    assert_error(api.client.get(f"{API}/probe/any"), 401, "unauthorized")
    assert api.get("/probe/any", "teacher").json == {"login": "teacher"}
    assert_error(api.client.get(f"{API}/probe/heads"), 401)
    assert_error(api.get("/probe/heads", "teacher"), 403, "forbidden")
    assert api.get("/probe/heads", "head").json == {"login": "head"}


ENDPOINTS = [
    ("GET", "/routes"), ("POST", "/routes"), ("GET", "/routes/1"), ("PATCH", "/routes/1"),
    ("POST", "/routes/1/transitions"), ("GET", "/routes/1/activities"), ("POST", "/routes/1/activities"),
    ("GET", "/routes/1/activities/1"), ("PATCH", "/routes/1/activities/1"),
    ("DELETE", "/routes/1/activities/1"), ("POST", "/routes/1/activities/1/result"),
    ("GET", "/routes/1/corrections"), ("POST", "/routes/1/corrections"),
    ("POST", "/routes/1/corrections/1/decision"), ("DELETE", "/tokens/current"),
]


@pytest.mark.parametrize("method,path", ENDPOINTS)
def test_every_endpoint_needs_a_token(api, district, method, path):
    district.route()
    before = fresh_route(1).version
    assert_error(api.call(method, path, json={"version": before}), 401, "unauthorized")
    assert fresh_route(1).version == before


# --- errors ------------------------------------------------------------------------------------------

def test_unknown_api_url_and_method_are_json(api, district):
    assert_error(api.get("/no-such-thing", "teacher"), 404, "not_found")
    assert_error(api.client.get("/api/v2/routes"), 404, "not_found")
    assert_error(api.get("/routes/abc", "teacher"), 404, "not_found")
    wrong_method = api.call("PUT", "/routes", "teacher", json={})
    assert_error(wrong_method, 405, "method_not_allowed")
    assert "GET" in wrong_method.headers["Allow"]
    assert_error(api.call("DELETE", "/routes/1", "teacher"), 405)


def test_web_pages_keep_html_error_pages(client, district):
    response = client.get("/no-such-page", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert response.content_type.startswith("text/html")
    assert "<html" in response.get_data(as_text=True).lower()


def test_bad_json_and_non_object_bodies(api, district):
    assert_error(api.post("/routes", "teacher", data="{bad", content_type="application/json"), 400, "bad_request")
    body = assert_error(api.post("/routes", "teacher", json=[1, 2]), 422, "validation_error")
    assert body["details"]
    assert route_count() == 0


def test_too_large_request_is_413_json(api, district, app):
    token = api.token("teacher")
    app.config["MAX_CONTENT_LENGTH"] = 200
    response = api.client.post(f"{API}/routes", json={"request": "x" * 1000},
                               headers={"Authorization": f"Bearer {token}"})
    assert_error(response, 413)
    assert route_count() == 0


def test_unexpected_error_is_500_json_without_traceback(api, district, monkeypatch):
    route = district.route()
    api.token("teacher")

    def boom(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(service, "load_route", boom)
    response = api.get(f"/routes/{route.id}", "teacher")
    assert_error(response, 500, "internal_error")
    assert "secret internals" not in response.get_data(as_text=True)


# --- listing -----------------------------------------------------------------------------------------

VISIBLE = {
    "teacher": {"teacher"}, "other_teacher": {"other_teacher"},
    "curator": {"teacher"}, "other_curator": {"other_teacher"},
    "school_head": {"teacher"}, "other_school_head": {"other_teacher"},
    "head": {"teacher", "other_teacher"}, "admin": {"teacher", "other_teacher"},
}


@pytest.mark.parametrize("role", sorted(VISIBLE))
def test_list_shows_only_what_the_role_may_see(api, district, role):
    owners = {}
    for owner in ("teacher", "other_teacher"):
        for state in ("drafted", "in_progress"):
            owners[district.route(teacher=getattr(district, owner), state=state).id] = owner
    login = getattr(district, role).login
    response = api.get("/routes", login)
    assert response.status_code == 200
    ids = {item["id"] for item in response.json["items"]}
    assert ids == {rid for rid, owner in owners.items() if owner in VISIBLE[role]}
    assert response.json["total"] == len(ids)
    # And the single route: visible ones 200, the others 404 (not 403: ids do not leak).
    for rid, owner in owners.items():
        expected = 200 if owner in VISIBLE[role] else 404
        assert api.get(f"/routes/{rid}", login).status_code == expected


def test_list_pagination_and_filters(api, district):
    for _ in range(5):
        district.route()
    in_progress = district.route(state="in_progress")
    other = district.route(teacher=district.other_teacher)

    page = api.get("/routes?per_page=2&page=3", "admin").json
    assert (page["page"], page["per_page"], page["total"], page["pages"]) == (3, 2, 7, 4)
    assert len(page["items"]) == 2
    assert api.get("/routes?per_page=2&page=9", "admin").json["items"] == []
    all_ids = [i["id"] for p in (1, 2, 3, 4) for i in api.get(f"/routes?per_page=2&page={p}", "admin").json["items"]]
    assert sorted(all_ids) == sorted(set(all_ids)) and len(all_ids) == 7

    assert [i["id"] for i in api.get("/routes?state=in_progress", "admin").json["items"]] == [in_progress.id]
    school = api.get(f"/routes?school_id={district.other_school.id}", "admin").json["items"]
    assert [i["id"] for i in school] == [other.id]
    item = school[0]
    assert {"id", "state", "version", "teacher", "curator", "school"} <= set(item)
    assert set(item["teacher"]) == USER_KEYS and item["teacher"]["login"] == "teacher2"
    # A filter never widens visibility.
    assert api.get(f"/routes?school_id={district.other_school.id}", "teacher").json["items"] == []


@pytest.mark.parametrize("query", ["state=bogus", "per_page=0", "per_page=201", "page=0", "page=abc",
                                   "school_id=x"])
def test_list_rejects_bad_query(api, district, query):
    assert_error(api.get(f"/routes?{query}", "admin"), 422, "validation_error")


def _count_queries(callable_):
    statements = []

    def before(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        response = callable_()
    finally:
        event.remove(db.engine, "before_cursor_execute", before)
    assert response.status_code == 200
    return len(statements)


def test_list_query_count_does_not_grow_with_routes(api, district):
    for _ in range(3):
        district.route()
    district.route(teacher=district.other_teacher)
    api.token("admin")
    small = _count_queries(lambda: api.get("/routes", "admin"))
    for _ in range(12):
        district.route(teacher=district.other_teacher)
        district.route()
    db.session.expire_all()
    large = _count_queries(lambda: api.get("/routes", "admin"))
    assert large == small


# --- one route -----------------------------------------------------------------------------------------

def test_route_json_uses_the_contract_names(api, district):
    route = district.route(state="in_progress", activities=2)
    body = api.get(f"/routes/{route.id}", "teacher").json
    assert ROUTE_KEYS <= set(body)
    assert body["state"] == "in_progress" and body["version"] == route.version
    assert set(body["teacher"]) == USER_KEYS and body["teacher"]["school"]["name"] == "СОШ № 1"
    assert set(body["curator"]) == USER_KEYS and body["curator"]["login"] == "curator"
    assert set(body["general_info"]) == GENERAL_KEYS
    assert date.fromisoformat(body["period_start"]) == route.period_start
    assert len(body["activities"]) == 2 and ACTIVITY_KEYS <= set(body["activities"][0])
    assert body["activities"][0]["stage"] == "diagnostic_motivational"
    assert [h["event"] for h in body["history"]] == ["request_review", "approve", "start"]
    assert HISTORY_KEYS <= set(body["history"][0])
    assert set(body["history"][1]["actor"]) == {"id", "login", "full_name"}
    transitions = {t["trigger"]: t for t in body["allowed_transitions"]}
    assert {"trigger", "allowed", "reason"} <= set(transitions["submit_reflection"])
    assert transitions["submit_reflection"]["allowed"] is False
    assert "саморефлексия" in transitions["submit_reflection"]["reason"]
    assert transitions["approve"]["allowed"] is False and transitions["approve"]["reason"]


def test_route_not_found_and_another_teachers_route(api, district):
    mine = district.route()
    assert_error(api.get("/routes/999999", "teacher"), 404, "not_found")
    assert_error(api.get(f"/routes/{mine.id}", "teacher2"), 404, "not_found")
    assert_error(api.get(f"/routes/{mine.id}", "director2"), 404)
    assert_error(api.get(f"/routes/{mine.id}", "curator2"), 404)
    assert_error(api.get(f"/routes/{2**40}", "teacher"), 404)


# --- creating ---------------------------------------------------------------------------------------

def test_teacher_creates_own_route_with_empty_body(api, district):
    response = api.post("/routes", "teacher", json={})
    assert response.status_code == 201
    body = response.json
    assert body["state"] == "drafted" and body["teacher"]["login"] == "teacher"
    assert body["curator"]["login"] == "curator"
    assert response.headers["Location"].endswith(f"{API}/routes/{body['id']}")
    assert api.get(f"/routes/{body['id']}", "teacher").status_code == 200


def test_teacher_creates_route_with_initial_fields(api, district):
    today = date.today()
    response = api.post("/routes", "teacher", json={
        "period_start": today.isoformat(), "period_end": (today + timedelta(days=365)).isoformat(),
        "general_info": {"education": "Высшее, КубГУ", "subject": "Математика", "experience_years": 12,
                         "qualification_category": "первая", "attestation_date": "2021-04-15"},
        "request": "Формирование функциональной грамотности",
        "activities": [activity_data(0), activity_data(1)],
    })
    assert response.status_code == 201, response.json
    body = response.json
    assert body["general_info"]["subject"] == "Математика"
    assert body["general_info"]["experience_years"] == 12
    assert body["general_info"]["attestation_date"] == "2021-04-15"
    assert body["general_info"]["workplace"] == "СОШ № 1"
    assert [a["stage"] for a in body["activities"]] == ["diagnostic_motivational", "design"]
    assert all(a["status"] == "planned" for a in body["activities"])


@pytest.mark.parametrize("login,teacher,expected", [
    ("curator", "teacher", 201), ("admin", "teacher", 201), ("admin", "teacher2", 201),
    ("curator", "teacher2", 403), ("curator2", "teacher", 403), ("teacher", "teacher2", 403),
    ("director1", "teacher", 403), ("head", "teacher", 403),
])
def test_create_for_a_teacher(api, district, login, teacher, expected):
    teacher_id = getattr(district, "teacher" if teacher == "teacher" else "other_teacher").id
    response = api.post("/routes", login, json={"teacher_id": teacher_id})
    if expected == 201:
        assert response.status_code == 201, response.json
        assert response.json["teacher"]["id"] == teacher_id
    else:
        assert_error(response, 403, "forbidden")
        assert route_count() == 0


@pytest.mark.parametrize("login", ["admin", "director1", "head"])
def test_non_teachers_cannot_create_a_route_for_themselves(api, district, login):
    assert_error(api.post("/routes", login, json={}), 403, "forbidden")


def test_create_from_diagnostic_without_results_is_409(api, district):
    body = assert_error(api.post("/routes", "teacher", json={"from_diagnostic": True}), 409)
    assert "диагностик" in body["message"]
    assert route_count() == 0


@pytest.mark.parametrize("payload", [
    {"state": "closed"}, {"school_id": 2}, {"curator_id": 1}, {"version": 7}, {"id": 5},
    {"teacher_id": "abc"}, {"teacher_id": 0}, {"period_start": "01.09.2024x"}, {"period_end": "2024-13-01"},
    {"general_info": {"experience_years": "много"}}, {"general_info": {"experience_years": 120}},
    {"general_info": {"subject": "x" * 201}}, {"general_info": {"position": 5}}, {"general_info": "text"},
    {"general_info": {"state": "closed"}}, {"request": "NUL\x00byte"}, {"from_diagnostic": "maybe"},
    {"activities": [{"stage": "nowhere", "direction": "methodical", "deficit": "Д"}]},
    {"activities": [{"direction": "methodical", "deficit": "Д"}]},
    {"activities": [{**activity_data(0), "status": "done"}]},
    {"activities": "none"},
])
def test_create_rejects_bad_or_foreign_fields(api, district, payload):
    body = assert_error(api.post("/routes", "teacher", json=payload), 422, "validation_error")
    assert body["details"]
    assert route_count() == 0


def test_create_rejects_a_period_ending_before_it_starts(api, district):
    assert_error(api.post("/routes", "teacher", json={"period_start": "2025-09-01", "period_end": "2025-01-01"}),
                 422, "validation_error")
    assert_error(api.post("/routes", "teacher", json={"activities": [
        {"stage": "design", "direction": "methodical"}]}), 422, "validation_error")
    assert route_count() == 0


# --- editing ------------------------------------------------------------------------------------------

def test_patch_route_sections(api, district):
    route = district.route()
    version = route.version
    response = api.patch(f"/routes/{route.id}", "teacher", json={
        "version": version, "request": "Новый запрос",
        "general_info": {"education": "Высшее", "experience_years": 7, "attestation_date": None},
        "period_end": (date.today() + timedelta(days=400)).isoformat(),
    })
    assert response.status_code == 200, response.json
    body = response.json
    assert body["version"] == version + 1
    assert body["request"] == "Новый запрос"
    assert body["general_info"]["education"] == "Высшее" and body["general_info"]["experience_years"] == 7
    # The curator may edit a draft too.
    assert api.patch(f"/routes/{route.id}", "curator",
                     json={"version": body["version"], "request": "Уточнён"}).status_code == 200


def test_patch_with_stale_version_is_409_and_loses_nothing(api, district):
    route = district.route()
    version = route.version
    first = api.patch(f"/routes/{route.id}", "teacher", json={"version": version, "request": "Первый"})
    assert first.status_code == 200
    stale = api.patch(f"/routes/{route.id}", "curator", json={"version": version, "request": "Второй"})
    assert_error(stale, 409, "stale_version")
    fresh = fresh_route(route.id)
    assert fresh.request == "Первый" and fresh.version == version + 1


@pytest.mark.parametrize("payload", [
    {"request": "без версии"}, {"version": "1", "request": "x"}, {"version": 1, "state": "closed"},
    {"version": 1, "teacher_id": 8}, {"version": 1, "school_id": 2}, {"version": 1, "curator_id": 6},
    {"version": 1, "general_info": {"state": "closed"}}, {"version": 1, "activities": []},
])
def test_patch_rejects_missing_version_and_mass_assignment(api, district, payload):
    route = district.route()
    before = (route.state, route.teacher_id, route.school_id, route.curator_id, route.version)
    if "version" in payload and isinstance(payload["version"], int):
        payload = {**payload, "version": route.version}
    assert_error(api.patch(f"/routes/{route.id}", "teacher", json=payload), 422, "validation_error")
    fresh = fresh_route(route.id)
    assert (fresh.state, fresh.teacher_id, fresh.school_id, fresh.curator_id, fresh.version) == before


def test_patch_permissions(api, district):
    route = district.route()
    version = route.version
    assert_error(api.patch(f"/routes/{route.id}", "teacher", json={"version": version}), 422)
    assert_error(api.patch(f"/routes/{route.id}", "director1", json={"version": version, "request": "x"}),
                 403, "forbidden")
    assert_error(api.patch(f"/routes/{route.id}", "teacher2", json={"version": version, "request": "x"}),
                 404, "not_found")
    body = assert_error(api.patch(f"/routes/{route.id}", "teacher",
                                  json={"version": version, "recommendations": "сам себе"}), 409)
    assert body["message"]
    assert fresh_route(route.id).version == version


# --- transitions --------------------------------------------------------------------------------------

def test_transition_returns_the_new_state(api, district):
    route = district.route(state="under_review")
    version = route.version
    response = api.fire(route.id, "approve", "curator", comment="Согласовано", version=version)
    assert response.status_code == 200, response.json
    assert set(response.json) == {"id", "state", "state_label", "version", "updated_at"}
    assert response.json["state"] == "curator_approved"
    assert response.json["version"] == version + 1
    last = api.get(f"/routes/{route.id}", "curator").json["history"][-1]
    assert (last["event"], last["from_state"], last["to_state"], last["comment"]) == \
        ("approve", "drafted", "curator_approved", "Согласовано")
    assert last["actor"]["login"] == "curator"


@pytest.mark.parametrize("login", ["teacher", "director1", "head", "admin"])
def test_transition_by_a_role_that_may_not_is_403(api, district, login):
    route = district.route(state="under_review")
    assert_error(api.fire(route.id, "approve", login, version=route.version), 403, "forbidden")
    assert fresh_route(route.id).state == "drafted"


def test_transition_not_allowed_now_is_409_with_reason(api, district):
    route = district.route(activities=0)
    body = assert_error(api.fire(route.id, "request_review", "teacher", version=route.version),
                        409, "transition_not_allowed")
    assert body["message"] == "В дорожной карте нет ни одного мероприятия"
    draft = district.route()
    body = assert_error(api.fire(draft.id, "approve", "curator", version=draft.version), 409)
    assert "ещё не отправил" in body["message"]
    assert_error(api.fire(draft.id, "close", "curator", version=draft.version), 409, "transition_not_allowed")


def test_transition_with_stale_version_is_409(api, district):
    route = district.route(state="under_review")
    assert_error(api.fire(route.id, "approve", "curator", version=route.version - 1), 409, "stale_version")
    assert fresh_route(route.id).state == "drafted"


@pytest.mark.parametrize("payload", [
    {"trigger": "return_to_draft", "comment": "  "}, {"trigger": "return_to_draft"},
    {"trigger": "to_closed"}, {"trigger": "approve", "state": "closed"}, {"comment": "нет триггера"},
    {"trigger": "approve", "version": "x"},
])
def test_transition_bad_input_is_422(api, district, payload):
    route = district.route(state="under_review")
    payload = {"version": route.version, **payload}
    assert_error(api.post(f"/routes/{route.id}/transitions", "curator", json=payload), 422, "validation_error")
    fresh = fresh_route(route.id)
    assert fresh.state == "drafted" and fresh.version == route.version


def test_transition_on_another_teachers_route_is_404(api, district):
    route = district.route(state="under_review")
    assert_error(api.fire(route.id, "approve", "curator2", version=route.version), 404)


def test_department_head_archives_with_a_reason(api, district):
    route = district.route(state="in_progress")
    assert_error(api.fire(route.id, "archive", "head", version=route.version), 422)
    response = api.fire(route.id, "archive", "head", comment="Педагог уволился", version=route.version,
                        whole=True)
    assert response.status_code == 200 and response.json["state"] == "closed"
    assert all(not t["allowed"] for t in response.json["allowed_transitions"])


# --- road map ------------------------------------------------------------------------------------------

def test_activities_crud_on_a_draft(api, district):
    route = district.route()
    version, first_id = route.version, route.activities[0].id
    listing = api.get(f"/routes/{route.id}/activities", "teacher").json
    assert listing["version"] == version and [a["id"] for a in listing["items"]] == [first_id]

    created = api.post(f"/routes/{route.id}/activities", "teacher",
                       json={**activity_data(2), "version": version})
    assert created.status_code == 201, created.json
    assert len(created.json["activities"]) == 2 and created.json["version"] == version + 1
    new = created.json["activities"][-1]
    assert new["stage"] == "implementation" and new["deadline"] == activity_data(2)["deadline"]
    assert created.headers["Location"].endswith(f"/routes/{route.id}/activities/{new['id']}")
    assert api.get(f"/routes/{route.id}/activities/{new['id']}", "teacher").json["deficit"] == "Дефицит 3"

    patched = api.patch(f"/routes/{route.id}/activities/{new['id']}", "curator",
                        json={"version": created.json["version"], "forms": "Стажировка", "deadline": "2030-05-20"})
    assert patched.status_code == 200, patched.json
    changed = next(a for a in patched.json["activities"] if a["id"] == new["id"])
    assert (changed["forms"], changed["deadline"]) == ("Стажировка", "2030-05-20")

    deleted = api.delete(f"/routes/{route.id}/activities/{new['id']}?version={patched.json['version']}", "teacher")
    assert deleted.status_code == 200
    assert [a["id"] for a in deleted.json["activities"]] == [first_id]
    assert_error(api.get(f"/routes/{route.id}/activities/{new['id']}", "teacher"), 404)


def test_activity_edits_carry_the_route_version(api, district):
    route = district.route()
    activity_id, version = route.activities[0].id, route.version
    assert_error(api.patch(f"/routes/{route.id}/activities/{activity_id}", "teacher", json={"forms": "x"}), 422)
    assert_error(api.delete(f"/routes/{route.id}/activities/{activity_id}", "teacher"), 422)
    assert_error(api.post(f"/routes/{route.id}/activities", "teacher", json=activity_data(1)), 422)
    assert api.patch(f"/routes/{route.id}", "teacher",
                     json={"version": version, "request": "Изменён"}).status_code == 200
    stale = api.patch(f"/routes/{route.id}/activities/{activity_id}", "teacher",
                      json={"version": version, "forms": "Старое"})
    assert_error(stale, 409, "stale_version")
    assert_error(api.delete(f"/routes/{route.id}/activities/{activity_id}?version={version}", "teacher"),
                 409, "stale_version")
    db.session.expire_all()
    assert fresh_route(route.id).activities[0].forms == "Курсы ПК"


@pytest.mark.parametrize("payload", [
    {"stage": "somewhere"}, {"direction": "spiritual"}, {"deadline": "завтра"}, {"status": "done", "forms": "x"},
    {"product": "без статуса"}, {}, {"route_id": 2}, {"id": 3}, {"position": 1},
])
def test_activity_patch_bad_input_is_422(api, district, payload):
    route = district.route()
    response = api.patch(f"/routes/{route.id}/activities/{route.activities[0].id}", "teacher",
                         json={"version": route.version, **payload})
    assert_error(response, 422, "validation_error")
    assert fresh_route(route.id).version == route.version


def test_activity_errors_by_state_and_owner(api, district):
    running = district.route(state="in_progress")
    assert_error(api.post(f"/routes/{running.id}/activities", "teacher",
                          json={**activity_data(1), "version": running.version}), 409)
    draft = district.route()
    other = district.route(teacher=district.other_teacher)
    assert_error(api.patch(f"/routes/{draft.id}/activities/{other.activities[0].id}", "teacher",
                           json={"version": draft.version, "forms": "x"}), 404)
    assert_error(api.post(f"/routes/{other.id}/activities", "teacher",
                          json={**activity_data(1), "version": other.version}), 404)
    assert_error(api.post(f"/routes/{draft.id}/activities", "director1",
                          json={**activity_data(1), "version": draft.version}), 403)


def test_recording_activity_results(api, district):
    route = district.route(state="in_progress", activities=3)
    first, second, third = (a.id for a in route.activities)
    done = api.patch(f"/routes/{route.id}/activities/{first}", "teacher", json={
        "version": route.version, "status": "done", "product": "Конспект урока",
        "product_url": "https://school.example/lesson"})
    assert done.status_code == 200, done.json
    item = next(a for a in done.json["activities"] if a["id"] == first)
    assert (item["status"], item["product"], item["product_url"]) == \
        ("done", "Конспект урока", "https://school.example/lesson")

    version = done.json["version"]
    assert_error(api.post(f"/routes/{route.id}/activities/{second}/result", "teacher",
                          json={"version": version, "status": "not_done"}), 422)
    assert_error(api.post(f"/routes/{route.id}/activities/{second}/result", "teacher",
                          json={"version": version, "status": "done", "product": "П",
                                "product_url": "javascript:alert(1)"}), 422)
    assert_error(api.post(f"/routes/{route.id}/activities/{second}/result", "teacher",
                          json={"version": version, "status": "finished"}), 422)
    not_done = api.post(f"/routes/{route.id}/activities/{second}/result", "teacher",
                        json={"version": version, "status": "not_done", "reason": "Курсы перенесены"})
    assert not_done.status_code == 200
    item = next(a for a in not_done.json["activities"] if a["id"] == second)
    assert (item["status"], item["reason"]) == ("not_done", "Курсы перенесены")
    assert_error(api.post(f"/routes/{route.id}/activities/{third}/result", "teacher",
                          json={"version": version, "status": "done", "product": "П"}), 409, "stale_version")
    assert_error(api.post(f"/routes/{route.id}/activities/{third}/result", "curator",
                          json={"version": not_done.json["version"], "status": "done", "product": "П"}), 409)
    draft = district.route()
    assert_error(api.post(f"/routes/{draft.id}/activities/{draft.activities[0].id}/result", "teacher",
                          json={"version": draft.version, "status": "done", "product": "П"}), 409)


# --- corrections -------------------------------------------------------------------------------------

def test_correction_request_and_approval(api, district):
    route = district.route(state="in_progress", activities=2)
    activity_id, version = route.activities[0].id, route.version
    requested = api.post(f"/routes/{route.id}/corrections", "teacher", json={
        "version": version, "reason": "Курсы перенесены на весну", "action": "change",
        "activity_id": activity_id, "fields": {"deadline": "2030-03-15"}})
    assert requested.status_code == 201, requested.json
    correction = requested.json["corrections"][-1]
    assert correction["status"] == "pending" and correction["proposal"]["action"] == "change"

    listing = api.get(f"/routes/{route.id}/corrections", "curator").json
    assert [c["id"] for c in listing["items"]] == [correction["id"]]
    transitions = {t["trigger"]: t for t in requested.json["allowed_transitions"]}
    assert transitions["submit_reflection"]["allowed"] is False

    assert_error(api.post(f"/routes/{route.id}/corrections/{correction['id']}/decision", "curator",
                          json={"approve": False, "version": listing["version"]}), 422)
    assert_error(api.post(f"/routes/{route.id}/corrections/{correction['id']}/decision", "director1",
                          json={"approve": True, "version": listing["version"]}), 403)
    assert_error(api.post(f"/routes/{route.id}/corrections/{correction['id']}/decision", "curator",
                          json={"approve": True, "version": version}), 409, "stale_version")
    decided = api.post(f"/routes/{route.id}/corrections/{correction['id']}/decision", "curator",
                       json={"approve": True, "comment": "Согласовано", "version": listing["version"]})
    assert decided.status_code == 200, decided.json
    changed = next(a for a in decided.json["activities"] if a["id"] == activity_id)
    assert changed["deadline"] == "2030-03-15"
    done = decided.json["corrections"][-1]
    assert done["status"] == "approved" and done["decided_by"]["login"] == "curator"
    assert done["previous_roadmap"][0]["deadline"] != "2030-03-15"
    assert [h["event"] for h in decided.json["history"]][-2:] == ["correction_requested", "correction_approved"]
    again = api.post(f"/routes/{route.id}/corrections/{correction['id']}/decision", "curator",
                     json={"approve": True, "version": decided.json["version"]})
    assert_error(again, 409, "transition_not_allowed")
    assert_error(api.post(f"/routes/{route.id}/corrections/999/decision", "curator",
                          json={"approve": True, "version": decided.json["version"]}), 404)


@pytest.mark.parametrize("payload", [
    {"reason": "r", "action": "change"}, {"reason": "r", "action": "remove"},
    {"reason": "r", "action": "rename", "activity_id": 1}, {"action": "add", "fields": activity_data(1)},
    {"reason": "r", "action": "add", "fields": {"stage": "nowhere"}},
    {"reason": "r", "action": "add", "fields": {**activity_data(1), "status": "done"}},
    {"reason": "r", "action": "add", "activity_id": 1, "fields": activity_data(1)},
])
def test_correction_bad_input_is_422(api, district, payload):
    route = district.route(state="in_progress")
    assert_error(api.post(f"/routes/{route.id}/corrections", "teacher", json={"version": route.version, **payload}),
                 422, "validation_error")
    assert fresh_route(route.id).corrections == []


def test_correction_not_allowed_outside_implementation(api, district):
    draft = district.route()
    assert_error(api.post(f"/routes/{draft.id}/corrections", "teacher", json={
        "version": draft.version, "reason": "r", "action": "add", "fields": activity_data(1)}), 409)
    running = district.route(state="in_progress")
    assert_error(api.post(f"/routes/{running.id}/corrections", "director1", json={
        "version": running.version, "reason": "r", "action": "add", "fields": activity_data(1)}), 403)


# --- the whole life cycle ---------------------------------------------------------------------------

def test_full_life_cycle_through_the_api(api, district):
    today = date.today()
    route = api.post("/routes", "teacher", json={}).json
    rid = route["id"]
    route = api.patch(f"/routes/{rid}", "teacher", json={
        "version": route["version"], "period_start": today.isoformat(),
        "period_end": (today + timedelta(days=300)).isoformat(),
        "request": "Затруднения в формировании читательской грамотности",
        "general_info": {"subject": "Русский язык", "experience_years": 5}}).json
    reasons = {t["trigger"]: t["reason"] for t in route["allowed_transitions"]}
    assert reasons["request_review"] == "В дорожной карте нет ни одного мероприятия"
    for i in range(2):
        route = api.post(f"/routes/{rid}/activities", "teacher", json={**activity_data(i), "version": route["version"]}).json

    route = api.fire(rid, "request_review", "teacher", version=route["version"]).json
    back = api.fire(rid, "return_to_draft", "curator", comment="Уточните сроки", version=route["version"]).json
    assert back["state"] == "drafted"
    route = api.fire(rid, "request_review", "teacher", version=back["version"]).json
    route = api.fire(rid, "approve", "curator", version=route["version"]).json
    assert route["state"] == "curator_approved"
    route = api.fire(rid, "start", "teacher", version=route["version"], whole=True).json
    assert route["state"] == "in_progress"
    for activity in route["activities"]:
        route = api.post(f"/routes/{rid}/activities/{activity['id']}/result", "teacher", json={
            "version": route["version"], "status": "done", "product": "Методическая разработка"}).json
    route = api.patch(f"/routes/{rid}", "teacher",
                      json={"version": route["version"], "reflection": "Дефициты устранены"}).json
    route = api.fire(rid, "submit_reflection", "teacher", version=route["version"]).json
    assert route["state"] == "reflected"
    body = assert_error(api.fire(rid, "close", "curator", version=route["version"]), 409)
    assert "рекомендации" in body["message"]
    route = api.patch(f"/routes/{rid}", "curator",
                      json={"version": route["version"], "recommendations": "Курсы ПК по ФГ"}).json
    route = api.fire(rid, "close", "curator", comment="Маршрут выполнен", version=route["version"]).json
    assert route["state"] == "closed"

    final = api.get(f"/routes/{rid}", "director1").json
    assert final["reflection"] == "Дефициты устранены" and final["recommendations"] == "Курсы ПК по ФГ"
    assert [(h["event"], h["to_state"]) for h in final["history"]] == [
        ("request_review", "drafted"), ("return_to_draft", "drafted"), ("request_review", "drafted"),
        ("approve", "curator_approved"), ("start", "in_progress"), ("submit_reflection", "reflected"),
        ("close", "closed")]
    assert final["history"][1]["comment"] == "Уточните сроки"
    assert [i["id"] for i in api.get("/routes?state=closed", "curator").json["items"]] == [rid]


# --- OpenAPI -------------------------------------------------------------------------------------------

def test_openapi_document_is_generated_and_complete(client, district):
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200 and response.is_json
    spec = response.json
    assert spec["openapi"].startswith("3.")
    expected = {
        "/api/v1/tokens": {"post"}, "/api/v1/tokens/current": {"delete"},
        "/api/v1/routes": {"get", "post"}, "/api/v1/routes/{route_id}": {"get", "patch"},
        "/api/v1/routes/{route_id}/transitions": {"post"},
        "/api/v1/routes/{route_id}/activities": {"get", "post"},
        "/api/v1/routes/{route_id}/activities/{activity_id}": {"get", "patch", "delete"},
        "/api/v1/routes/{route_id}/activities/{activity_id}/result": {"post"},
        "/api/v1/routes/{route_id}/corrections": {"get", "post"},
        "/api/v1/routes/{route_id}/corrections/{correction_id}/decision": {"post"},
    }
    for path, methods in expected.items():
        assert methods <= set(spec["paths"][path]), path
    scheme = spec["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert spec["security"] == [{"bearerAuth": []}]
    assert spec["paths"]["/api/v1/tokens"]["post"]["security"] == []
    route_props = spec["components"]["schemas"]["Route"]["properties"]
    assert ROUTE_KEYS <= set(route_props)
    assert set(spec["components"]["schemas"]["Error"]["properties"]) >= {"error", "message"}
    transitions = spec["paths"]["/api/v1/routes/{route_id}/transitions"]["post"]
    assert {"403", "409", "422"} <= set(transitions["responses"])


# --- concurrency ---------------------------------------------------------------------------------------

def test_concurrent_double_approval_through_the_api(app, district):
    route = district.route(state="under_review")
    route_id, version = route.id, route.version
    tokens = [accounts.issue_token(district.curator, 1)[0] for _ in range(2)]
    db.session.close()  # release this thread's transaction before the writers start
    barrier, statuses, bodies = threading.Barrier(2), [], []

    def approve(token):
        client = app.test_client()
        barrier.wait(timeout=30)
        response = client.post(f"{API}/routes/{route_id}/transitions",
                               json={"trigger": "approve", "version": version},
                               headers={"Authorization": f"Bearer {token}"})
        statuses.append(response.status_code)
        bodies.append(response.json)

    threads = [threading.Thread(target=approve, args=(token,)) for token in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 409], bodies
    loser = next(b for b in bodies if "error" in b)
    assert loser["error"] in {"stale_version", "transition_not_allowed", "conflict"} and loser["message"]
    fresh = fresh_route(route_id)
    assert fresh.state == "curator_approved" and fresh.version == version + 1
    approvals = db.session.execute(select(func.count(RouteEvent.id)).where(
        RouteEvent.route_id == route_id, RouteEvent.event == "approve")).scalar_one()
    assert approvals == 1
