"""Guards: each returns None when it holds, or a reason (in the user's language) when it does not."""
from flask_babel import gettext as _

from models import ActivityStatus, CorrectionStatus


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
    if not route.activities:
        return _("В дорожной карте нет ни одного мероприятия")


def has_reflection(route, actor):
    if not (route.reflection or "").strip():
        return _("Не заполнена саморефлексия (раздел 4)")


def activities_resolved(route, actor):
    open_count = sum(1 for a in route.activities if a.status == ActivityStatus.PLANNED.value)
    if open_count:
        return _("Не отмечено выполнение мероприятий дорожной карты: %(count)s", count=open_count)
    if not route.activities:
        return _("В дорожной карте нет ни одного мероприятия")


def no_pending_correction(route, actor):
    if any(c.status == CorrectionStatus.PENDING.value for c in route.corrections):
        return _("Есть корректировка дорожной карты, ожидающая решения куратора")


def has_recommendations(route, actor):
    if not (route.recommendations or "").strip():
        return _("Не заполнены рекомендации куратора (раздел 5)")


GUARDS = {name: fn for name, fn in globals().items() if callable(fn) and not name.startswith("_")
          and fn.__module__ == __name__}
