"""Delegation: a substitute acts on the principal's routes during the period, and only then."""
from datetime import date, timedelta

import pytest
from sqlalchemy import event, select

from models import Municipality, RouteEvent, Substitution, User, db
from tests.conftest import PASSWORD
from workflow import accounts, delegation, permissions, queries, service
from workflow.errors import Conflict, InvalidInput, NotFound, NotPermitted

TODAY = date.today()


@pytest.fixture
def named(district):
    """Give the two curators real names, so the timeline's initials mean something."""
    district.curator.full_name = "Петрова Полина Петровна"
    district.other_curator.full_name = "Иванова Ирина Ивановна"
    db.session.commit()
    return district


def substitute(district, principal=None, sub=None, start=0, days=5):
    """Name sub (the other curator) as principal's (the curator's) substitute from today+start."""
    return delegation.create_substitution(
        principal or district.curator, substitute_id=(sub or district.other_curator).id,
        starts_on=TODAY + timedelta(days=start), ends_on=TODAY + timedelta(days=start + days))


def refresh(route):
    db.session.expire_all()
    return route.id


# --- acting for the principal ----------------------------------------------------------------------

def test_substitute_approves_the_principals_route_and_the_event_names_both(named):
    d = named
    route = d.route(state="under_review")
    substitute(d)
    allowed = {a.trigger: a.allowed for a in service.available_transitions(route, d.other_curator)}
    assert allowed["approve"] is True
    service.apply_transition(route.id, "approve", d.other_curator)
    event = db.session.execute(select(RouteEvent).where(RouteEvent.route_id == route.id,
                                                        RouteEvent.event == "approve")).scalar_one()
    assert (event.actor_id, event.on_behalf_of_id) == (d.other_curator.id, d.curator.id)


def test_the_principal_acting_themselves_records_no_principal(named):
    d = named
    route = d.route(state="under_review")
    substitute(d)
    service.apply_transition(route.id, "approve", d.curator)
    event = db.session.execute(select(RouteEvent).where(RouteEvent.route_id == route.id,
                                                        RouteEvent.event == "approve")).scalar_one()
    assert event.on_behalf_of_id is None


@pytest.mark.parametrize("when", ["before", "after", "cancelled"])
def test_substitute_cannot_act_outside_the_period(named, when):
    d = named
    route = d.route(state="under_review")
    if when == "before":
        substitute(d, start=1)
    elif when == "after":
        substitution = substitute(d)
        substitution.starts_on, substitution.ends_on = TODAY - timedelta(days=10), TODAY - timedelta(days=1)
        db.session.commit()
    else:
        substitution = substitute(d)
        delegation.cancel_substitution(d.curator, substitution.id)
    assert permissions.relations(route, d.other_curator) == set()
    with pytest.raises(NotFound):
        service.apply_transition(route.id, "approve", d.other_curator)
    assert service.load_route(route.id, d.teacher).state == "drafted"


def test_access_follows_the_period_within_one_session(named):
    """Cancelling takes effect at once even for a user object that outlives a request."""
    d = named
    route = d.route(state="under_review")
    substitution = substitute(d)
    assert permissions.can_view(route, d.other_curator)
    delegation.cancel_substitution(d.curator, substitution.id)
    assert not permissions.can_view(route, d.other_curator)


def test_substitute_decides_a_correction_for_the_principal(named):
    d = named
    route = d.route(state="in_progress")
    _, correction = service.request_correction(route.id, d.teacher, reason="Курсы перенесены", action="add",
                                               fields={"stage": "design", "direction": "methodical",
                                                       "deficit": "Вебинар"})
    substitute(d)
    service.decide_correction(route.id, correction.id, d.other_curator, approve=True)
    event = db.session.execute(select(RouteEvent).where(RouteEvent.route_id == route.id,
                                                        RouteEvent.event == "correction_approved")).scalar_one()
    assert (event.actor_id, event.on_behalf_of_id) == (d.other_curator.id, d.curator.id)


def test_chains_are_not_transitive(named):
    d = named
    third = accounts.create_user("curator3", role="curator", full_name="Сидорова Светлана Сергеевна",
                                 password=PASSWORD, municipality=d.municipality)
    route = d.route(state="under_review")
    substitute(d)                                    # other_curator acts for curator
    substitute(d, principal=d.other_curator, sub=third)  # third acts for other_curator
    assert permissions.relations(route, third) == set()
    assert not permissions.can_view(route, third)
    assert route.id not in db.session.execute(queries.visible_route_ids(third)).scalars().all()


def test_a_substitute_of_their_own_curator_still_cannot_approve_their_own_route(named):
    d = named
    # other_curator has a route of their own, curated by curator; substituting curator must not let
    # them approve it.
    accounts.assign_curator(d.other_curator, d.curator)
    route = d.route(teacher=d.other_curator, state="under_review")
    substitute(d)
    availability = {a.trigger: a for a in service.available_transitions(route, d.other_curator)}
    assert availability["approve"].allowed is False


# --- what the substitute sees ------------------------------------------------------------------------

def test_lists_queue_and_route_page_show_the_principals_routes_marked(named, client, auth):
    d = named
    route = d.route(state="under_review")
    auth.login("curator2")
    assert f"/routes/{route.id}\"" not in client.get("/queue").get_data(as_text=True)
    assert client.get(f"/routes/{route.id}").status_code == 404
    assert client.get(f"/teachers/{d.teacher.id}").status_code == 404
    substitute(d)
    for url in ("/queue", "/routes"):
        page = client.get(url).get_data(as_text=True)
        assert f"/routes/{route.id}\"" in page, url
        assert "за П. П. Петрова" in page, url
    assert client.get(f"/teachers/{d.teacher.id}").status_code == 200
    page = client.get(f"/routes/{route.id}")
    assert page.status_code == 200
    assert "Вы замещаете: П. П. Петрова" in page.get_data(as_text=True)


def test_route_page_and_api_history_name_both(named, client, auth):
    d = named
    route = d.route(state="under_review")
    substitute(d)
    service.apply_transition(route.id, "approve", d.other_curator)
    auth.login("teacher")
    page = client.get(f"/routes/{route.id}").get_data(as_text=True)
    assert "И. И. Иванова за П. П. Петрова" in page
    token = client.post("/api/v1/tokens", json={"login": "teacher", "password": PASSWORD}).get_json()["token"]
    body = client.get(f"/api/v1/routes/{route.id}", headers={"Authorization": f"Bearer {token}"}).get_json()
    approve = next(e for e in body["history"] if e["event"] == "approve")
    assert approve["actor"]["id"] == d.other_curator.id
    assert approve["on_behalf_of"]["id"] == d.curator.id
    request_review = next(e for e in body["history"] if e["event"] == "request_review")
    assert request_review["on_behalf_of"] is None


def test_timeline_in_english(named, client, auth):
    d = named
    route = d.route(state="under_review")
    substitute(d)
    service.apply_transition(route.id, "approve", d.other_curator)
    d.teacher.locale = "en"
    db.session.commit()
    auth.login("teacher")
    page = client.get(f"/routes/{route.id}").get_data(as_text=True)
    assert "И. И. Иванова on behalf of П. П. Петрова" in page


def test_school_head_substitute_sees_the_principals_school(district, client, auth):
    d = district
    route = d.route(state="under_review")
    auth.login("director2")
    assert client.get(f"/routes/{route.id}").status_code == 404
    delegation.create_substitution(d.school_head, substitute_id=d.other_school_head.id,
                                   starts_on=TODAY, ends_on=TODAY + timedelta(days=3))
    assert client.get(f"/routes/{route.id}").status_code == 200
    assert client.get(f"/teachers/{d.teacher.id}").status_code == 200
    page = client.get("/routes").get_data(as_text=True)
    assert f"/routes/{route.id}\"" in page and "за " in page


def test_principals_are_read_once_per_request_and_never_for_teachers(named, client, auth):
    d = named
    d.route(state="under_review")
    substitute(d)

    def substitution_queries(login, url):
        client.post("/logout")
        auth.login(login)
        client.get(url)
        # In production every request loads its user afresh (a new session); the tests' requests share
        # one session, so forget the loaded objects to measure a request as production runs it.
        db.session.expunge_all()
        statements = []

        def before(conn, cursor, statement, parameters, context, executemany):
            statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", before)
        try:
            assert client.get(url).status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", before)
        # The principals lookup (the user's own statement only asks whether any substitution applies).
        return sum(1 for s in statements if "JOIN substitutions" in s)

    assert substitution_queries("curator2", "/queue") == 1
    assert substitution_queries("curator2", "/routes") == 1
    assert substitution_queries("teacher", "/routes") == 0


# --- validation ------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["self", "other_municipality", "wrong_role", "inactive", "order", "past",
                                  "too_long", "missing_date", "bad_date", "unknown_user"])
def test_invalid_substitutions_are_refused_and_change_nothing(district, case):
    d = district
    kwargs = {"substitute_id": d.other_curator.id, "starts_on": TODAY, "ends_on": TODAY + timedelta(days=3)}
    if case == "self":
        kwargs["substitute_id"] = d.curator.id
    elif case == "other_municipality":
        elsewhere = Municipality(name="МО Соседний район")
        db.session.add(elsewhere)
        db.session.commit()
        kwargs["substitute_id"] = accounts.create_user(
            "curator_far", role="curator", full_name="Дальний Куратор", password=PASSWORD,
            municipality=elsewhere).id
    elif case == "wrong_role":
        kwargs["substitute_id"] = d.school_head.id
    elif case == "inactive":
        d.other_curator.active = False
        db.session.commit()
    elif case == "order":
        kwargs.update(starts_on=TODAY + timedelta(days=5), ends_on=TODAY + timedelta(days=1))
    elif case == "past":
        kwargs.update(starts_on=TODAY - timedelta(days=5), ends_on=TODAY - timedelta(days=1))
    elif case == "too_long":
        kwargs.update(ends_on=TODAY + timedelta(days=400))
    elif case == "missing_date":
        kwargs.update(starts_on="")
    elif case == "bad_date":
        kwargs.update(ends_on="31.02.2024")
    elif case == "unknown_user":
        kwargs.update(substitute_id=999999)
    with pytest.raises(InvalidInput):
        delegation.create_substitution(d.curator, **kwargs)
    assert db.session.execute(select(Substitution)).first() is None


def test_overlapping_substitutions_of_one_principal_are_refused(district):
    d = district
    third = accounts.create_user("curator3", role="curator", full_name="Третий Куратор", password=PASSWORD,
                                 municipality=d.municipality)
    substitute(d, start=0, days=10)
    with pytest.raises(Conflict):
        substitute(d, sub=third, start=10, days=3)  # shares the last day
    substitute(d, sub=third, start=11, days=3)      # the next day is free
    assert len(db.session.execute(select(Substitution)).all()) == 2


def test_a_cancelled_substitution_frees_its_period(district):
    d = district
    first = substitute(d)
    delegation.cancel_substitution(d.curator, first.id)
    substitute(d)
    with pytest.raises(Conflict):
        delegation.cancel_substitution(d.curator, first.id)


def test_a_teacher_cannot_delegate_and_only_for_themselves_without_admin(district):
    d = district
    with pytest.raises(NotPermitted):
        delegation.create_substitution(d.teacher, substitute_id=d.other_teacher.id, starts_on=TODAY,
                                       ends_on=TODAY)
    with pytest.raises(NotPermitted):
        delegation.create_substitution(d.other_curator, principal_id=d.curator.id,
                                       substitute_id=d.other_curator.id, starts_on=TODAY, ends_on=TODAY)
    substitution = delegation.create_substitution(d.admin, principal_id=d.curator.id,
                                                  substitute_id=d.other_curator.id, starts_on=TODAY,
                                                  ends_on=TODAY)
    assert (substitution.principal_id, substitution.created_by_id) == (d.curator.id, d.admin.id)


def test_nobody_but_the_principal_or_an_admin_cancels(district):
    d = district
    substitution = substitute(d)
    with pytest.raises(NotPermitted):
        delegation.cancel_substitution(d.other_curator, substitution.id)  # the substitute
    with pytest.raises(NotFound):
        delegation.cancel_substitution(d.school_head, substitution.id)    # an outsider
    with pytest.raises(NotFound):
        delegation.cancel_substitution(d.teacher, substitution.id)
    delegation.cancel_substitution(d.admin, substitution.id)
    assert db.session.get(Substitution, substitution.id).cancelled_by_id == d.admin.id


# --- the pages -----------------------------------------------------------------------------------------

def test_delegation_page_creates_lists_and_cancels(named, client, auth):
    d = named
    auth.login("curator")
    page = client.get("/delegations/")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Иванова Ирина Ивановна" in text                    # eligible: the other curator
    assert "Пользователь director2" not in text                 # not eligible: another role
    response = client.post("/delegations/", data={
        "substitute_id": d.other_curator.id, "starts_on": TODAY.isoformat(),
        "ends_on": (TODAY + timedelta(days=7)).strftime("%d.%m.%Y")})
    assert response.status_code == 302
    substitution = db.session.execute(select(Substitution)).scalar_one()
    assert substitution.ends_on == TODAY + timedelta(days=7)
    text = client.get("/delegations/").get_data(as_text=True)
    assert f'data-substitution="{substitution.id}"' in text and "Действует" in text

    client.post("/logout")
    auth.login("curator2")
    text = client.get("/delegations/").get_data(as_text=True)
    assert 'id="i-substitute"' in text and "Петрова Полина Петровна" in text
    assert client.post(f"/delegations/{substitution.id}/cancel").status_code == 403

    client.post("/logout")
    auth.login("curator")
    assert client.post(f"/delegations/{substitution.id}/cancel").status_code == 302
    db.session.expire_all()
    assert db.session.get(Substitution, substitution.id).cancelled_at is not None


def test_delegation_page_shows_errors_and_changes_nothing(named, client, auth):
    d = named
    auth.login("curator")
    response = client.post("/delegations/", data={
        "substitute_id": d.curator.id, "starts_on": TODAY.isoformat(), "ends_on": TODAY.isoformat()})
    assert response.status_code == 422
    assert "самого себя" in response.get_data(as_text=True)
    response = client.post("/delegations/", data={"substitute_id": "x", "starts_on": "", "ends_on": ""})
    assert response.status_code == 422
    assert db.session.execute(select(Substitution)).first() is None


def test_delegation_page_access(district, client, auth):
    d = district
    auth.login("teacher")
    assert client.get("/delegations/").status_code == 403
    assert client.post("/delegations/", data={"substitute_id": d.other_teacher.id, "starts_on": TODAY,
                                              "ends_on": TODAY}).status_code == 403
    assert "/delegations/" not in client.get("/routes").get_data(as_text=True)
    client.post("/logout")
    auth.login("admin")
    assert "/delegations/" in client.get("/routes").get_data(as_text=True)
    response = client.post("/delegations/", data={
        "principal_id": d.school_head.id, "substitute_id": d.other_school_head.id,
        "starts_on": TODAY.isoformat(), "ends_on": TODAY.isoformat()})
    assert response.status_code == 302
    text = client.get("/delegations/").get_data(as_text=True)
    assert 'id="all-substitutions"' in text and "Пользователь director2" in text
    assert db.session.execute(select(User.id).join(Substitution, Substitution.substitute_id == User.id)) \
        .scalar_one() == d.other_school_head.id


# --- notifications ------------------------------------------------------------------------------------

def test_substitutes_hear_of_what_their_principal_hears_while_they_act(district):
    from models.notification import Notification
    from workflow import notifications
    d = district
    route = d.route()
    substitution = substitute(d)
    service.apply_transition(route.id, "request_review", d.teacher)

    def notified(event):
        return sorted(db.session.execute(select(Notification.user_id).where(
            Notification.route_id == route.id, Notification.kind == event)).scalars().all())

    assert notified("request_review") == sorted([d.curator.id, d.other_curator.id])
    # The substitute acting is not told of their own action; the teacher hears of it as usual.
    service.apply_transition(route.id, "approve", d.other_curator)
    assert notified("approve") == [d.teacher.id]
    assert notifications.recipients(route, "submit_reflection", d.teacher) == [d.curator.id, d.other_curator.id]
    delegation.cancel_substitution(d.curator, substitution.id)
    assert notifications.recipients(route, "submit_reflection", d.teacher) == [d.curator.id]


def test_the_principals_waiting_routes_reach_the_substitutes_inbox(named, client, auth):
    d = named
    route = d.route(state="under_review")
    auth.login("curator2")
    assert f"/routes/{route.id}\"" not in client.get("/inbox").get_data(as_text=True)
    substitution = substitute(d)
    assert f"/routes/{route.id}\"" in client.get("/inbox").get_data(as_text=True)
    delegation.cancel_substitution(d.curator, substitution.id)
    assert f"/routes/{route.id}\"" not in client.get("/inbox").get_data(as_text=True)


# --- the per-request lookup -------------------------------------------------------------------------

def _substitution_reads(client, url, headers=None):
    """Return the statements a request runs that read the substitutions table."""
    seen = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if "substitutions" in statement:
            seen.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert client.get(url, headers=headers or {}).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


def test_users_who_substitute_nobody_cost_no_delegation_query(named, client, auth):
    route = named.route(state="under_review")
    auth.login("curator2")
    # Web: the session's user and "may they substitute today?" in one statement; no principals lookup.
    reads = _substitution_reads(client, "/queue")
    assert len(reads) == 1 and "FROM users" in reads[0] and "JOIN substitutions" not in reads[0]
    token = client.post("/api/v1/tokens", json={"login": "curator2", "password": PASSWORD}).get_json()["token"]
    api = {"Authorization": f"Bearer {token}"}
    assert client.get(f"/api/v1/routes/{route.id}", headers=api).status_code == 404
    # Once a substitute, the exact lookup runs and the principal's routes appear, on both channels.
    substitute(named)
    reads = _substitution_reads(client, "/queue")
    assert len(reads) == 2 and sum("JOIN substitutions" in r for r in reads) == 1
    assert f"/routes/{route.id}\"" in client.get("/queue").get_data(as_text=True)
    assert client.get(f"/api/v1/routes/{route.id}", headers=api).status_code == 200


def test_notifying_asks_for_substitutes_only_when_the_route_was_read_with_some(district):
    # Read with the route: whether its teacher or curator has a substitute today. Without one (nearly
    # always), a transition's notifications ask no more; with one, they find the substitute.
    d = district
    route = d.route()
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        service.apply_transition(route.id, "request_review", d.teacher)
        assert not [s for s in statements if "FROM substitutions" in s and not s.startswith("SELECT routes.")]
        substitute(d)
        statements.clear()
        service.apply_transition(route.id, "return_to_draft", d.curator, comment="Доработайте")
        assert [s for s in statements if s.startswith("SELECT substitutions.principal_id")]
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert delegation.may_have_substitutes(service.load_route(route.id, d.teacher))
