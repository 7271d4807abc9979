"""Exports of lists as files: streamed, and safe against formula injection (workflow.exports)."""
from urllib.parse import quote

from flask import Blueprint, Response, request, stream_with_context
from flask_babel import gettext as _
from flask_login import current_user, login_required

from workflow import exports

bp = Blueprint("exports", __name__)


def attachment(filename, fallback):
    """Return a Content-Disposition value that keeps a Cyrillic name (RFC 6266 filename*)."""
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@bp.route("/routes/export.csv")
@login_required
def routes_csv():
    """Stream the route list the user may see as CSV (semicolon-separated, UTF-8 with BOM)."""
    state, school_id = exports.route_filters(current_user, request.args.get("state"),
                                             request.args.get("school_id"))
    rows = exports.route_rows(current_user, state=state, school_id=school_id)
    body = (chunk.encode("utf-8") for chunk in exports.csv_stream(exports.ROUTE_COLUMNS, rows))
    return Response(stream_with_context(body), mimetype="text/csv",
                    headers={"Content-Disposition": attachment(_("Маршруты ИОМ.csv"), "routes.csv"),
                             "Cache-Control": "no-store"})
