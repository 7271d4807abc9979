"""Pages eager-load what they show: their number of SQL queries does not grow with the routes."""
from contextlib import contextmanager
from datetime import date, timedelta

from sqlalchemy import event

from models import db
from tests.conftest import PASSWORD
from workflow import accounts, service

TEACHERS = 25  # routes are spread over this many teachers, so a lazy load per teacher would show


@contextmanager
def counted():
    """Collect the SQL statements run inside the block."""
    statements = []

    def before(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", before)


def queries_of(client, url):
    client.get(url)  # warm up: the first request of a session may load extra things once
    with counted() as statements:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(statements)


class Builder:
    """Add routes in every state to the district, over many teachers of one school and one curator."""

    def __init__(self, district):
        self.district = district
        self.teachers = []
        self.count = 0

    def teacher(self):
        if len(self.teachers) < TEACHERS:
            index = len(self.teachers)
            teacher = accounts.create_user(f"t{index}", role="teacher", full_name=f"Педагог {index}",
                                           password=PASSWORD, school=self.district.school,
                                           municipality=self.district.municipality)
            accounts.assign_curator(teacher, self.district.curator)
            self.teachers.append(teacher)
        return self.teachers[self.count % len(self.teachers)] if len(self.teachers) >= TEACHERS \
            else self.teachers[-1]

    def add(self, number):
        today = date.today()
        curator = self.district.curator
        for _ in range(number):
            teacher = self.teacher()
            kind = self.count % 4
            self.count += 1
            route = service.create_route(teacher, data={
                "period_start": today - timedelta(days=60), "period_end": today + timedelta(days=300),
                "request": "Запрос", "activities": [
                    {"stage": "design", "direction": "methodical", "deficit": "Просроченное",
                     "deadline": (today - timedelta(days=5)).isoformat()},
                    {"stage": "analytical", "direction": "professional", "deficit": "Будущее",
                     "deadline": (today + timedelta(days=50)).isoformat()},
                ]})
            if kind == 0:
                continue
            service.apply_transition(route.id, "request_review", teacher)
            if kind == 1:
                continue
            service.apply_transition(route.id, "approve", curator)
            service.apply_transition(route.id, "start", teacher)
            if kind == 3:
                route = service.load_route(route.id, teacher)
                service.request_correction(route.id, teacher, reason="Сдвиг", action="change",
                                           activity_id=route.activities[1].id,
                                           fields={"deadline": (today + timedelta(days=90)).isoformat()})
        db.session.expire_all()


def login(client, login_name):
    client.post("/logout")
    client.post("/login", data={"login": login_name, "password": PASSWORD})


LIST_PAGES = [
    ("curator", "/queue"),
    ("curator", "/queue?state=in_progress&page=2"),
    ("curator", "/routes"),
    ("director1", "/routes"),
    ("head", "/routes"),
    ("head", "/routes?state=in_progress"),
    ("teacher", "/routes"),
    ("admin", "/routes"),
]
ROUTE_PAGE_VIEWERS = ["teacher", "curator", "director1", "head", "admin"]


def _measure(client, pages):
    counts = {}
    for login_name, url in pages:
        login(client, login_name)
        counts[(login_name, url)] = queries_of(client, url)
    return counts


def _rich_route(district, activities, corrections):
    """A route in progress with the given numbers of activities, decided corrections and uploaded files."""
    route = district.route(state="in_progress", activities=activities)
    teacher, curator = district.teacher, district.curator
    for index in range(corrections):
        route = service.load_route(route.id, teacher)
        target = route.activities[index % len(route.activities)]
        _, correction = service.request_correction(
            route.id, teacher, reason=f"Причина {index}", action="change", activity_id=target.id,
            fields={"deadline": (date.today() + timedelta(days=100 + index)).isoformat()})
        service.decide_correction(route.id, correction.id, curator, approve=index % 2 == 0,
                                  comment=f"Решение {index}")
    route = service.load_route(route.id, teacher)
    for activity in route.activities[: activities // 2]:
        service.record_activity_result(
            route.id, activity.id, teacher, status="done", product="Продукт",
            file={"original_name": f"Продукт {activity.id}.pdf", "content_type": "application/pdf", "size": 3,
                  "sha256": "0" * 64, "data": b"pdf"})
    return route.id


def test_pages_do_not_grow_with_routes(client, district):
    """Count the queries of the queue, the school and district lists, profiles and the route page at 5 and
    at 200 routes; a route page with many activities, corrections and events costs the same as a small one."""
    builder = Builder(district)
    builder.add(5)
    route_id = _rich_route(district, activities=2, corrections=1)
    pages = LIST_PAGES + [(name, f"/routes/{route_id}") for name in ROUTE_PAGE_VIEWERS] + [
        ("curator", f"/teachers/{builder.teachers[0].id}"), ("director1", f"/teachers/{district.teacher.id}")]
    small = _measure(client, pages)
    builder.add(195)
    large = _measure(client, pages)
    assert large == small
    big_route = _rich_route(district, activities=30, corrections=10)
    for name in ROUTE_PAGE_VIEWERS:
        login(client, name)
        assert queries_of(client, f"/routes/{big_route}") == small[(name, f"/routes/{route_id}")], name


def test_activities_are_counted_without_reading_their_rows(client, district, auth):
    """Counts of activities are count(*), not count(activities.id): the (route_id, status, deadline)
    index then answers them alone (on PostgreSQL an index-only scan, as the index holds no id)."""
    from workflow import monitoring
    route = district.route(state="in_progress", activities=2)
    auth.login("curator")
    statements = []
    for url in ("/queue", f"/routes/{route.id}", "/inbox", "/routes"):
        with counted() as seen:
            assert client.get(url).status_code == 200, url
        statements += seen
    with counted() as seen:
        monitoring.compute_figures(district.municipality.id, period_end=date.today())
    statements += seen
    flat = [" ".join(statement.split()) for statement in statements]
    assert sum("count(*)" in s and "FROM activities" in s for s in flat) >= 4
    assert not [s for s in flat if "count(activities.id)" in s]


def test_the_queue_reads_its_lists_and_counts_as_plain_rows(client, district, auth):
    """The queue's lists, counts and menu badges run on the session's connection (queries.plain_rows), not
    through the ORM's execution: of its statements, only the signed-in user is loaded as an entity."""
    from sqlalchemy.orm import Session
    district.route(state="in_progress", activities=2)
    auth.login("curator")
    client.get("/queue")
    through_orm = []

    def orm_execute(state):
        through_orm.append(str(state.statement))

    event.listen(Session, "do_orm_execute", orm_execute)
    try:
        with counted() as statements:
            page = client.get("/queue")
    finally:
        event.remove(Session, "do_orm_execute", orm_execute)
    assert page.status_code == 200
    assert "overdue-total" in page.get_data(as_text=True)
    assert len(statements) >= 5  # the user, the counts, two lists, the overdue summary, the menu badges
    assert len(through_orm) == 1 and "FROM users" in through_orm[0], through_orm


def test_a_route_page_reads_orders_and_comments_only_when_some_refer_to_the_route(client, district):
    """The route's statement tells whether an order lists the route and whether it has a discussion: a route
    with neither (most routes) spares its page both statements; a comment or an order is read and shown."""
    from workflow import notifications, orders
    route = district.route(state="curator_approved", activities=1)
    login(client, "curator")

    def page_reads():
        url = f"/routes/{route.id}"
        client.get(url)
        with counted() as statements:
            response = client.get(url)
        assert response.status_code == 200
        flat = [" ".join(statement.split()) for statement in statements]
        # The statements reading them, not the route's own (which asks whether any exist).
        return ({table for table in ("route_comments", "orders") if any(s.startswith(f"SELECT {table}.id")
                                                                         for s in flat)},
                response.get_data(as_text=True))

    read, page = page_reads()
    assert read == set() and "Комментариев пока нет." in page

    notifications.add_comment(route.id, district.teacher, "Когда семинар?")
    read, page = page_reads()
    assert read == {"route_comments"} and "Когда семинар?" in page

    district.municipality.place = "г.Зеленокумск"
    db.session.commit()
    order = orders.issue_routes_approval(district.head, [route.id], issued_on=date(2024, 9, 2))
    read, page = page_reads()
    assert read == {"route_comments", "orders"} and f"/orders/{order.id}" in page


def test_what_refers_to_a_route_is_forgotten_with_it(district):
    """The links read with a route describe it as loaded: a route loaded without them, or expired since,
    is read again (service.may_have answers True); a route loaded with them answers as read."""
    route_id = district.route(state="in_progress", activities=1).id
    loaded = service.load_route(route_id, district.curator)
    assert not service.may_have(loaded, "orders") and not service.may_have(loaded, "comments")
    db.session.expire(loaded)
    assert service.may_have(loaded, "orders") and service.may_have(loaded, "comments")
    db.session.expunge_all()
    bare = service.load_route(route_id, district.curator, full=False, people=False)
    assert service.may_have(bare, "comments")
