"""Reminders, run daily from cron (flask --app app remind [--days N]).

Teachers hear of the planned activities of their routes in progress that are due within N days or
overdue (one notification per route); curators hear of the routes waiting on them longer than N days:
drafts sent for review, submitted reflections, pending road-map corrections (one per route and reason).

Each reminder is first written to reminder_log, whose UNIQUE (user, kind, object, day) lets exactly one
run a day insert it (INSERT ... ON CONFLICT DO NOTHING): a second run, or two overlapping runs, send
nothing twice. The notifications of a user are committed with their log rows; mail (one digest per
user) goes after the commits.
"""
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import case, func, select
from sqlalchemy.dialects import postgresql, sqlite

from models import Activity, ActivityStatus, Correction, CorrectionStatus, Route, db
from models._time import utcnow
from models.notification import ReminderLog
from workflow import notifications


@dataclass
class Summary:
    days: int
    day: date
    teachers: set = field(default_factory=set)
    curators: set = field(default_factory=set)
    notifications: int = 0
    skipped: int = 0
    mails: int = 0


@dataclass
class Reminder:
    user_id: int
    role: str            # "teacher" or "curator"
    kind: str            # reminder_log kind: activities, review, reflection, correction
    route_id: int
    params: dict


def local_today(app=None):
    """Today in the district's time zone (the day a reminder is counted against)."""
    app = app or current_app
    zone = ZoneInfo(app.config.get("BABEL_DEFAULT_TIMEZONE") or "Europe/Moscow")
    return datetime.now(zone).date()


def teacher_reminders(days, today):
    """Per route in progress: its planned activities due within `days` days and overdue, in one GROUP BY."""
    due = func.sum(case((Activity.deadline >= today, 1), else_=0))
    overdue = func.sum(case((Activity.deadline < today, 1), else_=0))
    rows = db.session.execute(
        select(Route.id, Route.teacher_id, due, overdue)
        .join(Activity, Activity.route_id == Route.id)
        .where(Route.state == "in_progress", Activity.status == ActivityStatus.PLANNED.value,
               Activity.deadline.isnot(None), Activity.deadline <= today + timedelta(days=days))
        .group_by(Route.id, Route.teacher_id)
        .order_by(Route.id)
    ).all()
    return [Reminder(teacher_id, "teacher", "activities", route_id,
                     {"days": days, "due": int(due_n or 0), "overdue": int(overdue_n or 0)})
            for route_id, teacher_id, due_n, overdue_n in rows]


def curator_reminders(days, now):
    """Routes waiting on their curator longer than `days` days: reviews, reflections, corrections."""
    cutoff = now - timedelta(days=days)
    found = []
    waiting = [
        ("review", Route.review_requested_at,
         [Route.state == "drafted", Route.review_requested_at.isnot(None), Route.review_requested_at <= cutoff]),
        ("reflection", Route.state_changed_at, [Route.state == "reflected", Route.state_changed_at <= cutoff]),
    ]
    for reason, since, conditions in waiting:
        rows = db.session.execute(
            select(Route.id, Route.curator_id, since).where(Route.curator_id.isnot(None), *conditions)
            .order_by(Route.id)).all()
        found += [(reason, route_id, curator_id, started) for route_id, curator_id, started in rows]
    since = func.min(Correction.created_at)
    rows = db.session.execute(
        select(Route.id, Route.curator_id, since).join(Correction, Correction.route_id == Route.id)
        .where(Route.curator_id.isnot(None), Route.state == "in_progress",
               Correction.status == CorrectionStatus.PENDING.value, Correction.created_at <= cutoff)
        .group_by(Route.id, Route.curator_id).order_by(Route.id)).all()
    found += [("correction", route_id, curator_id, started) for route_id, curator_id, started in rows]
    return [Reminder(curator_id, "curator", reason, route_id,
                     {"reason": reason, "days": days, "waited": max((now - started).days, 0)})
            for reason, route_id, curator_id, started in found]


def _claim(reminder, day):
    """Insert the reminder's log row; return False when this user already had it today."""
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(ReminderLog).values(user_id=reminder.user_id, kind=reminder.kind,
                                           object_id=reminder.route_id, sent_on=day,
                                           created_at=utcnow()).on_conflict_do_nothing()
    # RETURNING gives a row only when the insert happened (rowcount is not reliable across drivers).
    return db.session.execute(statement.returning(ReminderLog.id)).first() is not None


def run(days=None, today=None, now=None):
    """Send today's reminders (in the app, and by mail when configured); return a Summary."""
    days = current_app.config.get("REMIND_DAYS", 3) if days is None else int(days)
    if days < 0:
        raise ValueError("days must not be negative")
    today = today or local_today()
    now = now or utcnow()
    summary = Summary(days=days, day=today)
    by_user = {}
    for reminder in teacher_reminders(days, today) + curator_reminders(days, now):
        by_user.setdefault(reminder.user_id, []).append(reminder)
    outbox = []
    for user_id, reminders in by_user.items():
        entries = []
        try:
            for reminder in reminders:
                if not _claim(reminder, today):
                    summary.skipped += 1
                    continue
                route = db.session.get(Route, reminder.route_id)
                kind = "reminder_activities" if reminder.kind == "activities" else "reminder_waiting"
                notifications.add(db.session, user_id, kind, route, params=reminder.params, outbox=False)
                entries.append(notifications.entry(db.session, kind, reminder.params, route, None))
                summary.notifications += 1
                (summary.teachers if reminder.role == "teacher" else summary.curators).add(user_id)
            item = notifications.mail_item(db.session, user_id, entries)
            db.session.commit()
        except BaseException:
            db.session.rollback()
            raise
        if item is not None:
            outbox.append(item)
    if outbox:
        summary.mails = notifications.send_outbox(outbox)
    return summary
