"""Notifications (the bell, the list, mark as read) and the route discussion's comment form."""
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from workflow import notifications
from workflow.errors import InvalidInput

bp = Blueprint("notifications", __name__)


@bp.app_template_global()
def notifications_unread():
    """The bell's unread count: from the inbox's one-SELECT menu counts when the inbox is there."""
    if not current_user.is_authenticated:
        return 0
    try:
        from views.inbox import request_menu_counts
    except ImportError:
        return notifications.unread_count(current_user)
    counts = request_menu_counts()
    if "notifications_unread" in counts:
        return counts["notifications_unread"]
    return notifications.unread_count(current_user)


@bp.app_template_global()
def route_comments(route):
    """The discussion of a route page (the page has checked that the user may read the route)."""
    return notifications.comments(route)


@bp.app_template_global()
def notification_text(notification):
    return notifications.text_of(notification)


def _page_arg():
    raw = request.args.get("page", "")
    return int(raw) if raw.isdigit() and 0 < int(raw) < 2**31 else 1


@bp.route("/notifications")
@login_required
def index():
    """List the user's notifications, newest first, a page at a time."""
    unread_only = request.args.get("unread") == "1"
    items, total, pages, page, per_page = notifications.page(
        current_user, _page_arg(), current_app.config["PAGE_SIZE"], unread_only=unread_only)
    return render_template("notifications/list.html", items=items, total=total, pages=pages, page=page,
                           unread_only=unread_only)


@bp.route("/notifications/<int:notification_id>/read", methods=["POST"])
@login_required
def mark_read(notification_id):
    """Mark one notification read; with open=1 go on to its route."""
    notification = notifications.mark_read(current_user, notification_id)
    if request.form.get("open") == "1" and notification.route_id:
        return redirect(url_for("web.route", route_id=notification.route_id))
    return redirect(url_for("notifications.index", page=request.form.get("page") or None))


@bp.route("/notifications/read-all", methods=["POST"])
@login_required
def mark_all_read():
    """Mark every notification of the user read."""
    count = notifications.mark_all_read(current_user)
    flash(_("Отмечено прочитанными: %(n)s", n=count), "success")
    return redirect(url_for("notifications.index"))


@bp.route("/routes/<int:route_id>/comments", methods=["POST"])
@login_required
def add_comment(route_id):
    """Add a comment to a route's discussion (anyone who may read the route)."""
    text = request.form.get("text", "")
    try:
        notifications.add_comment(route_id, current_user, text)
    except InvalidInput as exc:
        # Show the route again with the refused text kept in the form.
        from views.web import _render_route
        from workflow import service
        route = service.load_route(route_id, current_user)
        return _render_route(route, exc.status, exc.message, keep={"comment_text": text})
    flash(_("Комментарий добавлен"), "success")
    return redirect(url_for("web.route", route_id=route_id) + "#comments")
