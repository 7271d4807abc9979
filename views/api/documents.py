"""Documents over the API: the route DOCX, and the orders registry (list, read, download, issue)."""
from flask import url_for
from marshmallow import fields, validate
from flask_babel import lazy_gettext as _l

from views.api import api_blueprint, error_responses
from views.api.auth import current_api_user
from views.api.schemas import MAX_ID, ApiSchema, PageSchema, PaginationQuerySchema, Text
from views.documents import _docx_response
from workflow import documents, orders

blp = api_blueprint("api_documents", __name__,
                    description=_l("Документы: DOCX маршрута; приказы и их реестр (номер, дата, файл)"))

_DOCX = {"content": {documents.DOCX_MIME: {"schema": {"type": "string", "format": "binary"}}},
         "description": _l("Документ DOCX; имя файла в Content-Disposition (RFC 6266, filename*)")}


class OrderIssuerSchema(ApiSchema):
    id = fields.Integer()
    full_name = fields.String()


class OrderSchema(ApiSchema):
    id = fields.Integer()
    number = fields.Integer(metadata={"description": _l("Номер из реестра: по порядку в муниципалитете за год")})
    year = fields.Integer()
    kind = fields.String(metadata={"description": _l("routes_approval или monitoring")})
    kind_label = fields.Function(lambda o: orders.kind_label(o.kind))
    title = fields.String()
    issued_on = fields.Date()
    issued_by = fields.Nested(OrderIssuerSchema)
    sha256 = fields.String(metadata={"description": _l("SHA-256 хранимого DOCX")})
    route_ids = fields.Function(lambda o: [link.route_id for link in o.routes])
    document_url = fields.Function(lambda o: url_for("api_documents.order_docx", order_id=o.id))


class OrderListSchema(PageSchema):
    items = fields.List(fields.Nested(OrderSchema))


class OrderListQuerySchema(PaginationQuerySchema):
    q = Text(validate=validate.Length(max=200), metadata={"description": _l("Номер, слова заголовка, ФИО издавшего")})
    kind = Text(validate=validate.Length(max=40))


class ApprovalOrderCreateSchema(ApiSchema):
    route_ids = fields.List(fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_ID)),
                            required=True, validate=validate.Length(min=1, max=2000),
                            metadata={"description": _l("Маршруты в состоянии curator_approved")})
    title = Text(validate=validate.Length(max=orders.MAX_TITLE))
    issued_on = fields.Date()
    preamble = Text(validate=validate.Length(max=5000))


@blp.route("/routes/<int:route_id>/document.docx", methods=["GET"])
@blp.doc(responses={"200": _DOCX})
@error_responses(blp, 401, 404)
def route_docx(route_id):
    """Download the route document (DOCX) of a route the caller may see."""
    route = documents.load_route_document(route_id, current_api_user())
    return _docx_response(documents.render_route_docx(route), documents.route_filename(route))


@blp.route("/orders", methods=["GET"])
@blp.arguments(OrderListQuerySchema, location="query")
@blp.response(200, OrderListSchema)
@error_responses(blp, 401)
def list_orders(args):
    """List the orders the caller may see, newest first; search by number, title or issuer."""
    query = orders.orders_query(current_api_user(), q=args.get("q"), kind=args.get("kind"))
    items, total, pages, page, per_page = orders.paginate_orders(query, args["page"], args["per_page"])
    return {"items": items, "page": page, "per_page": per_page, "total": total, "pages": pages}


@blp.route("/orders", methods=["POST"])
@blp.arguments(ApprovalOrderCreateSchema)
@blp.response(201, OrderSchema)
@error_responses(blp, 401, 403, 404, 409, 422)
def create_order(data):
    """Issue the order approving curator-approved routes (department head); the number comes from the registry."""
    user = current_api_user()
    order = orders.issue_routes_approval(user, data["route_ids"], title=data.get("title"),
                                         preamble=data.get("preamble"), issued_on=data.get("issued_on"))
    order = orders.load_order(order.id, user)
    return order, 201, {"Location": url_for("api_documents.get_order", order_id=order.id)}


@blp.route("/orders/<int:order_id>", methods=["GET"])
@blp.response(200, OrderSchema)
@error_responses(blp, 401, 404)
def get_order(order_id):
    """Read an order of the registry."""
    return orders.load_order(order_id, current_api_user())


@blp.route("/orders/<int:order_id>/document.docx", methods=["GET"])
@blp.doc(responses={"200": _DOCX})
@error_responses(blp, 401, 404)
def order_docx(order_id):
    """Download an order's DOCX exactly as it was issued."""
    order = orders.load_order(order_id, current_api_user())
    return _docx_response(orders.order_document(order), orders.order_filename(order))
