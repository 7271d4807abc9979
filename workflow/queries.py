"""Read-side queries: route lists, the curator's queue, overdue activities. Eager, paginated, SQL-counted."""
from datetime import date

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import joinedload

from models import Activity, ActivityStatus, Correction, CorrectionStatus, Route, User, db
from models._time import utcnow
from workflow import permissions


def overdue_count_column(today=None):
    """A correlated count of a route's planned activities past their deadline."""
    today = today or date.today()
    return (
        select(func.count(Activity.id))
        .where(Activity.route_id == Route.id, Activity.status == ActivityStatus.PLANNED.value,
               Activity.deadline < today)
        .correlate(Route)
        .scalar_subquery()
        .label("overdue")
    )


def pending_correction_since_column():
    return (
        select(func.min(Correction.created_at))
        .where(Correction.route_id == Route.id, Correction.status == CorrectionStatus.PENDING.value)
        .correlate(Route)
        .scalar_subquery()
        .label("correction_since")
    )


def routes_query(user, *, state=None, school_id=None, teacher_id=None, today=None):
    """Select the routes the user may see, with teacher, curator, school and overdue count loaded."""
    query = (
        select(Route, overdue_count_column(today))
        .where(permissions.visibility_clause(user))
        .options(joinedload(Route.teacher), joinedload(Route.curator), joinedload(Route.school))
        .order_by(Route.id)
    )
    if state:
        query = query.where(Route.state == state)
    if school_id:
        query = query.where(Route.school_id == school_id)
    if teacher_id:
        query = query.where(Route.teacher_id == teacher_id)
    return query


def paginate(query, page, per_page):
    """Return (rows, total, pages) for a select of (Route, extra columns...)."""
    page = max(int(page or 1), 1)
    per_page = min(max(int(per_page or 50), 1), 200)
    total = db.session.execute(select(func.count()).select_from(query.order_by(None).subquery())).scalar_one()
    rows = db.session.execute(query.limit(per_page).offset((page - 1) * per_page)).unique().all()
    pages = max((total + per_page - 1) // per_page, 1)
    return rows, total, pages, page, per_page


WAITING_LABELS = {
    "review": "Утверждение маршрута",
    "correction": "Решение по корректировке",
    "reflection": "Проверка саморефлексии и закрытие",
}


def curator_queue(curator, page=1, per_page=50):
    """Return the open routes of the curator's teachers, those waiting longest on the curator first."""
    correction_since = pending_correction_since_column()
    waiting_since = case(
        (and_(Route.state == "drafted", Route.review_requested_at.isnot(None)), Route.review_requested_at),
        (Route.state == "reflected", Route.state_changed_at),
        else_=correction_since,
    )
    query = (
        select(Route, overdue_count_column(), correction_since)
        .where(Route.curator_id == curator.id, Route.state != "closed")
        .options(joinedload(Route.teacher).joinedload(User.school))
        .order_by(case((waiting_since.is_(None), 1), else_=0), waiting_since, Route.id)
    )
    rows, total, pages, page, per_page = paginate(query, page, per_page)
    now = utcnow()
    items = []
    for route, overdue, pending_since in rows:
        waiting, since = None, None
        if route.state == "drafted" and route.review_requested_at:
            waiting, since = "review", route.review_requested_at
        elif route.state == "reflected":
            waiting, since = "reflection", route.state_changed_at
        elif pending_since:
            waiting, since = "correction", pending_since
        items.append({
            "route": route, "overdue": overdue, "waiting": waiting,
            "waiting_label": WAITING_LABELS.get(waiting),
            "waiting_days": (now - since).days if since else None,
        })
    return items, total, pages, page, per_page


def overdue_activities(route, today=None):
    today = today or date.today()
    return [a for a in route.activities
            if a.status == ActivityStatus.PLANNED.value and a.deadline and a.deadline < today]


