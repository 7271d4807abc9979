"""Help pages: the route life cycle drawn from the state machine's own definition."""
from flask import Blueprint, render_template
from flask_login import login_required

from workflow import diagram

bp = Blueprint("help", __name__, url_prefix="/help")


@bp.route("/workflow")
@login_required
def workflow():
    """The route life cycle: a Mermaid diagram generated from workflow/states.py, and the table of transitions."""
    return render_template("help/workflow.html", source=diagram.mermaid_source(),
                           rows=diagram.transition_rows())
