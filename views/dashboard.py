"""The district dashboard: F2 per school, routes by state and overdue activities, live, as SVG charts."""
from flask import Blueprint, render_template, request
from flask_login import current_user, login_required

from workflow import dashboard
from workflow.states import STATES

bp = Blueprint("dashboard", __name__)


@bp.app_template_global()
def dashboard_can_view():
    return dashboard.can_view(current_user)


def _id_arg(name):
    value = request.args.get(name, "")
    return int(value) if value.isascii() and value.isdigit() and 0 < int(value) < 2**31 else None


@bp.route("/dashboard")
@login_required
def index():
    """The dashboard of the user's municipality (an admin picks one), or of the school head's school."""
    municipality, school = dashboard.resolve_scope(
        current_user, municipality_id=_id_arg("municipality"), school_id=_id_arg("school"))
    figures = dashboard.dashboard_figures(municipality)
    choices = [(row["id"], row["name"]) for row in figures["schools"]]
    if school is not None:
        figures = dashboard.narrow(figures, school.id)
    return render_template(
        "dashboard/index.html", municipality=municipality, school=school, figures=figures,
        charts=dashboard.figure_charts(figures, "dashboard"), states=STATES,
        schools=choices if current_user.role != "school_head" else None,
        municipalities=dashboard.municipalities(current_user) if current_user.role == "admin" else None,
    )
