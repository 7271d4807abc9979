"""Object-level access and mass assignment, spelled out (the access matrix covers every rule and role).

- a teacher cannot read, edit or download another teacher's route or file;
- a curator cannot touch another curator's teachers;
- a school head sees only their school;
- `state`, `teacher_id`, `school_id` (and kin) sent through forms or the API are rejected or ignored.
"""
import csv
import io

import pytest
from sqlalchemy import func, select

from access_samples import PDF
from models import Route, RouteEvent, db
from workflow import accounts, diagnostics, service


def _token(user):
    return {"Authorization": f"Bearer {accounts.issue_token(user, 1)[0]}"}


def _route_row(route_id):
    db.session.expire_all()
    route = db.session.get(Route, route_id)
    return (route.state, route.teacher_id, route.curator_id, route.school_id, route.version, route.request,
            len(route.activities))


def _routes_count():
    return db.session.execute(select(func.count(Route.id))).scalar_one()


@pytest.fixture
def with_file(district):
    route = district.route(state="in_progress")
    service.record_activity_result(
        route.id, route.activities[0].id, district.teacher, status="done", product="Конспект",
        file={"original_name": "Конспект.pdf", "content_type": "application/pdf", "size": len(PDF),
              "sha256": "0" * 64, "data": PDF}, version=route.version)
    db.session.expire_all()
    route = db.session.get(Route, route.id)
    return route, route.activities[0].product_file_id


# --- a teacher and another teacher's route --------------------------------------------------------

def test_teacher_cannot_read_or_download_anothers_route_or_file(client, auth, district, with_file):
    route, file_id = with_file
    auth.login("teacher2")
    for url in [f"/routes/{route.id}", f"/files/{file_id}", f"/routes/{route.id}/document.docx",
                f"/routes/{route.id}/activities/{route.activities[0].id}/result", f"/teachers/{district.teacher.id}"]:
        response = client.get(url)
        assert response.status_code == 404, url
        assert "Конспект" not in response.get_data(as_text=True)
    headers = _token(district.other_teacher)
    for url in [f"/api/v1/routes/{route.id}", f"/api/v1/routes/{route.id}/activities",
                f"/api/v1/routes/{route.id}/document.docx"]:
        assert client.get(url, headers=headers).status_code == 404, url
    listed = client.get("/api/v1/routes", headers=headers).get_json()
    assert route.id not in [item["id"] for item in listed["items"]]


def test_teacher_cannot_edit_anothers_route(client, auth, district):
    route = district.route()
    before = _route_row(route.id)
    auth.login("teacher2")
    assert client.post(f"/routes/{route.id}/edit", data={"request": "Чужое", "version": route.version}) \
        .status_code == 404
    assert client.post(f"/routes/{route.id}/activities/new", data={
        "stage": "design", "direction": "methodical", "deficit": "Чужое", "version": route.version}).status_code == 404
    assert client.post(f"/routes/{route.id}/transitions/request_review",
                       data={"version": route.version}).status_code == 404
    response = client.patch(f"/api/v1/routes/{route.id}", json={"version": route.version, "request": "Чужое"},
                            headers=_token(district.other_teacher))
    assert response.status_code == 404
    assert _route_row(route.id) == before


# --- a curator and another curator's teachers --------------------------------------------------------

def test_curator_cannot_touch_another_curators_teachers(client, auth, district):
    route = district.route(state="under_review")
    before, count = _route_row(route.id), _routes_count()
    auth.login("curator2")
    assert client.get(f"/routes/{route.id}").status_code == 404
    assert client.get(f"/teachers/{district.teacher.id}").status_code == 404
    assert client.post(f"/routes/{route.id}/transitions/approve", data={"version": route.version}).status_code == 404
    assert client.post("/routes/new", data={"teacher_id": district.teacher.id}).status_code == 403
    diagnostics.import_results(
        "ФИО;Школа;Диагностика;Дата;Компетенция;Балл;Дефицит\r\nПользователь teacher;СОШ № 1;Д;15.09.2022;К;1;да\r\n"
        .encode(), municipality=district.municipality)
    assert client.post("/diagnostics/routes/new", data={"teacher_id": district.teacher.id}).status_code == 403
    headers = _token(district.other_curator)
    assert client.post("/api/v1/routes", json={"teacher_id": district.teacher.id}, headers=headers).status_code == 403
    assert client.post(f"/api/v1/routes/{route.id}/transitions", headers=headers,
                       json={"trigger": "approve", "version": route.version}).status_code == 404
    assert _route_row(route.id) == before and _routes_count() == count
    queue = client.get("/queue").get_data(as_text=True)
    assert district.teacher.full_name not in queue


def test_curator_list_holds_only_their_teachers(client, auth, district):
    own = district.route()
    foreign = district.route(teacher=district.other_teacher)
    items = client.get("/api/v1/routes", headers=_token(district.curator)).get_json()["items"]
    assert [item["id"] for item in items] == [own.id]
    assert foreign.id not in [item["id"] for item in
                              client.get("/api/v1/routes", headers=_token(district.curator),
                                         query_string={"teacher_id": district.other_teacher.id}).get_json()["items"]]


# --- a school head and their school ----------------------------------------------------------------------

def test_school_head_sees_only_their_school(client, auth, district):
    own = district.route()
    foreign = district.route(teacher=district.other_teacher)
    headers = _token(district.school_head)
    ids = [item["id"] for item in client.get("/api/v1/routes", headers=headers).get_json()["items"]]
    assert ids == [own.id]
    filtered = client.get("/api/v1/routes", headers=headers, query_string={"school_id": district.other_school.id})
    assert filtered.get_json()["items"] == []
    assert client.get(f"/api/v1/routes/{foreign.id}", headers=headers).status_code == 404
    auth.login("director1")
    assert client.get(f"/routes/{foreign.id}").status_code == 404
    assert client.get(f"/teachers/{district.other_teacher.id}").status_code == 404
    page = client.get("/routes").get_data(as_text=True)
    assert district.teacher.full_name in page and district.other_teacher.full_name not in page
    exported = client.get("/routes/export.csv").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(exported.lstrip("\ufeff")), delimiter=";"))
    assert [row[0] for row in rows[1:]] == [str(own.id)]
    assert client.get(f"/routes/{foreign.id}/document.docx").status_code == 404


def test_school_head_cannot_act_on_routes_of_their_school(client, auth, district):
    route = district.route(state="under_review")
    before = _route_row(route.id)
    auth.login("director1")
    assert client.get(f"/routes/{route.id}").status_code == 200
    assert client.post(f"/routes/{route.id}/transitions/approve", data={"version": route.version}).status_code == 403
    assert client.post(f"/routes/{route.id}/edit", data={"request": "Правка", "version": route.version}) \
        .status_code == 403
    assert _route_row(route.id) == before


# --- mass assignment -------------------------------------------------------------------------------

FOREIGN = ["state", "teacher_id", "school_id", "curator_id", "version_id", "id", "diagnostic_id"]


def _foreign_values(district):
    return {"state": "closed", "teacher_id": district.other_teacher.id, "school_id": district.other_school.id,
            "curator_id": district.other_curator.id, "id": 999, "diagnostic_id": 1, "version_id": 7}


def test_web_edit_ignores_foreign_fields(client, auth, district):
    route = district.route()
    state, teacher_id, curator_id, school_id, version, _, activities = _route_row(route.id)
    auth.login("teacher")
    response = client.post(f"/routes/{route.id}/edit", data={
        "request": "Мой запрос", "version": version, **_foreign_values(district)})
    assert response.status_code == 302
    after = _route_row(route.id)
    assert after[:4] == (state, teacher_id, curator_id, school_id)
    assert after[5] == "Мой запрос"


def test_web_activity_ignores_foreign_fields(client, auth, district):
    route = district.route()
    other = district.route(teacher=district.other_teacher)
    auth.login("teacher")
    response = client.post(f"/routes/{route.id}/activities/new", data={
        "stage": "design", "direction": "methodical", "deficit": "Свой", "version": route.version,
        "route_id": other.id, "status": "done", "product": "Подлог", "product_file_id": 1})
    assert response.status_code == 302
    db.session.expire_all()
    added = db.session.get(Route, route.id).activities[-1]
    assert added.deficit == "Свой" and added.status == "planned" and added.product == ""
    assert added.product_file_id is None
    assert len(db.session.get(Route, other.id).activities) == 1


def test_web_create_route_ignores_school_and_state(client, auth, district):
    auth.login("teacher")
    response = client.post("/routes/new", data={"school_id": district.other_school.id, "state": "closed",
                                                "curator_id": district.other_curator.id})
    assert response.status_code == 302
    route = db.session.execute(select(Route).order_by(Route.id.desc())).scalars().first()
    assert (route.state, route.teacher_id, route.school_id, route.curator_id) == (
        "drafted", district.teacher.id, district.school.id, district.curator.id)


def test_web_create_route_for_another_teacher_is_refused(client, auth, district):
    count = _routes_count()
    auth.login("teacher")
    assert client.post("/routes/new", data={"teacher_id": district.other_teacher.id}).status_code == 403
    assert _routes_count() == count


@pytest.mark.parametrize("field", FOREIGN)
def test_api_patch_rejects_foreign_fields(client, district, field):
    route = district.route()
    before = _route_row(route.id)
    response = client.patch(f"/api/v1/routes/{route.id}", headers=_token(district.teacher), json={
        "version": route.version, "request": "Мой запрос", field: _foreign_values(district)[field]})
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == "validation_error" and field in body["details"]
    assert _route_row(route.id) == before


@pytest.mark.parametrize("field", ["state", "school_id", "curator_id", "id"])
def test_api_create_rejects_foreign_fields(client, district, field):
    count = _routes_count()
    response = client.post("/api/v1/routes", headers=_token(district.teacher),
                           json={"request": "Запрос", field: _foreign_values(district)[field]})
    assert response.status_code == 422
    assert field in response.get_json()["details"]
    assert _routes_count() == count


def test_api_create_for_another_teacher_is_refused(client, district):
    count = _routes_count()
    response = client.post("/api/v1/routes", headers=_token(district.teacher),
                           json={"teacher_id": district.other_teacher.id})
    assert response.status_code == 403
    assert _routes_count() == count


def test_api_activity_rejects_foreign_fields(client, district):
    route = district.route()
    activity = route.activities[0]
    headers = _token(district.teacher)
    for body in ({"route_id": 1}, {"id": 5}, {"position": 9}, {"product_file_id": 1}):
        response = client.patch(f"/api/v1/routes/{route.id}/activities/{activity.id}", headers=headers,
                                json={"version": route.version, "deficit": "Д", **body})
        assert response.status_code == 422, body
    response = client.post(f"/api/v1/routes/{route.id}/activities", headers=headers, json={
        "version": route.version, "stage": "design", "direction": "methodical", "deficit": "Д", "status": "done"})
    assert response.status_code == 422
    assert _route_row(route.id)[-1] == 1


def test_api_transition_cannot_name_a_state(client, district):
    route = district.route(state="under_review")
    response = client.post(f"/api/v1/routes/{route.id}/transitions", headers=_token(district.curator),
                           json={"trigger": "approve", "version": route.version, "state": "closed"})
    assert response.status_code == 422
    assert _route_row(route.id)[0] == "drafted"
    events = db.session.execute(select(func.count(RouteEvent.id)).where(RouteEvent.route_id == route.id))
    assert events.scalar_one() == 1  # only the request for review


def test_service_ignores_state_among_edited_fields(district):
    route = district.route()
    service.update_route(route.id, district.teacher, {"request": "Запрос", "state": "closed",
                                                      "teacher_id": district.other_teacher.id}, route.version)
    state, teacher_id, *_ = _route_row(route.id)
    assert (state, teacher_id) == ("drafted", district.teacher.id)
