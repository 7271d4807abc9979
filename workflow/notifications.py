"""Notifications: who hears of what happens to a route, in the app and by e-mail; route comments.

In-app notifications are written in the SAME transaction as the change that causes them: a
before_flush listener turns every new audit row (RouteEvent: road-map corrections, whoever writes
them) and every new comment into Notification rows, and a transition, which writes its audit row
without the flush, writes its notifications beside it (workflow.transition_writes: the only writer
of transitions). A change that rolls back leaves no notification behind.

Mail goes strictly AFTER the commit: the listener only queues plain data on the session
(session.info), an after_commit listener composes and sends it, and a rollback drops the queue.
A failure to send is logged and never reaches the user's request.

The text is never stored: a notification keeps its kind and parameters, and describe() renders it
when shown, in the reader's language (mail: the recipient's User.locale).
"""
import logging

from flask import current_app, has_request_context, url_for
from flask_babel import force_locale, gettext as _, lazy_gettext as _l
from sqlalchemy import bindparam, event, func, select, update
from sqlalchemy.orm import joinedload

from models import Route, RouteEvent, User, db
from models._time import utcnow
from models.notification import Notification, RouteComment
from workflow import delegation, mail
from workflow.errors import InvalidInput, NotFound
from workflow.queries import page_bounds, page_count

log = logging.getLogger(__name__)

# Who hears of an event (besides never the actor): the route's teacher, its curator, or both.
TO_TEACHER = {"approve", "return_to_draft", "return_reflection", "close", "correction_approved",
              "correction_rejected"}
TO_CURATOR = {"request_review", "submit_reflection", "correction_requested"}
TO_BOTH = {"start", "archive", "comment"}

MESSAGES = {
    "request_review": _l("Маршрут № %(route)s (%(teacher)s) отправлен вам на согласование"),
    "approve": _l("Маршрут № %(route)s утверждён куратором"),
    "return_to_draft": _l("Маршрут № %(route)s возвращён на доработку"),
    "start": _l("Начата реализация маршрута № %(route)s (%(teacher)s)"),
    "submit_reflection": _l("По маршруту № %(route)s (%(teacher)s) представлена саморефлексия"),
    "return_reflection": _l("Саморефлексия по маршруту № %(route)s возвращена на доработку"),
    "close": _l("Маршрут № %(route)s закрыт"),
    "archive": _l("Маршрут № %(route)s (%(teacher)s) закрыт начальником управления"),
    "correction_requested": _l("По маршруту № %(route)s (%(teacher)s) запрошена корректировка дорожной карты"),
    "correction_approved": _l("Корректировка дорожной карты маршрута № %(route)s утверждена"),
    "correction_rejected": _l("Корректировка дорожной карты маршрута № %(route)s отклонена"),
    "comment": _l("Новый комментарий к маршруту № %(route)s (%(teacher)s)"),
    "reminder_activities": _l("Маршрут № %(route)s: сроки мероприятий в ближайшие %(days)s дн. — %(due)s, "
                              "просрочено — %(overdue)s"),
}
WAITING_MESSAGES = {
    "review": _l("Маршрут № %(route)s (%(teacher)s) ждёт вашего согласования: %(waited)s дн."),
    "reflection": _l("Саморефлексия по маршруту № %(route)s (%(teacher)s) ждёт проверки: %(waited)s дн."),
    "correction": _l("Корректировка маршрута № %(route)s (%(teacher)s) ждёт вашего решения: %(waited)s дн."),
}
EXCERPT = 500
COMMENT_LIMIT = 4000
_OUTBOX = "iom_mail_outbox"


def _id(user):
    if user is None or isinstance(user, int):
        return user
    return getattr(user, "id", None)


def recipients(route, event, actor):
    """Return the ids of the users to notify of an event on a route; never the actor themself."""
    if event in TO_TEACHER:
        wanted = [route.teacher_id]
    elif event in TO_CURATOR:
        wanted = [route.curator_id]
    elif event in TO_BOTH:
        wanted = [route.teacher_id, route.curator_id]
    else:
        wanted = []
    actor_id = _id(actor)
    result = []
    for user_id in wanted:
        if user_id is not None and user_id != actor_id and user_id not in result:
            result.append(user_id)
    # Whoever substitutes a recipient today hears of it too (workflow/delegation.py; not transitively).
    substitutes = delegation.current_substitutes(result) if delegation.may_have_substitutes(route) else {}
    for user_id in list(result):
        for substitute_id in sorted(substitutes.get(user_id, ())):
            if substitute_id != actor_id and substitute_id not in result:
                result.append(substitute_id)
    return result


def describe(kind, params=None, route_id=None, teacher=""):
    """Render a notification's sentence in the current language from its kind and parameters."""
    params = params or {}
    values = {"route": route_id or "", "teacher": teacher or "", "days": params.get("days", ""),
              "due": params.get("due", 0), "overdue": params.get("overdue", 0), "waited": params.get("waited", "")}
    if kind == "reminder_waiting":
        template = WAITING_MESSAGES.get(params.get("reason"), WAITING_MESSAGES["review"])
    else:
        template = MESSAGES.get(kind)
    if template is None:
        return _("Событие маршрута № %(route)s", route=values["route"])
    return str(template) % values


def excerpt(text):
    text = (text or "").strip()
    return text if len(text) <= EXCERPT else text[:EXCERPT - 1].rstrip() + "…"


# --- creating notifications (inside the change's own transaction) ------------------------------------

def _row(user_id, kind, route, actor_id, params):
    """The column values of one notification."""
    return {"user_id": user_id, "route_id": route.id if route is not None else None, "kind": kind,
            "params": dict(params or {}), "actor_id": actor_id, "created_at": utcnow(), "read_at": None}


def add(session, user_id, kind, route, *, actor=None, params=None, outbox=True):
    """Add one notification to the session and, when mail is on, queue its mail for after the commit."""
    params = dict(params or {})
    notification = Notification(**_row(user_id, kind, route, _id(actor), params))
    session.add(notification)
    if outbox:
        _queue(session, user_id, [entry(session, kind, params, route, actor)])
    return notification


def entry(session, kind, params, route, actor):
    """Return what a mail needs to tell of one notification, as plain data (mail is composed after commit)."""
    teacher = session.get(User, route.teacher_id) if route is not None else None
    actor_user = session.get(User, actor) if isinstance(actor, int) else actor
    return {"kind": kind, "params": params, "route_id": route.id if route is not None else None,
            "teacher": teacher.full_name if teacher else "", "actor": actor_user.full_name if actor_user else ""}


def mail_item(session, user_id, entries):
    """Return a mail to a user as plain data, or None (no MAIL_SERVER, no entries, no e-mail address)."""
    if not entries or not mail.enabled():
        return None
    user = session.get(User, user_id)
    if user is None or not user.email or not user.active:
        return None
    return {"to": user.email, "name": user.full_name, "locale": user.locale, "entries": entries}


def _queue(session, user_id, entries):
    """Queue a mail to a user for after the commit."""
    item = mail_item(session, user_id, entries)
    if item is not None:
        session.info.setdefault(_OUTBOX, []).append(item)


def _route_of(session, obj):
    route = obj.__dict__.get("route")
    if route is None and obj.route_id is not None:
        route = session.get(Route, obj.route_id)
    return route


def event_params(event):
    """The parameters a notification of an audit row keeps: an excerpt of its comment, if any."""
    return {"comment": excerpt(event.comment)} if event.comment else {}


def rows_for(session, route, kind, actor_id, params):
    """Return the notification rows (column values) of an event on a route, one per recipient, and queue
    their mail for after the commit. The caller writes the rows in the event's own transaction."""
    actor = session.get(User, actor_id) if actor_id is not None else None
    mail_on = mail.enabled()
    rows = []
    for user_id in recipients(route, kind, actor):
        rows.append(_row(user_id, kind, route, actor_id, params))
        if mail_on:
            _queue(session, user_id, [entry(session, kind, params, route, actor)])
    return rows


def _before_flush(session, flush_context, instances):
    """Notify of every new audit row and comment, in the flush (and so the transaction) that adds them.

    (A transition writes its audit row without the flush, and its notifications with it:
    workflow.transition_writes.)"""
    for obj in list(session.new):
        if isinstance(obj, RouteEvent):
            kind, actor_id, params = obj.event, obj.actor_id, event_params(obj)
        elif isinstance(obj, RouteComment):
            kind, actor_id, params = "comment", obj.author_id, {"comment": excerpt(obj.text)}
        else:
            continue
        route = _route_of(session, obj)
        if route is None or route.id is None:
            continue
        for row in rows_for(session, route, kind, actor_id, params):
            session.add(Notification(**row))


def _after_commit(session):
    outbox = session.info.pop(_OUTBOX, None)
    if outbox:
        send_outbox(outbox)


def _after_rollback(session, *args):
    session.info.pop(_OUTBOX, None)


def _install():
    for name, listener in (("before_flush", _before_flush), ("after_commit", _after_commit),
                           ("after_rollback", _after_rollback), ("after_soft_rollback", _after_rollback)):
        if not event.contains(db.session, name, listener):
            event.listen(db.session, name, listener)


_install()


# --- mail (after the commit) -------------------------------------------------------------------------

def route_url(route_id):
    """Return the absolute link of a route page: APP_BASE_URL, else the request's host, else SERVER_NAME."""
    base = current_app.config.get("APP_BASE_URL")
    path = current_app.url_map.bind("localhost").build("web.route", {"route_id": route_id})
    if base:
        return base.rstrip("/") + path
    if has_request_context() or current_app.config.get("SERVER_NAME"):
        return url_for("web.route", route_id=route_id, _external=True)
    return path


def compose(item):
    """Return the EmailMessage of a queued item, written in the recipient's language."""
    locale = item.get("locale") or current_app.config.get("BABEL_DEFAULT_LOCALE", "ru")
    with force_locale(locale):
        entries = item["entries"]
        texts = [describe(e["kind"], e["params"], e["route_id"], e["teacher"]) for e in entries]
        if len(entries) == 1:
            subject = _("ИОМ: %(text)s", text=texts[0])
        else:
            subject = _("ИОМ: напоминания (%(count)s)", count=len(entries))
        lines = [_("Здравствуйте, %(name)s!", name=item["name"]), ""]
        for entry, text in zip(entries, texts):
            lines.append(text)
            if entry.get("actor"):
                lines.append(_("Кто: %(actor)s", actor=entry["actor"]))
            if entry["params"].get("comment"):
                lines.append(_("Комментарий: «%(comment)s»", comment=entry["params"]["comment"]))
            if entry.get("route_id"):
                lines.append(_("Открыть маршрут: %(url)s", url=route_url(entry["route_id"])))
            lines.append("")
        lines.append(_("Это письмо отправлено автоматически системой ИОМ. Все уведомления — в разделе "
                       "«Уведомления» после входа."))
        return mail.build(item["to"], subject, "\n".join(lines))


def send_outbox(outbox):
    """Compose and send queued mail; return how many were sent. Never raises: the change is committed."""
    try:
        return mail.send([compose(item) for item in outbox])
    except Exception:
        log.exception("Notification mail failed")
        return 0


# --- reading and marking -----------------------------------------------------------------------------

def unread_count_subquery(user):
    """A scalar subquery counting the user's unread notifications (one indexed COUNT)."""
    return (select(func.count(Notification.id))
            .where(Notification.user_id == user.id, Notification.read_at.is_(None))
            .scalar_subquery())


def unread_count(user):
    return db.session.execute(select(unread_count_subquery(user))).scalar_one()


def notifications_query(user, unread_only=False):
    """Select the user's notifications, newest first, with their route's teacher and actor loaded."""
    query = (select(Notification).where(Notification.user_id == user.id)
             .options(joinedload(Notification.actor), joinedload(Notification.route).joinedload(Route.teacher))
             .order_by(Notification.id.desc()))
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    return query


def page(user, page_number=1, per_page=50, unread_only=False):
    """Return (notifications, total, pages, page, per_page) of the user's notifications."""
    page_number, per_page = page_bounds(page_number, per_page)
    query = notifications_query(user, unread_only)
    total = db.session.execute(select(func.count()).select_from(query.order_by(None).subquery())).scalar_one()
    items = db.session.execute(query.limit(per_page).offset((page_number - 1) * per_page)).scalars().unique().all()
    return items, total, page_count(total, per_page), page_number, per_page


def text_of(notification):
    """The sentence of a stored notification in the current language."""
    route = notification.route
    return describe(notification.kind, notification.params, notification.route_id,
                    route.teacher.full_name if route is not None else "")


def mark_read(user, notification_id):
    """Mark one of the user's notifications read; someone else's is NotFound (ids do not leak)."""
    notification = db.session.execute(
        select(Notification).where(Notification.id == notification_id, Notification.user_id == user.id)
    ).scalar_one_or_none()
    if notification is None:
        raise NotFound(_("Уведомление не найдено"))
    if notification.read_at is None:
        notification.read_at = utcnow()
    db.session.commit()
    return notification


def mark_all_read(user):
    """Mark every unread notification of the user read; return how many."""
    result = db.session.execute(
        update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=utcnow()))
    db.session.commit()
    return result.rowcount


# --- route comments ------------------------------------------------------------------------------------

def add_comment(route_id, actor, text):
    """Add a comment to the route's discussion; everyone who may read the route may write."""
    from workflow import service
    text = service.checked_text(text, "text", RouteComment.__table__.c.text)
    if not text:
        raise InvalidInput(_("Напишите текст комментария"), details={"text": "required"})
    if len(text) > COMMENT_LIMIT:
        raise InvalidInput(_("Слишком длинный комментарий: не более %(n)s символов", n=COMMENT_LIMIT),
                           details={"text": "length"})
    with service.unit_of_work():
        route = service.load_route(route_id, actor, full=False)
        comment = RouteComment(route_id=route.id, author_id=actor.id, text=text, created_at=utcnow())
        db.session.add(comment)
    service.notify_changed(route, "comment", actor)
    return comment


# Built once (every route page shows the discussion): a statement's loader options are costly to key anew.
_COMMENTS_QUERY = (select(RouteComment).where(RouteComment.route_id == bindparam("route_id"))
                   .options(joinedload(RouteComment.author)).order_by(RouteComment.id))


def comments(route):
    """Return the route's comments, oldest first, with their authors (the caller has checked access)."""
    from workflow import service
    if not service.may_have(route, "comments"):
        return []
    return db.session.execute(_COMMENTS_QUERY, {"route_id": route.id}).scalars().all()


def load_comment(comment_id):
    """Return a comment with its author loaded."""
    return db.session.execute(select(RouteComment).where(RouteComment.id == comment_id)
                              .options(joinedload(RouteComment.author))).scalar_one()


def list_comments(route_id, actor):
    """Return (route, comments) for a user who may read the route, else NotFound."""
    from workflow import service
    route = service.load_route(route_id, actor, full=False)
    return route, comments(route)


def _register_menu_count():
    try:
        from workflow import inbox
    except ImportError:  # the inbox is optional: the bell then counts on its own
        return
    inbox.register_menu_count("notifications_unread", unread_count_subquery)


_register_menu_count()
