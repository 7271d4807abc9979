"""Search and filters of the lists (teacher name, school, state, curator, overdue), with pagination."""
import re
from datetime import date, timedelta

import pytest

from models import db
from tests.conftest import PASSWORD
from tests.test_web_queries import counted
from workflow import accounts, diagnostics, monitoring, queries, service


def _route(teacher, *, state="drafted", late=False):
    """A route of the teacher in a state; `late` gives it an activity past its deadline."""
    today = date.today()
    deadline = today - timedelta(days=3) if late else today + timedelta(days=30)
    route = service.create_route(teacher, data={
        "period_start": today - timedelta(days=30), "period_end": today + timedelta(days=300),
        "request": "Запрос", "activities": [{"stage": "design", "direction": "methodical", "deficit": "Дефицит",
                                             "deadline": deadline.isoformat()}]})
    steps = {"drafted": [], "curator_approved": ["request_review", "approve"],
             "in_progress": ["request_review", "approve", "start"]}[state]
    for trigger in steps:
        service.apply_transition(route.id, trigger, teacher.curator if trigger == "approve" else teacher)
    return route.id


@pytest.fixture
def people(district):
    """Teachers of both schools and both curators, with routes in several states, some overdue."""
    d = district
    make = lambda login, name, school, curator: _assigned(  # noqa: E731
        accounts.create_user(login, role="teacher", full_name=name, password=PASSWORD, school=school,
                             municipality=d.municipality), curator)
    d.ivanova = make("ivanova", "Иванова Анна Петровна", d.school, d.curator)
    d.petrov = make("petrov", "Петров Иван Сергеевич", d.school, d.other_curator)
    d.sidorova = make("sidorova", "Сидорова Мария Ивановна", d.other_school, d.other_curator)
    d.routes = {
        "ivanova_late": _route(d.ivanova, state="in_progress", late=True),
        "ivanova_draft": _route(d.ivanova, late=True),  # a draft: its past deadline is not "overdue" work
        "petrov": _route(d.petrov, state="in_progress"),
        "sidorova_late": _route(d.sidorova, state="in_progress", late=True),
        "sidorova_approved": _route(d.sidorova, state="curator_approved"),
    }
    db.session.expire_all()
    return d


def _assigned(teacher, curator):
    accounts.assign_curator(teacher, curator)
    return teacher


def route_ids(client, url):
    response = client.get(url)
    assert response.status_code == 200, url
    return sorted(int(n) for n in re.findall(r'href="/routes/(\d+)"', response.get_data(as_text=True)))


def login(client, name):
    client.post("/logout")
    assert client.post("/login", data={"login": name, "password": PASSWORD}).status_code == 302


# --- the route list ------------------------------------------------------------------------------------------

def test_filter_routes_by_name_curator_overdue_school_state(people):
    d, r = people, people.routes
    head = d.head

    def ids(**filters):
        return sorted(row[0].id for row in db.session.execute(queries.routes_query(head, **filters)).unique())

    assert ids(text="иванова") == sorted([r["ivanova_late"], r["ivanova_draft"]])
    assert ids(text="ИВАН") == sorted([r["ivanova_late"], r["ivanova_draft"], r["petrov"], r["sidorova_late"],
                                       r["sidorova_approved"]])  # Иванова, Иван Сергеевич, Ивановна
    assert ids(text="Петров Иван") == [r["petrov"]]
    assert ids(text="100%_") == []  # LIKE wildcards are matched literally
    assert ids(curator_id=d.other_curator.id) == sorted([r["petrov"], r["sidorova_late"], r["sidorova_approved"]])
    assert ids(overdue=True) == sorted([r["ivanova_late"], r["sidorova_late"], r["ivanova_draft"]])
    assert ids(overdue=True, state="in_progress") == sorted([r["ivanova_late"], r["sidorova_late"]])
    assert ids(school_id=d.other_school.id, overdue=True) == [r["sidorova_late"]]
    assert ids(curator_id=d.other_curator.id, text="сидорова", state="curator_approved") == [r["sidorova_approved"]]
    # Visibility still applies: a school head's filters never reach another school.
    assert sorted(row[0].id for row in db.session.execute(
        queries.routes_query(d.school_head, text="Сидорова")).unique()) == []


def test_overdue_filter_skips_closed_routes(people):
    late = {row[0].id for row in db.session.execute(queries.routes_query(people.head, overdue=True)).unique()}
    service.apply_transition(people.routes["sidorova_late"], "archive", people.head, comment="Выбыла")
    after = {row[0].id for row in db.session.execute(queries.routes_query(people.head, overdue=True)).unique()}
    assert after == late - {people.routes["sidorova_late"]}


def test_route_list_page_filters(client, people):
    r = people.routes
    login(client, "head")
    assert route_ids(client, "/routes?q=Иванова") == sorted([r["ivanova_late"], r["ivanova_draft"]])
    assert route_ids(client, f"/routes?curator={people.other_curator.id}&overdue=1") == [r["sidorova_late"]]
    assert route_ids(client, f"/routes?school={people.other_school.id}") == sorted(
        [r["sidorova_late"], r["sidorova_approved"]])
    assert route_ids(client, "/routes?state=in_progress&overdue=1") == sorted([r["ivanova_late"], r["sidorova_late"]])
    page = client.get("/routes?q=Иванова&overdue=1").get_data(as_text=True)
    assert 'id="routes-filter"' in page and 'value="Иванова"' in page and 'id="f-overdue" name="overdue" value="1" checked' in page
    assert f'<option value="{people.other_curator.id}">' in page  # the curator choice
    # Bad values are ignored, never a 500.
    for url in ("/routes?curator=abc", "/routes?school=-1", "/routes?state=nope", "/routes?q=" + "я" * 500,
                "/routes?overdue=yes&page=0"):
        assert client.get(url).status_code == 200, url


def test_school_head_filters_by_curator_within_their_school(client, people):
    r = people.routes
    login(client, "director1")
    assert route_ids(client, f"/routes?curator={people.other_curator.id}") == [r["petrov"]]
    assert route_ids(client, "/routes?q=Сидорова") == []
    page = client.get("/routes").get_data(as_text=True)
    assert 'id="f-school"' not in page and 'id="f-curator"' in page


def test_teacher_has_no_name_or_curator_filter(client, people):
    login(client, "ivanova")
    page = client.get(f"/routes?curator={people.other_curator.id}&q=Петров").get_data(as_text=True)
    assert 'id="f-q"' not in page and 'id="f-curator"' not in page
    assert route_ids(client, f"/routes?curator={people.other_curator.id}&q=Петров") == sorted(
        [people.routes["ivanova_late"], people.routes["ivanova_draft"]])
    assert route_ids(client, "/routes?overdue=1") == sorted([people.routes["ivanova_late"], people.routes["ivanova_draft"]])


def test_curator_queue_list_filters(client, people):
    login(client, "curator2")
    page = client.get("/queue?q=Сидорова&overdue=1").get_data(as_text=True)
    table = page[page.index('id="routes-filter"'):]
    assert sorted(int(n) for n in re.findall(r'href="/routes/(\d+)"', table)) == [people.routes["sidorova_late"]]


def test_pagination_keeps_the_filters(app, client, people):
    app.config["PAGE_SIZE"] = 2
    for _ in range(3):
        _route(people.petrov, state="in_progress", late=True)
    login(client, "head")
    url = "/routes?q=Петров+Иван&overdue=1"  # not Иванова Анна Петровна: "Петров Иван" is one name
    first = client.get(url).get_data(as_text=True)
    link = re.search(r'href="(/routes\?[^"]*page=2[^"]*)"', first).group(1).replace("&amp;", "&")
    assert "q=" in link and "overdue=1" in link
    on_first, on_second = route_ids(client, url), route_ids(client, link)
    assert len(on_first) == 2 and len(on_second) == 1
    assert "Найдено: 3." in first
    late = {row[0].id for row in db.session.execute(
        queries.routes_query(people.head, text="Петров Иван", overdue=True)).unique()}
    assert set(on_first) | set(on_second) == late and len(late) == 3


def _old_pagination(page, pages):
    """The pagination macro's former rule, visiting every page: the numbers linked, None for a gap."""
    entries = []
    for number in range(1, pages + 1):
        if number == 1 or number == pages or abs(number - page) <= 2:
            entries.append(number)
        elif abs(number - page) == 3:
            entries.append(None)
    return entries


def test_page_links_visit_only_the_window_and_keep_the_filters(app):
    from views.web import page_links, page_url
    with app.test_request_context("/routes?q=Петров+Иван&overdue=1&page=7"):
        for pages in (1, 2, 3, 6, 7, 8, 12, 2400):
            for page in sorted({1, 2, 3, 4, 5, pages // 2, pages - 1, pages, pages + 4} - {0}):
                links = page_links(page, pages)
                assert [number for number, _url in links] == _old_pagination(page, pages), (page, pages)
        by_number = dict(page_links(1200, 2400))
        assert by_number[1199] == page_url(1199) and by_number[2400] == page_url(2400)
        assert by_number[1199].startswith("/routes?q=%D0%9F") and by_number[1199].endswith("&overdue=1&page=1199")
    with app.test_request_context("/queue?qpage=2&q=918273645"):  # the marker's digits in a filter
        by_number = dict(page_links(2, 5, "qpage"))
        assert by_number[3] == page_url(3, "qpage") == "/queue?qpage=3&q=918273645"


def test_filtered_list_query_count_does_not_grow(client, people):
    login(client, "head")
    url = f"/routes?q=Петров&curator={people.other_curator.id}&overdue=1&state=in_progress"

    def measure():
        client.get(url)
        with counted() as statements:
            assert client.get(url).status_code == 200
        return len(statements)

    before = measure()
    for _ in range(6):
        _route(people.petrov, state="in_progress", late=True)
    assert measure() == before


# --- diagnostics teachers --------------------------------------------------------------------------------------

RESULTS = "ФИО;Школа;Диагностика;Дата;Компетенция;Балл;Дефицит\r\n"


@pytest.fixture
def diagnosed(people):
    rows = "".join(f"{name};{school};ФИОКО;15.09.2022;Методические компетенции;2;да\r\n" for name, school in [
        ("Иванова Анна Петровна", "СОШ № 1"), ("Петров Иван Сергеевич", "СОШ № 1"),
        ("Сидорова Мария Ивановна", "СОШ № 2")])
    diagnostics.import_results((RESULTS + rows).encode(), actor=people.admin, provider="ФИОКО")
    diagnostics.draft_route_from_diagnostic(people.ivanova)
    return people


def teacher_names(client, url):
    response = client.get(url)
    assert response.status_code == 200, url
    page = response.get_data(as_text=True)
    return sorted(re.findall(r'<a href="/teachers/\d+">([^<]+)</a>', page))


def test_diagnostics_teachers_filters(client, diagnosed):
    d = diagnosed
    login(client, "head")
    assert teacher_names(client, "/diagnostics/teachers") == [
        "Иванова Анна Петровна", "Петров Иван Сергеевич", "Сидорова Мария Ивановна"]
    assert teacher_names(client, "/diagnostics/teachers?q=сидоров") == ["Сидорова Мария Ивановна"]
    assert teacher_names(client, f"/diagnostics/teachers?school={d.other_school.id}") == ["Сидорова Мария Ивановна"]
    assert teacher_names(client, f"/diagnostics/teachers?curator={d.other_curator.id}") == [
        "Петров Иван Сергеевич", "Сидорова Мария Ивановна"]
    assert teacher_names(client, "/diagnostics/teachers?without_route=1") == [
        "Петров Иван Сергеевич", "Сидорова Мария Ивановна"]
    assert client.get("/diagnostics/teachers?school=x&curator=-2").status_code == 200
    login(client, "director1")
    assert teacher_names(client, f"/diagnostics/teachers?school={d.other_school.id}") == [
        "Иванова Анна Петровна", "Петров Иван Сергеевич"]  # a school head's scope is their school; the filter is ignored


# --- monitoring campaigns --------------------------------------------------------------------------------------

def test_monitoring_campaign_list_filters(client, district):
    head = district.head
    old = monitoring.create_campaign(head, {"title": "Мониторинг весны", "period_start": "27.03.2023",
                                            "period_end": "31.03.2023"})
    monitoring.create_campaign(head, {"title": "Мониторинг осени", "period_start": "01.10.2024",
                                      "period_end": "05.10.2024"})
    monitoring.sign_campaign(head, old.id)
    login(client, "head")

    def titles(url):
        response = client.get(url)
        assert response.status_code == 200, url
        return sorted(re.findall(r'<a href="/monitoring/\d+">([^<]+)</a>', response.get_data(as_text=True)))

    assert titles("/monitoring/") == ["Мониторинг весны", "Мониторинг осени"]
    assert titles("/monitoring/?state=signed") == ["Мониторинг весны"]
    assert titles("/monitoring/?state=open") == ["Мониторинг осени"]
    assert titles("/monitoring/?q=осени") == ["Мониторинг осени"]
    assert titles("/monitoring/?year=2023") == ["Мониторинг весны"]
    assert titles("/monitoring/?year=1800&state=bad") == ["Мониторинг весны", "Мониторинг осени"]


def test_page_size_defaults_to_25_and_follows_the_environment(monkeypatch):
    import importlib

    import config
    try:
        monkeypatch.delenv("PAGE_SIZE", raising=False)
        assert importlib.reload(config).Config.PAGE_SIZE == 25
        monkeypatch.setenv("PAGE_SIZE", "60")
        assert importlib.reload(config).Config.PAGE_SIZE == 60
        monkeypatch.setenv("PAGE_SIZE", "100000")
        assert importlib.reload(config).Config.PAGE_SIZE == 200
    finally:
        monkeypatch.delenv("PAGE_SIZE", raising=False)
        importlib.reload(config)


@pytest.mark.parametrize("filters", [
    {}, {"state": "in_progress"}, {"overdue": True}, {"state": "drafted", "overdue": True},
    {"school_id": "other_school"}, {"teacher_id": "sidorova"}, {"curator_id": "other_curator"},
    {"text": "Сидорова"}, {"text": "петров", "overdue": True},
])
def test_the_queue_pages_prebuilt_statements_give_the_rows_of_the_built_ones(people, filters):
    """queries.curated_route_page / curator_state_counts / curated_overdue_summary run statements built
    once per shape; they must give what the statements built for each request give."""
    values = {key: (getattr(people, value).id if key.endswith("_id") else value) for key, value in filters.items()}
    curator = people.other_curator
    people.route(people.sidorova, state="closed")  # in the lists and the counts, not in the queue
    for substituting in (False, True):
        if substituting:
            from workflow import delegation
            delegation.create_substitution(people.curator, substitute_id=curator.id, starts_on=date.today(),
                                           ends_on=date.today() + timedelta(days=3))
        built = db.session.execute(queries.curated_route_rows(curator, **values)).all()
        rows, total, pages, page, per_page = queries.curated_route_page(curator, 1, 2, **values)
        assert [tuple(r) for r in rows] == [tuple(r) for r in built[:2]] and total == len(built)
        assert pages == max((len(built) + 1) // 2, 1)
        second, *_ = queries.curated_route_page(curator, 2, 2, **values)
        assert [tuple(r) for r in second] == [tuple(r) for r in built[2:4]]
        curated = queries.curated_ids(curator)
        assert queries.curated_overdue_summary(curator) == queries.overdue_summary(curator, curator_id=curated)
        counts, own = queries.curator_state_counts(curator)
        assert counts == queries.state_counts(curator, curator_id=curated)
        assert own == sum(queries.state_counts(curator, teacher_id=curator.id).values())
        # Given the counts by state, a list filtered by state alone (or not at all) reads its total from them.
        with counted() as statements:
            derived = queries.curated_route_page(curator, 1, 2, counts=counts, **values)
        assert [tuple(r) for r in derived[0]] == [tuple(r) for r in rows] and derived[1:] == (total, pages, 1, 2)
        assert len(statements) == (1 if set(values) <= {"state"} else 2)
        # The queue (open routes) likewise: its total is the counts' sum without the closed ones.
        queue = queries.curator_queue(curator, 1, 2)
        with counted() as statements:
            derived = queries.curator_queue(curator, 1, 2, counts=counts)
        assert len(statements) == 1
        assert derived[1:] == queue[1:] and [i["route"].id for i in derived[0]] == [i["route"].id for i in queue[0]]
    assert len(queries.curated_ids(curator)) == 2
