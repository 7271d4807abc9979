"""The inbox (what waits on me) and bulk transitions from it. Thin: parse, call workflow, render."""
from flask import Blueprint, current_app, g, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm

from models import Role
from workflow import bulk, inbox, queries
from workflow.errors import InvalidInput

bp = Blueprint("inbox", __name__)

# The bulk actions each role may offer, and the kinds of items that carry a checkbox for them.
BULK_ACTIONS = {
    Role.CURATOR.value: ["approve", "return_to_draft"],
    Role.DEPARTMENT_HEAD.value: ["archive"],
}
BULK_KINDS = {
    Role.CURATOR.value: {"review"},
    Role.DEPARTMENT_HEAD.value: {"review", "correction", "reflection", "overdue"},
}
ACTION_LABELS = {
    "approve": _l("Утвердить"),
    "return_to_draft": _l("Вернуть на доработку"),
    "archive": _l("Закрыть (в архив)"),
}
SORT_COLUMNS = [("route", _l("Маршрут")), ("teacher", _l("Педагог")), ("school", _l("Школа")),
                ("kind", _l("Что ждёт")), ("days", _l("Сколько ждёт"))]


class BulkForm(FlaskForm):
    """Only the CSRF token; the action, comment and route ids are read from the form as sent."""


def _int_arg(name):
    try:
        value = int(request.args.get(name, ""))
    except ValueError:
        return None
    return value if 0 < value < 2**31 else None


def request_menu_counts():
    """The menu's badge counts: one SELECT per request, shared with the other badges (g.menu_counts)."""
    if not current_user.is_authenticated:
        return {}
    if g.get("menu_counts") is None:
        g.menu_counts = inbox.menu_counts(current_user)
    return g.menu_counts


@bp.app_context_processor
def _inbox_menu():
    return {"inbox_counts": request_menu_counts}


@bp.route("/inbox")
@login_required
def index():
    """What waits on me: sortable, filterable, paginated, with bulk actions where my role has them."""
    kinds = inbox.kinds_for(current_user)
    kind = request.args.get("kind") or None
    filters = inbox.Filters(
        kind=kind if kind in kinds else None,
        school_id=_int_arg("school"),
        text=(request.args.get("q") or "").strip()[:200],
        overdue=request.args.get("overdue") == "1",
    )
    sort = inbox.normalize_sort(request.args.get("sort"))
    items, total, pages, page, _per_page = inbox.inbox_items(
        current_user, filters, sort, page=_int_arg("page") or 1,
        per_page=current_app.config["PAGE_SIZE"])
    counts = request_menu_counts()
    actions = BULK_ACTIONS.get(current_user.role, [])
    return render_template(
        "inbox/index.html", items=items, total=total, pages=pages, page=page, filters=filters, sort=sort,
        kinds=kinds, counts=counts, kind_labels=inbox.KIND_LABELS, schools=queries.visible_schools(current_user)
        if current_user.role != Role.TEACHER.value else [],
        actions=actions, action_labels=ACTION_LABELS, bulk_kinds=BULK_KINDS.get(current_user.role, set()),
        columns=SORT_COLUMNS, sort_url=_sort_url, form=BulkForm(), max_bulk=bulk.MAX_BULK_ROUTES,
        stale_days=inbox.Settings.current().stale_days,
    )


def _sort_url(column, current):
    """The URL sorting by a column: first descending for days, ascending otherwise; again flips it."""
    if current.lstrip("-") == column:
        target = column if current.startswith("-") else f"-{column}"
    else:
        target = f"-{column}" if column == "days" else column
    args = {**request.args.to_dict(), "sort": target}
    args.pop("page", None)
    return url_for("inbox.index", **args)


@bp.route("/routes/bulk", methods=["POST"])
@login_required
def bulk_transition():
    """Approve, return or archive several routes at once; each one succeeds or fails on its own."""
    BulkForm()  # the CSRF token is checked app-wide (CSRFProtect) before the view runs
    action = request.form.get("action", "")
    comment = request.form.get("comment", "")
    try:
        ids, versions = bulk.parse_route_ids(request.form.getlist("route_ids"))
        outcome = bulk.bulk_transition(current_user, action, ids, comment, versions)
    except InvalidInput as exc:
        return render_template("inbox/bulk_result.html", outcome=None, error=exc.message,
                               action_label=ACTION_LABELS.get(action)), exc.status
    return render_template("inbox/bulk_result.html", outcome=outcome, error=None,
                           action_label=ACTION_LABELS.get(action)), outcome.status
