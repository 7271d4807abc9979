"""Guards: each returns None when it holds, or a reason (in the user's language) when it does not.

The road-map guards read the route's loaded activities and corrections; a route loaded without them
(service.load_route(..., full=False)) carries their counts instead, read with the route.
"""
from dataclasses import dataclass

from flask_babel import gettext as _

from models import ActivityStatus, CorrectionStatus

COUNTS_KEY = "_iom_roadmap_counts"


@dataclass(frozen=True)
class RoadmapCounts:
    """What the road-map guards need of a route's activities and corrections, counted in SQL."""

    activities: int
    planned: int
    pending_corrections: int


def _counts(route):
    """The route's RoadmapCounts when its collections were not loaded but counted, else None."""
    return route.__dict__.get(COUNTS_KEY)


def _activity_counts(route):
    counts = _counts(route) if "activities" not in route.__dict__ else None
    if counts is not None:
        return counts.activities, counts.planned
    activities = route.activities
    return len(activities), sum(1 for a in activities if a.status == ActivityStatus.PLANNED.value)


def _pending_corrections(route):
    counts = _counts(route) if "corrections" not in route.__dict__ else None
    if counts is not None:
        return counts.pending_corrections
    return sum(1 for c in route.corrections if c.status == CorrectionStatus.PENDING.value)


def not_own_route(route, actor):
    if route.teacher_id == actor.id:
        return _("Куратор не может принимать решения по собственному маршруту")


def under_review(route, actor):
    if route.review_requested_at is None:
        return _("Педагог ещё не отправил маршрут на согласование")


def under_review_if_draft(route, actor):
    if route.state == "drafted":
        return under_review(route, actor)


def not_under_review(route, actor):
    if route.review_requested_at is not None:
        return _("Маршрут уже отправлен куратору и ждёт согласования")


def has_period(route, actor):
    if not route.period_start or not route.period_end:
        return _("Не указан период реализации маршрута")


def has_request(route, actor):
    if not (route.request or "").strip():
        return _("Не заполнен раздел 2: профессиональный запрос (затруднение)")


def has_activities(route, actor):
    if not _activity_counts(route)[0]:
        return _("В дорожной карте нет ни одного мероприятия")


def has_reflection(route, actor):
    if not (route.reflection or "").strip():
        return _("Не заполнена саморефлексия (раздел 4)")


def activities_resolved(route, actor):
    total, open_count = _activity_counts(route)
    if open_count:
        return _("Не отмечено выполнение мероприятий дорожной карты: %(count)s", count=open_count)
    if not total:
        return _("В дорожной карте нет ни одного мероприятия")


def no_pending_correction(route, actor):
    if _pending_corrections(route):
        return _("Есть корректировка дорожной карты, ожидающая решения куратора")


def has_recommendations(route, actor):
    if not (route.recommendations or "").strip():
        return _("Не заполнены рекомендации куратора (раздел 5)")


GUARDS = {name: fn for name, fn in globals().items() if callable(fn) and not name.startswith("_")
          and not isinstance(fn, type) and fn.__module__ == __name__}
