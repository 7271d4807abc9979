"""Route comments over the API: the discussion thread of a route, for everyone who may read it."""
from flask_babel import lazy_gettext as _l
from marshmallow import fields

from views.api import api_blueprint, error_responses
from views.api.auth import current_api_user
from views.api.schemas import ActorSchema, ApiSchema, UtcDateTime, _text
from workflow import notifications

blp = api_blueprint("api_comments", __name__, description=_l("Обсуждение маршрута: комментарии"))


class CommentSchema(ApiSchema):
    id = fields.Integer()
    author = fields.Nested(ActorSchema)
    text = fields.String()
    created_at = UtcDateTime()


class CommentListSchema(ApiSchema):
    route_id = fields.Integer()
    items = fields.List(fields.Nested(CommentSchema))


class CommentCreateSchema(ApiSchema):
    text = _text(notifications.COMMENT_LIMIT, required=True)


@blp.route("/routes/<id:route_id>/comments", methods=["GET"])
@blp.response(200, CommentListSchema)
@error_responses(blp, 401, 404)
def list_comments(route_id):
    """List a route's comments, oldest first."""
    route, items = notifications.list_comments(route_id, current_api_user())
    return {"route_id": route.id, "items": items}


@blp.route("/routes/<id:route_id>/comments", methods=["POST"])
@blp.arguments(CommentCreateSchema)
@blp.response(201, CommentSchema)
@error_responses(blp, 401, 404, 422)
def add_comment(data, route_id):
    """Add a comment; the route's teacher and curator (but the author) are notified."""
    comment = notifications.add_comment(route_id, current_api_user(), data["text"])
    return notifications.load_comment(comment.id)
