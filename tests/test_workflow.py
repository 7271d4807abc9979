"""The state machine and the route service, without HTTP."""
import threading

import pytest
from sqlalchemy import func, select

from models import Route, RouteEvent, StateWriteError, db
from workflow import guards, service
from workflow.errors import InvalidInput, NotFound, NotPermitted, StaleVersion, TransitionNotAllowed
from workflow.machine import MACHINE
from workflow.states import STATES, TRANSITIONS, TRIGGERS

ROLES = ["teacher", "curator", "other_curator", "school_head", "head", "admin", "other_teacher"]

# Which (state, trigger) pairs are allowed to whom, for a route that satisfies every guard.
EXPECTED = {
    ("drafted", "request_review"): {"teacher"},
    ("under_review", "approve"): {"curator"},
    ("under_review", "return_to_draft"): {"curator"},
    ("curator_approved", "return_to_draft"): {"curator"},
    ("curator_approved", "start"): {"teacher", "curator"},
    ("reflected", "return_reflection"): {"curator"},
    ("drafted", "archive"): {"head"},
    ("under_review", "archive"): {"head"},
    ("curator_approved", "archive"): {"head"},
    ("in_progress", "archive"): {"head"},
    ("reflected", "archive"): {"head"},
}
EXPECTED_DEST = {t["trigger"]: t["dest"] for t in TRANSITIONS}


def _ready(district, state):
    """A route in the given state with every guard satisfied (reflection and recommendations written)."""
    route = district.route(state=state)
    if state == "in_progress":
        for activity in route.activities:
            service.record_activity_result(route.id, activity.id, district.teacher, status="done", product="П")
        service.update_route(route.id, district.teacher, {"reflection": "Итоги"}, None)
    if state == "reflected":
        service.update_route(route.id, district.curator, {"recommendations": "Рекомендации"}, None)
    db.session.expire_all()
    return service.load_route(route.id, district.teacher)


@pytest.mark.parametrize("state", ["drafted", "under_review", "curator_approved", "in_progress",
                                   "reflected", "closed"])
@pytest.mark.parametrize("trigger", TRIGGERS)
@pytest.mark.parametrize("role", ROLES)
def test_state_trigger_role_matrix(district, state, trigger, role):
    route = _ready(district, state)
    actor = getattr(district, role)
    expected = EXPECTED.get((state, trigger), set())
    if state == "in_progress" and trigger == "submit_reflection":
        expected = {"teacher"}
    if state == "reflected" and trigger == "close":
        expected = {"curator"}
    availability = {a.trigger: a for a in service.available_transitions(route, actor)}
    before_events = len(route.events)
    if role in expected:
        assert availability[trigger].allowed, availability[trigger].reason
        route = service.apply_transition(route.id, trigger, actor, comment="Комментарий", version=route.version)
        assert route.state == EXPECTED_DEST[trigger]
        db.session.expire_all()
        events = db.session.execute(select(RouteEvent).where(RouteEvent.route_id == route.id)
                                    .order_by(RouteEvent.id)).scalars().all()
        assert len(events) == before_events + 1
        assert events[-1].event == trigger and events[-1].actor_id == actor.id
    else:
        assert not availability[trigger].allowed
        assert availability[trigger].reason
        old_state, old_version = route.state, route.version
        with pytest.raises((NotPermitted, TransitionNotAllowed, NotFound)):
            service.apply_transition(route.id, trigger, actor, comment="Комментарий", version=route.version)
        db.session.expire_all()
        fresh = db.session.get(Route, route.id)
        assert (fresh.state, fresh.version) == (old_state, old_version)
        assert db.session.execute(select(func.count(RouteEvent.id))
                                  .where(RouteEvent.route_id == route.id)).scalar_one() == before_events


def test_guard_reasons_are_human_readable(district):
    route = district.route(activities=0)
    reasons = {a.trigger: a.reason for a in service.available_transitions(route, district.teacher)}
    assert reasons["request_review"] == "В дорожной карте нет ни одного мероприятия"
    route = district.route(state="in_progress")
    reasons = {a.trigger: a.reason for a in service.available_transitions(route, district.teacher)}
    assert reasons["submit_reflection"] == "Не заполнена саморефлексия (раздел 4)"


def test_no_self_approval(district):
    # A curator who also has a route of their own, curated by themselves by data error.
    route = service.create_route(district.curator, data={"request": "Запрос", "period_start": "2026-01-01",
                                                          "period_end": "2026-12-31",
                                                          "activities": [{"stage": "design", "direction": "methodical",
                                                                          "deficit": "Д"}]})
    db.session.execute(Route.__table__.update().where(Route.id == route.id).values(curator_id=district.curator.id))
    db.session.commit()
    service.apply_transition(route.id, "request_review", district.curator)
    with pytest.raises(TransitionNotAllowed, match="собственному маршруту"):
        service.apply_transition(route.id, "approve", district.curator)


def test_comment_required_for_return(district):
    route = district.route(state="under_review")
    with pytest.raises(InvalidInput):
        service.apply_transition(route.id, "return_to_draft", district.curator, comment="  ")
    db.session.expire_all()
    assert db.session.get(Route, route.id).state == "drafted"


def test_state_cannot_be_written_directly(district):
    route = district.route()
    with pytest.raises(StateWriteError):
        route.state = "closed"
    with pytest.raises(StateWriteError):
        Route(teacher_id=district.teacher.id, state="closed")


def test_machine_is_shared_and_holds_no_models(district):
    route = district.route(state="under_review")
    service.apply_transition(route.id, "approve", district.curator)
    assert MACHINE.models == []
    assert "to_closed" not in MACHINE.events
    assert set(MACHINE.states) == set(STATES)


def test_failure_inside_transition_leaves_state_and_history(district, monkeypatch):
    route = district.route(state="under_review")
    events_before = len(route.events)

    def broken_add(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(db.session, "commit", broken_add)
    with pytest.raises(RuntimeError):
        service.apply_transition(route.id, "approve", district.curator)
    monkeypatch.undo()
    db.session.expire_all()
    fresh = db.session.get(Route, route.id)
    assert fresh.state == "drafted"
    assert len(fresh.events) == events_before


def test_stale_version_is_rejected_and_loses_nothing(district):
    route = district.route()
    version = route.version
    service.update_route(route.id, district.teacher, {"request": "Первая правка"}, version)
    with pytest.raises(StaleVersion):
        service.update_route(route.id, district.curator, {"request": "Вторая правка"}, version)
    db.session.expire_all()
    assert db.session.get(Route, route.id).request == "Первая правка"


def test_mass_assignment_is_ignored(district):
    route = district.route()
    service.update_route(route.id, district.teacher,
                         {"request": "Новый", "state": "closed", "teacher_id": district.other_teacher.id,
                          "school_id": district.other_school.id}, route.version)
    db.session.expire_all()
    fresh = db.session.get(Route, route.id)
    assert (fresh.state, fresh.teacher_id, fresh.school_id) == ("drafted", district.teacher.id, district.school.id)


def test_correction_keeps_previous_roadmap(district):
    route = district.route(state="in_progress", activities=2)
    first = route.activities[0]
    route, correction = service.request_correction(
        route.id, district.teacher, reason="Курсы перенесены", action="change", activity_id=first.id,
        fields={"deadline": "2030-01-15"}, version=route.version)
    assert "корректировка" in guards.no_pending_correction(route, district.teacher).lower()
    route, correction = service.decide_correction(route.id, correction.id, district.curator, approve=True,
                                                  version=route.version)
    db.session.expire_all()
    route = service.load_route(route.id, district.teacher)
    assert route.activities[0].deadline.isoformat() == "2030-01-15"
    assert correction.previous_roadmap[0]["deadline"] != "2030-01-15"
    assert [e.event for e in route.events][-2:] == ["correction_requested", "correction_approved"]


def test_a_route_without_corrections_loads_without_their_query(district):
    from test_web_queries import counted
    route = district.route(state="in_progress", activities=2)
    db.session.expire_all()
    with counted() as statements:
        loaded = service.load_route(route.id, district.teacher)
    assert loaded.corrections == [] and len(loaded.activities) == 2
    assert not any("FROM corrections" in s and "corrections.reason" in s for s in statements)
    _, correction = service.request_correction(
        route.id, district.teacher, reason="Курсы перенесены", action="change",
        activity_id=loaded.activities[0].id, fields={"deadline": "2030-01-15"}, version=loaded.version)
    db.session.expire_all()
    with counted() as statements:
        loaded = service.load_route(route.id, district.teacher)
    assert [c.id for c in loaded.corrections] == [correction.id]
    assert any("corrections.reason" in s for s in statements)


def test_concurrent_approvals_exactly_one_wins(app, district):
    route = district.route(state="under_review")
    route_id, curator_id, version = route.id, district.curator.id, route.version
    db.session.close()  # release this thread's transaction before the writers start
    results, barrier = [], threading.Barrier(4)

    def approve():
        with app.app_context():
            from models import User
            curator = db.session.get(User, curator_id)
            db.session.close()  # keep the loaded user, end the read transaction
            barrier.wait(timeout=30)
            try:
                service.apply_transition(route_id, "approve", curator, version=version)
                results.append("ok")
            except (StaleVersion, TransitionNotAllowed) as exc:
                results.append(exc.status)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=approve) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results, key=str) == [409, 409, 409, "ok"]
    db.session.expire_all()
    fresh = db.session.get(Route, route_id)
    assert fresh.state == "curator_approved" and fresh.version == version + 1
    assert sum(1 for e in fresh.events if e.event == "approve") == 1


@pytest.mark.parametrize("data", [
    {"request": "a\x00b"},
    {"position": "Д" * 201},
    {"request": "Т" * 20001},
])
def test_overlong_or_nul_text_is_invalid_input_and_changes_nothing(district, data):
    route = district.route()
    with pytest.raises(InvalidInput):
        service.update_route(route.id, district.teacher, data, route.version)
    db.session.expire_all()
    assert db.session.get(Route, route.id).version == route.version


def test_overlong_activity_text_and_comment_are_invalid_input(district):
    route = district.route(state="under_review")
    with pytest.raises(InvalidInput):
        service.apply_transition(route.id, "return_to_draft", district.curator, comment="x" * 20001)
    route = district.route()
    with pytest.raises(InvalidInput):
        service.add_activity(route.id, district.teacher, {"stage": "design", "direction": "methodical",
                                                          "deficit": "x\x00"}, route.version)


# --- guards on a route loaded without its collections (road-map counts) -------------------------------

def _availability(route_id, actor, full):
    db.session.expire_all()
    route = service.load_route(route_id, actor, full=full)
    answer = [(a.trigger, a.allowed, a.reason) for a in service.available_transitions(route, actor)]
    if not full:  # the guards counted: no collection was read
        assert not {"activities", "corrections", "events"} & set(route.__dict__)
    return answer


@pytest.mark.parametrize("setup", ["empty_draft", "draft", "planned", "resolved", "pending_correction"])
@pytest.mark.parametrize("role", ["teacher", "curator"])
def test_guards_give_the_same_answers_from_counts_as_from_the_collections(district, setup, role):
    if setup == "empty_draft":
        route = district.route(activities=0)
    elif setup == "draft":
        route = district.route(state="under_review", activities=2)
    else:
        route = district.route(state="in_progress", activities=2)
        if setup in {"resolved", "pending_correction"}:
            service.record_activity_result(route.id, route.activities[0].id, district.teacher, status="done",
                                           product="Конспект")
            service.update_route(route.id, district.teacher, {"reflection": "Итоги"}, None)
        if setup == "resolved":
            route = service.load_route(route.id, district.teacher)
            service.record_activity_result(route.id, route.activities[1].id, district.teacher, status="not_done",
                                           reason="Курсы отменены")
        if setup == "pending_correction":
            route = service.load_route(route.id, district.teacher)
            service.request_correction(route.id, district.teacher, reason="Курсы перенесены", action="remove",
                                       activity_id=route.activities[1].id, version=route.version)
    actor = getattr(district, role)
    assert _availability(route.id, actor, full=False) == _availability(route.id, actor, full=True)


def test_roadmap_counts_expire_with_the_route(district):
    route = district.route(state="in_progress", activities=1)
    db.session.expire_all()
    route = service.load_route(route.id, district.teacher, full=False)
    assert "Не отмечено" in guards.activities_resolved(route, district.teacher)
    service.record_activity_result(route.id, route.activities[0].id, district.teacher, status="done", product="П")
    # The result's commit expired the route: the counts read before it are gone with it.
    route = db.session.get(Route, route.id)
    assert guards.activities_resolved(route, district.teacher) is None


def test_transition_without_collections_reads_none_of_them(app, district):
    from sqlalchemy import event as sa_event
    route = district.route(state="under_review", activities=3)
    route_id, version = route.id, route.version
    db.session.expire_all()
    seen = []
    record = lambda conn, cursor, statement, *args: seen.append(" ".join(statement.split()))  # noqa: E731
    sa_event.listen(db.engine, "before_cursor_execute", record)
    try:
        route = service.apply_transition(route_id, "approve", district.curator, version=version, full=False)
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", record)
    assert route.state == "curator_approved" and route.version == version + 1
    # Nor does it keep the audit row in the session (no history is shown); the row is written all the same.
    assert not [obj for obj in db.session if isinstance(obj, RouteEvent)]
    assert db.session.execute(select(RouteEvent.event).where(RouteEvent.route_id == route_id)
                              .order_by(RouteEvent.id.desc())).scalars().first() == "approve"
    reads = [s for s in seen if s.startswith("SELECT")]
    assert not [s for s in reads if s.startswith(("SELECT activities.", "SELECT corrections.", "SELECT route_events."))]
    assert not [s for s in reads if "schools" in s]  # nor the route's school (a curator's relation needs none)
    # Answered from the route as loaded: the next transition's guards count its road map too.
    assert {a.trigger: a.allowed for a in service.available_transitions(route, district.teacher)}["start"]


def test_a_transition_updates_only_the_columns_it_changes(app, district):
    """The UPDATE names only what changes: SQLite rewrites the index entries of every column it names."""
    from sqlalchemy import event as sa_event
    route = district.route(state="drafted")
    updates = []

    def record(conn, cursor, statement, *args):
        # On PostgreSQL the UPDATE is the first WITH query of the transition's one statement.
        statement = " ".join(statement.split())
        start = statement.upper().find("UPDATE ROUTES SET")
        if start >= 0:
            updates.append(statement[start:].split(" WHERE ")[0])

    def fire(trigger, actor):
        db.session.expire_all()
        version = db.session.get(Route, route.id).version
        updates.clear()
        sa_event.listen(db.engine, "before_cursor_execute", record)
        try:
            service.apply_transition(route.id, trigger, actor, version=version, full=False)
        finally:
            sa_event.remove(db.engine, "before_cursor_execute", record)
        assert len(updates) == 1, updates
        db.session.expire_all()
        return updates[0], db.session.get(Route, route.id)

    statement, stored = fire("request_review", district.teacher)
    assert "review_requested_at" in statement and "approved_at" not in statement
    assert stored.state == "drafted" and stored.review_requested_at is not None  # drafted, awaiting review
    statement, stored = fire("approve", district.curator)
    assert "approved_at" in statement and "review_requested_at" in statement  # set; cleared
    approved_at = stored.approved_at
    assert approved_at is not None and stored.review_requested_at is None
    statement, stored = fire("start", district.teacher)
    assert "approved_at" not in statement and "review_requested_at" not in statement  # both as they were
    assert {"state", "state_changed_at", "updated_at", "version"} <= {
        part.split("=")[0].strip() for part in statement.split(" SET ")[1].split(",")}
    assert stored.state == "in_progress" and stored.approved_at == approved_at and stored.review_requested_at is None


def test_a_department_heads_transition_without_collections_reads_the_school_it_needs(district):
    """The state-only load leaves out the school; a department head's relation to the route reads it."""
    route = district.route(state="in_progress")
    db.session.expire_all()
    route = service.apply_transition(route.id, "archive", district.head, comment="Учитель уволился",
                                     version=route.version, full=False)
    assert route.state == "closed"
    other = district.user("far_head", "department_head")
    other.municipality_id = None
    db.session.commit()
    second = district.route(state="in_progress")
    db.session.expire_all()
    with pytest.raises(NotFound):  # not of their municipality: the route is not theirs to see
        service.apply_transition(second.id, "archive", db.session.get(type(other), other.id), comment="Нет",
                                 version=second.version, full=False)
