"""The inbox: what waits on each role, days pending, sorting, filters, pages, menu counts, SQL query count."""
from datetime import date, timedelta

import pytest
from sqlalchemy import update

from conftest import PASSWORD, activity_data
from models import Correction, Route, db
from models._time import utcnow
from test_web_queries import Builder, counted, login
from workflow import accounts, inbox, monitoring, service


def _in_progress(district, teacher=None, deadlines=(30,)):
    """A route in progress whose activities are due in the given numbers of days (negative: overdue)."""
    teacher = teacher or district.teacher
    today = date.today()
    activities = [{**activity_data(i), "deadline": (today + timedelta(days=days)).isoformat()}
                  for i, days in enumerate(deadlines)]
    route = service.create_route(teacher, data={"period_start": today - timedelta(days=90),
                                                "period_end": today + timedelta(days=200),
                                                "request": "Запрос", "activities": activities})
    for trigger, actor in [("request_review", teacher), ("approve", teacher.curator), ("start", teacher)]:
        service.apply_transition(route.id, trigger, actor)
    return route.id


def _age(route_id, days, column="review_requested_at"):
    """Make a route wait longer: move its waiting-since moment back by the given number of days."""
    db.session.execute(update(Route).where(Route.id == route_id)
                       .values({column: utcnow() - timedelta(days=days, hours=1)}))
    db.session.commit()


def _kinds(user, **filters):
    items, total, *_ = inbox.inbox_items(user, inbox.Filters(**filters), per_page=200)
    assert total == len(items)
    return sorted((item.kind, item.route_id or item.ref_id) for item in items)


@pytest.fixture
def situations(district):
    """One route (or object) in each situation the inbox knows, all of district.teacher unless said."""
    d = district
    s = {}
    s["review"] = d.route(state="under_review").id
    s["reflection"] = d.route(state="reflected").id
    s["draft"] = d.route(state="drafted").id
    s["to_start"] = d.route(state="curator_approved").id
    returned = d.route(state="under_review").id
    service.apply_transition(returned, "return_to_draft", d.curator, comment="Уточните запрос")
    s["returned"] = returned
    reflection_returned = d.route(state="reflected").id
    service.apply_transition(reflection_returned, "return_reflection", d.curator, comment="Подробнее")
    s["reflection_returned"] = reflection_returned
    s["overdue"] = _in_progress(d, deadlines=(-4, -2, 40))
    s["due_soon"] = _in_progress(d, deadlines=(3,))
    corrected = _in_progress(d, deadlines=(60,))
    route = service.load_route(corrected, d.teacher)
    _, correction = service.request_correction(corrected, d.teacher, reason="Сдвиг", action="change",
                                               activity_id=route.activities[0].id, fields={"tasks": "Новая"})
    s["correction"] = (corrected, correction.id)
    s["other_review"] = d.route(teacher=d.other_teacher, state="under_review").id
    db.session.expire_all()
    return s


def test_each_role_sees_what_waits_on_it(district, situations):
    d, s = district, situations
    assert _kinds(d.teacher) == sorted([
        ("draft", s["draft"]), ("returned", s["returned"]), ("to_start", s["to_start"]),
        ("reflection_returned", s["reflection_returned"]), ("overdue", s["overdue"]),
        ("due_soon", s["due_soon"])])
    curator_sees = sorted([("review", s["review"]), ("reflection", s["reflection"]),
                           ("correction", s["correction"][0]), ("overdue", s["overdue"])])
    assert _kinds(d.curator) == curator_sees
    # The other curator sees only their own teacher's draft under review; the other teacher nothing of ours.
    assert _kinds(d.other_curator) == [("review", s["other_review"])]
    # The school head sees the waiting of their school only.
    assert _kinds(d.school_head) == curator_sees
    assert _kinds(d.other_school_head) == [("review", s["other_review"])]
    # The department head and the admin see what waits longer than INBOX_STALE_DAYS only.
    assert _kinds(d.head) == [("overdue", s["overdue"])]
    _age(s["review"], 10)
    _age(s["reflection"], 8, "state_changed_at")
    assert _kinds(d.head) == sorted([("review", s["review"]), ("reflection", s["reflection"]),
                                     ("overdue", s["overdue"])])
    assert _kinds(d.admin) == sorted([("review", s["review"]), ("reflection", s["reflection"])])


def test_other_teacher_sees_only_their_own(district, situations):
    # other_review was sent for review: it waits on the curator, not on the teacher.
    assert _kinds(district.other_teacher) == []


def test_department_head_sees_unsigned_campaigns_and_admin_teachers_without_a_curator(district):
    campaign = monitoring.create_campaign(district.head, {
        "title": "Мониторинг ИОМ 2023", "period_start": date.today() - timedelta(days=3),
        "period_end": date.today() + timedelta(days=3)})
    loner = accounts.create_user("loner", role="teacher", full_name="Одинокова Анна Петровна", password=PASSWORD,
                                 school=district.school, municipality=district.municipality)
    assert _kinds(district.head) == [("campaign", campaign.id)]
    assert _kinds(district.admin) == [("no_curator", loner.id)]
    items, *_ = inbox.inbox_items(district.head)
    assert items[0].title == "Мониторинг ИОМ 2023" and items[0].route_id is None
    monitoring.sign_campaign(district.head, campaign.id, version=campaign.version)
    assert _kinds(district.head) == []


def test_days_pending(district, situations):
    s = situations
    _age(s["review"], 5)
    items, *_ = inbox.inbox_items(district.curator, inbox.Filters(kind="review"))
    assert [(i.route_id, i.days, i.overdue) for i in items] == [(s["review"], 5, False)]
    _age(s["review"], 12)
    items, *_ = inbox.inbox_items(district.curator, inbox.Filters(kind="review"))
    assert (items[0].days, items[0].overdue) == (12, True)
    # Overdue activities count from the earliest missed deadline; due-soon ones count down.
    items, *_ = inbox.inbox_items(district.teacher, inbox.Filters(kind="overdue"))
    assert [(i.days, i.count, i.overdue) for i in items] == [(4, 2, True)]
    items, *_ = inbox.inbox_items(district.teacher, inbox.Filters(kind="due_soon"))
    assert [(i.days, i.count) for i in items] == [(-3, 1)]
    # A correction waits since it was requested.
    db.session.execute(update(Correction).values(created_at=utcnow() - timedelta(days=3, hours=2)))
    db.session.commit()
    items, *_ = inbox.inbox_items(district.curator, inbox.Filters(kind="correction"))
    assert [(i.route_id, i.ref_id, i.days) for i in items] == [(s["correction"][0], s["correction"][1], 3)]


def test_sorting(district, situations):
    s = situations
    _age(s["review"], 9)
    _age(s["reflection"], 4, "state_changed_at")
    items, *_ = inbox.inbox_items(district.curator, sort="-days")
    days = [i.days for i in items]
    assert days == sorted(days, reverse=True) and items[0].route_id == s["review"]
    items, *_ = inbox.inbox_items(district.curator, sort="days")
    assert [i.days for i in items] == sorted(days)
    by_route = [i.route_id for i in inbox.inbox_items(district.curator, sort="route")[0]]
    assert by_route == sorted(by_route)
    by_route_desc = [i.route_id for i in inbox.inbox_items(district.curator, sort="-route")[0]]
    assert by_route_desc == sorted(by_route, reverse=True)
    kinds = [i.kind for i in inbox.inbox_items(district.curator, sort="kind")[0]]
    assert kinds == sorted(kinds)
    # Unknown sorts fall back to the default instead of failing.
    assert [i.route_id for i in inbox.inbox_items(district.curator, sort="-bogus;drop")[0]] == \
        [i.route_id for i in inbox.inbox_items(district.curator)[0]]


def test_sorting_by_teacher_and_school(district):
    other = accounts.create_user("aaa", role="teacher", full_name="Абрамова Алла Ильинична", password=PASSWORD,
                                 school=district.other_school, municipality=district.municipality)
    accounts.assign_curator(other, district.curator)
    first = district.route(teacher=other, state="under_review").id
    second = district.route(state="under_review").id
    assert [i.route_id for i in inbox.inbox_items(district.curator, sort="teacher")[0]] == [first, second]
    assert [i.route_id for i in inbox.inbox_items(district.curator, sort="-teacher")[0]] == [second, first]
    assert [i.school_name for i in inbox.inbox_items(district.curator, sort="school")[0]] == ["СОШ № 1", "СОШ № 2"]
    assert [i.school_name for i in inbox.inbox_items(district.curator, sort="-school")[0]] == ["СОШ № 2", "СОШ № 1"]


def test_filters(district, situations):
    s = situations
    d = district
    assert _kinds(d.curator, kind="reflection") == [("reflection", s["reflection"])]
    assert _kinds(d.curator, kind="campaign") == []  # not a kind of the curator's
    assert _kinds(d.school_head, school_id=d.other_school.id) == []
    assert _kinds(d.head, school_id=d.other_school.id) == []
    assert _kinds(d.head, school_id=d.school.id) == [("overdue", s["overdue"])]
    # Teacher name search, any case (SQLite folds ASCII only).
    assert len(_kinds(d.curator, text="пользователь teacher")) == 4
    assert len(_kinds(d.curator, text="ПОЛЬЗОВАТЕЛЬ")) == 4
    assert _kinds(d.curator, text="Нет такого") == []
    assert _kinds(d.curator, text="100%_") == []
    # Overdue: overdue activities and whatever waits longer than INBOX_STALE_DAYS.
    assert _kinds(d.curator, overdue=True) == [("overdue", s["overdue"])]
    _age(s["review"], 8)
    assert _kinds(d.curator, overdue=True) == sorted([("overdue", s["overdue"]), ("review", s["review"])])


def test_pagination(district, situations):
    items, total, pages, page, per_page = inbox.inbox_items(district.teacher, per_page=4)
    assert (total, pages, page, len(items)) == (6, 2, 1, 4)
    rest, *_ = inbox.inbox_items(district.teacher, page=2, per_page=4)
    assert len(rest) == 2
    everything = [(i.kind, i.route_id) for i in items + rest]
    assert sorted(everything) == _kinds(district.teacher) and len(set(everything)) == 6
    beyond, total, *_ = inbox.inbox_items(district.teacher, page=9, per_page=4)
    assert beyond == [] and total == 6


def test_menu_counts_equal_the_items_in_one_select(district, situations):
    _age(situations["review"], 10)
    for user in [district.teacher, district.curator, district.other_curator, district.school_head, district.head,
                 district.admin]:
        inbox.menu_counts(user)  # warm up: the user and their substitutions load once per request
        with counted() as statements:
            counts = inbox.menu_counts(user)
        assert len([q for q in statements if q.lstrip().upper().startswith("SELECT")]) == 1, user.login
        _, total, *_ = inbox.inbox_items(user)
        assert counts["total"] == total, user.login
        for kind in inbox.kinds_for(user):
            _, by_kind, *_ = inbox.inbox_items(user, inbox.Filters(kind=kind))
            assert counts[kind] == by_kind, (user.login, kind)


def test_inbox_page(client, auth, district, situations):
    auth.login("curator")
    assert client.get("/").headers["Location"].endswith("/inbox")
    html = client.get("/inbox").get_data(as_text=True)
    assert 'id="nav-inbox"' in html and ">4</span>" in html  # the menu badge
    assert f'value="{situations["review"]}:' in html  # a draft under review can be approved in bulk
    assert f'value="{situations["reflection"]}:' not in html
    assert "Утверждение маршрута" in html and "Просроченные мероприятия" in html
    html = client.get("/inbox?kind=reflection&sort=-teacher&q=teacher&page=1").get_data(as_text=True)
    assert f"ИОМ № {situations['reflection']}" in html and f"ИОМ № {situations['review']}<" not in html
    # Bad parameters are ignored, never a 500.
    for query in ["?page=abc", "?page=99999999999", "?school=-1", "?kind=bogus", "?sort=%27", "?overdue=yes"]:
        assert client.get("/inbox" + query).status_code == 200, query
    auth.logout()
    auth.login("teacher")
    html = client.get("/inbox").get_data(as_text=True)
    assert "Черновик не отправлен куратору" in html and 'name="route_ids"' not in html
    client.post("/language", data={"locale": "en", "next": "/inbox"})
    html = client.get("/inbox").get_data(as_text=True)
    assert "Inbox: what waits on you" in html and "Draft not sent to the curator" in html


def test_inbox_api(client, district, situations):
    token, _ = accounts.issue_token(district.curator, 1)
    headers = {"Authorization": f"Bearer {token}"}
    body = client.get("/api/v1/inbox?sort=-days&per_page=2", headers=headers).get_json()
    assert body["total"] == 4 and len(body["items"]) == 2 and body["pages"] == 2
    assert body["counts"]["total"] == 4 and body["counts"]["review"] == 1
    body = client.get("/api/v1/inbox?kind=overdue", headers=headers).get_json()
    assert [(i["kind"], i["route_id"], i["days"], i["count"]) for i in body["items"]] == \
        [("overdue", situations["overdue"], 4, 2)]
    response = client.get("/api/v1/inbox?kind=bogus", headers=headers)
    assert response.status_code == 422 and response.get_json()["error"] == "validation_error"


PAGES = [("curator", "/inbox"), ("curator", "/inbox?sort=teacher&overdue=1&page=2"), ("teacher", "/inbox"),
         ("director1", "/inbox?kind=review"), ("head", "/inbox"), ("admin", "/inbox")]


def test_inbox_queries_do_not_grow_with_data(client, district):
    builder = Builder(district)
    builder.add(8)
    small = _measure(client)
    builder.add(120)
    # Make everything stale, so the department head and the admin see it all too.
    db.session.execute(update(Route).values(review_requested_at=utcnow() - timedelta(days=30)))
    db.session.commit()
    large = _measure(client)
    assert large == small


def _measure(client):
    counts = {}
    for name, url in PAGES:
        login(client, name)
        client.get(url)
        with counted() as statements:
            response = client.get(url)
        assert response.status_code == 200
        counts[(name, url)] = len(statements)
    return counts


def test_menu_counts_read_no_names_and_fit_psycopgs_statement_cache(district, situations):
    """The badge counts count each kind's rows without the listing's joins to the teacher and the school
    (inbox._kind_count), so every role's statement stays under the length up to which psycopg keeps a
    statement's parsed form (longer ones are parsed again on every execution: every page draws the menu)."""
    from psycopg._queries import MAX_CACHED_STATEMENT_LENGTH
    from sqlalchemy.dialects import postgresql
    dialect = postgresql.psycopg.dialect()
    for user in [district.teacher, district.curator, district.school_head, district.head, district.admin]:
        params = inbox._scope_params(user, inbox.Settings.current())
        statement, kinds = inbox._menu_statement(user.role, bool(params["school_ids"]),
                                                 params["municipality_id"] is not None)
        sql = str(statement.compile(dialect=dialect))
        assert len(sql) < MAX_CACHED_STATEMENT_LENGTH, (user.login, len(sql))
        assert "JOIN users" not in sql and "JOIN schools" not in sql, user.login
        assert all(f"AS {kind}" in sql for kind in kinds)
