"""Documents on the web: route DOCX/PDF, the bulk ZIP, orders and their registry, template uploads.

Thin views: every rule lives in workflow.documents and workflow.orders. Files are served by the id
of the route, order or template version in the URL, never by a path taken from the request.
"""
import io
from datetime import date
from urllib.parse import quote

from flask import (
    Blueprint, Response, flash, redirect, render_template, request, send_file, stream_with_context, url_for,
)
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy import func, select
from wtforms import DateField, StringField, SubmitField, TextAreaField
from wtforms.validators import Length, Optional

from models import Order, OrderRoute, Role, Route, School, db
from models.orders import DocumentTemplate
from workflow import documents, orders, permissions, queries
from workflow.errors import Conflict, InvalidInput, NotFound, NotPermitted, WorkflowError
from workflow.states import STATE_LABELS

bp = Blueprint("documents", __name__)

EXPORT_ROLES = {Role.CURATOR.value, Role.SCHOOL_HEAD.value, Role.DEPARTMENT_HEAD.value, Role.ADMIN.value}


# --- helpers ---------------------------------------------------------------------------------------

_TRANSLIT = dict(zip(
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
    ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "y", "k", "l", "m", "n", "o", "p", "r", "s", "t", "u",
     "f", "kh", "ts", "ch", "sh", "shch", "", "y", "", "e", "yu", "ya"],
))


def ascii_filename(filename):
    """A transliterated ASCII name for clients that ignore filename* (RFC 6266 fallback)."""
    out = []
    for ch in filename:
        low = ch.lower()
        if low in _TRANSLIT:
            latin = _TRANSLIT[low]
            out.append(latin.capitalize() if ch != low else latin)
        elif ch == "№":
            out.append("N")
        elif ch.isascii() and ch.isprintable() and ch not in '"\\;':
            out.append(ch)
        elif ch in "—–":
            out.append("-")
    return " ".join("".join(out).split()) or "document"


def content_disposition(filename, disposition="attachment"):
    """An RFC 6266 Content-Disposition: an ASCII fallback plus the exact UTF-8 name in filename*."""
    return f"{disposition}; filename=\"{ascii_filename(filename)}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _file_response(data, filename, mimetype):
    response = send_file(io.BytesIO(data), mimetype=mimetype, as_attachment=True, download_name=filename,
                         max_age=0)
    response.headers["Content-Disposition"] = content_disposition(filename)
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _docx_response(data, filename):
    return _file_response(data, filename, documents.DOCX_MIME)


def _pdf_response(docx_data, filename):
    if not documents.pdf_available():
        raise NotFound(_("Преобразование в PDF недоступно: LibreOffice не установлен на сервере"))
    return _file_response(documents.docx_to_pdf(docx_data), filename, documents.PDF_MIME)


def _int_arg(name):
    try:
        value = int(request.args.get(name, ""))
    except ValueError:
        return None
    return value if value > 0 else None


@bp.app_context_processor
def _document_helpers():
    def route_orders(route):
        if not current_user.is_authenticated:
            return []
        return orders.route_orders(route, current_user)

    return {
        "documents_pdf_available": documents.pdf_available,
        "documents_route_orders": route_orders,
        "documents_can_export": lambda: current_user.is_authenticated and current_user.role in EXPORT_ROLES,
        "documents_can_see_orders": lambda: orders.can_see_orders(current_user),
    }


# --- the route document ----------------------------------------------------------------------------

@bp.route("/routes/<int:route_id>/document.docx")
@login_required
def route_docx(route_id):
    route = documents.load_route_document(route_id, current_user)
    return _docx_response(documents.render_route_docx(route), documents.route_filename(route))


@bp.route("/routes/<int:route_id>/document.pdf")
@login_required
def route_pdf(route_id):
    route = documents.load_route_document(route_id, current_user)
    if not documents.pdf_available():
        raise NotFound(_("Преобразование в PDF недоступно: LibreOffice не установлен на сервере"))
    return _pdf_response(documents.render_route_docx(route), documents.route_filename(route, "pdf"))


# --- bulk export -----------------------------------------------------------------------------------

def _require_export(user):
    if user.role not in EXPORT_ROLES:
        raise NotPermitted(_("Выгрузка маршрутов доступна куратору, руководителю школы и начальнику управления"))


def _visible_schools(user):
    query = select(School).order_by(School.name)
    if user.role == Role.SCHOOL_HEAD.value:
        query = query.where(School.id == user.school_id)
    elif user.role == Role.DEPARTMENT_HEAD.value:
        query = query.where(School.municipality_id == user.municipality_id)
    elif user.role == Role.CURATOR.value:
        query = query.where(School.id.in_(
            select(Route.school_id).where(permissions.visibility_clause(user))))
    return db.session.execute(query).scalars().all()


def _export_query(user, state=None, school_id=None, teacher_id=None):
    return queries.visible_route_ids(user, state=state, school_id=school_id, teacher_id=teacher_id)


def _export_ids(user, state=None, school_id=None, teacher_id=None):
    query = _export_query(user, state, school_id, teacher_id).order_by(Route.school_id, Route.id)
    return db.session.execute(query).scalars().all()


@bp.route("/documents/export")
@login_required
def export():
    """The page to download routes of a school (or a filter) as one ZIP."""
    _require_export(current_user)
    state = request.args.get("state") if request.args.get("state") in STATE_LABELS else None
    school_id = _int_arg("school_id")
    count = db.session.execute(
        select(func.count()).select_from(_export_query(current_user, state, school_id).subquery())).scalar_one()
    return render_template("documents/export.html", schools=_visible_schools(current_user), state=state,
                           school_id=school_id, count=count, STATE_LABELS=STATE_LABELS)


@bp.route("/routes/export.zip")
@login_required
def export_zip():
    """Stream the visible routes (filtered by state, school, teacher) as a ZIP of DOCX documents."""
    _require_export(current_user)
    state = request.args.get("state") or None
    if state and state not in STATE_LABELS:
        raise InvalidInput(_("Неизвестное состояние маршрута"))
    school_id, teacher_id = _int_arg("school_id"), _int_arg("teacher_id")
    ids = _export_ids(current_user, state, school_id, teacher_id)
    if not ids:
        raise NotFound(_("Нет маршрутов для выгрузки по выбранным условиям"))
    name = _("Маршруты ИОМ")
    if school_id:
        school = db.session.get(School, school_id)
        name += f" — {documents._slug(school.name)}" if school else ""
    if state:
        name += f" — {STATE_LABELS[state]}"
    name += f" — {documents.ru_date(date.today())}.zip"
    documents.compiled_template("route")  # a broken template fails here, before the download starts
    response = Response(stream_with_context(documents.stream_routes_zip(ids)), mimetype="application/zip")
    response.headers["Content-Disposition"] = content_disposition(name)
    response.headers["Cache-Control"] = "private, no-store"
    return response


# --- orders ----------------------------------------------------------------------------------------

class ApprovalOrderForm(FlaskForm):
    title = StringField(_l("Заголовок приказа"), validators=[Length(max=orders.MAX_TITLE)])
    issued_on = DateField(_l("Дата приказа"), validators=[Optional()])
    preamble = TextAreaField(_l("Преамбула (констатирующая часть)"), validators=[Length(max=5000)])
    submit = SubmitField(_l("Издать приказ"))


def _require_orders(user):
    if not orders.can_see_orders(user):
        raise NotPermitted(_("Реестр приказов доступен начальнику управления, руководителям школ и кураторам"))


@bp.route("/orders")
@login_required
def orders_list():
    _require_orders(current_user)
    q = (request.args.get("q") or "").strip()[:200]
    query = orders.orders_query(current_user, q=q, kind=request.args.get("kind") or None)
    items, total, pages, page, per_page = orders.paginate_orders(query, request.args.get("page", 1, type=int),
                                                                 50)
    return render_template("documents/orders.html", orders=items, total=total, pages=pages, page=page, q=q,
                           kind_label=orders.kind_label, can_issue=orders.can_issue(current_user))


def _approval_candidates(user):
    routes = db.session.execute(orders.approvable_routes_query(user).limit(1000)).unique().scalars().all()
    included = {}
    if routes:
        rows = db.session.execute(
            select(OrderRoute.route_id, Order.number, Order.issued_on)
            .join(Order, Order.id == OrderRoute.order_id)
            .where(OrderRoute.route_id.in_([r.id for r in routes]), Order.kind == "routes_approval")
        ).all()
        for route_id, number, issued_on in rows:
            included[route_id] = _("№ %(number)s от %(date)s", number=number, date=documents.ru_date(issued_on))
    return routes, included


@bp.route("/orders/new", methods=["GET", "POST"])
@login_required
def order_new():
    """The department head issues the order approving chosen curator-approved routes."""
    if not orders.can_issue(current_user) or current_user.municipality_id is None:
        raise NotPermitted(_("Издавать приказы может начальник управления образования"))
    form = ApprovalOrderForm()
    if request.method == "GET":
        form.title.data = orders.ROUTES_APPROVAL_TITLE
        form.issued_on.data = date.today()
        form.preamble.data = orders.ROUTES_APPROVAL_PREAMBLE
    selected = set()
    status = 200
    if form.validate_on_submit():
        selected = {int(v) for v in request.form.getlist("route_ids") if v.isdigit()}
        try:
            order = orders.issue_routes_approval(current_user, selected, title=form.title.data,
                                                 preamble=form.preamble.data, issued_on=form.issued_on.data)
        except (InvalidInput, Conflict, NotFound) as exc:
            flash(exc.message, "danger")
            status = 422 if isinstance(exc, InvalidInput) else exc.status
        else:
            flash(_("Приказ № %(number)s от %(date)s издан.", number=order.number,
                    date=documents.ru_date(order.issued_on)), "success")
            return redirect(url_for("documents.order_detail", order_id=order.id))
    elif request.method == "POST":
        selected = {int(v) for v in request.form.getlist("route_ids") if v.isdigit()}
        flash(_("Проверьте поля формы: %(errors)s",
                errors="; ".join(str(e) for errs in form.errors.values() for e in errs)), "danger")
        status = 422
    routes, included = _approval_candidates(current_user)
    return render_template("documents/order_new.html", form=form, routes=routes, included=included,
                           selected=selected), status


@bp.route("/orders/<int:order_id>")
@login_required
def order_detail(order_id):
    order = orders.load_order(order_id, current_user)
    return render_template("documents/order.html", order=order, kind_label=orders.kind_label)


@bp.route("/orders/<int:order_id>/document.docx")
@login_required
def order_docx(order_id):
    order = orders.load_order(order_id, current_user)
    return _docx_response(orders.order_document(order), orders.order_filename(order))


@bp.route("/orders/<int:order_id>/document.pdf")
@login_required
def order_pdf(order_id):
    order = orders.load_order(order_id, current_user)
    return _pdf_response(orders.order_document(order), orders.order_filename(order, "pdf"))


# --- template versions (admins) --------------------------------------------------------------------

class TemplateUploadForm(FlaskForm):
    file = FileField(_l("Файл шаблона (.docx)"))
    note = StringField(_l("Комментарий к версии"), validators=[Length(max=500)])
    submit = SubmitField(_l("Проверить и загрузить"))


def _require_admin():
    permissions.require_role(current_user, Role.ADMIN)


def _active_versions():
    latest = (select(DocumentTemplate.name, func.max(DocumentTemplate.version).label("version"))
              .group_by(DocumentTemplate.name).subquery())
    rows = db.session.execute(
        select(DocumentTemplate).join(latest, (DocumentTemplate.name == latest.c.name)
                                      & (DocumentTemplate.version == latest.c.version))
    ).scalars().all()
    return {row.name: row for row in rows}


@bp.route("/admin/templates")
@login_required
def templates_list():
    _require_admin()
    return render_template("documents/templates.html", specs=list(documents.TEMPLATES.values()),
                           active=_active_versions())


@bp.route("/admin/templates/<name>", methods=["GET", "POST"])
@login_required
def template_detail(name):
    _require_admin()
    spec = documents.get_spec(name)
    form = TemplateUploadForm()
    status = 200
    if request.method == "POST":
        if not form.validate_on_submit():
            flash(_("Форма устарела или заполнена неверно. Обновите страницу и повторите."), "danger")
            status = 422
        else:
            upload = request.files.get("file")
            if upload is None or not upload.filename:
                flash(_("Выберите файл шаблона .docx"), "danger")
                status = 422
            else:
                data = upload.stream.read(documents.MAX_TEMPLATE_BYTES + 1)
                try:
                    version = documents.upload_template(name, data, upload.filename, current_user,
                                                        form.note.data)
                except WorkflowError as exc:
                    db.session.rollback()
                    flash(exc.message, "danger")
                    status = exc.status if exc.status < 500 else 422
                else:
                    flash(_("Версия %(version)s шаблона «%(title)s» проверена и принята; "
                            "новые документы формируются по ней.", version=version.version, title=spec.title),
                          "success")
                    return redirect(url_for("documents.template_detail", name=name))
    return render_template("documents/template.html", spec=spec, form=form,
                           versions=documents.template_versions(name), active=documents.active_version(name),
                           max_mb=documents.MAX_TEMPLATE_BYTES // (1024 * 1024)), status


@bp.route("/admin/templates/<name>/reset", methods=["POST"])
@login_required
def template_reset(name):
    _require_admin()
    form = FlaskForm()
    if not form.validate_on_submit():
        flash(_("Форма устарела. Обновите страницу и повторите."), "danger")
        return redirect(url_for("documents.template_detail", name=name))
    documents.reset_template(name, current_user)
    flash(_("Восстановлен встроенный шаблон."), "success")
    return redirect(url_for("documents.template_detail", name=name))


@bp.route("/admin/templates/<name>/template.docx")
@login_required
def template_download(name):
    _require_admin()
    version_id = _int_arg("version_id")
    filename, data = documents.template_download(name, version_id)
    return _docx_response(data, filename)


@bp.route("/admin/templates/<name>/sample.docx")
@login_required
def template_sample(name):
    """The active version rendered against the template's sample data (a preview)."""
    _require_admin()
    spec = documents.get_spec(name)
    return _docx_response(documents.render_docx(name, spec.sample_context()), _("%(name)s — образец.docx", name=name))
