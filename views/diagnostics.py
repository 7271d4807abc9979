"""Pages of diagnostics and the resource map: import with preview, deficits, routes from deficits, catalogue.

Thin views: parse the form, call workflow.diagnostics / workflow.resources, render or redirect.
Template globals for the partials other pages include (``diagnostics/_route_deficits.html`` in a
draft's editing area, ``diagnostics/_profile_deficits.html`` on a teacher's profile):
``diagnostics_route_deficits(route)``, ``diagnostics_teacher_deficits(teacher)``,
``diagnostics_may_draft(teacher)``.
"""
import io

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import DateField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional

from models import Role
from models.diagnostics import RESOURCE_FORMAT_LABELS, RESOURCE_KIND_LABELS, RESOURCE_LEVEL_LABELS
from models.route import DIRECTION_LABELS
from workflow import diagnostics, permissions, queries, resources, service
from workflow.errors import Conflict, InvalidInput, NotPermitted, StaleVersion, TransitionNotAllowed
from workflow.spreadsheets import MAX_FILE_BYTES, ImportFailed, error

bp = Blueprint("diagnostics", __name__)

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DIRECTIONS = {d.value: label for d, label in DIRECTION_LABELS.items()}


def _page():
    page = request.args.get("page", type=int) or 1
    return max(page, 1)


def _id_arg(name):
    value = request.args.get(name, "")
    return int(value) if value.isascii() and value.isdigit() and 0 < int(value) < 2**31 else None


def _require_importer():
    diagnostics.require_importer(current_user)


def _send(data, name, mimetype):
    response = send_file(io.BytesIO(data), mimetype=mimetype, as_attachment=True, download_name=name, max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.app_context_processor
def _labels():
    return {"RESOURCE_KIND_LABELS": RESOURCE_KIND_LABELS, "RESOURCE_LEVEL_LABELS": RESOURCE_LEVEL_LABELS,
            "RESOURCE_FORMAT_LABELS": RESOURCE_FORMAT_LABELS, "RESOURCE_DIRECTIONS": DIRECTIONS}


@bp.app_template_filter("score")
def score_filter(value):
    """A score as people write it: "4,5", "2", "—" for none."""
    if value is None:
        return "—"
    text = format(value, "f") if not isinstance(value, float) else repr(value)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.replace(".", ",")


# --- helpers for the partials other pages include ------------------------------------------------------

@bp.app_template_global()
def diagnostics_route_deficits(route):
    """Deficits of the route's diagnostic with the matching resource-map entries (for the draft area)."""
    if not current_user.is_authenticated:
        return []
    return resources.deficit_choices(route)


@bp.app_template_global()
def diagnostics_teacher_deficits(teacher):
    """The teacher's latest diagnostic results and history, or None when the viewer may not see them."""
    if not current_user.is_authenticated or teacher is None:
        return None
    return diagnostics.teacher_deficits(current_user, teacher)


@bp.app_template_global()
def diagnostics_may_draft(teacher):
    """Whether the viewer may draft a route from this teacher's diagnostic (the teacher or their curator)."""
    if not current_user.is_authenticated or teacher is None:
        return False
    if teacher.id == current_user.id:
        return current_user.role in {Role.TEACHER.value, Role.CURATOR.value}
    return permissions.can_manage_teacher(current_user, teacher)


@bp.app_template_global()
def diagnostics_may_import():
    return current_user.is_authenticated and current_user.role in diagnostics.IMPORT_ROLES


# --- diagnostics and import ------------------------------------------------------------------------------

class ImportForm(FlaskForm):
    file = FileField(_l("Файл CSV или XLSX"))
    threshold = StringField(_l("Порог (балл ниже порога — дефицит; нужен, если в файле нет столбца «Дефицит»)"),
                            validators=[Optional(), Length(max=20)])
    provider = StringField(_l("Кто проводил диагностику (например, ФИОКО)"),
                           validators=[Optional(), Length(max=300)])


class ConfirmForm(FlaskForm):
    upload_id = HiddenField()
    threshold = HiddenField()
    provider = HiddenField()


@bp.route("/diagnostics/")
@login_required
def index():
    """Diagnostics of the municipality with participants and deficits."""
    _require_importer()
    return render_template("diagnostics/index.html", items=diagnostics.diagnostics_overview(current_user, _page()))


@bp.route("/diagnostics/import", methods=["GET", "POST"])
@login_required
def import_page():
    """Upload a file; a valid one is shown as a preview with a confirmation, a bad one with its errors."""
    _require_importer()
    form = ImportForm()
    if request.method == "GET":
        return render_template("diagnostics/import.html", form=form, max_mb=MAX_FILE_BYTES // (1024 * 1024))
    errors, status = [], 200
    if not form.validate():
        errors = [error(None, None, _("Проверьте поля формы"))]
        status = 422
    else:
        upload = request.files.get("file")
        data = upload.read(MAX_FILE_BYTES + 1) if upload else b""
        name = (upload.filename if upload else "") or "import"
        try:
            if not upload:
                raise ImportFailed([error(None, None, _("Выберите файл"))])
            summary = diagnostics.preview_import(data, actor=current_user, threshold=form.threshold.data,
                                                 provider=form.provider.data, file_name=name)
        except ImportFailed as exc:
            errors, status = exc.errors, 422
        else:
            stored = diagnostics.store_upload(data, name, current_user)
            confirm = ConfirmForm(formdata=None, data={"upload_id": stored.id, "threshold": form.threshold.data,
                                                      "provider": form.provider.data})
            return render_template("diagnostics/preview.html", summary=summary, form=confirm)
    return render_template("diagnostics/import.html", form=form, errors=errors,
                           max_mb=MAX_FILE_BYTES // (1024 * 1024)), status


@bp.route("/diagnostics/import/confirm", methods=["POST"])
@login_required
def import_confirm():
    """Import the previewed file: all rows or none."""
    _require_importer()
    form = ConfirmForm()
    if not form.validate() or not (form.upload_id.data or "").isdigit():
        abort(400)
    stored = diagnostics.load_upload(int(form.upload_id.data), current_user)
    try:
        summary = diagnostics.import_results(stored.data, actor=current_user, threshold=form.threshold.data or None,
                                             provider=form.provider.data or "", file_name=stored.original_name,
                                             stored_file=stored)
    except ImportFailed as exc:
        return render_template("diagnostics/import.html", form=ImportForm(formdata=None), errors=exc.errors,
                               max_mb=MAX_FILE_BYTES // (1024 * 1024)), 422
    flash(_("Импорт завершён: строк %(rows)s, педагогов %(teachers)s, дефицитов %(deficits)s; новых %(created)s, "
            "изменённых %(updated)s, без изменений %(unchanged)s.", rows=summary["rows"],
            teachers=summary["teachers"], deficits=summary["deficits"], created=summary["created"],
            updated=summary["updated"], unchanged=summary["unchanged"]), "success")
    return redirect(url_for("diagnostics.index"))


@bp.route("/diagnostics/import/template.<any(csv, xlsx):ext>")
@login_required
def import_template(ext):
    """Download the import template (one header row and an example row)."""
    if ext == "csv":
        return _send(diagnostics.template_csv(), _("Шаблон импорта диагностики.csv"), "text/csv")
    return _send(diagnostics.template_xlsx(), _("Шаблон импорта диагностики.xlsx"), XLSX_MIME)


@bp.route("/diagnostics/teachers")
@login_required
def teachers():
    """Teachers with their latest diagnostic's deficits: a curator's own, a school's, the municipality's."""
    if current_user.role == Role.TEACHER.value:
        return redirect(url_for("web.teacher", teacher_id=current_user.id))
    role = current_user.role
    schools = queries.visible_schools(current_user) if role in {Role.DEPARTMENT_HEAD.value, Role.ADMIN.value} else []
    curators = queries.visible_curators(current_user) if role != Role.CURATOR.value else []
    filters = {
        "text": (request.args.get("q") or "").strip()[:100],
        "school_id": _id_arg("school") if schools else None,
        "curator_id": _id_arg("curator") if curators else None,
        "without_route": request.args.get("without_route") == "1",
    }
    rows, total, pages = diagnostics.teachers_overview(current_user, _page(), **filters)
    return render_template("diagnostics/teachers.html", rows=rows, total=total, pages=pages, page=_page(),
                           filters=filters, school_options=[(s.id, s.name) for s in schools],
                           curator_options=[(c.id, c.full_name) for c in curators])


@bp.route("/diagnostics/routes/new", methods=["POST"])
@login_required
def route_from_diagnostic():
    """Draft a route from the teacher's latest diagnostic: one road-map activity per deficit."""
    teacher_id = request.form.get("teacher_id", type=int)
    try:
        route = diagnostics.draft_route_from_diagnostic(current_user, teacher_id)
    except Conflict as exc:
        flash(exc.message, "danger")
        return redirect(url_for("web.teacher", teacher_id=teacher_id or current_user.id))
    flash(_("Черновик маршрута построен по результатам диагностики: по мероприятию на каждый дефицит. "
            "Проверьте период, разделы 1–2 и дорожную карту."), "success")
    return redirect(url_for("web.route", route_id=route.id))


@bp.route("/diagnostics/routes/<int:route_id>/from-resource", methods=["POST"])
@login_required
def add_from_resource(route_id):
    """Fill a road-map activity of a draft (or propose one during implementation) from a resource-map entry."""
    entry_id = request.form.get("entry_id", type=int)
    deficit = request.form.get("deficit", "")
    version = request.form.get("version")
    if not entry_id:
        abort(400)
    try:
        route = service.load_route(route_id, current_user, full=False)
        sections = service.editable_sections(route, current_user)
        if "activities" in sections or "corrections" not in sections:
            resources.add_activity_from_entry(route_id, current_user, entry_id, deficit, version)
            flash(_("Мероприятие из ресурсной карты добавлено в дорожную карту."), "success")
        else:
            resources.propose_activity_from_entry(route_id, current_user, entry_id, deficit, version)
            flash(_("Корректировка отправлена куратору: добавить мероприятие из ресурсной карты."), "success")
    except (InvalidInput, StaleVersion, TransitionNotAllowed, Conflict) as exc:
        flash(exc.message, "danger")
    return redirect(url_for("web.route", route_id=route_id) + "#draft-area")


# --- resource map ----------------------------------------------------------------------------------------

def _choices(labels):
    return [SelectChoice(code, label) for code, label in labels.items()]


class ResourceForm(FlaskForm):
    title = StringField(_l("Название"), validators=[Length(max=400)])
    provider = StringField(_l("Организатор"), validators=[Optional(), Length(max=300)])
    kind = SelectField(_l("Вид"), choices=_choices(RESOURCE_KIND_LABELS))
    level = SelectField(_l("Уровень"), choices=_choices(RESOURCE_LEVEL_LABELS))
    direction = SelectField(_l("Направление"), choices=_choices(DIRECTIONS))
    format = SelectField(_l("Формат"), choices=_choices(RESOURCE_FORMAT_LABELS))
    starts_on = DateField(_l("Дата начала"), validators=[Optional()])
    ends_on = DateField(_l("Дата окончания"), validators=[Optional()])
    hours = IntegerField(_l("Часы"), validators=[Optional()])
    annotation = TextAreaField(_l("Аннотация"), validators=[Optional(), Length(max=5000)])
    competencies = TextAreaField(_l("Компетенции (области дефицитов), каждая с новой строки"),
                                 validators=[Length(max=5000)])
    url = StringField(_l("Ссылка"), validators=[Optional(), Length(max=1000)])


class ResourceImportForm(FlaskForm):
    file = FileField(_l("Файл CSV или XLSX"))


@bp.route("/resources/")
@login_required
def resources_list():
    """The resource map of the municipality: filter by kind, level, direction or words."""
    args = {name: request.args.get(name, "").strip() for name in ("q", "kind", "level", "direction")}
    if args["kind"] not in RESOURCE_KIND_LABELS:
        args["kind"] = ""
    if args["level"] not in RESOURCE_LEVEL_LABELS:
        args["level"] = ""
    if args["direction"] not in DIRECTIONS:
        args["direction"] = ""
    entries, total, pages = resources.list_entries(current_user, page=_page(), **args)
    return render_template("diagnostics/resources.html", entries=entries, total=total, pages=pages, page=_page(),
                           args=args, may_manage=resources.can_manage(current_user))


def _form_data(form):
    return {name: form[name].data for name in resources.FIELDS}


@bp.route("/resources/new", methods=["GET", "POST"])
@bp.route("/resources/<int:entry_id>/edit", methods=["GET", "POST"])
@login_required
def resource_form(entry_id=None):
    """Add or change an entry of the resource map (curators, department head, admin)."""
    resources.require_manager(current_user)
    entry = resources.load_entry(entry_id, current_user) if entry_id else None
    if request.method == "GET":
        form = ResourceForm(formdata=None, data=resources.entry_form_data(entry) if entry else {})
        return render_template("diagnostics/resource_form.html", form=form, entry=entry)
    form = ResourceForm()
    error_message, status = None, 200
    if form.validate():
        try:
            if entry is None:
                resources.create_entry(current_user, _form_data(form))
            else:
                resources.update_entry(current_user, entry.id, _form_data(form))
        except InvalidInput as exc:
            error_message, status = exc.message, 422
        else:
            flash(_("Мероприятие ресурсной карты сохранено."), "success")
            return redirect(url_for("diagnostics.resources_list"))
    else:
        error_message, status = _("Проверьте поля формы."), 422
    return render_template("diagnostics/resource_form.html", form=form, entry=entry, error=error_message), status


@bp.route("/resources/<int:entry_id>/delete", methods=["POST"])
@login_required
def resource_delete(entry_id):
    resources.delete_entry(current_user, entry_id)
    flash(_("Мероприятие удалено из ресурсной карты."), "success")
    return redirect(url_for("diagnostics.resources_list"))


@bp.route("/resources/import", methods=["GET", "POST"])
@login_required
def resources_import():
    """Import the resource map from CSV/XLSX: all rows or none; the same entries are updated, not doubled."""
    resources.require_manager(current_user)
    form = ResourceImportForm()
    if request.method == "GET":
        return render_template("diagnostics/resources_import.html", form=form)
    upload = request.files.get("file")
    try:
        if not form.validate() or not upload:
            raise ImportFailed([error(None, None, _("Выберите файл"))])
        counts = resources.import_entries(upload.read(MAX_FILE_BYTES + 1), current_user)
    except ImportFailed as exc:
        return render_template("diagnostics/resources_import.html", form=form, errors=exc.errors), 422
    except NotPermitted:
        raise
    flash(_("Ресурсная карта загружена: строк %(rows)s, новых %(created)s, изменённых %(updated)s, "
            "без изменений %(unchanged)s.", rows=counts["rows"], created=counts["created"],
            updated=counts["updated"], unchanged=counts["unchanged"]), "success")
    return redirect(url_for("diagnostics.resources_list"))


@bp.route("/resources/template.csv")
@login_required
def resources_template():
    return _send(resources.template_csv(), _("Шаблон ресурсной карты.csv"), "text/csv")
