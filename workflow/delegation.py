"""Delegation: a curator or head names a substitute who acts on their routes for a period.

Rules (kept simple on purpose):

- the principal is a curator, a school head or a department head; an admin may name a substitute for
  any of them, everyone else only for themselves;
- the substitute is another active user of the same role in the same municipality (a school head is
  replaced by another school head, not by a teacher of the school: the substitute must already carry the
  role's responsibilities);
- the period (both days inclusive) ends no earlier than it starts, not entirely in the past, and lasts at
  most a year; one principal has at most one non-cancelled substitution for any day;
- during the period the substitute gets the principal's relations to routes (permissions.relations)
  and sees what the principal sees; before, after and once cancelled, nothing. Chains are not transitive:
  a substitute of a substitute gets only what their own principal has by their own role.

The substitute's principals are read once per request (one indexed query; none for teachers and
admins) and remembered on the user object, which lives for one request.
"""
import itertools
from collections import namedtuple
from datetime import date, datetime, timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, event, exists, select
from sqlalchemy.orm import joinedload

from models import Role, Substitution, User, db
from models._time import utcnow
from workflow.errors import Conflict, InvalidInput, NotFound, NotPermitted

DELEGATING_ROLES = frozenset({Role.CURATOR.value, Role.SCHOOL_HEAD.value, Role.DEPARTMENT_HEAD.value})
MAX_DAYS = 366

STATUS_LABELS = {
    "active": _l("Действует"),
    "planned": _l("Запланировано"),
    "ended": _l("Завершено"),
    "cancelled": _l("Отменено"),
}

# One principal the user substitutes today, as the per-request cache holds it.
Principal = namedtuple("Principal", "id full_name school_id municipality_id")

# Bumped on every change of a substitution or a user in this process, so a user object that outlives a
# request (tests share one session) never serves principals read before the change.
_generation = itertools.count()
_current = [next(_generation)]


def _bump(*_args):
    _current[0] = next(_generation)


event.listen(Substitution, "after_insert", _bump)
event.listen(Substitution, "after_update", _bump)
event.listen(Substitution, "after_delete", _bump)
event.listen(User, "after_update", _bump)


def _real(user):
    """The user object behind Flask-Login's current_user proxy."""
    return getattr(user, "_get_current_object", lambda: user)()


def short_name(full_name):
    """"Петрова Полина Петровна" -> "П. П. Петрова" (initials, then the surname)."""
    parts = (full_name or "").split()
    if len(parts) < 2:
        return full_name or ""
    return " ".join(p[0] + "." for p in parts[1:3]) + " " + parts[0]


def active_principals(user, today=None):
    """Return the principals the user substitutes today (a tuple of Principal), read once per request."""
    if user is None or not getattr(user, "is_authenticated", False) or user.role not in DELEGATING_ROLES:
        return ()
    user = _real(user)
    today = today or date.today()
    key = (today, _current[0])
    cached = user.__dict__.get("_iom_principals")
    if cached is not None and cached[0] == key:
        return cached[1]
    rows = db.session.execute(
        select(User.id, User.full_name, User.school_id, User.municipality_id)
        .join(Substitution, Substitution.principal_id == User.id)
        .where(Substitution.substitute_id == user.id, Substitution.cancelled_at.is_(None),
               Substitution.starts_on <= today, Substitution.ends_on >= today,
               User.active.is_(True), User.role == user.role, User.municipality_id == user.municipality_id)
        .order_by(User.id)
    ).all()
    principals = tuple(Principal(*row) for row in rows)
    user.__dict__["_iom_principals"] = (key, principals)
    return principals


def substitutes_today_column():
    """SQL (correlated on User, parameter `today`): may the user be someone's substitute today?

    Put beside the user in the statement that loads the signed-in user (accounts.load_session_user,
    accounts.resolve_token), then given to note_substitutes(): false, as for nearly every user, spares
    active_principals() its query; true leaves the exact check (role, municipality, active) to it.
    """
    return exists(
        select(Substitution.id).where(
            Substitution.substitute_id == User.id, Substitution.cancelled_at.is_(None),
            Substitution.starts_on <= bindparam("today"), Substitution.ends_on >= bindparam("today"))
    ).label("substitutes_today")


# On a loaded route (service.load_route): whether its teacher or curator may have a substitute today.
ROUTE_SUBSTITUTED_KEY = "_iom_people_substituted"


def route_people_substituted_column(*principal_ids):
    """SQL (correlated on the route's columns, parameter `today`): may any of these principals (the route's
    teacher and curator) have a substitute today? Read with the route, so that notifying of its events
    (notifications.recipients) spares current_substitutes() its query when, as nearly always, none has."""
    return exists(
        select(Substitution.id).where(
            Substitution.principal_id.in_(principal_ids), Substitution.cancelled_at.is_(None),
            Substitution.starts_on <= bindparam("today"), Substitution.ends_on >= bindparam("today"))
    ).label("people_substituted")


def may_have_substitutes(route):
    """False when the route was loaded knowing that neither its teacher nor its curator has a substitute
    today (route_people_substituted_column); True otherwise (current_substitutes() tells exactly)."""
    return route.__dict__.get(ROUTE_SUBSTITUTED_KEY) is not False


def note_substitutes(user, substitutes_today, today):
    """Remember that the user substitutes nobody today, as read with the user (see substitutes_today_column)."""
    if user is not None and not substitutes_today:
        user.__dict__["_iom_principals"] = ((today, _current[0]), ())


def principal_ids(user, today=None):
    return [p.id for p in active_principals(user, today)]


def principal_for_curator(user, curator_id):
    """Return the Principal whose curator relation the user holds as a substitute, or None."""
    if user is None or getattr(user, "role", None) != Role.CURATOR.value or curator_id is None:
        return None
    return next((p for p in active_principals(user) if p.id == curator_id), None)


def principal_for_school(user, school_id):
    """Return the Principal (a school head) whose school the user sees as a substitute, or None."""
    if user is None or getattr(user, "role", None) != Role.SCHOOL_HEAD.value or school_id is None:
        return None
    return next((p for p in active_principals(user) if p.school_id == school_id), None)


def substituted_for(route, user):
    """Return the short name of the principal the user sees this route for, or None when it is their own."""
    if user is None or not getattr(user, "is_authenticated", False) or user.role not in DELEGATING_ROLES:
        return None
    if user.role == Role.CURATOR.value and route.curator_id != user.id:
        principal = principal_for_curator(user, route.curator_id)
    elif user.role == Role.SCHOOL_HEAD.value and route.school_id != user.school_id:
        principal = principal_for_school(user, route.school_id)
    else:
        principal = None
    return short_name(principal.full_name) if principal else None


# --- managing substitutions -------------------------------------------------------------------------

def status_of(substitution, today=None):
    today = today or date.today()
    if substitution.cancelled_at is not None:
        return "cancelled"
    if substitution.ends_on < today:
        return "ended"
    if substitution.starts_on > today:
        return "planned"
    return "active"


def may_delegate(user):
    """Tell whether the user may open the delegation page (principals, their substitutes, admins)."""
    return user is not None and getattr(user, "is_authenticated", False) and \
        (user.role in DELEGATING_ROLES or user.role == Role.ADMIN.value)


def eligible_substitutes(principal):
    """Return the users who may substitute the principal: active, same role, same municipality."""
    if principal is None or principal.role not in DELEGATING_ROLES or principal.municipality_id is None:
        return []
    return db.session.execute(
        select(User).where(User.role == principal.role, User.municipality_id == principal.municipality_id,
                           User.active.is_(True), User.id != principal.id)
        .options(joinedload(User.school)).order_by(User.full_name, User.id)
    ).scalars().all()


def eligible_principals(actor):
    """Return whom the actor may name a substitute for: themselves, or (admin) any curator or head."""
    if actor.role in DELEGATING_ROLES:
        return [actor]
    if actor.role != Role.ADMIN.value:
        return []
    query = select(User).where(User.role.in_(DELEGATING_ROLES), User.active.is_(True))
    if actor.municipality_id is not None:
        query = query.where(User.municipality_id == actor.municipality_id)
    return db.session.execute(query.order_by(User.full_name, User.id)).scalars().all()


def _parse_day(value, field):
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value or "").strip()
    if not text:
        raise InvalidInput(_("Укажите дату"), details={field: "required"})
    for fmt in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise InvalidInput(_("Неверная дата: ожидается дд.мм.гггг"), details={field: "date"})


def _user(user_id, field):
    try:
        user_id = int(user_id)
    except (TypeError, ValueError):
        raise InvalidInput(_("Выберите пользователя"), details={field: "required"}) from None
    user = db.session.get(User, user_id)
    if user is None:
        raise InvalidInput(_("Пользователь не найден"), details={field: "not_found"})
    return user


def create_substitution(actor, *, substitute_id, starts_on, ends_on, principal_id=None, today=None):
    """Name a substitute for the principal (the actor, or anyone for an admin) for a period."""
    today = today or date.today()
    if not may_delegate(actor):
        raise NotPermitted(_("Назначать замещающих могут кураторы, руководители и администраторы"))
    if actor.role == Role.ADMIN.value:
        if principal_id in (None, ""):
            raise InvalidInput(_("Выберите, кого замещают"), details={"principal_id": "required"})
        principal = _user(principal_id, "principal_id")
    else:
        if principal_id not in (None, "") and str(principal_id) != str(actor.id):
            raise NotPermitted(_("Назначить замещающего можно только за себя"))
        principal = _real(actor)
    if principal.role not in DELEGATING_ROLES:
        raise InvalidInput(_("Замещающего назначают только куратору, руководителю ОО или начальнику управления"),
                           details={"principal_id": "role"})
    if actor.role == Role.ADMIN.value and actor.municipality_id is not None \
            and principal.municipality_id != actor.municipality_id:
        raise InvalidInput(_("Пользователь не найден"), details={"principal_id": "not_found"})
    substitute = _user(substitute_id, "substitute_id")
    if substitute.id == principal.id:
        raise InvalidInput(_("Нельзя назначить замещающим самого себя"), details={"substitute_id": "self"})
    if substitute.role != principal.role:
        raise InvalidInput(_("Замещающий должен иметь ту же роль, что и замещаемый"),
                           details={"substitute_id": "role"})
    if principal.municipality_id is None or substitute.municipality_id != principal.municipality_id:
        raise InvalidInput(_("Замещающий должен работать в том же муниципалитете"),
                           details={"substitute_id": "municipality"})
    if not substitute.active:
        raise InvalidInput(_("Замещающий заблокирован"), details={"substitute_id": "inactive"})
    starts_on = _parse_day(starts_on, "starts_on")
    ends_on = _parse_day(ends_on, "ends_on")
    if ends_on < starts_on:
        raise InvalidInput(_("Окончание замещения раньше его начала"), details={"ends_on": "order"})
    if ends_on < today:
        raise InvalidInput(_("Период замещения уже прошёл"), details={"ends_on": "past"})
    if (ends_on - starts_on).days + 1 > MAX_DAYS:
        raise InvalidInput(_("Замещение не может длиться дольше года"), details={"ends_on": "length"})
    try:
        # Serialize substitutions of one principal (PostgreSQL), so two overlapping ones cannot both pass.
        db.session.execute(select(User.id).where(User.id == principal.id).with_for_update())
        overlapping = db.session.execute(
            select(Substitution.id).where(
                Substitution.principal_id == principal.id, Substitution.cancelled_at.is_(None),
                Substitution.starts_on <= ends_on, Substitution.ends_on >= starts_on)
        ).first()
        if overlapping:
            raise Conflict(_("На эти даты у замещаемого уже есть замещающий; сначала отмените то замещение"))
        substitution = Substitution(principal_id=principal.id, substitute_id=substitute.id,
                                    starts_on=starts_on, ends_on=ends_on, created_by_id=actor.id)
        db.session.add(substitution)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return substitution


def load_substitution(actor, substitution_id):
    """Return a substitution the actor may see (principal, substitute, admin), or raise NotFound."""
    substitution = db.session.get(Substitution, substitution_id)
    if substitution is None or not _may_see(actor, substitution):
        raise NotFound(_("Замещение не найдено"))
    return substitution


def _may_see(actor, substitution):
    if actor.role == Role.ADMIN.value:
        return actor.municipality_id is None or substitution.principal.municipality_id == actor.municipality_id
    return actor.id in {substitution.principal_id, substitution.substitute_id}


def cancel_substitution(actor, substitution_id, today=None):
    """Cancel a substitution: its principal or an admin; the substitute loses the access at once."""
    substitution = load_substitution(actor, substitution_id)
    if actor.role != Role.ADMIN.value and actor.id != substitution.principal_id:
        raise NotPermitted(_("Отменить замещение может только замещаемый или администратор"))
    status = status_of(substitution, today)
    if status == "cancelled":
        raise Conflict(_("Замещение уже отменено"))
    if status == "ended":
        raise Conflict(_("Замещение уже завершилось"))
    substitution.cancelled_at = utcnow()
    substitution.cancelled_by_id = actor.id
    db.session.commit()
    return substitution


def substitutions_of(actor, limit=200):
    """Return (as principal, as substitute) for a curator or head; (all of the municipality, []) for an admin."""
    def run(query):
        return db.session.execute(
            query.options(joinedload(Substitution.principal), joinedload(Substitution.substitute),
                          joinedload(Substitution.created_by))
            .order_by(Substitution.starts_on.desc(), Substitution.id.desc()).limit(limit)
        ).scalars().all()

    if actor.role == Role.ADMIN.value:
        query = select(Substitution)
        if actor.municipality_id is not None:
            query = query.join(User, Substitution.principal_id == User.id) \
                .where(User.municipality_id == actor.municipality_id)
        return run(query), []
    return (run(select(Substitution).where(Substitution.principal_id == actor.id)),
            run(select(Substitution).where(Substitution.substitute_id == actor.id)))


# Built once (every notified change runs it): SQLAlchemy memoizes a statement's cache key on the statement.
_SUBSTITUTES_QUERY = (
    select(Substitution.principal_id, Substitution.substitute_id)
    .join(User, User.id == Substitution.substitute_id)
    .where(Substitution.principal_id.in_(bindparam("ids", expanding=True)), Substitution.cancelled_at.is_(None),
           Substitution.starts_on <= bindparam("today"), Substitution.ends_on >= bindparam("today"),
           User.active.is_(True))
)


def current_substitutes(user_ids, today=None):
    """Return {principal id: [substitute ids]} of the active substitutions of these users today."""
    user_ids = {uid for uid in user_ids if uid is not None}
    if not user_ids:
        return {}
    rows = db.session.execute(_SUBSTITUTES_QUERY, {"ids": sorted(user_ids), "today": today or date.today()}).all()
    found = {}
    for principal_id, substitute_id in rows:
        found.setdefault(principal_id, []).append(substitute_id)
    return found


def default_period(today=None):
    """The form's suggestion: from today for two weeks."""
    today = today or date.today()
    return today, today + timedelta(days=13)
