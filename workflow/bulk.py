"""Bulk transitions: one trigger on many routes, each in its own transaction through the service.

A route that fails (not found, not permitted, not allowed now, stale, changed concurrently) is
reported with its reason and does not stop or undo the others.
"""
import logging
from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from models import Route, School, User, db
from workflow import permissions, service
from workflow.errors import InvalidInput, NotFound, WorkflowError
from workflow.states import TRANSITIONS_BY_TRIGGER

log = logging.getLogger(__name__)

BULK_TRIGGERS = ("approve", "return_to_draft", "archive")
MAX_BULK_ROUTES = 200


@dataclass
class BulkResult:
    """What happened to one route."""

    route_id: int
    ok: bool
    code: str = "ok"
    message: str = ""
    teacher_name: str | None = None
    school_name: str | None = None

    def as_dict(self):
        return {"route_id": self.route_id, "ok": self.ok, "code": self.code, "message": self.message}


@dataclass
class BulkOutcome:
    """The results of a bulk transition, route by route, in the order asked."""

    trigger: str
    results: list = field(default_factory=list)

    @property
    def succeeded(self):
        return [r for r in self.results if r.ok]

    @property
    def failed(self):
        return [r for r in self.results if not r.ok]

    @property
    def status(self):
        """200 when any route changed; otherwise what the failures have in common (404, 403 or 409)."""
        if self.succeeded or not self.results:
            return 200
        codes = {r.code for r in self.failed}
        if codes == {"not_found"}:
            return 404
        if codes <= {"not_found", "forbidden"}:
            return 403
        return 409


def parse_route_ids(values):
    """Parse route ids ("12" or "12:4", the latter with the version the page showed) into ids and versions."""
    ids, versions = {}, {}
    for value in values:
        text = str(value).strip()
        number, _sep, version = text.partition(":")
        if not number.isdigit() or (version and not version.isdigit()) or not 0 < int(number) < 2**31:
            raise InvalidInput(_("Неверный номер маршрута: %(value)s", value=text[:40]),
                               details={"route_ids": "invalid"})
        route_id = int(number)
        ids[route_id] = None
        if version:
            versions[route_id] = int(version)
    return list(ids), versions


def check_request(trigger, route_ids, comment, limit=MAX_BULK_ROUTES):
    """Refuse a bulk request as a whole (nothing changed) when its trigger, ids or comment are wrong."""
    if trigger not in BULK_TRIGGERS:
        raise InvalidInput(_("Это действие нельзя выполнить для нескольких маршрутов сразу"),
                           details={"trigger": "choice"})
    if not route_ids:
        raise InvalidInput(_("Отметьте хотя бы один маршрут"), details={"route_ids": "required"})
    if len(route_ids) > limit:
        raise InvalidInput(_("За один раз можно обработать не более %(limit)s маршрутов, отмечено %(count)s. "
                             "Разделите их на несколько частей.", limit=limit, count=len(route_ids)),
                           details={"route_ids": "too_many"})
    comment = service.checked_text(comment, "comment")  # the service's own text rule: a bad comment fails the request once
    if TRANSITIONS_BY_TRIGGER[trigger]["comment_required"] and not comment:
        message = _("Укажите причину закрытия") if trigger == "archive" else \
            _("Для возврата на доработку нужен комментарий")
        raise InvalidInput(message, details={"comment": "required"})


def bulk_transition(actor, trigger, route_ids, comment="", versions=None, *, limit=MAX_BULK_ROUTES):
    """Fire the trigger on each route separately; return a BulkOutcome with every route's result."""
    route_ids = list(dict.fromkeys(route_ids))
    check_request(trigger, route_ids, comment, limit)
    versions = versions or {}
    outcome = BulkOutcome(trigger)
    for route_id in route_ids:
        try:
            service.apply_transition(route_id, trigger, actor, comment=comment, version=versions.get(route_id))
        except NotFound:
            outcome.results.append(BulkResult(route_id, False, "not_found", _("Маршрут не найден")))
        except WorkflowError as exc:
            outcome.results.append(BulkResult(route_id, False, exc.code, exc.message))
        except SQLAlchemyError:
            db.session.rollback()
            log.exception("bulk %s failed on route %s", trigger, route_id)
            outcome.results.append(BulkResult(route_id, False, "error",
                                              _("Не удалось изменить маршрут из-за ошибки базы данных")))
        else:
            outcome.results.append(BulkResult(route_id, True))
    _describe(outcome, actor)
    return outcome


def _describe(outcome, actor):
    """Name each route's teacher and school, in one query, for the routes the user may still see."""
    ids = [r.route_id for r in outcome.results if r.code != "not_found"]
    if not ids:
        return
    rows = db.session.execute(
        select(Route.id, User.full_name, School.name)
        .join(User, User.id == Route.teacher_id).outerjoin(School, School.id == Route.school_id)
        .where(Route.id.in_(ids), permissions.visibility_clause(actor))
    ).all()
    names = {route_id: (teacher, school) for route_id, teacher, school in rows}
    for result in outcome.results:
        if result.route_id in names:
            result.teacher_name, result.school_name = names[result.route_id]
