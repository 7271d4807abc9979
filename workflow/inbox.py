"""The inbox: what waits on a user now, and for how long, built as one UNION ALL in SQL.

Each kind of item (a draft to review, a correction to decide, an overdue road map, ...) is a select
with the same columns; the inbox unions the kinds the user's role has, filters, sorts and pages the
union in the database, so a page costs two queries (count and page) whatever the data size, and the
menu's badge counts every kind in one SELECT of scalar subqueries.
"""
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    DateTime, Integer, String, and_, asc, bindparam, cast, desc, exists, false, func, literal, null, or_, select,
    true, union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from models import Activity, ActivityStatus, Correction, CorrectionStatus, Role, Route, RouteEvent, School, User, db
from models._time import utcnow
from models.diagnostics import CampaignState, MonitoringCampaign
from workflow import permissions
from workflow.queries import page_bounds, page_count, plain_rows

# Kinds of items, in the order the inbox lists its filter, with their labels.
KIND_LABELS = {
    "review": _l("Утверждение маршрута"),
    "correction": _l("Решение по корректировке"),
    "reflection": _l("Проверка саморефлексии и закрытие"),
    "overdue": _l("Просроченные мероприятия"),
    "returned": _l("Маршрут возвращён на доработку"),
    "draft": _l("Черновик не отправлен куратору"),
    "to_start": _l("Маршрут утверждён: начните реализацию"),
    "reflection_returned": _l("Саморефлексия возвращена на доработку"),
    "due_soon": _l("Скоро срок мероприятий"),
    "campaign": _l("Мониторинг не подписан"),
    "no_curator": _l("Педагог без куратора"),
}
# Kinds whose "since" is an activity's deadline (a date), not the moment the wait began.
DEADLINE_KINDS = {"overdue", "due_soon"}
# What a teacher does on their own routes (a curator may own routes too).
OWNER_KINDS = ["returned", "draft", "to_start", "reflection_returned", "due_soon", "overdue"]
ROLE_KINDS = {
    Role.TEACHER.value: OWNER_KINDS,
    Role.CURATOR.value: ["review", "correction", "reflection", "overdue", "returned", "draft", "to_start",
                         "reflection_returned", "due_soon"],
    Role.SCHOOL_HEAD.value: ["review", "correction", "reflection", "overdue"],
    Role.DEPARTMENT_HEAD.value: ["review", "correction", "reflection", "overdue", "campaign"],
    Role.ADMIN.value: ["no_curator", "review", "correction", "reflection"],
}
# Roles that see the curator's waiting kinds only once they wait longer than INBOX_STALE_DAYS.
STALE_ONLY_ROLES = {Role.DEPARTMENT_HEAD.value, Role.ADMIN.value}
WAITING_KINDS = {"review", "correction", "reflection"}
SORTS = {"days", "kind", "teacher", "school", "route"}
DEFAULT_SORT = "-days"
DEFAULT_STALE_DAYS = 7
DEFAULT_DUE_DAYS = 7
# Extra menu badge counts: name -> function(user) returning a scalar subquery (or None). Other parts
# of the app (notifications) register theirs, and menu_counts() still answers in one SELECT.
MENU_COUNTERS = {}


def register_menu_count(name, builder):
    """Add a badge count to menu_counts(): builder(user) returns a scalar subquery or None.

    The menu's statement is prebuilt once per role (and shape) and reused: the builder gets a stand-in
    user whose role is real and whose id, school_id and municipality_id are bind parameters, so it may
    branch on user.role only and must compare the ids with "=" (never test them for None).
    """
    MENU_COUNTERS[name] = builder


class as_datetime(FunctionElement):
    """A date as a timestamp at midnight (so the kinds' "since" columns share one type)."""

    type = DateTime()
    inherit_cache = True


@compiles(as_datetime)
def _as_datetime_default(element, compiler, **kw):
    return f"CAST({compiler.process(element.clauses, **kw)} AS TIMESTAMP)"


@compiles(as_datetime, "sqlite")
def _as_datetime_sqlite(element, compiler, **kw):
    # SQLite has no timestamp type: datetime() gives the text form the DateTime type reads back.
    return f"datetime({compiler.process(element.clauses, **kw)})"


@dataclass(frozen=True)
class Settings:
    stale_days: int = DEFAULT_STALE_DAYS
    due_days: int = DEFAULT_DUE_DAYS
    today: date | None = None
    now: datetime | None = None

    @classmethod
    def current(cls, **overrides):
        config = current_app.config if has_app_context() else {}
        values = {"stale_days": int(config.get("INBOX_STALE_DAYS", DEFAULT_STALE_DAYS)),
                  "due_days": int(config.get("INBOX_DUE_DAYS", DEFAULT_DUE_DAYS))}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def day(self):
        return self.today or date.today()

    @property
    def moment(self):
        return self.now or utcnow()


@dataclass(frozen=True)
class Filters:
    """What the inbox page narrows to; every field is optional."""

    kind: str | None = None
    school_id: int | None = None
    text: str = ""
    overdue: bool = False


@dataclass
class Item:
    """One thing waiting on the user."""

    kind: str
    route_id: int | None
    state: str | None
    version: int | None
    teacher_id: int | None
    teacher_name: str | None
    school_id: int | None
    school_name: str | None
    since: datetime
    count: int | None
    ref_id: int | None
    title: str | None
    days: int
    overdue: bool

    @property
    def label(self):
        return str(KIND_LABELS[self.kind])


def kinds_for(user):
    """Return the kinds of items the user's role has."""
    return list(ROLE_KINDS.get(user.role, []))


# --- the selects of each kind ------------------------------------------------------------------------

def _columns(kind, *, route=True, since, count=None, ref_id=None, title=None, teacher=User, school=School):
    """The union's columns, in one order; missing ones are typed NULLs."""
    def typed_null(type_):
        return cast(null(), type_)
    return [
        literal(kind, String(32)).label("kind"),
        (Route.id if route else typed_null(Integer)).label("route_id"),
        (Route.state if route else typed_null(String(32))).label("state"),
        (Route.version if route else typed_null(Integer)).label("version"),
        (teacher.id if teacher is not None else typed_null(Integer)).label("teacher_id"),
        (teacher.full_name if teacher is not None else typed_null(String(200))).label("teacher_name"),
        (school.id if school is not None else typed_null(Integer)).label("school_id"),
        (school.name if school is not None else typed_null(String(300))).label("school_name"),
        since.label("since"),
        (count if count is not None else typed_null(Integer)).label("count"),
        (ref_id if ref_id is not None else typed_null(Integer)).label("ref_id"),
        (title if title is not None else typed_null(String(400))).label("title"),
    ]


@dataclass(frozen=True)
class _Scope:
    """Who asks and when, as SQL values: plain values, or the bind parameters of a prebuilt statement.

    school_ids and municipality_id are None when the user has none (that changes the statement's shape).
    """

    role: str
    user_id: object
    curator_ids: object
    school_ids: object
    municipality_id: object
    today: object
    due_until: object
    stale_before: object


def _scope_params(user, settings):
    """The values of a _Scope for this user now (permissions.scope_values plus the dates)."""
    values = permissions.scope_values(user)
    values.update(today=settings.day, due_until=settings.day + timedelta(days=settings.due_days),
                  stale_before=settings.moment - timedelta(days=settings.stale_days))
    return values


def _literal_scope(user, settings):
    values = _scope_params(user, settings)
    values["school_ids"] = values["school_ids"] or None
    return _Scope(role=user.role, **values)


def _bound_scope(role, has_schools, has_municipality):
    """A _Scope of bind parameters named as _scope_params() names its values."""
    return _Scope(role=role, user_id=bindparam("user_id"), curator_ids=bindparam("curator_ids", expanding=True),
                  school_ids=bindparam("school_ids", expanding=True) if has_schools else None,
                  municipality_id=bindparam("municipality_id") if has_municipality else None,
                  today=bindparam("today"), due_until=bindparam("due_until"), stale_before=bindparam("stale_before"))


def _staff_scope(scope):
    """The routes whose waiting steps concern the user as curator or head."""
    # Today's principals of a substitute (workflow/delegation.py) are in curator_ids / school_ids: their
    # routes wait on the substitute too.
    role = scope.role
    if role == Role.CURATOR.value:
        return permissions.column_in(Route.curator_id, scope.curator_ids)
    if role == Role.SCHOOL_HEAD.value:
        return permissions.column_in(Route.school_id, scope.school_ids) if scope.school_ids is not None else false()
    if role in {Role.DEPARTMENT_HEAD.value, Role.ADMIN.value}:
        return true()
    return false()


def _overdue_scope(scope):
    role = scope.role
    if role == Role.TEACHER.value:
        return Route.teacher_id == scope.user_id
    if role == Role.CURATOR.value:
        return or_(Route.curator_id == scope.user_id, Route.teacher_id == scope.user_id)
    return _staff_scope(scope)


def _returned(event, route=Route):
    """Whether the route's latest state change was this event (it set state_changed_at)."""
    return exists().where(RouteEvent.route_id == route.id, RouteEvent.event == event,
                          RouteEvent.created_at >= route.state_changed_at)


@dataclass(frozen=True)
class _KindRows:
    """What makes a kind's rows, shared by its listing (_kind_select) and its count (_kind_count).

    base: the table the rows come from; route: whether they are a route's (base joined to it when it is
    not Route itself); conditions; since: the moment (or date) the wait began; per_route: the rows of
    `base` are grouped, one item per route (the deadline kinds count activities); ref_id, title: the
    listing's own columns.
    """

    base: object
    conditions: tuple
    since: object
    route: bool = True
    per_route: bool = False
    ref_id: object = None
    title: object = None


def _kind_rows(kind, scope):
    visible = permissions.visibility_for(scope.role, scope.user_id, scope.curator_ids, scope.school_ids,
                                         scope.municipality_id)
    own = Route.teacher_id == scope.user_id
    stale = []
    if scope.role in STALE_ONLY_ROLES and kind in WAITING_KINDS:
        stale = [scope.stale_before]
    if kind == "review":
        return _KindRows(Route, (visible, _staff_scope(scope), Route.state == "drafted",
                                 Route.review_requested_at.isnot(None),
                                 *[Route.review_requested_at <= s for s in stale]), Route.review_requested_at)
    if kind == "reflection":
        return _KindRows(Route, (visible, _staff_scope(scope), Route.state == "reflected",
                                 *[Route.state_changed_at <= s for s in stale]), Route.state_changed_at)
    if kind == "correction":
        return _KindRows(Correction, (visible, _staff_scope(scope), Correction.status == CorrectionStatus.PENDING.value,
                                      Route.state == "in_progress", *[Correction.created_at <= s for s in stale]),
                         Correction.created_at, ref_id=Correction.id)
    if kind in DEADLINE_KINDS:
        if kind == "overdue":
            window = [Activity.deadline < scope.today, Route.state != "closed", _overdue_scope(scope)]
        else:
            window = [Activity.deadline >= scope.today, Activity.deadline <= scope.due_until,
                      Route.state.in_(["curator_approved", "in_progress"]), own]
        return _KindRows(Activity, (visible, Activity.status == ActivityStatus.PLANNED.value, *window),
                         as_datetime(func.min(Activity.deadline)), per_route=True)
    if kind == "returned":
        return _KindRows(Route, (own, Route.state == "drafted", Route.review_requested_at.is_(None),
                                 _returned("return_to_draft")), Route.state_changed_at)
    if kind == "draft":
        return _KindRows(Route, (own, Route.state == "drafted", Route.review_requested_at.is_(None),
                                 ~_returned("return_to_draft")), Route.state_changed_at)
    if kind == "to_start":
        return _KindRows(Route, (own, Route.state == "curator_approved"), Route.state_changed_at)
    if kind == "reflection_returned":
        return _KindRows(Route, (own, Route.state == "in_progress", _returned("return_reflection")),
                         Route.state_changed_at)
    if kind == "campaign":
        if scope.municipality_id is None:
            condition = false()
        else:
            condition = MonitoringCampaign.municipality_id == scope.municipality_id
        return _KindRows(MonitoringCampaign, (condition, MonitoringCampaign.state == CampaignState.OPEN.value),
                         MonitoringCampaign.created_at, route=False, ref_id=MonitoringCampaign.id,
                         title=MonitoringCampaign.title)
    if kind == "no_curator":
        return _KindRows(User, (User.role == Role.TEACHER.value, User.active.is_(True), User.curator_id.is_(None)),
                         User.created_at, route=False, ref_id=User.id)
    raise ValueError(f"unknown inbox kind: {kind}")


def _from_rows(rows, statement):
    statement = statement.select_from(rows.base)
    if rows.route and rows.base is not Route:
        statement = statement.join(Route, Route.id == rows.base.route_id)
    return statement.where(*rows.conditions)


def _kind_select(kind, scope):
    """The kind's items with the union's columns (_columns): the route's teacher and school by name."""
    rows = _kind_rows(kind, scope)
    if not rows.route:
        person = User if rows.base is User else None  # a teacher without a curator names themselves
        statement = select(*_columns(kind, route=False, since=rows.since, ref_id=rows.ref_id, title=rows.title,
                                     teacher=person, school=School if person is not None else None))
        statement = _from_rows(rows, statement)
        return statement.outerjoin(School, School.id == User.school_id) if person is not None else statement
    statement = select(*_columns(kind, since=rows.since, ref_id=rows.ref_id,
                                 count=func.count() if rows.per_route else None))
    statement = (_from_rows(rows, statement)
                 .join(User, User.id == Route.teacher_id)
                 .outerjoin(School, School.id == Route.school_id))
    if rows.per_route:
        statement = statement.group_by(Route.id, Route.state, Route.version, User.id, User.full_name, School.id,
                                       School.name)
    return statement


def _kind_count(kind, scope):
    """The number of the kind's items (as _kind_select lists them), read without their names.

    Every route has its teacher (routes.teacher_id is required) and the school is an outer join, so
    the listing's joins change no count; a kind grouped per route counts its distinct routes.
    """
    rows = _kind_rows(kind, scope)
    counted = func.count(func.distinct(Route.id)) if rows.per_route else func.count()
    return _from_rows(rows, select(counted)).scalar_subquery()


# --- the inbox ----------------------------------------------------------------------------------------

def _name_condition(column, text):
    # SQLite's lower() folds ASCII only, so match the usual spellings of a Cyrillic name instead.
    variants = {text, text.lower(), text.capitalize(), text.title(), text.upper()}
    return or_(*[column.contains(v, autoescape=True) for v in variants])


def _filtered(user, filters, settings):
    """Return the union of the user's kinds as a subquery and the WHERE conditions of the filters."""
    kinds = kinds_for(user)
    if filters.kind:
        kinds = [k for k in kinds if k == filters.kind]
    if not kinds:
        return None, []
    scope = _literal_scope(user, settings)
    union = union_all(*[_kind_select(kind, scope) for kind in kinds]).subquery("inbox")
    conditions = []
    if filters.school_id:
        conditions.append(union.c.school_id == filters.school_id)
    text = (filters.text or "").strip()
    if text:
        conditions.append(or_(_name_condition(union.c.teacher_name, text), _name_condition(union.c.title, text)))
    if filters.overdue:
        conditions.append(_overdue_condition(union, settings))
    return union, conditions


def _overdue_condition(union, settings):
    """Overdue items: overdue activities, and anything else waiting longer than stale_days."""
    limit = settings.moment - timedelta(days=settings.stale_days)
    return or_(union.c.kind == "overdue", and_(union.c.kind.notin_(DEADLINE_KINDS), union.c.since <= limit))


def _order(union, sort):
    descending = sort.startswith("-")
    key = sort.lstrip("-")
    if key not in SORTS:
        key, descending = DEFAULT_SORT.lstrip("-"), True
    direction = desc if descending else asc
    if key == "days":
        # More days pending means an earlier "since".
        primary = [asc(union.c.since) if descending else desc(union.c.since)]
    elif key == "kind":
        primary = [direction(union.c.kind)]
    elif key == "teacher":
        primary = [direction(func.coalesce(union.c.teacher_name, union.c.title))]
    elif key == "school":
        primary = [direction(union.c.school_name)]
    else:
        primary = [direction(union.c.route_id)]
    return [*primary, asc(union.c.since), union.c.kind, union.c.route_id, union.c.ref_id]


def normalize_sort(sort):
    """Return a known sort key ("days", "-teacher", ...) or the default."""
    sort = sort or DEFAULT_SORT
    return sort if sort.lstrip("-") in SORTS and sort.count("-") <= 1 and not sort.endswith("-") \
        else DEFAULT_SORT


def inbox_items(user, filters=None, sort=DEFAULT_SORT, *, page=1, per_page=50, settings=None):
    """Return (items, total, pages, page, per_page): what waits on the user, filtered, sorted, one page."""
    filters = filters or Filters()
    settings = settings or Settings.current()
    page, per_page = page_bounds(page, per_page)
    union, conditions = _filtered(user, filters, settings)
    if union is None:
        return [], 0, 1, 1, per_page
    total = db.session.execute(select(func.count()).select_from(union).where(*conditions)).scalar_one()
    pages = page_count(total, per_page)
    rows = db.session.execute(
        select(union).where(*conditions).order_by(*_order(union, normalize_sort(sort)))
        .limit(per_page).offset((page - 1) * per_page)
    ).all()
    return [_item(row, settings) for row in rows], total, pages, page, per_page


def _item(row, settings):
    data = row._asdict()
    since = data["since"]
    if data["kind"] in DEADLINE_KINDS:
        days = (settings.day - since.date()).days
    else:
        days = (settings.moment - since).days
    overdue = data["kind"] == "overdue" or (data["kind"] not in DEADLINE_KINDS and days >= settings.stale_days)
    return Item(**data, days=days, overdue=overdue)


class _StandIn:
    """The user a registered counter's builder sees: its role, and bind parameters for its ids."""

    def __init__(self, role, scope):
        self.role = role
        self.id = scope.user_id
        self.school_id = bindparam("school_id")
        self.municipality_id = bindparam("user_municipality_id")


# Prebuilt menu statements, one per shape: (role, has schools, has a municipality, counters) ->
# (statement or None, kinds). Built once, then executed with the user's values as parameters.
_MENU_STATEMENTS = {}


def _menu_statement(role, has_schools, has_municipality):
    counters = tuple(MENU_COUNTERS.items())
    key = (role, has_schools, has_municipality, counters)
    found = _MENU_STATEMENTS.get(key)
    if found is None:
        scope = _bound_scope(role, has_schools, has_municipality)
        kinds = list(ROLE_KINDS.get(role, []))
        columns = [_kind_count(kind, scope).label(kind) for kind in kinds]
        stand_in = _StandIn(role, scope)
        for name, builder in counters:
            subquery = builder(stand_in)
            if subquery is not None:
                columns.append(subquery.label(name))
        found = _MENU_STATEMENTS[key] = (select(*columns) if columns else None, kinds)
    return found


def menu_counts(user, settings=None):
    """Return {kind: number of items, ..., "total": their sum, plus registered counters} in ONE SELECT.

    The statement is prebuilt per shape (_menu_statement) and run with the user's ids and today's dates
    as parameters, so a request pays for one cached execution, not for building nine selects.
    """
    settings = settings or Settings.current()
    params = _scope_params(user, settings)
    statement, kinds = _menu_statement(user.role, bool(params["school_ids"]), params["municipality_id"] is not None)
    if statement is None:
        return {"total": 0}
    params.update(school_id=user.school_id, user_municipality_id=user.municipality_id)
    row = plain_rows(statement, params).one()._asdict()
    counts = {name: int(row[name] or 0) for name in row}
    counts["total"] = sum(counts[kind] for kind in kinds)
    return counts
