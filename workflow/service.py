"""The route service: every change to a route goes through here, in one transaction each."""
import logging
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import date, datetime

from blinker import signal
from flask_babel import get_locale, gettext as _
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import bindparam, event, exists, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from models import (
    Activity, ActivityStatus, Correction, CorrectionStatus, Direction, OrderRoute, Role, Route, RouteComment,
    RouteEvent, Stage, StoredFile, User, db,
)
from models._time import utcnow
from workflow import delegation, permissions
from workflow.errors import (
    STALE_MESSAGE, Conflict, InvalidInput, NotFound, NotPermitted, StaleVersion, TransitionNotAllowed,
)
from workflow.guards import COUNTS_KEY, GUARDS, RoadmapCounts
from workflow.machine import fire
from workflow.transition_writes import write_transition
from workflow.states import (
    CURATOR, RELATION_LABELS, STATE_LABELS, TEACHER, TRANSITIONS, TRANSITIONS_BY_TRIGGER,
)

# Sent after a commit: route_changed(route_id, event=..., actor_id=...). Listeners run side
# effects (documents, mail); they can never undo or half-do the change itself.
route_changed = signal("route-changed")
log = logging.getLogger(__name__)

GENERAL_FIELDS = ["workplace", "education", "position", "subject", "experience_years",
                  "qualification_category", "attestation_date"]
ROUTE_FIELDS_BY_SECTION = {
    "draft": ["period_start", "period_end", *GENERAL_FIELDS, "request"],
    "reflection": ["reflection"],
    "recommendations": ["recommendations"],
}
ACTIVITY_FIELDS = ["stage", "direction", "deficit", "tasks", "forms", "deadline", "result_form"]


@dataclass(frozen=True)
class Availability:
    """Whether a user may fire a trigger on a route now, and why not."""

    trigger: str
    label: str
    allowed: bool
    reason: str | None
    comment_required: bool
    # True when the user plays a part in this transition, so the page should show it.
    relevant: bool

    def as_dict(self):
        return {k: v for k, v in asdict(self).items() if k in {"trigger", "allowed", "reason"}}


# The fixed texts of available_transitions (labels, "only for...", "not in state..."), per language:
# every route answer lists all transitions, and translating them anew each time was a visible share of
# an API transition. Keyed by the locale, so each language gets its own texts.
_TEXTS = {}


def _text_in(locale, kind, key):
    text = _TEXTS.get((locale, kind, key))
    if text is None:
        if kind == "label":
            text = str(TRANSITIONS_BY_TRIGGER[key]["label"])
        elif kind == "actors":
            who = _(" или ").join(str(RELATION_LABELS[a]) for a in key)
            text = _("Действие доступно только %(who)s", who=who)
        else:
            text = _("Недоступно в состоянии «%(state)s»", state=STATE_LABELS[key])
        _TEXTS[(locale, kind, key)] = text
    return text


def _check(spec, route, actor, rels, locale=None):
    """Return (allowed, reason, relevant) of one transition for this user now."""
    if not rels & set(spec["actors"]):
        return False, _text_in(locale or str(get_locale()), "actors", tuple(spec["actors"])), False
    if route.state not in spec["source"]:
        return False, _text_in(locale or str(get_locale()), "state", route.state), False
    for name in spec["guards"]:
        reason = GUARDS[name](route, actor)
        if reason:
            return False, reason, True
    return True, None, True


def available_transitions(route, actor):
    """List every trigger with whether this user may fire it now and, if not, why."""
    rels = permissions.relations(route, actor)
    locale = str(get_locale())
    result = []
    for spec in TRANSITIONS:
        allowed, reason, relevant = _check(spec, route, actor, rels, locale)
        result.append(Availability(spec["trigger"], _text_in(locale, "label", spec["trigger"]), allowed, reason,
                                   spec["comment_required"], relevant))
    return result


@contextmanager
def unit_of_work(keep_loaded=False):
    """Commit the block's changes at once, or roll everything back and raise a typed error.

    keep_loaded: leave the loaded objects as they were committed instead of expiring them, so the
    caller can answer from them without reading them again (on SQLite, in a write request, another
    read would take the write lock again while the answer is serialized).
    """
    try:
        yield
        session = db.session()
        expire = session.expire_on_commit
        session.expire_on_commit = expire and not keep_loaded
        try:
            db.session.commit()
        finally:
            session.expire_on_commit = expire
    except StaleDataError:
        db.session.rollback()
        raise StaleVersion(STALE_MESSAGE) from None
    except OperationalError as exc:
        db.session.rollback()
        if "lock" in str(exc.orig).lower() or "deadlock" in str(exc.orig).lower():
            raise Conflict(_("Маршрут сейчас изменяет другой пользователь. Повторите действие.")) from None
        raise
    except BaseException:
        db.session.rollback()
        raise


def _key(instance):
    """Return an instance's primary key without loading it (the commit expired it; `.id` would
    reload the whole row, and for a route its eager-loaded collections, just to name it)."""
    instance = getattr(instance, "_get_current_object", lambda: instance)()  # current_user's proxy
    identity = sa_inspect(instance).identity
    return identity[0] if identity else instance.id


def notify_changed(route, event, actor):
    """Run the after-commit listeners; a failing one is logged and cannot undo or fail the change."""
    route_id = _key(route)
    for receiver in route_changed.receivers_for(route_id):
        try:
            receiver(route_id, event=event, actor_id=_key(actor))
        except Exception:
            # The change is committed: report the side effect's failure, keep the session usable.
            db.session.rollback()
            log.exception("route_changed listener %s failed: route %s, event %s",
                          getattr(receiver, "__qualname__", receiver), route_id, event)


def _touch(route):
    """Mark the route changed so its version goes up with this transaction."""
    route.updated_at = utcnow()


def _check_version(route, version):
    if version is None:
        return
    try:
        version = int(version)
    except (TypeError, ValueError):
        raise InvalidInput(_("Поле version должно быть целым числом")) from None
    if version != route.version:
        raise StaleVersion(STALE_MESSAGE)


def _count_of(model, *conditions):
    return (select(func.count()).select_from(model).where(model.route_id == Route.id, *conditions)
            .correlate(Route).scalar_subquery())


def _refers_to_route(model):
    return exists().where(model.route_id == Route.id).correlate(Route)


# What else refers to a route loaded with its people (the route page, the API's whole route): whether any
# order lists it and whether it has a discussion. Most routes have neither, and the page then spares the
# two statements that would read them (may_have).
LINKS_KEY = "_iom_route_links"


@dataclass(frozen=True)
class RouteLinks:
    orders: bool
    comments: bool


def may_have(route, what):
    """False when the route was loaded knowing that nothing of `what` ("orders", "comments") refers to it;
    True when something does, or when the route was loaded without asking (then the caller reads)."""
    links = route.__dict__.get(LINKS_KEY)
    return links is None or getattr(links, what)


def _route_load_query(people=True):
    # Most routes never had a road-map correction: the count beside the route spares them that query.
    # The road-map counts stand in for the collections when the route is loaded without them (guards.py).
    # people=False: none of the route's people nor its school (a department head's relation to the route
    # reads the school when asked: permissions.own_relations), nor its links (LINKS_KEY).
    loads = [joinedload(Route.teacher).joinedload(User.school), joinedload(Route.curator),
             joinedload(Route.school)] if people else []
    links = [_refers_to_route(OrderRoute).label("has_orders"),
             _refers_to_route(RouteComment).label("has_comments")] if people else []
    return select(
        Route, _count_of(Correction).label("corrections"), _count_of(Activity).label("activities"),
        _count_of(Activity, Activity.status == ActivityStatus.PLANNED.value).label("planned"),
        _count_of(Correction, Correction.status == CorrectionStatus.PENDING.value).label("pending"),
        delegation.route_people_substituted_column(Route.teacher_id, Route.curator_id), *links,
    ).where(Route.id == bindparam("route_id")).options(*loads)


# Built once: SQLAlchemy memoizes a statement's cache key on the statement, so reusing it skips
# walking the loader options on every load. The collections are read by statements of their own, built
# once too, rather than by selectinload, whose statements are keyed anew on every load (about a third
# of an API transition's time at region scale, see bench/).
_ROUTE_LOAD_QUERY = _route_load_query()
_ROUTE_STATE_QUERY = _route_load_query(people=False)
_ROUTE_COLLECTION_QUERIES = {
    "activities": select(Activity).where(Activity.route_id == bindparam("route_id"))
    .options(joinedload(Activity.product_file)).order_by(Activity.position, Activity.id),
    "events": select(RouteEvent).where(RouteEvent.route_id == bindparam("route_id"))
    .options(joinedload(RouteEvent.actor), joinedload(RouteEvent.on_behalf_of)).order_by(RouteEvent.id),
    "corrections": select(Correction).where(Correction.route_id == bindparam("route_id"))
    .options(joinedload(Correction.requested_by)).order_by(Correction.id),
}


@event.listens_for(Route, "expire")
def _forget_what_was_read_with_it(route, attrs):
    """What was read with a route (its road-map counts, whether its people have substitutes today, its
    links) describes it as then loaded: it expires with it (a commit, a refresh)."""
    route.__dict__.pop(COUNTS_KEY, None)
    route.__dict__.pop(delegation.ROUTE_SUBSTITUTED_KEY, None)
    route.__dict__.pop(LINKS_KEY, None)


def load_route(route_id, actor, *, full=True, people=True):
    """Load a route the user may see, with what its page shows, or raise NotFound.

    full=False: the route and its people, without its collections (road map, history, corrections);
    the guards then read the collections' counts, loaded with the route. people=False: without the
    teacher, the curator and the school too (they load on first use), and without knowing whether
    orders or comments refer to it (may_have then answers True)."""
    query = _ROUTE_LOAD_QUERY if people else _ROUTE_STATE_QUERY
    # No .unique(): every joined eager load here is many-to-one, so no row repeats (SQLAlchemy would
    # refuse a result with a joined collection without it); filtering the rows cost a third of the load.
    found = db.session.execute(query, {"route_id": route_id, "today": date.today()}).one_or_none()
    route, corrections, activities, planned, pending, substituted, *links = found if found is not None \
        else (None,) * 6
    permissions.require_view(route, actor)
    route.__dict__[COUNTS_KEY] = RoadmapCounts(activities, planned, pending)
    route.__dict__[delegation.ROUTE_SUBSTITUTED_KEY] = bool(substituted)
    if links:
        route.__dict__[LINKS_KEY] = RouteLinks(*map(bool, links))
    if full:
        for name, query in _ROUTE_COLLECTION_QUERIES.items():
            if name == "corrections" and not corrections:
                items = []
            else:
                items = db.session.execute(query, {"route_id": route.id}).scalars().all()
            set_committed_value(route, name, items)
    return route


# --- transitions -----------------------------------------------------------------------------

def apply_transition(route_id, trigger, actor, comment="", version=None, full=True):
    """Fire a trigger on a route for this user, atomically with its audit row; return the route.

    full=False: the caller shows the route's state, not its collections (road map, history,
    corrections), so they are not read: the guards count them instead (load_route)."""
    spec = TRANSITIONS_BY_TRIGGER.get(trigger)
    if spec is None:
        raise InvalidInput(_("Неизвестное действие: %(trigger)s", trigger=trigger))
    comment = checked_text(comment, "comment")
    with unit_of_work(keep_loaded=True):
        # A route answered with its state only needs neither its collections nor its people.
        route = load_route(route_id, actor, full=full, people=full)
        rels = permissions.relations(route, actor)
        allowed, reason, _relevant = _check(spec, route, actor, rels)
        if not rels & set(spec["actors"]):
            raise NotPermitted(reason)
        _check_version(route, version)
        if not allowed:
            raise TransitionNotAllowed(reason)
        if spec["comment_required"] and not comment:
            raise InvalidInput(_("Для этого действия нужен комментарий (причина)"))
        on_behalf_of = permissions.acting_for(route, actor, spec["actors"])
        transition = fire(route, trigger, actor, comment, on_behalf_of=on_behalf_of)
        if transition is None:
            raise TransitionNotAllowed(_("Действие сейчас недоступно"))
        event = write_transition(route, transition)
    if full:  # the history is shown: its new entry names its actor without reading them again
        _attach_actor(event, actor)
    notify_changed(route, trigger, actor)
    return route


def _attach_actor(event, actor):
    """Give a new audit row its actor as loaded, so presenting the history does not read the user again."""
    actor = getattr(actor, "_get_current_object", lambda: actor)()  # current_user's proxy
    state = sa_inspect(actor, raiseerr=False)
    if state is not None and state.session is db.session() and event.actor_id == state.identity[0]:
        set_committed_value(event, "actor", actor)


# --- creating and editing ----------------------------------------------------------------------

def _parse_date(value, field):
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    for fmt in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return datetime.strptime(str(value).strip(), fmt).date()
        except ValueError:
            continue
    raise InvalidInput(_("Неверная дата в поле %(field)s: ожидается дд.мм.гггг", field=field),
                       details={field: "date"})


TEXT_LIMIT = 20000


def checked_text(value, field, column=None):
    """Return a stripped string that fits its column, or raise InvalidInput (never a database error)."""
    value = "" if value is None else str(value)
    if "\x00" in value:
        raise InvalidInput(_("Текст содержит недопустимый символ"), details={field: "invalid"})
    value = value.strip()
    limit = getattr(getattr(column, "type", None), "length", None) or TEXT_LIMIT
    if len(value) > limit:
        raise InvalidInput(_("Слишком длинный текст: не более %(limit)s символов", limit=limit),
                           details={field: "length"})
    return value


def _clean_route_fields(data, allowed):
    cleaned = {}
    for key in allowed:
        if key not in data:
            continue
        value = data[key]
        if key in {"period_start", "period_end", "attestation_date"}:
            value = _parse_date(value, key)
        elif key == "experience_years":
            if value in (None, ""):
                value = None
            else:
                try:
                    value = int(value)
                except (TypeError, ValueError):
                    raise InvalidInput(_("Стаж должен быть целым числом лет"),
                                       details={key: "integer"}) from None
                if not 0 <= value <= 80:
                    raise InvalidInput(_("Стаж должен быть от 0 до 80 лет"), details={key: "range"})
        else:
            value = checked_text(value, key, Route.__table__.c[key])
        cleaned[key] = value
    start = cleaned.get("period_start")
    end = cleaned.get("period_end")
    if start and end and end < start:
        raise InvalidInput(_("Окончание периода раньше его начала"), details={"period_end": "order"})
    return cleaned


def editable_sections(route, actor):
    """Return which sections of the route this user may edit now."""
    rels = permissions.relations(route, actor)
    sections = set()
    if route.state == "drafted" and rels & {TEACHER, CURATOR}:
        sections.update({"draft", "activities"})
    if route.state == "in_progress" and TEACHER in rels:
        sections.update({"reflection", "results", "corrections"})
    if route.state == "in_progress" and CURATOR in rels:
        sections.add("correction_decisions")
    if route.state == "reflected" and CURATOR in rels:
        sections.add("recommendations")
    return sections


def _require_section(route, actor, section):
    if section not in editable_sections(route, actor):
        if not permissions.relations(route, actor):
            raise NotPermitted(_("Недостаточно прав для изменения этого маршрута"))
        raise TransitionNotAllowed(
            _("Раздел нельзя изменить в состоянии «%(state)s» или вашей ролью", state=STATE_LABELS[route.state])
        )


def create_route(actor, teacher_id=None, data=None, *, diagnostic_id=None):
    """Draft a new route for the actor (teacher) or for a teacher the actor curates."""
    data = data or {}
    if teacher_id is None or teacher_id == actor.id:
        teacher = actor
        if actor.role not in {Role.TEACHER.value, Role.CURATOR.value}:
            raise NotPermitted(_("Создать маршрут может педагог (для себя) или его куратор"))
    else:
        teacher = db.session.get(User, teacher_id)
        if teacher is None or not permissions.can_manage_teacher(actor, teacher):
            raise NotPermitted(_("Можно создавать маршруты только для закреплённых за вами педагогов"))
    fields = _clean_route_fields(data, ROUTE_FIELDS_BY_SECTION["draft"])
    with unit_of_work():
        route = Route(teacher_id=teacher.id, curator_id=teacher.curator_id, school_id=teacher.school_id,
                      diagnostic_id=diagnostic_id)
        route.workplace = teacher.school.name if teacher.school else ""
        route.position = teacher.position or ""
        for key, value in fields.items():
            setattr(route, key, value)
        db.session.add(route)
        db.session.flush()
        for index, item in enumerate(data.get("activities") or []):
            route.activities.append(_new_activity(item, index))
    notify_changed(route, "created", actor)
    return route


def update_route(route_id, actor, data, version):
    """Update the sections this user may edit now; unknown or foreign fields are ignored."""
    with unit_of_work():
        route = load_route(route_id, actor)
        _check_version(route, version)
        sections = [s for s, fields in ROUTE_FIELDS_BY_SECTION.items() if set(fields) & set(data)]
        if not sections:
            raise InvalidInput(_("Нет полей, которые можно изменить"))
        for section in sections:
            _require_section(route, actor, section)
        fields = _clean_route_fields(data, [f for s in sections for f in ROUTE_FIELDS_BY_SECTION[s]])
        merged_start = fields.get("period_start", route.period_start)
        merged_end = fields.get("period_end", route.period_end)
        if merged_start and merged_end and merged_end < merged_start:
            raise InvalidInput(_("Окончание периода раньше его начала"), details={"period_end": "order"})
        for key, value in fields.items():
            setattr(route, key, value)
        _touch(route)
    notify_changed(route, "edited", actor)
    return route


def _activity_fields(item, partial=False):
    cleaned = {}
    for key in ACTIVITY_FIELDS:
        if key not in item:
            continue
        value = item[key]
        if key == "stage":
            if value not in {s.value for s in Stage}:
                raise InvalidInput(_("Неизвестный этап маршрута"), details={key: "choice"})
        elif key == "direction":
            if value not in {d.value for d in Direction}:
                raise InvalidInput(_("Неизвестное направление деятельности"), details={key: "choice"})
        elif key == "deadline":
            value = _parse_date(value, key)
        else:
            value = checked_text(value, key, Activity.__table__.c[key])
        cleaned[key] = value
    if not partial:
        for key in ("stage", "direction"):
            if key not in cleaned:
                raise InvalidInput(_("У мероприятия должны быть указаны этап и направление"),
                                   details={key: "required"})
        if not cleaned.get("deficit") and not cleaned.get("tasks"):
            raise InvalidInput(_("Укажите дефицит (задачу) или образовательные задачи мероприятия"),
                               details={"deficit": "required"})
    return cleaned


def _new_activity(item, position):
    return Activity(position=position, **_activity_fields(item))


def _get_activity(route, activity_id):
    for activity in route.activities:
        if activity.id == activity_id:
            return activity
    raise NotFound(_("Мероприятие не найдено"))


def add_activity(route_id, actor, item, version):
    """Add a road-map activity to a draft."""
    with unit_of_work():
        route = load_route(route_id, actor)
        _check_version(route, version)
        _require_section(route, actor, "activities")
        position = max((a.position for a in route.activities), default=-1) + 1
        activity = _new_activity(item, position)
        route.activities.append(activity)
        _touch(route)
    notify_changed(route, "activity_added", actor)
    return route, activity


def update_activity(route_id, activity_id, actor, item, version):
    """Change a road-map activity of a draft."""
    with unit_of_work():
        route = load_route(route_id, actor)
        _check_version(route, version)
        activity = _get_activity(route, activity_id)
        _require_section(route, actor, "activities")
        for key, value in _activity_fields(item, partial=True).items():
            setattr(activity, key, value)
        _touch(route)
    notify_changed(route, "activity_edited", actor)
    return route, activity


def delete_activity(route_id, activity_id, actor, version):
    """Remove a road-map activity from a draft."""
    with unit_of_work():
        route = load_route(route_id, actor)
        _check_version(route, version)
        activity = _get_activity(route, activity_id)
        _require_section(route, actor, "activities")
        route.activities.remove(activity)
        _touch(route)
    notify_changed(route, "activity_deleted", actor)
    return route


def record_activity_result(route_id, activity_id, actor, *, status, product="", product_url="",
                           reason="", file=None, version=None):
    """Record an activity as done (with its product) or not done (with a reason)."""
    product = checked_text(product, "product", Activity.__table__.c.product)
    product_url = checked_text(product_url, "product_url", Activity.__table__.c.product_url)
    reason = checked_text(reason, "reason", Activity.__table__.c.reason)
    if status == ActivityStatus.DONE.value:
        if not product:
            raise InvalidInput(_("Опишите продукт (результат) выполненного мероприятия"),
                               details={"product": "required"})
        if product_url and not product_url.lower().startswith(("http://", "https://")):
            raise InvalidInput(_("Ссылка должна начинаться с http:// или https://"),
                               details={"product_url": "url"})
    elif status == ActivityStatus.NOT_DONE.value:
        if not reason:
            raise InvalidInput(_("Укажите причину невыполнения"), details={"reason": "required"})
    elif status != ActivityStatus.PLANNED.value:
        raise InvalidInput(_("Неизвестный статус мероприятия"), details={"status": "choice"})
    with unit_of_work():
        route = load_route(route_id, actor)
        _check_version(route, version)
        activity = _get_activity(route, activity_id)
        _require_section(route, actor, "results")
        activity.status = status
        activity.product = product if status == ActivityStatus.DONE.value else ""
        activity.product_url = product_url if status == ActivityStatus.DONE.value else ""
        activity.reason = reason if status == ActivityStatus.NOT_DONE.value else ""
        activity.completed_at = utcnow() if status != ActivityStatus.PLANNED.value else None
        if file is not None:
            stored = StoredFile(uploaded_by_id=actor.id, **file)
            db.session.add(stored)
            activity.product_file = stored
        elif status != ActivityStatus.DONE.value:
            activity.product_file = None
        _touch(route)
    notify_changed(route, "activity_result", actor)
    return route, activity


# --- road-map corrections during implementation ---------------------------------------------------

def roadmap_snapshot(route):
    """Return the road map as plain data (kept with each approved correction)."""
    return [
        {
            "id": a.id, "position": a.position, **{k: getattr(a, k) for k in ACTIVITY_FIELDS if k != "deadline"},
            "deadline": a.deadline.isoformat() if a.deadline else None, "status": a.status,
        }
        for a in route.activities
    ]


def request_correction(route_id, actor, *, reason, action, activity_id=None, fields=None, version=None):
    """Ask the curator to add, change or remove a road-map activity while the route is in progress."""
    reason = checked_text(reason, "reason")
    if not reason:
        raise InvalidInput(_("Укажите, почему нужна корректировка"), details={"reason": "required"})
    if action not in {"add", "change", "remove"}:
        raise InvalidInput(_("Неизвестный вид корректировки"), details={"action": "choice"})
    fields = fields or {}
    with unit_of_work():
        route = load_route(route_id, actor)
        _check_version(route, version)
        _require_section(route, actor, "corrections")
        if any(c.status == CorrectionStatus.PENDING.value for c in route.corrections):
            raise TransitionNotAllowed(_("Предыдущая корректировка ещё ждёт решения куратора"))
        if action == "add":
            clean = _activity_fields(fields)
        else:
            activity = _get_activity(route, int(activity_id or 0))
            if activity.status != ActivityStatus.PLANNED.value:
                raise TransitionNotAllowed(_("Выполненное мероприятие корректировать нельзя"))
            clean = _activity_fields(fields, partial=True) if action == "change" else {}
            if action == "change" and not clean:
                raise InvalidInput(_("Укажите, что изменить в мероприятии"))
        proposal = {"action": action, "activity_id": activity_id if action != "add" else None,
                    "fields": {k: (v.isoformat() if isinstance(v, date) else v) for k, v in clean.items()}}
        correction = Correction(requested_by_id=actor.id, reason=reason, proposal=proposal)
        route.corrections.append(correction)
        route.events.append(RouteEvent(actor_id=actor.id, event="correction_requested",
                                       from_state=route.state, to_state=route.state, comment=reason))
        _touch(route)
    notify_changed(route, "correction_requested", actor)
    return route, correction


def decide_correction(route_id, correction_id, actor, *, approve, comment="", version=None):
    """Approve (apply, keeping the previous road map) or reject a pending correction."""
    comment = checked_text(comment, "comment")
    if not approve and not comment:
        raise InvalidInput(_("Укажите причину отклонения корректировки"), details={"comment": "required"})
    with unit_of_work():
        route = load_route(route_id, actor)
        _check_version(route, version)
        _require_section(route, actor, "correction_decisions")
        correction = next((c for c in route.corrections if c.id == correction_id), None)
        if correction is None:
            raise NotFound(_("Корректировка не найдена"))
        if correction.status != CorrectionStatus.PENDING.value:
            raise TransitionNotAllowed(_("По этой корректировке уже принято решение"))
        if approve:
            correction.previous_roadmap = roadmap_snapshot(route)
            _apply_proposal(route, correction.proposal)
        correction.status = (CorrectionStatus.APPROVED if approve else CorrectionStatus.REJECTED).value
        correction.decided_by_id = actor.id
        correction.decided_at = utcnow()
        correction.decision_comment = comment
        route.events.append(RouteEvent(
            actor_id=actor.id, event="correction_approved" if approve else "correction_rejected",
            on_behalf_of_id=permissions.acting_for(route, actor, [CURATOR]),
            from_state=route.state, to_state=route.state, comment=comment))
        _touch(route)
    notify_changed(route, "correction_decided", actor)
    return route, correction


def _apply_proposal(route, proposal):
    fields = dict(proposal.get("fields") or {})
    if "deadline" in fields:
        fields["deadline"] = _parse_date(fields["deadline"], "deadline")
    if proposal["action"] == "add":
        position = max((a.position for a in route.activities), default=-1) + 1
        route.activities.append(Activity(position=position, **fields))
        return
    activity = _get_activity(route, int(proposal["activity_id"]))
    if proposal["action"] == "remove":
        route.activities.remove(activity)
    else:
        for key, value in fields.items():
            setattr(activity, key, value)
