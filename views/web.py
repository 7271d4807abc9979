"""Route pages for teachers, curators, school heads and the department head."""
from flask import Blueprint, redirect, url_for
from flask_login import login_required

bp = Blueprint("web", __name__)


@bp.route("/")
@login_required
def index():
    return redirect(url_for("web.routes"))


@bp.route("/routes")
@login_required
def routes():
    return "routes"
