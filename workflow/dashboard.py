"""The district dashboard and the charts of figures: F2 per school, routes by state, overdue activities.

The figures are monitoring's own (workflow.monitoring.compute_figures: a handful of GROUP BY queries over
the municipality, whatever its size), taken live with every diagnostic held by today; a school head's
dashboard narrows them to their school. The same chart builder draws a monitoring campaign's figures.
"""
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import select

from models import Municipality, Role, School, db
from workflow import charts, monitoring
from workflow.errors import NotFound, NotPermitted
from workflow.states import STATE_LABELS, STATES

DASHBOARD_ROLES = {Role.SCHOOL_HEAD.value, Role.DEPARTMENT_HEAD.value, Role.ADMIN.value}
STATE_COLORS = {"drafted": "#adb5bd", "curator_approved": "#6edff6", "in_progress": "#6ea8fe",
                "reflected": "#ffda6a", "closed": "#75b798"}


def can_view(user):
    """School heads, department heads and admins have a dashboard."""
    return bool(user is not None and getattr(user, "is_authenticated", False) and user.role in DASHBOARD_ROLES)


def municipalities(user):
    """The municipalities whose dashboard the user may open (every one for an admin)."""
    if user.role == Role.ADMIN.value:
        return db.session.execute(select(Municipality).order_by(Municipality.name, Municipality.id)).scalars().all()
    if user.municipality_id is None:
        return []
    return [db.session.get(Municipality, user.municipality_id)]


def resolve_scope(user, *, municipality_id=None, school_id=None):
    """Return (municipality, school or None) of the dashboard the user asked for, or raise.

    A department head sees their municipality, optionally one of its schools; a school head only their own
    school; an admin any municipality (the first by name by default). Any other municipality or school is
    NotFound, so ids of other districts do not leak.
    """
    if not can_view(user):
        raise NotPermitted(_("Сводка доступна руководителям школ, начальнику управления и администратору"))
    if user.role == Role.ADMIN.value:
        if municipality_id is not None:
            municipality = db.session.get(Municipality, municipality_id)
        else:
            municipality = next(iter(municipalities(user)), None)
    else:
        if municipality_id is not None and municipality_id != user.municipality_id:
            raise NotFound(_("Муниципальное образование не найдено"))
        municipality = db.session.get(Municipality, user.municipality_id) if user.municipality_id else None
    if municipality is None:
        raise NotFound(_("Муниципальное образование не найдено"))
    school = None
    if user.role == Role.SCHOOL_HEAD.value:
        if user.school_id is None or (school_id is not None and school_id != user.school_id):
            raise NotFound(_("Школа не найдена"))
        school_id = user.school_id
    if school_id is not None:
        school = db.session.get(School, school_id)
        if school is None or school.municipality_id != municipality.id:
            raise NotFound(_("Школа не найдена"))
    return municipality, school


def narrow(figures, school_id):
    """The figures of one school: its row, and totals equal to that row."""
    rows = [row for row in figures["schools"] if row["id"] == school_id]
    row = rows[0] if rows else {"c2": 0, "b2": 0, "f2": None, "routes": {s: 0 for s in STATES},
                                "routes_total": 0, "overdue": 0}
    totals = {"c2": row["c2"], "b2": row["b2"], "f2": row["f2"], "routes": dict(row["routes"]),
              "routes_total": row["routes_total"], "overdue": row["overdue"],
              "routes_developed": row["b2"]}
    return {**figures, "schools": rows, "totals": totals}


def dashboard_figures(municipality, today=None):
    """Live figures of a municipality, per school, with every diagnostic held by today."""
    today = today or date.today()
    return monitoring.compute_figures(municipality.id, period_end=today, today=today)


def figure_charts(figures, prefix="chart"):
    """Three SVG charts of monitoring figures: F2 per school, routes by state per school, overdue per school."""
    schools = figures["schools"]
    f2_rows = [(s["name"], s["f2"], f"{monitoring.format_f2(s['f2'])} ({s['b2']}/{s['c2']})") for s in schools]
    series = [charts.Series(state, str(STATE_LABELS[state]), STATE_COLORS[state]) for state in STATES]
    state_rows = [(s["name"], s["routes"]) for s in schools]
    overdue_rows = [(s["name"], s["overdue"], str(s["overdue"])) for s in schools]
    empty = _("Нет школ")
    return {
        "f2": charts.bar_chart(
            f"{prefix}-f2", _("F2 по школам: доля педагогов с ИОМ по результатам диагностики, %"), f2_rows,
            maximum=100, suffix=" %", empty_text=empty),
        "states": charts.stacked_bar_chart(
            f"{prefix}-states", _("Маршруты по состояниям, по школам"), state_rows, series, empty_text=empty),
        "overdue": charts.bar_chart(
            f"{prefix}-overdue", _("Просроченные мероприятия по школам"), overdue_rows, color="#dc3545",
            value_width=60, empty_text=empty),
    }
