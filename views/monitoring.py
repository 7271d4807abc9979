"""Pages of monitoring campaigns: list, open, the indicator table and chart, recommendations, signing, report."""
from datetime import date

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, DateField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from models import Diagnostic, db
from models.diagnostics import CAMPAIGN_STATE_LABELS
from views.documents import _docx_response
from workflow import dashboard, monitoring
from workflow.errors import Conflict, InvalidInput, NotPermitted, StaleVersion
from workflow.states import STATES

bp = Blueprint("monitoring", __name__, url_prefix="/monitoring")


@bp.app_template_global()
def monitoring_can_view():
    return monitoring.can_view(current_user)


@bp.app_template_filter("f2")
def f2_filter(value):
    """F2 as the pages show it: "100 %", "66,7 %" or "—" when C2 = 0."""
    return monitoring.format_f2(value)


class CampaignForm(FlaskForm):
    title = StringField(_l("Название"), validators=[DataRequired(message=_l("Укажите название")), Length(max=400)],
                        default=monitoring.DEFAULT_TITLE)
    period_start = DateField(_l("Начало"), validators=[DataRequired(message=_l("Укажите дату начала"))])
    period_end = DateField(_l("Окончание"), validators=[DataRequired(message=_l("Укажите дату окончания"))])
    diagnostic_id = SelectField(_l("Диагностика"), choices=[], validators=[Optional()])
    addressees = TextAreaField(_l("Адресаты отчёта (по одному в строке)"), validators=[Length(max=2000)],
                               default=monitoring.DEFAULT_ADDRESSEES)
    recommendations = TextAreaField(_l("Рекомендации"), validators=[Length(max=10000)],
                                    default=monitoring.DEFAULT_RECOMMENDATIONS)
    issue_order = BooleanField(_l("Издать приказ «О проведении мониторинга»"))


class EditForm(FlaskForm):
    version = HiddenField()
    addressees = TextAreaField(_l("Адресаты отчёта (по одному в строке)"), validators=[Length(max=2000)])
    recommendations = TextAreaField(_l("Рекомендации (каждый пункт с новой строки)"),
                                    validators=[Length(max=10000)])


class SignForm(FlaskForm):
    version = HiddenField()


def _diagnostic_choices():
    rows = db.session.execute(
        select(Diagnostic).where(Diagnostic.municipality_id == current_user.municipality_id)
        .order_by(Diagnostic.held_on.desc())
    ).scalars().all()
    return [SelectChoice("", _("Все диагностики, проведённые до конца периода"))] + [
        SelectChoice(str(d.id), f"{d.title} ({d.held_on:%d.%m.%Y})") for d in rows]


@bp.route("/")
@login_required
def index():
    """Campaigns of the municipality, newest first."""
    page = max(request.args.get("page", type=int) or 1, 1)
    year = request.args.get("year", "")
    filters = {"state": request.args.get("state") or None, "text": (request.args.get("q") or "").strip()[:100],
               "year": int(year) if year.isascii() and year.isdigit() and 2000 <= int(year) <= 2100 else None}
    items, total, pages = monitoring.campaigns_page(current_user, page, **filters)
    return render_template("monitoring/index.html", items=items, total=total, pages=pages, page=page,
                           may_manage=monitoring.can_manage(current_user), filters=filters,
                           state_options=list(CAMPAIGN_STATE_LABELS.items()),
                           year_options=[(y, y) for y in range(date.today().year + 1, 2019, -1)])


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    """Open a campaign for a period (department head); optionally issue the order about it."""
    if not monitoring.can_manage(current_user):
        raise NotPermitted(_("Мониторинг проводит начальник управления образования"))
    form = CampaignForm()
    form.diagnostic_id.choices = _diagnostic_choices()
    error, status = None, 200
    if request.method == "POST":
        if form.validate():
            try:
                campaign = monitoring.create_campaign(current_user, {
                    "title": form.title.data, "period_start": form.period_start.data,
                    "period_end": form.period_end.data, "diagnostic_id": form.diagnostic_id.data or None,
                    "addressees": form.addressees.data, "recommendations": form.recommendations.data,
                    "issue_order": form.issue_order.data})
            except (InvalidInput, Conflict) as exc:
                error, status = exc.message, exc.status
            else:
                flash(_("Мониторинг открыт. Приказ о проведении мониторинга издан.") if campaign.order_id
                      else _("Мониторинг открыт."), "success")
                return redirect(url_for("monitoring.show", campaign_id=campaign.id))
        else:
            error, status = _("Проверьте поля формы."), 422
    return render_template("monitoring/new.html", form=form, error=error), status


def _computed_line(b2, c2):
    """The F2 line as the page shows it (the report keeps the workflow's Russian wording)."""
    if not c2:
        return _("F2 = %(b2)s / %(c2)s × 100 %% = — (C2 = 0: показатель не рассчитывается)", b2=b2, c2=c2)
    return monitoring.computed_line(b2, c2)


def _render(campaign, edit_form=None, error=None, status=200):
    figures = monitoring.campaign_figures(campaign)
    teachers = monitoring.campaign_teachers(campaign, current_user)
    edit_form = edit_form or EditForm(formdata=None, data={
        "version": campaign.version, "addressees": campaign.addressees, "recommendations": campaign.recommendations})
    return render_template(
        "monitoring/show.html", campaign=campaign, figures=figures, teachers=teachers, charts=dashboard.figure_charts(figures, "monitoring"),
        edit_form=edit_form, sign_form=SignForm(formdata=None, data={"version": campaign.version}),
        may_manage=monitoring.can_manage(current_user, campaign) and not campaign.is_signed,
        may_sign=monitoring.can_sign(current_user, campaign) and not campaign.is_signed,
        states=STATES, error=error, computed_line=_computed_line(figures["totals"]["b2"], figures["totals"]["c2"]),
    ), status


@bp.route("/<int:campaign_id>")
@login_required
def show(campaign_id):
    """The campaign: C2, B2, F2 per school and in total (table and chart), routes by state, overdue."""
    return _render(monitoring.load_campaign(campaign_id, current_user))


@bp.route("/<int:campaign_id>/edit", methods=["POST"])
@login_required
def edit(campaign_id):
    """Save the recommendations and addressees of an open campaign."""
    campaign = monitoring.load_campaign(campaign_id, current_user)
    form = EditForm()
    if not form.validate():
        return _render(campaign, form, _("Проверьте поля формы."), 422)
    try:
        monitoring.update_campaign(current_user, campaign_id, {
            "addressees": form.addressees.data, "recommendations": form.recommendations.data},
            version=form.version.data)
    except (InvalidInput, StaleVersion, Conflict) as exc:
        db.session.expire_all()
        return _render(monitoring.load_campaign(campaign_id, current_user), form, exc.message, exc.status)
    flash(_("Рекомендации сохранены."), "success")
    return redirect(url_for("monitoring.show", campaign_id=campaign_id))


@bp.route("/<int:campaign_id>/sign", methods=["POST"])
@login_required
def sign(campaign_id):
    """Sign the campaign: freeze the figures and the teachers behind them; store the report."""
    form = SignForm()
    form.validate()
    try:
        monitoring.sign_campaign(current_user, campaign_id, version=form.version.data)
    except (StaleVersion, Conflict) as exc:
        db.session.expire_all()
        return _render(monitoring.load_campaign(campaign_id, current_user), error=exc.message, status=exc.status)
    flash(_("Мониторинг подписан: показатели зафиксированы, отчёт сформирован."), "success")
    return redirect(url_for("monitoring.show", campaign_id=campaign_id))


@bp.route("/<int:campaign_id>/report.docx")
@login_required
def report(campaign_id):
    """Download the report stored at signing."""
    campaign = monitoring.load_campaign(campaign_id, current_user)
    data, filename = monitoring.report_document(campaign)
    return _docx_response(data, filename)
