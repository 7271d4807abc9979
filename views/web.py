"""Route pages for teachers, curators, school heads and the department head.

Thin views: parse the form, call workflow, render or redirect. A form that the
service refuses (bad input, stale version, action not allowed now) is shown again
with the user's input and a message in the user's language, under the service error's status.
"""
import io
from functools import lru_cache, partial
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from flask import (
    Blueprint, current_app, flash, redirect, render_template, request, send_file, url_for,
)
from babel.numbers import format_decimal
from markupsafe import Markup, escape
from flask_babel import get_locale, gettext as _, lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from wtforms.fields.choices import SelectChoice
from wtforms import HiddenField, RadioField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import Length, Optional

from app import lock_at_first_write
from models import Role, User, db
from models.route import ACTIVITY_STATUS_LABELS, DIRECTION_LABELS, STAGE_LABELS, Stage
from models.user import ROLE_LABELS
from workflow import permissions, queries, service, uploads
from workflow.errors import (
    STALE_MESSAGE, Conflict, InvalidInput, NotFound, NotPermitted, StaleVersion, TransitionNotAllowed, WorkflowError,
)
from workflow.states import STATE_LABELS, STATES, TRANSITIONS_BY_TRIGGER
from views.i18n import babel, kept, plural

bp = Blueprint("web", __name__)

# Service errors a form answers by showing itself again; NotFound/NotPermitted go to the error page.
RECOVERABLE = (InvalidInput, StaleVersion, TransitionNotAllowed, Conflict)

STAGES = [s.value for s in Stage]
STAGE_TITLES = {k.value: v for k, v in STAGE_LABELS.items()}
DIRECTION_TITLES = {k.value: v for k, v in DIRECTION_LABELS.items()}
ACTIVITY_STATUS_TITLES = {k.value: v for k, v in ACTIVITY_STATUS_LABELS.items()}
ROLE_TITLES = {k.value: v for k, v in ROLE_LABELS.items()}
STATE_BADGES = {"drafted": "secondary", "curator_approved": "info", "in_progress": "primary",
                "reflected": "warning", "closed": "success"}
CORRECTION_ACTIONS = {"add": _l("Добавить мероприятие"), "change": _l("Изменить мероприятие"),
                      "remove": _l("Исключить мероприятие")}
CORRECTION_STATUS_TITLES = {"pending": _l("Ожидает решения куратора"), "approved": _l("Утверждена"),
                            "rejected": _l("Отклонена")}
ACTIVITY_FIELD_TITLES = {"stage": _l("Этап"), "direction": _l("Направление"), "deficit": _l("Дефицит / задача"),
                         "tasks": _l("Образовательные задачи"), "forms": _l("Формы работы"), "deadline": _l("Срок выполнения"),
                         "result_form": _l("Форма предъявления результата")}
STALE_HINT = _l("Ваши данные остались в форме и ещё не сохранены. Откройте маршрут в новой вкладке, сверьтесь "
                "с изменениями и нажмите «Сохранить» ещё раз.")

HOME_ENDPOINTS = {
    Role.TEACHER.value: "web.routes",
    Role.CURATOR.value: "inbox.index",
    Role.SCHOOL_HEAD.value: "web.routes",
    Role.DEPARTMENT_HEAD.value: "web.routes",
    Role.ADMIN.value: "admin.users",
}


# --- presentation helpers -----------------------------------------------------------------------

def _local(value):
    zone = current_app.config.get("DISPLAY_TIMEZONE", "Europe/Moscow")
    return value.replace(tzinfo=timezone.utc).astimezone(ZoneInfo(zone))


@lru_cache(maxsize=4096)  # a list's dates repeat (periods, days of changes); strftime is the costly part
def _date_text(value):
    return value.strftime("%d.%m.%Y")


@bp.app_template_filter("ru_date")
def ru_date(value):
    """Format a date (or a stored UTC datetime) as дд.мм.гггг."""
    if not value:
        return ""
    if isinstance(value, datetime):
        value = _local(value).date()
    elif isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            return value
    return _date_text(value)


@bp.app_template_filter("ru_datetime")
def ru_datetime(value):
    """Format a stored UTC datetime as дд.мм.гггг чч:мм in the district's time zone."""
    if not value:
        return ""
    return _local(value).strftime("%d.%m.%Y %H:%M")


@bp.app_template_filter("filesize_ru")
def filesize_ru(size):
    """Format a size in bytes as «N байт», «N,N КБ» or «N,N МБ» (decimal point in English)."""
    size = int(size or 0)
    if size < 1024:
        return plural(size, _("%(num)s байт|%(num)s байта|%(num)s байт", num=size))
    locale = get_locale() or "ru"  # no locale outside a request: the source language
    if size < 1024 * 1024:
        return _("%(size)s КБ", size=format_decimal(size / 1024, format="0.0", locale=locale))
    return _("%(size)s МБ", size=format_decimal(size / (1024 * 1024), format="0.0", locale=locale))


@bp.app_template_filter("days_ru")
def days_ru(number):
    """Return "N день/дня/дней" with the right plural of the interface language (kept per catalog and
    number: the queue and the inbox show it on every row)."""
    number = int(number or 0)
    return kept(_DAYS_TEXT, (babel.domain_instance.get_translations(), number),
                 lambda: plural(number, _("%(num)s день|%(num)s дня|%(num)s дней", num=number)), 4096)


_DAYS_TEXT = {}  # (catalog, number of days) -> the text


_LABEL_DICTS = {"STATE_LABELS": STATE_LABELS, "STAGE_TITLES": STAGE_TITLES, "DIRECTION_TITLES": DIRECTION_TITLES,
                "ACTIVITY_STATUS_TITLES": ACTIVITY_STATUS_TITLES, "EVENT_LABELS": queries.EVENT_LABELS,
                "ROLE_TITLES": ROLE_TITLES, "WAITING_LABELS": queries.WAITING_LABELS}
_RESOLVED_LABELS = {}  # catalog -> the label dicts in its language


@bp.app_context_processor
def _labels():
    """The pages' label dicts, their lazy labels translated once per catalog rather than at every use."""
    def build():
        labels = {name: {key: str(label) for key, label in values.items()} for name, values in _LABEL_DICTS.items()}
        return {**labels, "STATE_BADGES": STATE_BADGES, "STAGES": STAGES}

    return kept(_RESOLVED_LABELS, babel.domain_instance.get_translations(), build, 16)


def _int_arg(name, default=None):
    try:
        value = int(request.args.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 else default


def _page_size():
    return current_app.config["PAGE_SIZE"]


def _form_version(form):
    """Return the route version a form carries; a form without one cannot be checked for staleness."""
    raw = (form.version.data or "").strip()
    if not raw.isdigit():
        raise InvalidInput(_("В форме нет версии маршрута. Обновите страницу и повторите."))
    return int(raw)


def _fail_form(form, exc, route_id):
    """Put a service error on the form: field errors from details, a fresh version after a stale edit."""
    message = exc.message
    if isinstance(exc, StaleVersion):
        message = f"{STALE_MESSAGE} {STALE_HINT}"
        fresh = service.load_route(route_id, current_user, full=False)
        form.version.data = str(fresh.version)
    for field in (exc.details or {}):
        if field in form:
            form[field].errors = list(form[field].errors or []) + [exc.message]
    return message


def _activity(route, activity_id):
    for activity in route.activities:
        if activity.id == activity_id:
            return activity
    raise NotFound(_("Мероприятие не найдено"))


def _state_badge(translations, route):
    state = route.state
    waiting = state == "drafted" and bool(route.review_requested_at)

    def build():
        badge = (f'<span class="badge text-bg-{escape(STATE_BADGES.get(state, "secondary"))}">'
                 f'{escape(str(STATE_LABELS.get(state, state)))}</span>')
        if waiting:
            label = _("на согласовании")  # outside the f-string, where pybabel can extract it
            badge += f' <span class="badge text-bg-warning">{escape(label)}</span>'
        return Markup(badge)

    # The badge's HTML depends on the catalog only.
    return kept(_STATE_BADGE_HTML, (translations, state, waiting), build, 256)


_STATE_BADGE_HTML = {}  # (catalog, state, waiting) -> the badge's HTML


@bp.app_template_global()
def state_badge(route):
    """The route's state as a badge, and «на согласовании» for a draft sent to the curator.

    A function rather than a macro: lists show it on every row, and a macro call costs several times more.
    """
    return _state_badge(babel.domain_instance.get_translations(), route)


def _route_no(translations, route_id):
    text = kept(_ROUTE_NO, translations, lambda: _("ИОМ № %(id)s", id="\x00"), 16)
    before, _marker, after = text.partition("\x00")
    return Markup(f"{escape(before)}{int(route_id)}{escape(after)}")


_ROUTE_NO = {}  # catalog -> the label with a marker where the number goes


@bp.app_template_global()
def route_no(route_id):
    """«ИОМ № 123» in the request's language, the catalog asked once per language, not per row."""
    return _route_no(babel.domain_instance.get_translations(), route_id)


@bp.app_context_processor
def _row_helpers():
    """state_badge and route_no bound to the request's catalog, found once per page rather than per row.

    (The globals above remain for macros imported without the page's context.)
    """
    translations = babel.domain_instance.get_translations()
    return {"state_badge": partial(_state_badge, translations), "route_no": partial(_route_no, translations)}


# An id no real row has: id_url() asks url_for for it once and puts each row's id in its place.
_ID_MARKER = 918273645


@bp.app_template_global()
def id_url(endpoint, param, **values):
    """Return a function id -> url_for(endpoint, param=id, **values), asking url_for once.

    url_for costs tens of microseconds; a list calls it per row. The URL is built for a marker id
    and split around it, so each row only joins its (integer) id in.
    """
    return _splice(url_for(endpoint, **values, **{param: _ID_MARKER}),
                   lambda value: url_for(endpoint, **values, **{param: value}))


def _splice(url, fallback):
    """A function value -> `url` with the (integer) value where the marker is; `fallback` when the
    marker's digits are not in the URL exactly once (a filter's value may hold them too)."""
    marker = str(_ID_MARKER)
    if url.count(marker) != 1:
        return fallback
    prefix, _found, suffix = url.partition(marker)
    return lambda value: f"{prefix}{int(value)}{suffix}"


@bp.app_template_global()
def page_url(number, param="page"):
    """Return the current page's URL with another page number, keeping the filters."""
    args = {**request.view_args, **request.args.to_dict(), param: number}
    return url_for(request.endpoint, **args)


@bp.app_template_global()
def page_links(page, pages, param="page"):
    """The pagination's entries: (number, URL) for the first and last page and two either side of the
    current one, (None, None) for a gap of pages. Only the window is visited, not every page of a long
    list, and url_for runs once (for a marker number; each entry joins its own number in)."""
    link = _splice(page_url(_ID_MARKER, param), lambda number: page_url(number, param))
    entries = []
    for number in sorted({1, pages, *range(max(page - 3, 1), min(page + 3, pages) + 1)}):
        if number == 1 or number == pages or abs(number - page) <= 2:
            entries.append((number, link(number)))
        elif abs(number - page) == 3:
            entries.append((None, None))
    return entries


def _require_section(route, section):
    """Refuse a page of a section the user may not edit now (403 without a role, else 409)."""
    if section not in service.editable_sections(route, current_user):
        if not permissions.relations(route, current_user):
            raise NotPermitted(_("Недостаточно прав для изменения этого маршрута"))
        raise TransitionNotAllowed(_("Этот раздел нельзя изменить в состоянии «%(state)s» или вашей ролью",
                                     state=STATE_LABELS[route.state]))


# --- forms ----------------------------------------------------------------------------------------

def _date_field(label):
    return StringField(label, validators=[Optional()], render_kw={"type": "date"})


# WTForms' Length fills in %(max)d.
TOO_LONG = _l("Не длиннее %(max)d символов")


class VersionedForm(FlaskForm):
    version = HiddenField()


class DraftForm(VersionedForm):
    period_start = _date_field(_l("Начало периода реализации"))
    period_end = _date_field(_l("Окончание периода реализации"))
    workplace = StringField(_l("Место работы (образовательная организация)"),
                            validators=[Length(max=300, message=TOO_LONG)])
    education = TextAreaField(_l("Образование (что и когда окончил)"),
                              validators=[Length(max=500, message=TOO_LONG)],
                              render_kw={"rows": 2})
    position = StringField(_l("Должность"), validators=[Length(max=200, message=TOO_LONG)])
    subject = StringField(_l("Преподаваемый предмет"), validators=[Length(max=200, message=TOO_LONG)])
    experience_years = StringField(_l("Педагогический стаж, лет"),
                                   render_kw={"type": "number", "min": 0, "max": 80, "step": 1})
    qualification_category = StringField(_l("Квалификационная категория"),
                                         validators=[Length(max=120, message=TOO_LONG)])
    attestation_date = _date_field(_l("Дата последней аттестации"))
    request = TextAreaField(_l("Профессиональный запрос / затруднение / область затруднений"),
                            render_kw={"rows": 5})
    submit = SubmitField(_l("Сохранить"))


class ActivityForm(VersionedForm):
    stage = SelectField(_l("Этап"), choices=[SelectChoice(k, v) for k, v in STAGE_TITLES.items()], validate_choice=False)
    direction = SelectField(_l("Направление деятельности"),
                            choices=[SelectChoice(k, v) for k, v in DIRECTION_TITLES.items()], validate_choice=False)
    deficit = TextAreaField(_l("Профессиональный дефицит / задача на период"), render_kw={"rows": 2})
    tasks = TextAreaField(_l("Образовательные задачи"), render_kw={"rows": 2})
    forms = TextAreaField(_l("Формы работы / взаимодействия"), render_kw={"rows": 2})
    deadline = _date_field(_l("Срок выполнения"))
    result_form = TextAreaField(_l("Форма предъявления результата"), render_kw={"rows": 2})
    submit = SubmitField(_l("Сохранить"))


class ResultForm(VersionedForm):
    status = RadioField(_l("Отметка"), choices=[SelectChoice("done", _l("Выполнено")),
                                             SelectChoice("not_done", _l("Не выполнено")),
                                             SelectChoice("planned", _l("Снять отметку (запланировано)"))],
                        validate_choice=False, default="done")
    product = TextAreaField(_l("Продукт (результат): что сделано"), render_kw={"rows": 3})
    product_url = StringField(_l("Ссылка на продукт (необязательно)"),
                              validators=[Length(max=1000, message=TOO_LONG)],
                              render_kw={"type": "url", "placeholder": "https://"})
    file = FileField(_l("Файл продукта (необязательно)"))
    reason = TextAreaField(_l("Причина невыполнения"), render_kw={"rows": 2})
    submit = SubmitField(_l("Сохранить"))


class CorrectionForm(ActivityForm):
    action = HiddenField()
    activity_id = HiddenField()
    reason = TextAreaField(_l("Почему нужна корректировка"), render_kw={"rows": 3})
    submit = SubmitField(_l("Отправить куратору"))


class TextSectionForm(VersionedForm):
    text = TextAreaField(render_kw={"rows": 10})
    submit = SubmitField(_l("Сохранить"))
    submit_and_send = SubmitField(_l("Сохранить и отправить"))


TEXT_SECTIONS = {
    "reflection": {
        "field": "reflection", "section": "reflection", "trigger": "submit_reflection",
        "title": _l("Раздел 4. Саморефлексия"),
        "label": _l("Саморефлексия профессионального пути и эффективности маршрута"),
        "help": _l("Что удалось, какие дефициты преодолены, какие продукты созданы, что осталось трудным."),
        "send_label": _l("Сохранить и представить куратору"),
    },
    "recommendations": {
        "field": "recommendations", "section": "recommendations", "trigger": "close",
        "title": _l("Раздел 5. Рекомендации куратора"),
        "label": _l("Рекомендации куратора"),
        "help": _l("Например: курсы повышения квалификации, участие в профессиональных сообществах, "
                   "обобщение опыта."),
        "send_label": _l("Сохранить и закрыть маршрут"),
    },
}


# --- home and lists -------------------------------------------------------------------------------

@bp.route("/")
@login_required
def index():
    """Send each role to its home page."""
    return redirect(url_for(HOME_ENDPOINTS.get(current_user.role, "web.routes")))


@bp.route("/routes")
@login_required
def routes():
    """List the routes the user may see: own, the school's, the municipality's; filter and paginate."""
    role = current_user.role
    filters = _route_filters(schools=role in {Role.DEPARTMENT_HEAD.value, Role.ADMIN.value},
                             curators=role in {Role.SCHOOL_HEAD.value, Role.DEPARTMENT_HEAD.value, Role.ADMIN.value},
                             text=role != Role.TEACHER.value)
    school_id = filters["school_id"]
    query = queries.routes_query(current_user, **filters["query"])
    rows, total, pages, page, per_page = queries.paginate(query, _int_arg("page", 1), _page_size())
    counts = queries.state_counts(current_user, school_id=school_id)
    overdue_activities, overdue_routes = queries.overdue_summary(current_user, school_id=school_id)
    return render_template(
        "routes/list.html", rows=rows, total=total, pages=pages, page=page, state=filters["state"],
        school_id=school_id, schools=filters["schools"], filters=_route_filter_options(filters, counts),
        counts=counts, overdue_activities=overdue_activities, overdue_routes=overdue_routes,
        title=_list_title(), may_create=current_user.role in {Role.TEACHER.value, Role.CURATOR.value},
    )


def _route_filters(*, schools=False, curators=False, text=True):
    """Read the route lists' filters from the query string: state, school, curator, teacher name, overdue."""
    state = request.args.get("state") or None
    if state not in STATES:
        state = None
    school_choices = queries.visible_schools(current_user) if schools else []
    curator_choices = queries.visible_curators(current_user) if curators else []
    school_id = _int_arg("school") if schools else None
    curator_id = _int_arg("curator") if curators else None
    needle = (request.args.get("q") or "").strip()[:100] if text else ""
    overdue = request.args.get("overdue") == "1"
    return {
        "state": state, "school_id": school_id, "curator_id": curator_id, "text": needle, "overdue": overdue,
        "show_text": text, "schools": school_choices,
        "school_options": [(s.id, s.name) for s in school_choices],
        "curator_options": [(c.id, c.full_name) for c in curator_choices],
        "query": {"state": state, "school_id": school_id, "curator_id": curator_id, "text": needle,
                  "overdue": overdue},
    }


def _route_filter_options(filters, counts):
    """Add the state choices with the number of routes in each; return the filters."""
    filters["state_options"] = [(key, f"{label} ({counts.get(key, 0)})") for key, label in STATE_LABELS.items()]
    return filters


def _list_title():
    role = current_user.role
    if role == Role.TEACHER.value:
        return _("Мои маршруты")
    if role == Role.SCHOOL_HEAD.value:
        if not current_user.school:
            return _("Маршруты педагогов школы")
        return _("Маршруты педагогов: %(school)s", school=current_user.school.name)
    if role == Role.DEPARTMENT_HEAD.value:
        return _("Маршруты педагогов муниципалитета")
    if role == Role.CURATOR.value:
        return _("Маршруты: мои и моих педагогов")
    return _("Все маршруты")


@bp.route("/queue")
@login_required
def queue():
    """The curator's queue: what waits on the curator and for how long; then all their teachers' routes."""
    permissions.require_role(current_user, Role.CURATOR)
    # The counts by state give the queue's total and the unfiltered list's: two COUNTs fewer.
    counts, own = queries.curator_state_counts(current_user)
    items, queue_total, queue_pages, queue_page, _per_page = queries.curator_queue(
        current_user, page=_int_arg("qpage", 1), per_page=_page_size(), counts=counts)
    filters = _route_filters()
    state = filters["state"]
    rows, total, pages, page, _per_page = queries.curated_route_page(
        current_user, _int_arg("page", 1), _page_size(), counts=counts, **filters["query"])
    overdue_activities, overdue_routes = queries.curated_overdue_summary(current_user)
    return render_template(
        "routes/queue.html", items=items, queue_total=queue_total, queue_pages=queue_pages,
        queue_page=queue_page,
        rows=rows, total=total, pages=pages, page=page, state=state, counts=counts,
        filters=_route_filter_options(filters, counts),
        overdue_activities=overdue_activities, overdue_routes=overdue_routes, own_routes=own,
    )


@bp.route("/routes/new", methods=["POST"])
@login_required
def create_route():
    """Create a draft for oneself (teacher) or for an assigned teacher (curator)."""
    teacher_id = request.form.get("teacher_id", type=int)
    route = service.create_route(current_user, teacher_id=teacher_id)
    flash(_("Черновик маршрута создан. Заполните период, разделы 1–2 и дорожную карту."), "success")
    return redirect(url_for("web.edit_route", route_id=route.id))


@bp.route("/teachers/<int:teacher_id>")
@login_required
def teacher(teacher_id):
    """A teacher's profile: who they are and their routes."""
    person = db.session.execute(
        select(User).where(User.id == teacher_id).options(joinedload(User.school), joinedload(User.curator))
    ).scalar_one_or_none()
    permissions.require_view_teacher(current_user, person)
    rows, total, pages, page, _per_page = queries.paginate(
        queries.routes_query(current_user, teacher_id=person.id), _int_arg("page", 1), _page_size())
    return render_template(
        "routes/teacher.html", teacher=person, rows=rows, total=total, pages=pages, page=page,
        may_create=person.role == Role.TEACHER.value and permissions.can_manage_teacher(current_user, person),
    )


# --- the route page -------------------------------------------------------------------------------

def _field_text(name, value):
    if name == "stage":
        return STAGE_TITLES.get(value, value or "")
    if name == "direction":
        return DIRECTION_TITLES.get(value, value or "")
    if name == "deadline":
        return ru_date(value)
    return value or ""


def _correction_view(correction, activities_by_id, numbers):
    """Describe a correction for the page: which activity, and each proposed change as (field, old, new)."""
    proposal = correction.proposal or {}
    target_id = proposal.get("activity_id")
    before = None
    if correction.previous_roadmap:
        before = next((a for a in correction.previous_roadmap if a.get("id") == target_id), None)
    elif target_id in activities_by_id:
        before = _activity_data(activities_by_id[target_id])
    if proposal.get("action") == "add":
        target = _("Новое мероприятие")
    elif before is not None:
        number, text = numbers.get(target_id), before.get("deficit") or before.get("tasks")
        target = (_("Мероприятие № %(number)s: %(text)s", number=number, text=text) if number
                  else _("Мероприятие: %(text)s", text=text))
    else:
        target = _("Мероприятие (удалено из дорожной карты)")
    changes = []
    for name, value in (proposal.get("fields") or {}).items():
        old = _field_text(name, before.get(name)) if before and proposal.get("action") == "change" else ""
        changes.append((ACTIVITY_FIELD_TITLES.get(name, name), old, _field_text(name, value)))
    return {"correction": correction, "action": CORRECTION_ACTIONS.get(proposal.get("action"), ""),
            "target": target, "changes": changes}


def _render_route(route, status=200, error=None, keep=None):
    """Render the route page; keep holds what a refused form sent, to show it again."""
    transitions = service.available_transitions(route, current_user)
    sections = service.editable_sections(route, current_user)
    overdue_ids = {a.id for a in queries.overdue_activities(route)} if route.state != "closed" else set()
    pending = [c for c in route.corrections if c.status == "pending"]
    activities_by_id = {a.id: a for a in route.activities}
    numbers = {a.id: index for index, a in enumerate(route.activities, start=1)}
    corrections = [_correction_view(c, activities_by_id, numbers) for c in route.corrections]
    by_stage = {}
    for activity in route.activities:
        by_stage.setdefault(activity.stage, []).append(activity)
    return render_template(
        "routes/route.html", route=route, transitions=transitions, sections=sections,
        shown_transitions=[t for t in transitions if t.allowed or t.relevant],
        overdue_ids=overdue_ids, pending=pending, corrections=corrections, numbers=numbers,
        # The road map's tables: each stage in order, with its activities in road-map order.
        stage_tables=[(stage, by_stage[stage]) for stage in STAGES if stage in by_stage],
        error=error, keep=keep or {}, correction_actions=CORRECTION_ACTIONS,
        correction_status_titles=CORRECTION_STATUS_TITLES, field_titles=ACTIVITY_FIELD_TITLES,
    ), status


@bp.route("/routes/<int:route_id>")
@login_required
def route(route_id):
    """Show the route: sections, road map, corrections, timeline and the actions available now."""
    return _render_route(service.load_route(route_id, current_user))


@bp.route("/routes/<int:route_id>/transitions/<trigger>", methods=["POST"])
@lock_at_first_write  # a transition's writes are version-checked (Route.version)
@login_required
def transition(route_id, trigger):
    """Fire a transition of the state machine (approve, return, start, submit, close, archive...)."""
    form = VersionedForm()
    comment = request.form.get("comment", "")
    try:
        version = _form_version(form)
        service.apply_transition(route_id, trigger, current_user, comment=comment, version=version)
    except RECOVERABLE as exc:
        route = service.load_route(route_id, current_user)
        return _render_route(route, exc.status, exc.message, keep={"trigger": trigger, "comment": comment})
    label = queries.EVENT_LABELS.get(trigger) or TRANSITIONS_BY_TRIGGER[trigger]["label"]
    flash(f"{label}.", "success")
    return redirect(url_for("web.route", route_id=route_id))


@bp.route("/files/<int:file_id>")
@login_required
def download_file(file_id):
    """Send an uploaded product by file id, to those who may see its route."""
    stored = uploads.load_product_file(file_id, current_user)
    response = send_file(io.BytesIO(stored.data), mimetype=stored.content_type, as_attachment=True,
                         download_name=stored.original_name, max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    return response


# --- editing a draft -----------------------------------------------------------------------------

@bp.route("/routes/<int:route_id>/edit", methods=["GET", "POST"])
@login_required
def edit_route(route_id):
    """Edit the period and sections 1–2 of a draft."""
    route = service.load_route(route_id, current_user)
    _require_section(route, "draft")
    fields = ["period_start", "period_end", *service.GENERAL_FIELDS, "request"]
    if request.method == "GET":
        data = {name: getattr(route, name) for name in fields}
        data = {k: (v.isoformat() if isinstance(v, date) else ("" if v is None else v)) for k, v in data.items()}
        form = DraftForm(formdata=None, data={**data, "version": str(route.version)})
        return render_template("routes/edit.html", route=route, form=form)
    form = DraftForm()
    error, status = None, 200
    if form.validate():
        try:
            service.update_route(route_id, current_user, {name: form[name].data for name in fields},
                                 _form_version(form))
        except RECOVERABLE as exc:
            error, status = _fail_form(form, exc, route_id), exc.status
        else:
            flash(_("Изменения сохранены."), "success")
            return redirect(url_for("web.route", route_id=route_id))
    else:
        error, status = _("Проверьте поля формы."), 422
    return render_template("routes/edit.html", route=route, form=form, error=error), status


def _activity_data(activity):
    data = {name: getattr(activity, name) for name in service.ACTIVITY_FIELDS}
    data["deadline"] = activity.deadline.isoformat() if activity.deadline else ""
    return data


def _activity_item(form):
    return {name: form[name].data for name in service.ACTIVITY_FIELDS}


@bp.route("/routes/<int:route_id>/activities/new", methods=["GET", "POST"])
@bp.route("/routes/<int:route_id>/activities/<int:activity_id>/edit", methods=["GET", "POST"])
@login_required
def edit_activity(route_id, activity_id=None):
    """Add or change an activity of a draft's road map."""
    route = service.load_route(route_id, current_user)
    _require_section(route, "activities")
    activity = _activity(route, activity_id) if activity_id else None
    if request.method == "GET":
        stage = request.args.get("stage")
        data = _activity_data(activity) if activity else {"stage": stage if stage in STAGES else Stage.DESIGN.value}
        form = ActivityForm(formdata=None, data={**data, "version": str(route.version)})
        return render_template("routes/activity_form.html", route=route, activity=activity, form=form)
    form = ActivityForm()
    error, status = None, 200
    if form.validate():
        try:
            version = _form_version(form)
            if activity:
                service.update_activity(route_id, activity.id, current_user, _activity_item(form), version)
            else:
                service.add_activity(route_id, current_user, _activity_item(form), version)
        except RECOVERABLE as exc:
            error, status = _fail_form(form, exc, route_id), exc.status
        else:
            flash(_("Мероприятие сохранено.") if activity else _("Мероприятие добавлено в дорожную карту."), "success")
            return redirect(url_for("web.route", route_id=route_id, _anchor="roadmap"))
    else:
        error, status = _("Проверьте поля формы."), 422
    return render_template("routes/activity_form.html", route=route, activity=activity, form=form,
                           error=error), status


@bp.route("/routes/<int:route_id>/activities/<int:activity_id>/delete", methods=["POST"])
@login_required
def delete_activity(route_id, activity_id):
    """Remove an activity from a draft's road map."""
    form = VersionedForm()
    try:
        service.delete_activity(route_id, activity_id, current_user, _form_version(form))
    except RECOVERABLE as exc:
        return _render_route(service.load_route(route_id, current_user), exc.status, exc.message)
    flash(_("Мероприятие удалено из дорожной карты."), "success")
    return redirect(url_for("web.route", route_id=route_id, _anchor="roadmap"))


# --- carrying the route out -----------------------------------------------------------------------

@bp.route("/routes/<int:route_id>/activities/<int:activity_id>/result", methods=["GET", "POST"])
@login_required
def activity_result(route_id, activity_id):
    """Record an activity as done (product text, link, file) or not done (reason)."""
    route = service.load_route(route_id, current_user)
    activity = _activity(route, activity_id)
    _require_section(route, "results")
    if request.method == "GET":
        data = {"status": activity.status if activity.status != "planned" else "done",
                "product": activity.product, "product_url": activity.product_url, "reason": activity.reason,
                "version": str(route.version)}
        form = ResultForm(formdata=None, data=data)
        return render_template("routes/result_form.html", route=route, activity=activity, form=form)
    form = ResultForm()
    error, status = None, 200
    if form.validate():
        try:
            payload = None
            upload = request.files.get("file")
            if upload is not None and upload.filename and form.status.data == "done":
                cap = uploads.MAX_PRODUCT_FILE_BYTES
                data = upload.stream.read(cap + 1)  # one byte over the cap is enough to refuse it
                payload = uploads.product_file_payload(upload.filename, data, max_bytes=cap)
            service.record_activity_result(
                route_id, activity.id, current_user, status=form.status.data, product=form.product.data,
                product_url=form.product_url.data, reason=form.reason.data, file=payload,
                version=_form_version(form))
        except RECOVERABLE as exc:
            error, status = _fail_form(form, exc, route_id), exc.status
            if request.files.get("file") and request.files["file"].filename:
                error += " " + _("Файл, если он был выбран, нужно выбрать заново.")
        else:
            flash(_("Результат мероприятия сохранён."), "success")
            return redirect(url_for("web.route", route_id=route_id, _anchor=f"activity-{activity.id}"))
    else:
        error, status = _("Проверьте поля формы."), 422
    return render_template("routes/result_form.html", route=route, activity=activity, form=form,
                           error=error), status


@bp.route("/routes/<int:route_id>/corrections/new", methods=["GET", "POST"])
@login_required
def request_correction(route_id):
    """Ask the curator to add, change or remove a road-map activity, with a reason."""
    route = service.load_route(route_id, current_user)
    _require_section(route, "corrections")
    source = request.args if request.method == "GET" else request.form
    action = source.get("action", "add")
    if action not in CORRECTION_ACTIONS:
        action = "add"
    activity = None
    if action != "add":
        activity = _activity(route, source.get("activity_id", type=int))
    if request.method == "GET":
        data = _activity_data(activity) if activity else {"stage": Stage.IMPLEMENTATION.value}
        form = CorrectionForm(formdata=None, data={
            **data, "action": action, "activity_id": str(activity.id) if activity else "",
            "version": str(route.version)})
        return render_template("routes/correction_form.html", route=route, activity=activity, form=form,
                               action=action, action_title=CORRECTION_ACTIONS[action])
    form = CorrectionForm()
    error, status = None, 200
    if form.validate():
        fields = {}
        if action == "add":
            fields = _activity_item(form)
        elif action == "change":
            current = _activity_data(activity)
            fields = {k: v for k, v in _activity_item(form).items() if (v or "") != (current[k] or "")}
        try:
            service.request_correction(route_id, current_user, reason=form.reason.data, action=action,
                                       activity_id=activity.id if activity else None, fields=fields,
                                       version=_form_version(form))
        except RECOVERABLE as exc:
            error, status = _fail_form(form, exc, route_id), exc.status
        else:
            flash(_("Корректировка отправлена куратору на решение."), "success")
            return redirect(url_for("web.route", route_id=route_id, _anchor="corrections"))
    else:
        error, status = _("Проверьте поля формы."), 422
    return render_template("routes/correction_form.html", route=route, activity=activity, form=form,
                           action=action, action_title=CORRECTION_ACTIONS[action], error=error), status


@bp.route("/routes/<int:route_id>/corrections/<int:correction_id>/decision", methods=["POST"])
@login_required
def decide_correction(route_id, correction_id):
    """The curator approves (applies) or rejects (with a comment) a pending correction."""
    form = VersionedForm()
    decision = request.form.get("decision")
    comment = request.form.get("comment", "")
    try:
        if decision not in {"approve", "reject"}:
            raise InvalidInput(_("Выберите решение: утвердить или отклонить"))
        service.decide_correction(route_id, correction_id, current_user, approve=decision == "approve",
                                  comment=comment, version=_form_version(form))
    except RECOVERABLE as exc:
        route = service.load_route(route_id, current_user)
        return _render_route(route, exc.status, exc.message,
                             keep={"correction_id": correction_id, "comment": comment})
    flash(_("Корректировка утверждена и внесена в дорожную карту.") if decision == "approve"
          else _("Корректировка отклонена."), "success")
    return redirect(url_for("web.route", route_id=route_id, _anchor="corrections"))


@bp.route("/routes/<int:route_id>/<any(reflection, recommendations):kind>", methods=["GET", "POST"])
@login_required
def text_section(route_id, kind):
    """Write section 4 (teacher's self-reflection) or 5 (curator's recommendations)."""
    spec = TEXT_SECTIONS[kind]
    route = service.load_route(route_id, current_user)
    _require_section(route, spec["section"])
    if request.method == "GET":
        form = TextSectionForm(formdata=None, data={"text": getattr(route, spec["field"]),
                                                    "version": str(route.version)})
        return render_template("routes/text_form.html", route=route, form=form, spec=spec)
    form = TextSectionForm()
    error, status = None, 200
    try:
        route = service.update_route(route_id, current_user, {spec["field"]: form.text.data},
                                     _form_version(form))
    except RECOVERABLE as exc:
        error, status = _fail_form(form, exc, route_id), exc.status
        return render_template("routes/text_form.html", route=route, form=form, spec=spec, error=error), status
    flash(_("Сохранено."), "success")
    if form.submit_and_send.data:
        try:
            service.apply_transition(route_id, spec["trigger"], current_user, version=route.version)
        except WorkflowError as exc:
            flash(_("Текст сохранён, но отправить не удалось: %(reason)s", reason=exc.message), "warning")
        else:
            flash(f"{queries.EVENT_LABELS[spec['trigger']]}.", "success")
    return redirect(url_for("web.route", route_id=route_id))
