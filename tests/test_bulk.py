"""Bulk transitions: each route succeeds or fails on its own, with its reason; limits, forged ids, CSRF, API."""
import re

from conftest import PASSWORD
from models import Municipality, Route, RouteEvent, db
from sqlalchemy import func, select
from workflow import accounts, bulk, service


def _state(route_id):
    db.session.expire_all()
    route = db.session.get(Route, route_id)
    return route.state, route.review_requested_at is not None


def _events():
    return db.session.execute(select(func.count(RouteEvent.id))).scalar_one()


def _foreign_route():
    """A route under review in another municipality."""
    elsewhere = Municipality(name="МО Соседний район")
    db.session.add(elsewhere)
    db.session.commit()
    school = accounts.create_school("СОШ № 9", elsewhere)
    curator = accounts.create_user("far_curator", role="curator", full_name="Далёкая Куратор Петровна",
                                   password=PASSWORD, municipality=elsewhere)
    teacher = accounts.create_user("far_teacher", role="teacher", full_name="Далёкий Педагог Иванович",
                                   password=PASSWORD, school=school, municipality=elsewhere)
    accounts.assign_curator(teacher, curator)
    return teacher


def _results(html):
    """Route ids listed as done and as not done on the result page."""
    def ids(block_id):
        block = re.search(rf'<ul[^>]*id="{block_id}".*?</ul>', html, re.S)
        return [int(x) for x in re.findall(r'data-route="(\d+)"', block.group(0))] if block else []
    return ids("bulk-succeeded"), ids("bulk-failed")


def test_partial_success_reports_each_route(client, auth, district):
    d = district
    good = [d.route(state="under_review").id for _ in range(3)]
    not_sent = d.route(state="drafted").id                        # guard: not sent for review
    stale = d.route(state="under_review")                          # changed since the page was shown
    foreign = d.route(teacher=d.other_teacher, state="under_review").id  # another curator's: hidden
    shown_version = stale.version
    service.update_route(stale.id, d.teacher, {"request": "Уточнённый запрос"}, shown_version)
    auth.login("curator")
    ids = [*map(str, good), str(not_sent), f"{stale.id}:{shown_version}", str(foreign), "999999"]
    response = client.post("/routes/bulk", data={"action": "approve", "route_ids": ids})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    done, failed = _results(html)
    assert done == good and failed == [not_sent, stale.id, foreign, 999999]
    assert all(_state(r) == ("curator_approved", False) for r in good)
    assert _state(not_sent) == ("drafted", False) and _state(stale.id) == ("drafted", True)
    assert _state(foreign) == ("drafted", True)
    assert "Педагог ещё не отправил маршрут на согласование" in html  # the guard's reason
    assert "Маршрут уже изменён другим пользователем" in html
    assert html.count("Маршрут не найден") == 2
    # A route one may not see shows neither its teacher nor its school.
    assert "Пользователь teacher2" not in html and "СОШ № 2" not in html
    assert "Выполнено: 3, не выполнено: 4." in html


def test_outcome_statuses_and_reasons(district):
    d = district
    under_review = d.route(state="under_review").id
    # The department head may archive but not approve: 403 with the reason, nothing changed.
    outcome = bulk.bulk_transition(d.head, "approve", [under_review])
    assert outcome.status == 403 and outcome.failed[0].code == "forbidden"
    assert "куратору" in outcome.failed[0].message
    outcome = bulk.bulk_transition(d.curator, "approve", [under_review, under_review])  # repeated id: once
    assert outcome.status == 200 and [r.route_id for r in outcome.results] == [under_review]
    outcome = bulk.bulk_transition(d.curator, "approve", [under_review])  # now not allowed: 409
    assert outcome.status == 409 and outcome.failed[0].code == "transition_not_allowed"
    assert bulk.bulk_transition(d.other_curator, "approve", [under_review]).status == 404


def test_return_and_archive_need_a_comment(client, auth, district):
    d = district
    route_id = d.route(state="under_review").id
    events = _events()
    auth.login("curator")
    response = client.post("/routes/bulk", data={"action": "return_to_draft", "route_ids": [route_id],
                                                 "comment": "   "})
    assert response.status_code == 422 and "нужен комментарий" in response.get_data(as_text=True)
    assert _state(route_id) == ("drafted", True) and _events() == events
    response = client.post("/routes/bulk", data={"action": "return_to_draft", "route_ids": [route_id],
                                                 "comment": "Уточните сроки"})
    assert response.status_code == 200 and _state(route_id) == ("drafted", False)
    event = db.session.execute(select(RouteEvent).order_by(RouteEvent.id.desc())).scalars().first()
    assert (event.event, event.comment) == ("return_to_draft", "Уточните сроки")


def test_head_archives_several_routes(client, auth, district):
    d = district
    routes = [d.route(state="in_progress").id, d.route(teacher=d.other_teacher, state="curator_approved").id]
    closed = d.route(state="closed").id
    auth.login("head")
    response = client.post("/routes/bulk", data={"action": "archive", "route_ids": [*routes, closed]})
    assert response.status_code == 422 and "причину" in response.get_data(as_text=True)
    response = client.post("/routes/bulk", data={"action": "archive", "route_ids": [*routes, closed],
                                                 "comment": "Педагог уволился"})
    done, failed = _results(response.get_data(as_text=True))
    assert response.status_code == 200 and done == routes and failed == [closed]
    assert all(_state(r)[0] == "closed" for r in routes)
    # The curator has no archive action.
    auth.logout()
    auth.login("curator")
    response = client.post("/routes/bulk", data={"action": "archive", "route_ids": [d.route().id],
                                                 "comment": "Причина"})
    assert response.status_code == 403


def test_too_many_ids_and_bad_input_change_nothing(client, auth, district):
    route_id = district.route(state="under_review").id
    events = _events()
    auth.login("curator")
    too_many = [str(route_id)] + [str(100000 + n) for n in range(bulk.MAX_BULK_ROUTES)]
    response = client.post("/routes/bulk", data={"action": "approve", "route_ids": too_many})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f"не более {bulk.MAX_BULK_ROUTES} маршрутов, отмечено {bulk.MAX_BULK_ROUTES + 1}" in html
    for data in [{"action": "approve"}, {"action": "approve", "route_ids": ["abc"]},
                 {"action": "approve", "route_ids": ["1:x"]}, {"action": "approve", "route_ids": ["99999999999"]},
                 {"action": "start", "route_ids": [route_id]}, {"action": "", "route_ids": [route_id]},
                 {"action": "approve", "route_ids": [route_id], "comment": "\x00"}]:
        response = client.post("/routes/bulk", data=data)
        assert response.status_code == 422, data
    assert _state(route_id) == ("drafted", True) and _events() == events
    # Exactly the limit is fine (all but one are missing, and reported so).
    response = client.post("/routes/bulk", data={"action": "approve", "route_ids": too_many[:bulk.MAX_BULK_ROUTES]})
    assert response.status_code == 200 and _state(route_id) == ("curator_approved", False)


def test_forged_ids_of_another_municipality(client, auth, district):
    teacher = _foreign_route()
    foreign = district.route(teacher=teacher, state="under_review").id
    auth.login("head")
    response = client.post("/routes/bulk", data={"action": "archive", "route_ids": [foreign],
                                                 "comment": "Чужой"})
    html = response.get_data(as_text=True)
    assert response.status_code == 404 and "Маршрут не найден" in html
    assert "Далёкий" not in html and "СОШ № 9" not in html
    assert _state(foreign) == ("drafted", True)
    auth.logout()
    auth.login("curator")
    response = client.post("/routes/bulk", data={"action": "approve", "route_ids": [foreign]})
    assert response.status_code == 404 and _state(foreign) == ("drafted", True)


def test_bulk_form_needs_the_csrf_token(app, district):
    app.config["WTF_CSRF_ENABLED"] = True
    route_id = district.route(state="under_review").id
    client = app.test_client()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get("/login").get_data(as_text=True))
    client.post("/login", data={"login": "curator", "password": PASSWORD, "csrf_token": token.group(1)})
    page = client.get("/inbox").get_data(as_text=True)
    form = re.search(r'<form method="post" action="/routes/bulk".*?</form>', page, re.S).group(0)
    value = re.search(r'name="route_ids" value="([^"]+)"', form).group(1)
    assert value.startswith(f"{route_id}:")
    response = client.post("/routes/bulk", data={"action": "approve", "route_ids": [value]})
    assert response.status_code == 400 and _state(route_id) == ("drafted", True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    response = client.post("/routes/bulk", data={"action": "approve", "route_ids": [value], "csrf_token": token})
    assert response.status_code == 200 and _state(route_id) == ("curator_approved", False)


def test_api_bulk_transition(client, district):
    d = district
    good = d.route(state="under_review")
    not_sent = d.route(state="drafted").id
    foreign = d.route(teacher=d.other_teacher, state="under_review").id
    token, _ = accounts.issue_token(d.curator, 1)
    headers = {"Authorization": f"Bearer {token}"}
    url = "/api/v1/routes/bulk-transition"
    response = client.post(url, headers=headers, json={
        "trigger": "approve", "route_ids": [good.id, not_sent, foreign], "versions": {str(good.id): good.version}})
    body = response.get_json()
    assert response.status_code == 200 and (body["succeeded"], body["failed"]) == (1, 2)
    assert [(r["route_id"], r["ok"], r["code"]) for r in body["results"]] == [
        (good.id, True, "ok"), (not_sent, False, "transition_not_allowed"), (foreign, False, "not_found")]
    response = client.post(url, headers=headers, json={"trigger": "approve", "route_ids": [foreign]})
    assert response.status_code == 404 and response.get_json()["error"] == "not_found"
    assert response.get_json()["results"][0]["message"] == "Маршрут не найден"
    stale = d.route(state="under_review")
    response = client.post(url, headers=headers, json={
        "trigger": "approve", "route_ids": [stale.id], "versions": {str(stale.id): stale.version - 1}})
    assert response.status_code == 409 and response.get_json()["results"][0]["code"] == "stale_version"
    response = client.post(url, headers=headers, json={"trigger": "approve",
                                                       "route_ids": list(range(1, bulk.MAX_BULK_ROUTES + 2))})
    assert response.status_code == 422 and response.get_json()["error"] == "validation_error"
    for payload in [{"trigger": "start", "route_ids": [good.id]}, {"trigger": "approve"},
                    {"trigger": "approve", "route_ids": ["x"]}, {"trigger": "return_to_draft", "route_ids": [1]},
                    {"trigger": "approve", "route_ids": [1], "versions": {"abc": 1}}]:
        response = client.post(url, headers=headers, json=payload)
        assert response.status_code == 422 and set(response.get_json()) >= {"error", "message"}, payload
    assert _state(stale.id) == ("drafted", True) and _state(not_sent) == ("drafted", False)
