"""Access through the web: every role on every route page and action.

The route belongs to district.teacher (school 1, curator "curator"). Viewers are the teacher, the curator,
the school's head, the department head and the admin; the other teacher, the other curator and the other
school's head get 404 (ids do not leak); anonymous users go to the login page. A viewer who may not act
gets 403 (no part in the route) or 409 (a part, but not this action in this state), and nothing changes.
"""
import pytest
from sqlalchemy import func, select

from models import Route, RouteEvent, db
from workflow import service

ROLES = ["anonymous", "teacher", "other_teacher", "curator", "other_curator", "school_head",
         "other_school_head", "head", "admin"]
LOGINS = {"teacher": "teacher", "other_teacher": "teacher2", "curator": "curator", "other_curator": "curator2",
          "school_head": "director1", "other_school_head": "director2", "head": "head", "admin": "admin"}
VIEWERS = {"teacher", "curator", "school_head", "head", "admin"}


def _activity(route):
    return route.activities[0].id


def _pending_correction(district, route):
    _, correction = service.request_correction(
        route.id, district.teacher, reason="Нужно", action="add",
        fields={"stage": "design", "direction": "methodical", "deficit": "Вебинар"}, version=route.version)
    return correction.id


def _file(district, route):
    service.record_activity_result(
        route.id, route.activities[0].id, district.teacher, status="done", product="П",
        file={"original_name": "Отчёт.pdf", "content_type": "application/pdf", "size": 3, "sha256": "0" * 64,
              "data": b"pdf"}, version=route.version)
    db.session.expire_all()
    return db.session.get(Route, route.id).activities[0].product_file_id


ACTIVITY = {"stage": "design", "direction": "methodical", "deficit": "Новый дефицит"}

# name: (state, method, url(route, extra), form data, allowed roles, refusals of other viewers, setup)
# A refusal of 403 means the viewer has no part in the route; 409 means a part, but not this action now.
DRAFT_REFUSALS = {"school_head": 403, "admin": 403, "head": 409}
TEACHER_REFUSALS = {"curator": 409, "head": 409, "school_head": 403, "admin": 403}
CURATOR_REFUSALS = {"teacher": 409, "head": 409, "school_head": 403, "admin": 403}
CASES = {
    "route page": ("drafted", "GET", lambda r, x: f"/routes/{r.id}", None, VIEWERS, {}, None),
    "teacher profile": ("drafted", "GET", lambda r, x: f"/teachers/{r.teacher_id}", None, VIEWERS, {}, None),
    "edit page": ("drafted", "GET", lambda r, x: f"/routes/{r.id}/edit", None, {"teacher", "curator"},
                  DRAFT_REFUSALS, None),
    "edit": ("drafted", "POST", lambda r, x: f"/routes/{r.id}/edit", {"request": "Чужая правка"},
             {"teacher", "curator"}, DRAFT_REFUSALS, None),
    "add activity": ("drafted", "POST", lambda r, x: f"/routes/{r.id}/activities/new", ACTIVITY,
                     {"teacher", "curator"}, DRAFT_REFUSALS, None),
    "edit activity": ("drafted", "POST", lambda r, x: f"/routes/{r.id}/activities/{_activity(r)}/edit",
                      ACTIVITY, {"teacher", "curator"}, DRAFT_REFUSALS, None),
    "delete activity": ("drafted", "POST", lambda r, x: f"/routes/{r.id}/activities/{_activity(r)}/delete",
                        {}, {"teacher", "curator"}, DRAFT_REFUSALS, None),
    "request review": ("drafted", "POST", lambda r, x: f"/routes/{r.id}/transitions/request_review", {},
                       {"teacher"}, {"curator": 403, "school_head": 403, "head": 403, "admin": 403}, None),
    "approve": ("under_review", "POST", lambda r, x: f"/routes/{r.id}/transitions/approve", {},
                {"curator"}, {"teacher": 403, "school_head": 403, "head": 403, "admin": 403}, None),
    "return to draft": ("under_review", "POST", lambda r, x: f"/routes/{r.id}/transitions/return_to_draft",
                        {"comment": "Доработать"}, {"curator"},
                        {"teacher": 403, "school_head": 403, "head": 403, "admin": 403}, None),
    "start": ("curator_approved", "POST", lambda r, x: f"/routes/{r.id}/transitions/start", {},
              {"teacher", "curator"}, {"school_head": 403, "head": 403, "admin": 403}, None),
    "archive": ("in_progress", "POST", lambda r, x: f"/routes/{r.id}/transitions/archive",
                {"comment": "Причина"}, {"head"},
                {"teacher": 403, "curator": 403, "school_head": 403, "admin": 403}, None),
    "result page": ("in_progress", "GET", lambda r, x: f"/routes/{r.id}/activities/{_activity(r)}/result", None,
                    {"teacher"}, TEACHER_REFUSALS, None),
    "record result": ("in_progress", "POST", lambda r, x: f"/routes/{r.id}/activities/{_activity(r)}/result",
                      {"status": "not_done", "reason": "Болезнь"}, {"teacher"}, TEACHER_REFUSALS, None),
    "request correction": ("in_progress", "POST", lambda r, x: f"/routes/{r.id}/corrections/new",
                           {**ACTIVITY, "action": "add", "reason": "Нужно"}, {"teacher"}, TEACHER_REFUSALS, None),
    "reflection": ("in_progress", "POST", lambda r, x: f"/routes/{r.id}/reflection", {"text": "Итоги"},
                   {"teacher"}, TEACHER_REFUSALS, None),
    "decide correction": ("in_progress", "POST", lambda r, x: f"/routes/{r.id}/corrections/{x}/decision",
                          {"decision": "approve"}, {"curator"}, CURATOR_REFUSALS, _pending_correction),
    "recommendations": ("reflected", "POST", lambda r, x: f"/routes/{r.id}/recommendations",
                        {"text": "Курсы"}, {"curator"}, CURATOR_REFUSALS, None),
    "return reflection": ("reflected", "POST", lambda r, x: f"/routes/{r.id}/transitions/return_reflection",
                          {"comment": "Доработать"}, {"curator"},
                          {"teacher": 403, "school_head": 403, "head": 403, "admin": 403}, None),
    "download product": ("in_progress", "GET", lambda r, x: f"/files/{x}", None, VIEWERS, {}, _file),
}


def _snapshot(route_id):
    db.session.expire_all()
    route = db.session.get(Route, route_id)
    events = db.session.execute(select(func.count(RouteEvent.id)).where(RouteEvent.route_id == route_id))
    return route.state, route.version, events.scalar_one()


def _prepared(district, state, setup):
    route = district.route(state=state)
    extra = setup(district, route) if setup else None
    db.session.expire_all()
    return db.session.get(Route, route.id), extra


@pytest.mark.parametrize("case", list(CASES))
def test_route_access(client, auth, district, case):
    """Try one page or action as every role; a refused try changes nothing."""
    state, method, url, data, allowed, refusals, setup = CASES[case]
    shared = _prepared(district, state, setup)
    for role in ROLES:
        # A successful change needs a route of its own; refused tries share one.
        route, extra = _prepared(district, state, setup) if role in allowed and method == "POST" else shared
        auth.logout()
        if role != "anonymous":
            auth.login(LOGINS[role])
        before = _snapshot(route.id)
        if method == "GET":
            response = client.get(url(route, extra))
        else:
            response = client.post(url(route, extra), data={**(data or {}), "version": route.version})
        text = response.get_data(as_text=True)

        if role == "anonymous":
            assert response.status_code == 302 and "/login" in response.headers["Location"], role
        elif role in allowed:
            assert response.status_code == (200 if method == "GET" else 302), (role, text[:300])
            if method == "POST":
                assert _snapshot(route.id) != before, role  # the action happened
        elif role in VIEWERS:
            assert response.status_code == refusals[role], (role, response.status_code)
        else:
            assert response.status_code == 404, role
        if role not in allowed:
            assert _snapshot(route.id) == before, role
            if role != "anonymous":
                assert "<html" in text and "Traceback" not in text


def test_lists_show_only_what_each_role_may_see(client, auth, district):
    own = district.route()
    other = district.route(teacher=district.other_teacher)
    expectations = {
        "teacher": {own.id}, "teacher2": {other.id}, "curator": {own.id}, "curator2": {other.id},
        "director1": {own.id}, "director2": {other.id}, "head": {own.id, other.id}, "admin": {own.id, other.id},
    }
    for login, expected in expectations.items():
        auth.logout()
        auth.login(login)
        html = client.get("/routes").get_data(as_text=True)
        shown = {route_id for route_id in (own.id, other.id) if f'href="/routes/{route_id}"' in html}
        assert shown == expected, login


def test_queue_is_for_curators_only(client, auth, district):
    for login in ["teacher", "director1", "head", "admin"]:
        auth.logout()
        auth.login(login)
        assert client.get("/queue").status_code == 403
    auth.logout()
    assert "/login" in client.get("/queue").headers["Location"]


def test_home_redirects_each_role(client, auth, district):
    homes = {"teacher": "/routes", "curator": "/inbox", "director1": "/routes", "head": "/routes",
             "admin": "/admin/users"}
    for login, home in homes.items():
        auth.logout()
        auth.login(login)
        assert client.get("/").headers["Location"].endswith(home), login
    auth.logout()
    assert "/login" in client.get("/").headers["Location"]


def test_school_head_page_is_read_only(client, auth, district):
    route = district.route(state="in_progress")
    auth.login("director1")
    html = client.get(f"/routes/{route.id}").get_data(as_text=True)
    assert "data-trigger=" not in html and "/edit" not in html and "/result" not in html
    assert "Сейчас от вас действий не требуется." in html


def test_unknown_ids_are_404(client, auth, district):
    auth.login("admin")
    for url in ["/routes/999999", "/teachers/999999", "/files/999999", "/routes/999999/edit"]:
        assert client.get(url).status_code == 404, url
    route = district.route()
    auth.logout()
    auth.login("teacher")
    assert client.get(f"/routes/{route.id}/activities/999999/edit").status_code == 404
    response = client.post(f"/routes/{route.id}/transitions/nonsense", data={"version": route.version})
    assert response.status_code == 422 and "Неизвестное действие" in response.get_data(as_text=True)
