"""Reminders (flask --app app remind): due and overdue activities, routes waiting on curators, once a day."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from models import Notification, ReminderLog, db
from models._time import utcnow
from tests._smtp import SmtpServer
from tests.conftest import activity_data
from workflow import reminders, service


def reminders_of(user):
    db.session.expire_all()
    return db.session.execute(
        select(Notification).where(Notification.user_id == user.id, Notification.kind.like("reminder%"))
        .order_by(Notification.id)).scalars().all()


def in_progress(district, deadlines):
    """A route in progress whose activities are due in the given numbers of days (negative: overdue)."""
    teacher, curator = district.teacher, district.curator
    # Reminders count days in the district's time zone, which may already be tomorrow on the server.
    today = reminders.local_today()
    route = service.create_route(teacher, data={
        "period_start": today - timedelta(days=30), "period_end": today + timedelta(days=300),
        "request": "Запрос",
        "activities": [{**activity_data(i), "deadline": (today + timedelta(days=d)).isoformat()}
                       for i, d in enumerate(deadlines)]})
    for trigger, actor in (("request_review", teacher), ("approve", curator), ("start", teacher)):
        service.apply_transition(route.id, trigger, actor)
    return route


def test_teacher_hears_of_due_and_overdue_activities_once_a_day(district):
    route = in_progress(district, [-2, 0, 2, 10])
    summary = reminders.run(days=3, today=reminders.local_today())
    [notification] = reminders_of(district.teacher)
    assert notification.kind == "reminder_activities" and notification.route_id == route.id
    assert notification.params == {"days": 3, "due": 2, "overdue": 1}
    assert summary.notifications == 1 and summary.teachers == {district.teacher.id} and summary.skipped == 0

    again = reminders.run(days=3, today=reminders.local_today())
    assert again.notifications == 0 and again.skipped == 1
    assert len(reminders_of(district.teacher)) == 1
    # Another day is another reminder.
    reminders.run(days=3, today=reminders.local_today() + timedelta(days=1))
    assert len(reminders_of(district.teacher)) == 2


def test_days_bound_the_look_ahead(district):
    in_progress(district, [2, 5])
    assert reminders.run(days=1).notifications == 0
    assert reminders_of(district.teacher) == []
    reminders.run(days=5)
    [notification] = reminders_of(district.teacher)
    assert notification.params["due"] == 2 and notification.params["overdue"] == 0


def test_done_activities_and_routes_not_in_progress_are_not_reminded(district):
    route = in_progress(district, [1])
    route = service.load_route(route.id, district.teacher)
    service.record_activity_result(route.id, route.activities[0].id, district.teacher, status="done",
                                   product="Конспект")
    district.route(state="drafted")  # activities due in a month, and not started anyway
    assert reminders.run(days=60).notifications == 0


def test_curator_hears_of_routes_waiting_longer_than_days(district):
    review = district.route(state="under_review")
    reflected = district.route(state="reflected")
    route = in_progress(district, [30])
    route = service.load_route(route.id, district.teacher)
    service.request_correction(route.id, district.teacher, reason="Курсы перенесены", action="add",
                               fields={"stage": "design", "direction": "methodical", "deficit": "Вебинар"})
    # Not yet waiting longer than 3 days.
    assert reminders.run(days=3).notifications == 0
    later = utcnow() + timedelta(days=5)
    summary = reminders.run(days=3, now=later)
    found = {(n.route_id, n.params["reason"]) for n in reminders_of(district.curator)}
    assert found == {(review.id, "review"), (reflected.id, "reflection"), (route.id, "correction")}
    assert summary.curators == {district.curator.id}
    assert all(n.params["waited"] == 5 for n in reminders_of(district.curator))
    assert reminders.run(days=3, now=later).notifications == 0


def test_the_day_is_claimed_once_even_by_overlapping_runs(district):
    route = in_progress(district, [1])
    reminder = reminders.Reminder(district.teacher.id, "teacher", "activities", route.id, {})
    today = reminders.local_today()
    assert reminders._claim(reminder, today) is True
    assert reminders._claim(reminder, today) is False
    db.session.commit()
    assert db.session.execute(select(func.count(ReminderLog.id))).scalar_one() == 1


def test_cli_prints_a_summary_and_sends_nothing_twice(app, district):
    in_progress(district, [1, -1])
    runner = app.test_cli_runner()
    result = runner.invoke(args=["remind", "--days", "3"])
    assert result.exit_code == 0, result.output
    assert "педагогов — 1" in result.output and "уведомлений — 1" in result.output
    assert "почта не настроена" in result.output
    result = runner.invoke(args=["remind", "--days", "3"])
    assert result.exit_code == 0 and "уведомлений — 0" in result.output and "уже отправлено сегодня — 1" in result.output
    assert len(reminders_of(district.teacher)) == 1
    result = runner.invoke(args=["remind", "--days", "-1"])
    assert result.exit_code != 0 and len(reminders_of(district.teacher)) == 1


def test_reminder_mail_is_one_digest_per_user_in_their_language(app, district):
    district.curator.email = "curator@example.ru"
    district.teacher.email = "teacher@example.ru"
    district.teacher.locale = "en"
    db.session.commit()
    first = district.route(state="under_review")
    second = district.route(state="under_review")
    route = in_progress(district, [1])
    with SmtpServer() as server:
        server.configure(app)
        summary = reminders.run(days=3, now=utcnow() + timedelta(days=4))
        assert summary.mails == 2
        [digest] = server.inbox.to("curator@example.ru")
        assert digest["Subject"] == "ИОМ: напоминания (2)"
        body = server.inbox.body(digest)
        assert f"https://iom.example.ru/routes/{first.id}" in body and f"https://iom.example.ru/routes/{second.id}" in body
        assert "ждёт вашего согласования: 4 дн." in body
        [teacher_mail] = server.inbox.to("teacher@example.ru")
        assert f"Route No. {route.id}" in teacher_mail["Subject"]
        assert reminders.run(days=3, now=utcnow() + timedelta(days=4)).mails == 0
        assert len(server.inbox.messages) == 2


@pytest.mark.parametrize("days", [0, 7])
def test_overdue_is_reminded_whatever_the_days(district, days):
    in_progress(district, [-3])
    reminders.run(days=days)
    [notification] = reminders_of(district.teacher)
    assert notification.params["overdue"] == 1
