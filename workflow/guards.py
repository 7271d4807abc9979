"""Guards: each returns None when it holds, or a reason in Russian when it does not."""
from models import ActivityStatus, CorrectionStatus


def not_own_route(route, actor):
    if route.teacher_id == actor.id:
        return "Куратор не может принимать решения по собственному маршруту"


def under_review(route, actor):
    if route.review_requested_at is None:
        return "Педагог ещё не отправил маршрут на согласование"


def under_review_if_draft(route, actor):
    if route.state == "drafted":
        return under_review(route, actor)


def not_under_review(route, actor):
    if route.review_requested_at is not None:
        return "Маршрут уже отправлен куратору и ждёт согласования"


def has_period(route, actor):
    if not route.period_start or not route.period_end:
        return "Не указан период реализации маршрута"


def has_request(route, actor):
    if not (route.request or "").strip():
        return "Не заполнен раздел 2: профессиональный запрос (затруднение)"


def has_activities(route, actor):
    if not route.activities:
        return "В дорожной карте нет ни одного мероприятия"


def has_reflection(route, actor):
    if not (route.reflection or "").strip():
        return "Не заполнена саморефлексия (раздел 4)"


def activities_resolved(route, actor):
    open_count = sum(1 for a in route.activities if a.status == ActivityStatus.PLANNED.value)
    if open_count:
        return f"Не отмечено выполнение мероприятий дорожной карты: {open_count}"
    if not route.activities:
        return "В дорожной карте нет ни одного мероприятия"


def no_pending_correction(route, actor):
    if any(c.status == CorrectionStatus.PENDING.value for c in route.corrections):
        return "Есть корректировка дорожной карты, ожидающая решения куратора"


def has_recommendations(route, actor):
    if not (route.recommendations or "").strip():
        return "Не заполнены рекомендации куратора (раздел 5)"


GUARDS = {name: fn for name, fn in globals().items() if callable(fn) and not name.startswith("_")
          and fn.__module__ == __name__}
