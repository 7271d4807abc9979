"""Route.approved_at, the approval marker B2 counts by, and the one-pass figures against the old queries.

B2 counts a teacher whose route built from a counted diagnostic was approved by the curator and not
returned to the draft since: curator_approved, in progress or reflected now, or closed after approval
(closed by the curator, or archived from any state but the draft). The approve transition sets
approved_at, a return to the draft clears it, everything else keeps it.
"""
from datetime import date, timedelta

from sqlalchemy import and_, case, distinct, exists, func, or_, select, update

from models import Activity, ActivityStatus, DiagnosticResult, Route, RouteEvent, School, db
from models._time import utcnow
from test_monitoring import dataset, drive  # noqa: F401 (dataset is a fixture)
from workflow import accounts, diagnostics, monitoring, service
from workflow.states import STATES


def _approved_at(route_id):
    db.session.expire_all()
    return db.session.get(Route, route_id).approved_at


def test_approve_sets_approved_at_and_the_route_keeps_it_until_closed(district):
    route = district.route(state="under_review")
    teacher, curator = district.teacher, district.curator
    assert _approved_at(route.id) is None
    before = utcnow()
    service.apply_transition(route.id, "approve", curator)
    approved_at = _approved_at(route.id)
    assert approved_at is not None and approved_at >= before.replace(tzinfo=approved_at.tzinfo)
    service.apply_transition(route.id, "start", teacher)
    assert _approved_at(route.id) == approved_at
    route = service.load_route(route.id, teacher)
    for activity in route.activities:
        service.record_activity_result(route.id, activity.id, teacher, status="done", product="Конспект")
    service.update_route(route.id, teacher, {"reflection": "Итоги"}, None)
    service.apply_transition(route.id, "submit_reflection", teacher)
    service.apply_transition(route.id, "return_reflection", curator, "Дополните")
    service.apply_transition(route.id, "submit_reflection", teacher)
    service.update_route(route.id, curator, {"recommendations": "Курсы"}, None)
    service.apply_transition(route.id, "close", curator)
    assert _approved_at(route.id) == approved_at


def test_return_to_draft_clears_approved_at_and_a_new_approval_sets_it_again(district):
    route = district.route(state="curator_approved")
    first = _approved_at(route.id)
    assert first is not None
    service.apply_transition(route.id, "return_to_draft", district.curator, "Уточните сроки")
    assert _approved_at(route.id) is None
    service.apply_transition(route.id, "request_review", district.teacher)
    assert _approved_at(route.id) is None
    service.apply_transition(route.id, "approve", district.curator)
    assert _approved_at(route.id) is not None and _approved_at(route.id) >= first


def test_archive_keeps_approved_at_after_approval_and_leaves_a_draft_unapproved(district):
    approved = district.route(state="in_progress")
    service.apply_transition(approved.id, "archive", district.head, "Педагог уволился")
    assert _approved_at(approved.id) is not None
    returned = district.route(state="curator_approved")
    service.apply_transition(returned.id, "return_to_draft", district.curator, "Доработайте")
    service.apply_transition(returned.id, "archive", district.head, "Педагог уволился")
    assert _approved_at(returned.id) is None


def test_a_refused_transition_leaves_approved_at_alone(district):
    route = district.route(state="drafted")
    try:
        service.apply_transition(route.id, "approve", district.curator)  # not under review: refused
    except Exception:  # noqa: BLE001 - the refusal's type is the workflow tests' business
        pass
    assert _approved_at(route.id) is None


# --- the figures, against the implementation B2 had before the marker (EXISTS on the audit trail) ----------

def _old_approved_clause():
    approved_once = exists().where(RouteEvent.route_id == Route.id, RouteEvent.event == "approve")
    archived_as_draft = exists().where(RouteEvent.route_id == Route.id, RouteEvent.event == "archive",
                                       RouteEvent.from_state == "drafted")
    return or_(Route.state.in_(monitoring.APPROVED_STATES),
               and_(Route.state == "closed", approved_once, ~archived_as_draft))


def _old_figures(municipality_id, *, diagnostic_id=None, period_end, today):
    """compute_figures as it was: three passes over the participants, B2 from the audit trail."""
    diagnostic_ids = monitoring._diagnostic_ids(municipality_id, diagnostic_id, period_end)
    participants = (select(DiagnosticResult.teacher_id.label("teacher_id"),
                           DiagnosticResult.school_id.label("school_id"))
                    .where(DiagnosticResult.diagnostic_id.in_(diagnostic_ids)).distinct().subquery())
    b2_teachers = select(Route.teacher_id).where(Route.diagnostic_id.in_(diagnostic_ids), _old_approved_clause())
    in_b2 = case((participants.c.teacher_id.in_(b2_teachers), participants.c.teacher_id))
    school_ids = select(School.id).where(School.municipality_id == municipality_id)
    per_school = db.session.execute(
        select(School.id, School.name, func.count(distinct(participants.c.teacher_id)), func.count(distinct(in_b2)))
        .select_from(School).outerjoin(participants, participants.c.school_id == School.id)
        .where(School.municipality_id == municipality_id).group_by(School.id, School.name)).all()
    c2_total, b2_total = db.session.execute(
        select(func.count(distinct(participants.c.teacher_id)), func.count(distinct(in_b2)))).one()
    developed = db.session.execute(select(func.count(distinct(Route.id))).where(
        Route.diagnostic_id.in_(diagnostic_ids), _old_approved_clause(),
        Route.teacher_id.in_(select(participants.c.teacher_id)))).scalar_one()
    states = db.session.execute(select(Route.school_id, Route.state, func.count(Route.id))
                                .where(Route.school_id.in_(school_ids)).group_by(Route.school_id, Route.state)).all()
    overdue = dict(db.session.execute(
        select(Route.school_id, func.count(Activity.id)).join(Route, Route.id == Activity.route_id)
        .where(Route.school_id.in_(school_ids), Route.state.in_(monitoring.ACTIVE_STATES),
               Activity.status == ActivityStatus.PLANNED.value, Activity.deadline < today)
        .group_by(Route.school_id)).all())
    by_state = {school_id: {s: 0 for s in STATES} for school_id, *_ in per_school}
    for school_id, state, count in states:
        by_state.setdefault(school_id, {s: 0 for s in STATES})[state] = count
    schools = sorted(({"id": i, "name": n, "c2": c2, "b2": b2, "f2": monitoring.f2_value(b2, c2),
                       "routes": by_state[i], "routes_total": sum(by_state[i].values()),
                       "overdue": overdue.get(i, 0)} for i, n, c2, b2 in per_school),
                     key=lambda s: monitoring._school_sort_key(s["name"]))
    total_states = {s: sum(row["routes"][s] for row in schools) for s in STATES}
    return {"c2": c2_total, "b2": b2_total, "f2": monitoring.f2_value(b2_total, c2_total),
            "routes_developed": developed, "routes": total_states, "routes_total": sum(total_states.values()),
            "overdue": sum(overdue.values()), "schools": schools}


def _comparable(figures):
    return {**{k: v for k, v in figures["totals"].items()}, "schools": figures["schools"]}


def _vary(d):
    """Add to the hand-checked district what its figures could get wrong: a teacher diagnosed in two
    schools, one diagnosed with no school, a teacher with two routes from the diagnostic, a route approved,
    returned and archived as a draft, a route returned and approved again, and overdue activities."""
    people, curator, head = d.people, d.curator, d.head
    diagnostic_id = db.session.execute(select(DiagnosticResult.diagnostic_id)
                                       .where(DiagnosticResult.teacher_id == people["A"].id)).scalars().first()
    # A's results (СОШ № 1) also list СОШ № 2 under another competency; G's have no school.
    db.session.add(DiagnosticResult(teacher_id=people["A"].id, diagnostic_id=diagnostic_id,
                                    school_id=d.other_school.id, competency="Цифровые компетенции",
                                    competency_key="цифровые компетенции", score=3, is_deficit=False))
    db.session.add(DiagnosticResult(teacher_id=people["G"].id, diagnostic_id=diagnostic_id, school_id=None,
                                    competency="Цифровые компетенции", competency_key="цифровые компетенции",
                                    score=3, is_deficit=False))
    db.session.commit()
    # F (closed) gets a second route from the diagnostic, in progress.
    drive(diagnostics.draft_route_from_diagnostic(people["F"]), people["F"], curator, head,
          ["request_review", "approve", "start"])
    # H's route was returned to the draft: now archived as a draft. B's is returned and approved again.
    h_route = db.session.execute(select(Route.id).where(Route.teacher_id == people["H"].id)).scalar_one()
    service.apply_transition(h_route, "archive", head, "Педагог уволился")
    b_route = db.session.get(Route, db.session.execute(
        select(Route.id).where(Route.teacher_id == people["B"].id)).scalar_one())
    drive(b_route, people["B"], curator, head, ["approve", "return_to_draft", "request_review", "approve"])
    # Two of A's planned activities are past due.
    db.session.execute(update(Activity).where(
        Activity.route_id.in_(select(Route.id).where(Route.teacher_id == people["A"].id)),
        Activity.status == ActivityStatus.PLANNED.value).values(deadline=date.today() - timedelta(days=3)))
    db.session.commit()


def test_approved_at_marks_exactly_the_routes_the_audit_trail_counts(dataset):
    _vary(dataset)
    db.session.expire_all()
    marked = db.session.execute(select(Route.id, Route.approved_at.isnot(None), _old_approved_clause())).all()
    assert len(marked) == 8
    assert [(i, old) for i, new, old in marked if bool(new) != bool(old)] == []


def test_figures_equal_the_old_three_pass_figures_on_a_varied_district(dataset):
    _vary(dataset)
    d = dataset
    # One more municipality's school and teacher, which must not leak into this one's figures.
    accounts.create_school("СОШ № 9", d.municipality)
    today = date.today()
    for kwargs in ({"period_end": date(2023, 3, 31)}, {"period_end": date(2024, 1, 1)}):
        new = monitoring.compute_figures(d.municipality.id, today=today, **kwargs)
        old = _old_figures(d.municipality.id, today=today, **kwargs)
        assert _comparable(new) == old
    assert old["c2"] == 9 and old["overdue"] > 0
    # A counted once in the totals, in both schools' C2; G (no school) in the totals only.
    assert old["c2"] < sum(s["c2"] for s in old["schools"]) + 1
    for diagnostic in monitoring.compute_figures(d.municipality.id, period_end=date(2024, 1, 1))["diagnostics"]:
        new = monitoring.compute_figures(d.municipality.id, diagnostic_id=diagnostic["id"],
                                         period_end=date(2024, 1, 1), today=today)
        old = _old_figures(d.municipality.id, diagnostic_id=diagnostic["id"], period_end=date(2024, 1, 1),
                           today=today)
        assert _comparable(new) == old


def test_teacher_lists_follow_the_marker(dataset):
    _vary(dataset)
    lists = monitoring.compute_teacher_lists(dataset.municipality.id, period_end=date(2023, 3, 31))
    # B approved again now counts; H (archived as a draft) does not.
    assert sorted(p["full_name"] for p in lists["b2"]) == ["Педагог A", "Педагог B", "Педагог C", "Педагог F"]
    assert len(lists["c2"]) == 8
