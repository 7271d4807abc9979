"""The inbox and bulk transitions over the API."""
from flask import jsonify
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import fields, validate

from views.api import api_blueprint, error_responses
from views.api.auth import current_api_user
from views.api.schemas import ApiSchema, UtcDateTime, _choice, _id, _text
from workflow import bulk, inbox

blp = api_blueprint("api_inbox", __name__, description=_l("Входящие (что ждёт пользователя) и групповые переходы"))

FAILURE_CODES = {404: "not_found", 403: "forbidden", 409: "bulk_failed"}


class BulkTransitionSchema(ApiSchema):
    trigger = _choice(bulk.BULK_TRIGGERS, required=True)
    comment = _text(load_default="", metadata={"description": _l("Обязателен для return_to_draft и archive")})
    route_ids = fields.List(_id(), required=True, metadata={
        "description": _l("Номера маршрутов, не более %(n)s за запрос", n=bulk.MAX_BULK_ROUTES)})
    versions = fields.Dict(keys=fields.String(validate=validate.Regexp(r"^[1-9][0-9]{0,9}$", error=_l("Неверный id."))),
                           values=_id(), load_default=dict, metadata={
        "description": _l("Необязательно: {\"<route_id>\": version}; устаревшая версия даёт этому маршруту "
                           "stale_version")})


class BulkRouteResultSchema(ApiSchema):
    route_id = fields.Integer(required=True)
    ok = fields.Boolean(required=True)
    code = fields.String(required=True, metadata={"description": _l("ok или код ошибки (not_found, forbidden, "
                                                                    "transition_not_allowed, stale_version, ...)")})
    message = fields.String(required=True)


class BulkResultSchema(ApiSchema):
    trigger = fields.String(required=True)
    succeeded = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    results = fields.List(fields.Nested(BulkRouteResultSchema), required=True)
    error = fields.String(metadata={"description": _l("Только когда не изменён ни один маршрут (404, 403, 409)")})
    message = fields.String()


class InboxQuerySchema(ApiSchema):
    kind = _choice(inbox.KIND_LABELS)
    school_id = _id()
    q = _text(200, load_default="")
    overdue = fields.Boolean(load_default=False)
    sort = _text(20, load_default=inbox.DEFAULT_SORT)
    page = fields.Integer(load_default=1, validate=lambda n: 1 <= n <= 100000)
    per_page = fields.Integer(load_default=50, validate=lambda n: 1 <= n <= 200)


class InboxItemSchema(ApiSchema):
    kind = fields.String()
    label = fields.String()
    route_id = fields.Integer(allow_none=True)
    state = fields.String(allow_none=True)
    version = fields.Integer(allow_none=True)
    teacher_id = fields.Integer(allow_none=True)
    teacher_name = fields.String(allow_none=True)
    school_id = fields.Integer(allow_none=True)
    school_name = fields.String(allow_none=True)
    since = UtcDateTime()
    days = fields.Integer(metadata={"description": _l("Дней ожидания (для просрочки — дней после срока; "
                                                      "для скорого срока — отрицательное число дней до него)")})
    overdue = fields.Boolean()
    count = fields.Integer(allow_none=True)
    ref_id = fields.Integer(allow_none=True)
    title = fields.String(allow_none=True)


class InboxSchema(ApiSchema):
    items = fields.List(fields.Nested(InboxItemSchema))
    total = fields.Integer()
    page = fields.Integer()
    pages = fields.Integer()
    per_page = fields.Integer()
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())


@blp.route("/inbox", methods=["GET"])
@blp.arguments(InboxQuerySchema, location="query")
@blp.response(200, InboxSchema)
@error_responses(blp, 401)
def get_inbox(args):
    """What waits on the caller, with days pending; filter by kind, school, teacher name, overdue."""
    user = current_api_user()
    filters = inbox.Filters(kind=args.get("kind"), school_id=args.get("school_id"), text=args["q"],
                            overdue=args["overdue"])
    items, total, pages, page, per_page = inbox.inbox_items(
        user, filters, args["sort"], page=args["page"], per_page=args["per_page"])
    counts = inbox.menu_counts(user)
    return {"items": items, "total": total, "page": page, "pages": pages, "per_page": per_page,
            "counts": {k: v for k, v in counts.items() if k in inbox.KIND_LABELS or k == "total"}}


@blp.route("/routes/bulk-transition", methods=["POST"])
@blp.arguments(BulkTransitionSchema)
@blp.response(200, BulkResultSchema)
@error_responses(blp, 401, 403, 404, 409, 422)
def bulk_transition(data):
    """Fire one trigger (approve, return_to_draft, archive) on several routes, each on its own.

    200 with every route's result when at least one route changed. When none did, the same body
    with `error` and `message`: 404 when no route was found, 403 when the rest were not permitted,
    409 otherwise. 422 (nothing changed) for too many ids, no ids or a missing comment.
    """
    user = current_api_user()
    versions = {int(key): value for key, value in data["versions"].items()}
    outcome = bulk.bulk_transition(user, data["trigger"], data["route_ids"], data["comment"], versions)
    body = {"trigger": outcome.trigger, "succeeded": len(outcome.succeeded), "failed": len(outcome.failed),
            "results": [r.as_dict() for r in outcome.results]}
    if outcome.status == 200:
        return body
    response = jsonify({"error": FAILURE_CODES[outcome.status], "message": _("Ни один маршрут не изменён"),
                        **body})
    response.status_code = outcome.status
    return response
