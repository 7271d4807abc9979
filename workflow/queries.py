"""Read-side queries: route lists, the curator's queue, overdue activities. Eager, paginated, SQL-counted."""
from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, bindparam, case, func, or_, select
from sqlalchemy.orm import aliased, joinedload

from models import Activity, ActivityStatus, Correction, CorrectionStatus, Role, Route, School, User, db
from models._time import utcnow
from workflow import delegation, permissions


# Aliases for the plain-row lists' joins, so that subqueries on users/schools in their filters
# (filter_routes' name search, the visibility clause) stay uncorrelated.
_Teacher = aliased(User, name="teacher")
_RouteSchool = aliased(School, name="route_school")


def overdue_count_column(today=None):
    """A correlated count of a route's planned activities past their deadline (today: a date or a bind parameter).

    count(*), not count(id): the (route_id, status, deadline) index then answers it alone (on PostgreSQL
    an index-only scan; the index holds no id). The other counts of activities are written alike; the
    monitoring page uses this one."""
    today = date.today() if today is None else today
    return (
        select(func.count()).select_from(Activity)
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


def routes_query(user, *, state=None, school_id=None, teacher_id=None, today=None, **filters):
    """Select the routes the user may see, with teacher, curator, school and overdue count loaded.

    filters: curator_id, text (the teacher's name), overdue (see filter_routes).
    """
    query = (
        select(Route, overdue_count_column(today))
        .where(permissions.visibility_clause(user))
        .options(joinedload(Route.teacher), joinedload(Route.curator), joinedload(Route.school))
        .order_by(Route.id)
    )
    return filter_routes(query, state=state, school_id=school_id, teacher_id=teacher_id, today=today, **filters)


def visible_route_ids(user, *, state=None, school_id=None, teacher_id=None, **filters):
    """Select the ids of the routes the user may see, filtered like the route lists."""
    query = select(Route.id).where(permissions.visibility_clause(user))
    return filter_routes(query, state=state, school_id=school_id, teacher_id=teacher_id, **filters)


def name_clause(column, text):
    """SQL: the column contains the text, in the usual spellings of a name (SQLite folds ASCII case only)."""
    text = (text or "").strip()
    variants = {text, text.lower(), text.capitalize(), text.title(), text.upper()}
    return or_(*[column.contains(v, autoescape=True) for v in sorted(variants)])


def overdue_clause(today=None):
    """SQL: an open route with a planned activity past its deadline (correlated on Route)."""
    today = date.today() if today is None else today
    late = (select(Activity.id)
            .where(Activity.route_id == Route.id, Activity.status == ActivityStatus.PLANNED.value,
                   Activity.deadline < today)
            .correlate(Route).exists())
    return and_(Route.state != "closed", late)


def filter_routes(query, *, state=None, school_id=None, teacher_id=None, curator_id=None, text=None,
                  overdue=False, today=None):
    """Narrow a route select by state, school, teacher, curator, the teacher's name and overdue (each optional)."""
    if state:
        query = query.where(Route.state == state)
    if school_id:
        query = query.where(Route.school_id == school_id)
    if teacher_id:
        query = query.where(Route.teacher_id == teacher_id)
    if curator_id:
        query = query.where(Route.curator_id == curator_id)
    if text and text.strip():
        query = query.where(Route.teacher_id.in_(select(User.id).where(name_clause(User.full_name, text))))
    if overdue:
        query = query.where(overdue_clause(today))
    return query


def page_bounds(page, per_page):
    """The page number (from 1) and the page size (1..200) asked for, made sane."""
    return max(int(page or 1), 1), min(max(int(per_page or 50), 1), 200)


def page_count(total, per_page):
    """How many pages `total` rows make (at least one, so an empty list still has its page)."""
    return max((total + per_page - 1) // per_page, 1)


def paginate(query, page, per_page):
    """Return (rows, total, pages, page, per_page) for a select of (Route, extra columns...)."""
    page, per_page = page_bounds(page, per_page)
    total = db.session.execute(select(func.count()).select_from(query.order_by(None).subquery())).scalar_one()
    rows = db.session.execute(query.limit(per_page).offset((page - 1) * per_page)).unique().all()
    return rows, total, page_count(total, per_page), page, per_page


def plain_rows(statement, params=None):
    """Run a select of columns (no entities) on the session's connection and return its Result.

    The rows are the same as db.session.execute's, by position and by label. What is skipped is the
    ORM's execution path (its compile state, events and result set-up), about a tenth of a millisecond
    per statement that the read-side lists, counts and badges otherwise pay for building nothing. No
    autoflush either: for read paths, not for reading back what the request has just changed.
    """
    return db.session.connection().execute(statement, params)


def _page_of(count, rows, params, page, per_page, total=None):
    """paginate() for statements of plain rows built once: `rows` takes the parameters `limit` and `offset`.

    total: the number of rows when the caller knows it already (then `count` is not run).
    """
    page, per_page = page_bounds(page, per_page)
    if total is None:
        total = plain_rows(count, params).scalar_one()
    found = plain_rows(rows, {**params, "limit": per_page, "offset": (page - 1) * per_page}).all()
    return found, total, page_count(total, per_page), page, per_page


WAITING_LABELS = {
    "review": _l("Утверждение маршрута"),
    "correction": _l("Решение по корректировке"),
    "reflection": _l("Проверка саморефлексии и закрытие"),
}


def _curator_queue_statements():
    """The queue's page and count statements, built once; parameters: curator_ids, today, limit, offset."""
    correction_since = pending_correction_since_column()
    waiting_since = case(
        (and_(Route.state == "drafted", Route.review_requested_at.isnot(None)), Route.review_requested_at),
        (Route.state == "reflected", Route.state_changed_at),
        else_=correction_since,
    )
    scope = [Route.curator_id.in_(bindparam("curator_ids", expanding=True)), Route.state != "closed"]
    # Plain rows of only what the queue shows (no entities: building them cost more than the SQL).
    page = (
        select(Route.id, Route.state, Route.review_requested_at, Route.state_changed_at, Route.teacher_id,
               Route.curator_id, Route.school_id, _Teacher.full_name.label("teacher_name"),
               _Teacher.school_id.label("teacher_school_id"), _RouteSchool.name.label("teacher_school_name"),
               overdue_count_column(bindparam("today")), correction_since)
        .join(_Teacher, _Teacher.id == Route.teacher_id)
        .outerjoin(_RouteSchool, _RouteSchool.id == _Teacher.school_id)
        .where(*scope)
        .order_by(case((waiting_since.is_(None), 1), else_=0), waiting_since, Route.id)
        .limit(bindparam("limit")).offset(bindparam("offset"))
    )
    return page, select(func.count(Route.id)).where(*scope)


# Prebuilt (like service._ROUTE_COLLECTION_QUERIES): the statements and their cache keys are made once.
_CURATOR_QUEUE_PAGE, _CURATOR_QUEUE_COUNT = _curator_queue_statements()


def curator_queue(curator, page=1, per_page=50, *, counts=None):
    """Return the open routes of the curator's teachers, those waiting longest on the curator first.

    Each item's "route" is a plain row (see _curator_queue_statements), not a Route.
    counts: curator_state_counts(curator)[0] when the caller has it; the queue's total is then the
    sum of its open states, and no count is run.
    """
    total = None if counts is None else sum(n for state, n in counts.items() if state != "closed")
    rows, total, pages, page, per_page = _page_of(
        _CURATOR_QUEUE_COUNT, _CURATOR_QUEUE_PAGE, {"curator_ids": curated_ids(curator), "today": date.today()},
        page, per_page, total)
    now = utcnow()
    items = []
    for route in rows:  # a row: the Route columns by name, teacher_name, teacher_school_*, overdue, ...
        overdue, pending_since = route.overdue, route.correction_since
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


# --- read-side helpers of the web pages ------------------------------------------------------------

# Past-tense labels (lazy) of audit events (transitions and road-map corrections), for timelines.
EVENT_LABELS = {
    "request_review": _l("Маршрут отправлен куратору на согласование"),
    "approve": _l("Маршрут утверждён куратором"),
    "return_to_draft": _l("Маршрут возвращён на доработку"),
    "start": _l("Начата реализация маршрута"),
    "submit_reflection": _l("Представлена саморефлексия"),
    "return_reflection": _l("Саморефлексия возвращена на доработку"),
    "close": _l("Маршрут закрыт"),
    "archive": _l("Маршрут закрыт (в архив) начальником управления"),
    "correction_requested": _l("Запрошена корректировка дорожной карты"),
    "correction_approved": _l("Корректировка дорожной карты утверждена"),
    "correction_rejected": _l("Корректировка дорожной карты отклонена"),
}


def _scoped(query, user, *, school_id=None, curator_id=None, teacher_id=None):
    query = query.where(permissions.visibility_clause(user))
    if school_id:
        query = query.where(Route.school_id == school_id)
    if curator_id:
        ids = curator_id if isinstance(curator_id, (list, tuple)) else [curator_id]
        query = query.where(Route.curator_id.in_(ids))
    if teacher_id:
        query = query.where(Route.teacher_id == teacher_id)
    return query


def curated_ids(curator):
    """The curator and, today, the curators they substitute (workflow/delegation.py)."""
    return [curator.id, *delegation.principal_ids(curator)]


def curated_routes_query(curator, *, state=None, today=None, **filters):
    """Select the routes of the curator's assigned teachers (and of those they substitute), eager-loaded."""
    return routes_query(curator, state=state, today=today, **filters).where(
        Route.curator_id.in_(curated_ids(curator)))


def _curated_rows_base(visibility, curated, today):
    return (
        select(Route.id, Route.state, Route.review_requested_at, Route.teacher_id, Route.curator_id,
               Route.school_id, Route.period_start, Route.period_end, Route.updated_at,
               _Teacher.full_name.label("teacher_name"), _RouteSchool.name.label("school_name"),
               overdue_count_column(today))
        .join(_Teacher, _Teacher.id == Route.teacher_id)
        .outerjoin(_RouteSchool, _RouteSchool.id == Route.school_id)
        .where(visibility, curated)
        .order_by(Route.id)
    )


def curated_route_rows(curator, *, state=None, today=None, **filters):
    """Select plain rows of the curator's routes for a list (the queue page): what routes_table shows.

    Same routes and order as curated_routes_query; columns: the Route's by name, teacher_name,
    school_name (None without a school) and overdue.
    """
    query = _curated_rows_base(permissions.visibility_clause(curator), Route.curator_id.in_(curated_ids(curator)),
                               today or date.today())
    return filter_routes(query, state=state, today=today, **filters)


# --- the curator's pages from statements built once per shape -------------------------------------
# A page of the curator's queue runs four statements that depend only on the curator's ids, today and
# the filters chosen. Built anew they cost more in Python (construction, cache keys) than in SQL; built
# once per shape (which filters are set), they take their values as parameters. A teacher's name
# search (text) changes the shape with the spellings it tries, so it is built anew (curated_route_rows).

_CURATOR_IDS = bindparam("curator_ids", expanding=True)
_CURATED = Route.curator_id.in_(_CURATOR_IDS)
# permissions.visibility_for of a curator, its values as parameters.
_CURATOR_VISIBLE = permissions.visibility_for(Role.CURATOR.value, bindparam("user_id"), _CURATOR_IDS, None, None)
_PREBUILT = {}  # shape -> statement(s)
_FILTER_PARAMS = {"state": Route.state, "school_id": Route.school_id, "teacher_id": Route.teacher_id,
                  "curator_id": Route.curator_id}


def _prebuilt(shape, build):
    found = _PREBUILT.get(shape)
    if found is None:
        found = _PREBUILT[shape] = build()
    return found


def _curator_params(curator, today=None):
    return {"user_id": curator.id, "curator_ids": curated_ids(curator), "today": today or date.today()}


def curated_route_page(curator, page=1, per_page=50, *, state=None, today=None, text=None, overdue=False,
                       counts=None, **filters):
    """Return (rows, total, pages, page, per_page) of curated_route_rows(curator, ...): the same rows.

    filters: school_id, teacher_id, curator_id (each optional).
    counts: curator_state_counts(curator)[0] when the caller has it; filtered by state alone (or not at
    all), the total is read from it and no count is run.
    """
    if text and text.strip():
        return paginate(curated_route_rows(curator, state=state, today=today, text=text, overdue=overdue,
                                           **filters), page, per_page)
    values = {"state": state, **{name: filters.get(name) for name in ("school_id", "teacher_id", "curator_id")}}
    chosen = tuple(name for name in _FILTER_PARAMS if values[name])
    shape = ("curated_rows", chosen, bool(overdue))

    def build():
        query = _curated_rows_base(_CURATOR_VISIBLE, _CURATED, bindparam("today"))
        for name in chosen:
            query = query.where(_FILTER_PARAMS[name] == bindparam(f"filter_{name}"))
        if overdue:
            query = query.where(overdue_clause(bindparam("today")))
        return _paged(query)

    count, rows = _prebuilt(shape, build)
    params = {**_curator_params(curator, today), **{f"filter_{name}": values[name] for name in chosen}}
    total = None
    if counts is not None and not overdue and chosen in ((), ("state",)):
        total = counts.get(state, 0) if state else sum(counts.values())
    return _page_of(count, rows, params, page, per_page, total)


def _paged(query):
    """The count and the page (limit, offset as parameters) of a select, built once."""
    count = select(func.count()).select_from(query.order_by(None).subquery())
    return count, query.limit(bindparam("limit")).offset(bindparam("offset"))



def state_counts(user, *, school_id=None, curator_id=None, teacher_id=None):
    """Return {state: number of routes} over the routes the user may see, in one GROUP BY query."""
    query = _scoped(select(Route.state, func.count(Route.id)), user, school_id=school_id,
                    curator_id=curator_id, teacher_id=teacher_id).group_by(Route.state)
    return {state: count for state, count in db.session.execute(query)}


def curator_state_counts(curator):
    """Return ({state: n} over the curated routes, the number of the curator's own routes) in one query.

    The same figures as state_counts(curator, curator_id=curated_ids(curator)) and
    sum(state_counts(curator, teacher_id=curator.id).values()).
    """
    def build():
        own = Route.teacher_id == bindparam("user_id")
        return (
            select(Route.state, func.sum(case((_CURATED, 1), else_=0)), func.sum(case((own, 1), else_=0)))
            .where(_CURATOR_VISIBLE, or_(_CURATED, own))
            .group_by(Route.state)
        )

    query = _prebuilt("curator_state_counts", build)
    counts, own_total = {}, 0
    for state, in_curated, in_own in plain_rows(query, _curator_params(curator)):
        if in_curated:
            counts[state] = in_curated
        own_total += in_own or 0
    return counts, own_total


def _overdue_summary_select(today):
    """(overdue activities, routes having them) of the open routes; scope it with .where()."""
    return (select(func.count(), func.count(func.distinct(Activity.route_id)))
            .select_from(Activity).join(Route, Route.id == Activity.route_id)
            .where(Activity.status == ActivityStatus.PLANNED.value, Activity.deadline < today,
                   Route.state != "closed"))


def overdue_summary(user, *, school_id=None, curator_id=None, teacher_id=None, today=None):
    """Return (overdue activities, routes having them) among the user's open routes, in one query."""
    query = _scoped(_overdue_summary_select(today or date.today()), user,
                    school_id=school_id, curator_id=curator_id, teacher_id=teacher_id)
    activities, routes = db.session.execute(query).one()
    return activities or 0, routes or 0


def curated_overdue_summary(curator, today=None):
    """overdue_summary(curator, curator_id=curated_ids(curator)) from a statement built once."""
    query = _prebuilt("curated_overdue",
                      lambda: _overdue_summary_select(bindparam("today")).where(_CURATOR_VISIBLE, _CURATED))
    activities, routes = plain_rows(query, _curator_params(curator, today)).one()
    return activities or 0, routes or 0


def visible_schools(user):
    """Return the schools whose routes the user may filter by (own municipality; all for an admin)."""
    query = select(School).order_by(School.id)
    if user.role != Role.ADMIN.value:
        if user.municipality_id is None:
            return []
        query = query.where(School.municipality_id == user.municipality_id)
    return db.session.execute(query).scalars().all()


def users_query(*, role=None, school_id=None, text=None):
    """Select users for the admin pages, with school and curator loaded, ordered by name."""
    query = select(User).options(joinedload(User.school), joinedload(User.curator)).order_by(User.full_name, User.id)
    if role:
        query = query.where(User.role == role)
    if school_id:
        query = query.where(User.school_id == school_id)
    text = (text or "").strip()
    if text:
        query = query.where(or_(name_clause(User.full_name, text),
                                User.login.contains(text.lower(), autoescape=True)))
    return query


def visible_curators(user):
    """Return the curators a route list may be filtered by: of the user's municipality (all for an admin)."""
    query = select(User).where(User.role == Role.CURATOR.value).order_by(User.full_name, User.id)
    if user.role != Role.ADMIN.value:
        if user.municipality_id is None:
            return []
        query = query.where(User.municipality_id == user.municipality_id)
    return db.session.execute(query).scalars().all()
