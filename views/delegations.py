"""Delegation pages: a curator or head names a substitute for a period; admins manage anyone's."""
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from models import Role
from workflow import delegation
from workflow.errors import Conflict, InvalidInput, NotPermitted

bp = Blueprint("delegations", __name__, url_prefix="/delegations")


@bp.app_context_processor
def _delegation_helpers():
    user = current_user._get_current_object()  # once per page, not a proxy hop per row

    def substituted_for(route):
        """The short name of the principal the current user sees this route for, or None."""
        return delegation.substituted_for(route, user)

    # None when the user substitutes nobody today (nearly always): lists then skip the call per row.
    # The principals are read once per request and kept on the user (delegation.active_principals).
    return {"substituted_for": substituted_for if delegation.active_principals(user) else None,
            "delegations_may_manage": lambda: delegation.may_delegate(current_user)}


@bp.app_template_filter("short_name")
def _short_name(full_name):
    return delegation.short_name(full_name)


def _render(status=200, error=None, form=None):
    mine, theirs = delegation.substitutions_of(current_user)
    is_admin = current_user.role == Role.ADMIN.value
    principals = delegation.eligible_principals(current_user)
    if is_admin:
        # An admin names substitutes for any curator or head; the service checks the pair.
        substitutes = principals
    else:
        substitutes = delegation.eligible_substitutes(current_user)
    starts_on, ends_on = delegation.default_period()
    form = form or {"starts_on": starts_on.isoformat(), "ends_on": ends_on.isoformat()}
    return render_template(
        "delegations/index.html", mine=mine, theirs=theirs, is_admin=is_admin, principals=principals,
        substitutes=substitutes, form=form, error=error, status_of=delegation.status_of,
        status_labels=delegation.STATUS_LABELS, short_name=delegation.short_name,
    ), status


@bp.route("/", methods=["GET", "POST"])
@login_required
def index():
    """List my substitutions (as principal and as substitute; all of the municipality for an admin), create one."""
    if not delegation.may_delegate(current_user):
        raise NotPermitted(_("Назначать замещающих могут кураторы, руководители и администраторы"))
    if request.method == "GET":
        return _render()
    form = {key: request.form.get(key, "") for key in ("principal_id", "substitute_id", "starts_on", "ends_on")}
    try:
        substitution = delegation.create_substitution(
            current_user, principal_id=form["principal_id"] or None, substitute_id=form["substitute_id"],
            starts_on=form["starts_on"], ends_on=form["ends_on"])
    except (InvalidInput, Conflict) as exc:
        return _render(exc.status, exc.message, form)
    flash(_("Замещающий назначен: %(name)s, %(start)s – %(end)s",
            name=substitution.substitute.full_name, start=substitution.starts_on.strftime("%d.%m.%Y"),
            end=substitution.ends_on.strftime("%d.%m.%Y")), "success")
    return redirect(url_for("delegations.index"))


@bp.route("/<int:substitution_id>/cancel", methods=["POST"])
@login_required
def cancel(substitution_id):
    """Cancel a substitution (its principal or an admin)."""
    try:
        delegation.cancel_substitution(current_user, substitution_id)
    except Conflict as exc:
        return _render(exc.status, exc.message)
    flash(_("Замещение отменено"), "success")
    return redirect(url_for("delegations.index"))
