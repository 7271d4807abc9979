"""Monitoring campaigns over the API: open, read the indicator F2 = B2 / C2 × 100 %, sign, download the report."""
from flask import url_for
from marshmallow import fields, validate
from flask_babel import lazy_gettext as _l

from views.api import api_blueprint, error_responses
from views.api.auth import current_api_user
from views.api.schemas import MAX_ID, ApiSchema, PageSchema, PaginationQuerySchema, Text, UtcDateTime
from views.documents import _docx_response
from workflow import documents, monitoring

blp = api_blueprint("api_monitoring", __name__,
                    description=_l("Мониторинг: показатель F2 = B2 / C2 × 100 % по муниципалитету и школам, "
                                "подписание, отчёт DOCX"))

_DOCX = {"content": {documents.DOCX_MIME: {"schema": {"type": "string", "format": "binary"}}},
         "description": _l("Отчёт DOCX, сохранённый при подписании (байты и SHA-256 не меняются)")}


class CampaignCreateSchema(ApiSchema):
    title = Text(required=True, validate=validate.Length(min=1, max=400, error=_l("От 1 до 400 символов.")))
    period_start = fields.Date(required=True)
    period_end = fields.Date(required=True)
    diagnostic_id = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=1, max=MAX_ID),
                                   metadata={"description": _l("Считать только эту диагностику (по умолчанию — все "
                                                            "диагностики муниципалитета до конца периода)")})
    issue_order = fields.Boolean(load_default=False,
                                 metadata={"description": _l("Издать приказ «О проведении мониторинга»")})
    addressees = Text(validate=validate.Length(max=2000), metadata={"description": _l("Адресаты, по одному в строке")})
    recommendations = Text(validate=validate.Length(max=10000))


class CampaignPatchSchema(ApiSchema):
    version = fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_ID))
    title = Text(validate=validate.Length(min=1, max=400, error=_l("От 1 до 400 символов.")))
    period_start = fields.Date()
    period_end = fields.Date()
    addressees = Text(validate=validate.Length(max=2000))
    recommendations = Text(validate=validate.Length(max=10000))


class SignSchema(ApiSchema):
    version = fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_ID))


class FiguresSchema(ApiSchema):
    c2 = fields.Integer(metadata={"description": _l("Педагоги, прошедшие диагностику")})
    b2 = fields.Integer(metadata={"description": _l("Из них — с маршрутом по результатам диагностики, утверждённым "
                                                 "куратором")})
    f2 = fields.Float(allow_none=True, metadata={"description": _l("B2 / C2 × 100, %; null, когда C2 = 0")})
    routes = fields.Dict(keys=fields.String(), values=fields.Integer(),
                         metadata={"description": _l("Маршруты по состояниям")})
    routes_total = fields.Integer()
    overdue = fields.Integer(metadata={"description": _l("Просроченные мероприятия реализуемых маршрутов")})


class TotalsSchema(FiguresSchema):
    routes_developed = fields.Integer(
        metadata={"description": _l("Маршруты, построенные по диагностике и утверждённые")})


class SchoolFiguresSchema(FiguresSchema):
    id = fields.Integer()
    name = fields.String()


class TeacherSchema(ApiSchema):
    id = fields.Integer()
    full_name = fields.String()
    school = fields.String()


class CampaignSummarySchema(ApiSchema):
    id = fields.Integer()
    title = fields.String()
    period_start = fields.Date()
    period_end = fields.Date()
    state = fields.String(metadata={"description": _l("open или signed")})
    version = fields.Integer()
    signed_at = UtcDateTime(allow_none=True)


class CampaignSchema(CampaignSummarySchema):
    diagnostic_id = fields.Integer(allow_none=True)
    order_id = fields.Integer(allow_none=True)
    addressees = fields.String()
    recommendations = fields.String()
    signed_by = fields.Function(lambda c: {"id": c.signed_by.id, "full_name": c.signed_by.full_name}
                                if c.signed_by else None)
    as_of = fields.Function(lambda c: c.view["as_of"])
    totals = fields.Function(lambda c: TotalsSchema().dump(c.view["totals"]))
    schools = fields.Function(lambda c: SchoolFiguresSchema(many=True).dump(c.view["schools"]))
    teachers = fields.Function(lambda c: {k: TeacherSchema(many=True).dump(v) for k, v in c.view_teachers.items()})
    report_sha256 = fields.String(allow_none=True)
    report_url = fields.Function(lambda c: url_for("api_monitoring.report_docx", campaign_id=c.id)
                                 if c.is_signed else None)


class CampaignListSchema(PageSchema):
    items = fields.List(fields.Nested(CampaignSummarySchema))


def _present(campaign):
    """Attach the figures (frozen once signed) for the schema."""
    campaign.view = monitoring.campaign_figures(campaign)
    campaign.view_teachers = monitoring.campaign_teachers(campaign, current_api_user())
    return campaign


@blp.route("/monitoring/campaigns", methods=["GET"])
@blp.arguments(PaginationQuerySchema, location="query")
@blp.response(200, CampaignListSchema)
@error_responses(blp, 401, 403)
def list_campaigns(args):
    """List the monitoring campaigns of the caller's municipality, newest first."""
    items, total, pages = monitoring.campaigns_page(current_api_user(), args["page"], args["per_page"])
    return {"items": items, "page": args["page"], "per_page": args["per_page"], "total": total, "pages": pages}


@blp.route("/monitoring/campaigns", methods=["POST"])
@blp.arguments(CampaignCreateSchema)
@blp.response(201, CampaignSchema)
@error_responses(blp, 401, 403, 409)
def create_campaign(data):
    """Open a monitoring campaign for the municipality and period (department head)."""
    user = current_api_user()
    campaign = monitoring.create_campaign(user, data)
    campaign = monitoring.load_campaign(campaign.id, user)
    location = url_for("api_monitoring.get_campaign", campaign_id=campaign.id)
    return _present(campaign), 201, {"Location": location}


@blp.route("/monitoring/campaigns/<int:campaign_id>", methods=["GET"])
@blp.response(200, CampaignSchema)
@error_responses(blp, 401, 404)
def get_campaign(campaign_id):
    """The campaign with `totals` and `schools` (C2, B2, F2; live while open, frozen once signed)."""
    return _present(monitoring.load_campaign(campaign_id, current_api_user()))


@blp.route("/monitoring/campaigns/<int:campaign_id>", methods=["PATCH"])
@blp.arguments(CampaignPatchSchema)
@blp.response(200, CampaignSchema)
@error_responses(blp, 401, 403, 404, 409)
def update_campaign(data, campaign_id):
    """Edit the recommendations, addressees, title or period of an open campaign."""
    user = current_api_user()
    version = data.pop("version", None)
    monitoring.update_campaign(user, campaign_id, data, version=version)
    return _present(monitoring.load_campaign(campaign_id, user))


@blp.route("/monitoring/campaigns/<int:campaign_id>/sign", methods=["POST"])
@blp.arguments(SignSchema)
@blp.response(200, CampaignSchema)
@error_responses(blp, 401, 403, 404, 409)
def sign_campaign(data, campaign_id):
    """Sign the campaign: freeze the figures and the lists of teachers, store the report DOCX."""
    user = current_api_user()
    monitoring.sign_campaign(user, campaign_id, version=data.get("version"))
    return _present(monitoring.load_campaign(campaign_id, user))


@blp.route("/monitoring/campaigns/<int:campaign_id>/report.docx", methods=["GET"])
@blp.doc(responses={"200": _DOCX})
@error_responses(blp, 401, 404, 409)
def report_docx(campaign_id):
    """Download the signed campaign's report (409 while it is not signed)."""
    campaign = monitoring.load_campaign(campaign_id, current_api_user())
    data, filename = monitoring.report_document(campaign)
    return _docx_response(data, filename)
