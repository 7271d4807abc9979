"""The caller's notifications over the API: list (unread first on request) and mark as read."""
from flask_babel import lazy_gettext as _l
from marshmallow import fields

from views.api import api_blueprint, error_responses
from views.api.auth import current_api_user
from views.api.schemas import ActorSchema, ApiSchema, PageSchema, PaginationQuerySchema, UtcDateTime
from workflow import notifications

blp = api_blueprint("api_notifications", __name__, description=_l("Уведомления пользователя"))


class NotificationSchema(ApiSchema):
    id = fields.Integer()
    kind = fields.String(metadata={"description": _l("Событие маршрута (approve, ...), comment или reminder_*")})
    text = fields.Method("get_text", metadata={"description": _l("Текст на языке запроса (Accept-Language)")})
    route_id = fields.Integer(allow_none=True)
    params = fields.Dict()
    actor = fields.Nested(ActorSchema, allow_none=True)
    created_at = UtcDateTime()
    read_at = UtcDateTime(allow_none=True)

    def get_text(self, obj):
        return notifications.text_of(obj)


class NotificationListSchema(PageSchema):
    unread = fields.Integer(metadata={"description": _l("Непрочитанных всего")})
    items = fields.List(fields.Nested(NotificationSchema))


class NotificationQuerySchema(PaginationQuerySchema):
    unread_only = fields.Boolean(load_default=False)


class MarkedSchema(ApiSchema):
    marked = fields.Integer()


@blp.route("/notifications", methods=["GET"])
@blp.arguments(NotificationQuerySchema, location="query")
@blp.response(200, NotificationListSchema)
@error_responses(blp, 401)
def list_notifications(args):
    """List the caller's notifications, newest first."""
    user = current_api_user()
    items, total, pages, page, per_page = notifications.page(user, args["page"], args["per_page"],
                                                             unread_only=args["unread_only"])
    return {"items": items, "page": page, "per_page": per_page, "total": total, "pages": pages,
            "unread": notifications.unread_count(user)}


@blp.route("/notifications/<id:notification_id>/read", methods=["POST"])
@blp.response(200, NotificationSchema)
@error_responses(blp, 401, 404)
def mark_read(notification_id):
    """Mark one of the caller's notifications read (someone else's: 404)."""
    return notifications.mark_read(current_api_user(), notification_id)


@blp.route("/notifications/read", methods=["POST"])
@blp.response(200, MarkedSchema)
@error_responses(blp, 401)
def mark_all_read():
    """Mark every unread notification of the caller read."""
    return {"marked": notifications.mark_all_read(current_api_user())}
