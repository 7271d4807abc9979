"""The audit trail replays to every route's current state (over the demo district); tampering is caught."""
import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from models import Route, RouteEvent, db
from workflow import demo, service
from workflow.audit import AuditMismatch, replay_state
from workflow.states import STATES


def test_replaying_the_audit_trail_reproduces_every_route_of_the_demo_district(app):
    demo.load()
    db.session.expire_all()
    routes = db.session.execute(select(Route).options(selectinload(Route.events))
                                .order_by(Route.id)).scalars().all()
    assert len(routes) == 56
    assert {route.state for route in routes} == set(STATES)
    for route in routes:
        assert [e.id for e in route.events] == sorted(e.id for e in route.events)
        assert replay_state(route.events) == route.state, route.id
    # The correction records are part of the trail too, and keep the state they were made in.
    kinds = {event.event for route in routes for event in route.events}
    assert {"request_review", "approve", "start", "submit_reflection", "close"} <= kinds


def test_replay_follows_corrections_and_returns(district):
    route = district.route(state="in_progress")
    service.request_correction(route.id, district.teacher, reason="Курсы перенесены", action="change",
                               activity_id=route.activities[0].id, fields={"forms": "Вебинар"})
    db.session.expire_all()
    route = db.session.get(Route, route.id)
    correction = route.corrections[0]
    service.decide_correction(route.id, correction.id, district.curator, approve=False, comment="Не нужно")
    db.session.expire_all()
    route = db.session.get(Route, route.id)
    events = db.session.execute(select(RouteEvent).where(RouteEvent.route_id == route.id)
                                .order_by(RouteEvent.id)).scalars().all()
    assert [e.event for e in events][-2:] == ["correction_requested", "correction_rejected"]
    assert replay_state(events) == route.state == "in_progress"


def _trail(*steps):
    return [{"event": name, "from_state": source, "to_state": dest} for name, source, dest in steps]


@pytest.mark.parametrize("events, message", [
    # Steps are missing: a draft cannot start before it was approved.
    (_trail(("start", "drafted", "in_progress")), "not in the transition table"),
    # A row was removed from the middle: the next row starts from a state the route was not in.
    (_trail(("request_review", "drafted", "drafted"), ("start", "curator_approved", "in_progress")),
     "but the route was 'drafted'"),
    # A row was rewritten to a destination the transition does not have.
    (_trail(("request_review", "drafted", "drafted"), ("approve", "drafted", "closed")),
     "not in the transition table"),
    # A record that is not a transition cannot move the state.
    (_trail(("correction_requested", "drafted", "closed")), "is not a transition"),
])
def test_replay_rejects_a_trail_that_cannot_have_happened(events, message):
    with pytest.raises(AuditMismatch, match=message):
        replay_state(events)


def test_replay_of_an_empty_trail_is_the_initial_state():
    assert replay_state([]) == "drafted"
