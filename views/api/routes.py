"""Routes (ИОМ) over the API: list, create, read, edit, road map, corrections and transitions.

Thin views: parse with a schema, call workflow.service, answer with a schema. Every call that
changes a route answers with its new `version`: an edit with the whole route, a transition with the
route's new state (RouteState), or with the whole route when asked for it (Prefer: return=representation).
"""
from flask import jsonify, request, url_for
from sqlalchemy.orm import joinedload
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app import lock_at_first_write
from models import Route, User
from views.api import api_blueprint, error_responses
from views.api.auth import current_api_user
from views.api.schemas import (
    RESULT_FIELDS, ActivityCreateSchema, ActivityListSchema, ActivityPatchSchema, ActivityResultSchema,
    ActivitySchema, CorrectionCreateSchema, CorrectionDecisionSchema, CorrectionListSchema,
    PREFER_PARAMETER, RouteCreateSchema, RouteListQuerySchema, RouteListSchema, RoutePatchSchema, RouteSchema,
    RouteView, TransitionSchema, VersionQuerySchema, preferred_return, route_state,
)
from workflow import queries, service
from workflow.errors import NotFound

blp = api_blueprint("api_routes", __name__,
                    description=_l("Маршруты (ИОМ): разделы, дорожная карта, корректировки, переходы"))


def _present(route_id, user):
    """Load the route afresh (eagerly) and wrap it with the user's allowed transitions."""
    route = service.load_route(route_id, user)
    return RouteView(route, service.available_transitions(route, user))


def _route_fields(data):
    """Flatten the nested general_info into the service's field names."""
    data = dict(data)
    data.update(data.pop("general_info", None) or {})
    return data


def _create_from_diagnostic(actor, teacher_id):
    """Draft a route from the teacher's latest diagnostic: one activity per deficit (409 without results)."""
    from workflow.diagnostics import draft_route_from_diagnostic
    return draft_route_from_diagnostic(actor, teacher_id)


# --- routes -----------------------------------------------------------------------------------------

@blp.route("/routes", methods=["GET"])
@blp.arguments(RouteListQuerySchema, location="query")
@blp.response(200, RouteListSchema)
@error_responses(blp, 401)
def list_routes(args):
    """List the routes the caller may see, filtered by state, school or teacher, a page at a time."""
    user = current_api_user()
    query = queries.routes_query(
        user, state=args.get("state"), school_id=args.get("school_id"), teacher_id=args.get("teacher_id"),
    ).options(joinedload(Route.teacher).joinedload(User.school), joinedload(Route.curator).joinedload(User.school))
    rows, total, pages, page, per_page = queries.paginate(query, args["page"], args["per_page"])
    items = []
    for route, overdue in rows:
        item = RouteView(route, [])
        item.overdue_activities = overdue
        items.append(item)
    return {"items": items, "page": page, "per_page": per_page, "total": total, "pages": pages}


@blp.route("/routes", methods=["POST"])
@blp.arguments(RouteCreateSchema)
@blp.response(201, RouteSchema)
@error_responses(blp, 401, 403, 409)
def create_route(data):
    """Create a draft route: a teacher for themselves, a curator or admin with `teacher_id`."""
    user = current_api_user()
    data = _route_fields(data)
    teacher_id = data.pop("teacher_id", None)
    if data.pop("from_diagnostic", False):
        route = _create_from_diagnostic(user, teacher_id)
    else:
        route = service.create_route(user, teacher_id=teacher_id, data=data)
    return _present(route.id, user), 201, {"Location": url_for("api_routes.get_route", route_id=route.id)}


@blp.route("/routes/<id:route_id>", methods=["GET"])
@blp.response(200, RouteSchema)
@error_responses(blp, 401, 404)
def get_route(route_id):
    """Read a route: sections, activities, state, version, history and allowed transitions."""
    return _present(route_id, current_api_user())


@blp.route("/routes/<id:route_id>", methods=["PATCH"])
@blp.arguments(RoutePatchSchema)
@blp.response(200, RouteSchema)
@error_responses(blp, 401, 403, 404, 409)
def update_route(data, route_id):
    """Edit the sections the caller may edit now; `version` is required (stale -> 409)."""
    user = current_api_user()
    data = _route_fields(data)
    version = data.pop("version")
    service.update_route(route_id, user, data, version)
    return _present(route_id, user)


# RouteState unless the caller asks for the whole route (views/api/__init__.py registers both schemas).
_TRANSITION_ANSWER = {200: {"content": {"application/json": {"schema": {"oneOf": [
    {"$ref": "#/components/schemas/RouteState"}, {"$ref": "#/components/schemas/Route"}]}}}}}
_ROUTE_SCHEMA = RouteSchema()  # one instance: its dump is planned once (fast_dump.py)


@blp.route("/routes/<id:route_id>/transitions", methods=["POST"], parameters=[PREFER_PARAMETER])
@lock_at_first_write  # a transition's writes are version-checked (Route.version)
@blp.arguments(TransitionSchema)
@blp.response(200, description=_l("Новое состояние маршрута (RouteState); с Prefer: return=representation "
                                  "— весь маршрут (Route)"))
@blp.doc(responses=_TRANSITION_ANSWER)
@error_responses(blp, 401, 403, 404, 409)
def transition(data, route_id):
    """Fire a trigger (approve, return_to_draft, start, submit_reflection, return_reflection, close, archive...).

    Answers with the route's new state (RouteState: id, state, state_label, version, updated_at); with
    `Prefer: return=representation`, with the whole route (sections, road map, history, allowed
    transitions). A stated `return` preference is answered with `Preference-Applied`.
    403 when the caller's role may not, 409 `transition_not_allowed` with the reason when not now,
    409 `stale_version` when `version` is not the current one.
    """
    user = current_api_user()
    preference = preferred_return(request.headers.get("Prefer"))
    whole = preference == "representation"
    # Answered from the route as the transition left it: read again, it would be the same.
    route = service.apply_transition(route_id, data["trigger"], user, comment=data["comment"],
                                     version=data["version"], full=whole)
    if whole:
        answer = _ROUTE_SCHEMA.dump(RouteView(route, service.available_transitions(route, user)))
    else:
        answer = route_state(route)
    response = jsonify(answer)
    response.vary.add("Prefer")
    if preference is not None:
        response.headers["Preference-Applied"] = f"return={preference}"
    return response


# --- road map -----------------------------------------------------------------------------------------

@blp.route("/routes/<id:route_id>/activities", methods=["GET"])
@blp.response(200, ActivityListSchema)
@error_responses(blp, 401, 404)
def list_activities(route_id):
    """List the road map of a route, with the route's current version."""
    route = service.load_route(route_id, current_api_user())
    return {"route_id": route.id, "version": route.version, "items": route.activities}


@blp.route("/routes/<id:route_id>/activities", methods=["POST"])
@blp.arguments(ActivityCreateSchema)
@blp.response(201, RouteSchema)
@error_responses(blp, 401, 403, 404, 409)
def create_activity(data, route_id):
    """Add an activity to a draft's road map; answers with the route (new version)."""
    user = current_api_user()
    version = data.pop("version")
    _, activity = service.add_activity(route_id, user, data, version)
    location = url_for("api_routes.get_activity", route_id=route_id, activity_id=activity.id)
    return _present(route_id, user), 201, {"Location": location}


@blp.route("/routes/<id:route_id>/activities/<id:activity_id>", methods=["GET"])
@blp.response(200, ActivitySchema)
@error_responses(blp, 401, 404)
def get_activity(route_id, activity_id):
    """Read one activity of a route."""
    route = service.load_route(route_id, current_api_user())
    activity = next((a for a in route.activities if a.id == activity_id), None)
    if activity is None:
        raise NotFound(_("Мероприятие не найдено"))
    return activity


@blp.route("/routes/<id:route_id>/activities/<id:activity_id>", methods=["PATCH"])
@blp.arguments(ActivityPatchSchema)
@blp.response(200, RouteSchema)
@error_responses(blp, 401, 403, 404, 409)
def update_activity(data, route_id, activity_id):
    """Change a draft's activity, or record its result (status, product, product_url, reason).

    Planned fields and result fields cannot be mixed in one request.
    """
    user = current_api_user()
    version = data.pop("version")
    if "status" in data:
        _record_result(route_id, activity_id, user, data, version)
    else:
        service.update_activity(route_id, activity_id, user, data, version)
    return _present(route_id, user)


@blp.route("/routes/<id:route_id>/activities/<id:activity_id>", methods=["DELETE"])
@blp.arguments(VersionQuerySchema, location="query")
@blp.response(200, RouteSchema)
@error_responses(blp, 401, 403, 404, 409)
def delete_activity(args, route_id, activity_id):
    """Remove an activity from a draft; the route's version goes in the query: `?version=N`."""
    user = current_api_user()
    service.delete_activity(route_id, activity_id, user, args["version"])
    return _present(route_id, user)


@blp.route("/routes/<id:route_id>/activities/<id:activity_id>/result", methods=["POST"])
@blp.arguments(ActivityResultSchema)
@blp.response(200, RouteSchema)
@error_responses(blp, 401, 403, 404, 409)
def record_result(data, route_id, activity_id):
    """Record an activity of a route in progress as done (with its product) or not done (with a reason)."""
    user = current_api_user()
    _record_result(route_id, activity_id, user, data, data.pop("version"))
    return _present(route_id, user)


def _record_result(route_id, activity_id, user, data, version):
    service.record_activity_result(route_id, activity_id, user, version=version,
                                   **{k: data[k] for k in RESULT_FIELDS if k in data})


# --- road-map corrections -----------------------------------------------------------------------------

@blp.route("/routes/<id:route_id>/corrections", methods=["GET"])
@blp.response(200, CorrectionListSchema)
@error_responses(blp, 401, 404)
def list_corrections(route_id):
    """List the road-map corrections of a route, each with the road map it replaced."""
    route = service.load_route(route_id, current_api_user())
    return {"route_id": route.id, "version": route.version, "items": route.corrections}


@blp.route("/routes/<id:route_id>/corrections", methods=["POST"])
@blp.arguments(CorrectionCreateSchema)
@blp.response(201, RouteSchema)
@error_responses(blp, 401, 403, 404, 409)
def request_correction(data, route_id):
    """Ask the curator to add, change or remove an activity of a route in progress."""
    user = current_api_user()
    service.request_correction(route_id, user, reason=data["reason"], action=data["action"],
                               activity_id=data.get("activity_id"), fields=data.get("fields"),
                               version=data["version"])
    return _present(route_id, user), 201, {"Location": url_for("api_routes.list_corrections", route_id=route_id)}


@blp.route("/routes/<id:route_id>/corrections/<id:correction_id>/decision", methods=["POST"])
@blp.arguments(CorrectionDecisionSchema)
@blp.response(200, RouteSchema)
@error_responses(blp, 401, 403, 404, 409)
def decide_correction(data, route_id, correction_id):
    """Approve (applied, the previous road map kept) or reject (comment required) a pending correction."""
    user = current_api_user()
    service.decide_correction(route_id, correction_id, user, approve=data["approve"],
                              comment=data["comment"], version=data["version"])
    return _present(route_id, user)
