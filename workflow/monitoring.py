"""Monitoring campaigns: the indicator F2 = B2 / C2 × 100 % per municipality and school, signing, the report.

C2 — teachers who took a counted diagnostic (every diagnostic of the municipality held by the end of the
campaign's period, or the campaign's one diagnostic). B2 — of them, those with a route built from a counted
diagnostic (route.diagnostic_id) that the curator approved: it is curator_approved, in_progress or reflected
now, or closed after approval (an approve event and no archive straight from the draft). Everything is
counted in SQL with GROUP BY. Signing freezes the figures and the lists of teachers and stores the report
DOCX (template ``monitoring_report``, layout of seed 000) with its SHA-256; a signed campaign never changes.
"""
import hashlib
import re
from datetime import date, datetime

from babel.dates import format_date
from sqlalchemy import and_, bindparam, case, func, select
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.exc import StaleDataError
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from models import (
    Diagnostic, DiagnosticResult, MonitoringCampaign, Municipality, Role, Route, School, StoredFile, User, db,
)
from models._time import utcnow
from models.diagnostics import CampaignState
from workflow import documents
from workflow.errors import Conflict, InvalidInput, NotFound, NotPermitted, StaleVersion
from workflow.queries import overdue_count_column, page_count
from workflow.states import STATES

REPORT_TEMPLATE = "monitoring_report"
APPROVED_STATES = ("curator_approved", "in_progress", "reflected")
ACTIVE_STATES = ("curator_approved", "in_progress")
STALE_MESSAGE = _l("Мониторинг уже изменён другим пользователем. Обновите страницу и повторите.")

DEFAULT_TITLE = ("Мониторинг разработки индивидуальных образовательных маршрутов непрерывного профессионального "
                 "развития на основе результатов диагностики профессиональных компетенций педагогов "
                 "общеобразовательных организаций")
DEFAULT_ADDRESSEES = "Начальнику методического отдела\nРуководителям ОО"
DEFAULT_RECOMMENDATIONS = (
    "1. Начальнику методического отдела:\n"
    "1.1. Организовать научно-методическое сопровождение педагогическим работникам по корректировке "
    "и реализации ИОМ.\n"
    "1.2. Организовать консультационную работу с ответственными за разработку ИОМ в части корректировки "
    "и сопровождения реализации индивидуальных образовательных маршрутов непрерывного профессионального "
    "развития педагогов.\n"
    "2. Руководителям общеобразовательных организаций взять на контроль реализацию индивидуальных "
    "образовательных маршрутов педагогических работников."
)
LEGEND = [
    "F2 — доля педагогических работников, для которых разработан индивидуальный образовательный маршрут "
    "непрерывного профессионального развития на основе результатов диагностики профессиональных компетенций, "
    "от общей численности педагогических работников, прошедших диагностику профессиональных компетенций, "
    "процент;",
    "B2 — численность педагогических работников, для которых разработан индивидуальный образовательный "
    "маршрут непрерывного профессионального развития на основе результатов диагностики профессиональных "
    "компетенций, человек;",
    "C2 — общая численность педагогических работников, прошедших диагностику профессиональных компетенций, "
    "в соответствии с паспортом федерального/регионального проекта «Современная школа» национального проекта "
    "«Образование» в части установленных показателей эффективности функционирования центра непрерывного "
    "повышения профессионального мастерства педагогических работников, человек.",
]
MONTHS_IN = ["январе", "феврале", "марте", "апреле", "мае", "июне", "июле", "августе", "сентябре", "октябре",
             "ноябре", "декабре"]


# --- access --------------------------------------------------------------------------------------------

def can_view(user, campaign=None):
    """Department head, admin, curators and school heads see their municipality's campaigns."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if user.role == Role.ADMIN.value:
        return True
    if user.role not in {Role.DEPARTMENT_HEAD.value, Role.CURATOR.value, Role.SCHOOL_HEAD.value}:
        return False
    return campaign is None or campaign.municipality_id == user.municipality_id


def can_manage(user, campaign=None):
    """The department head (or an admin) opens campaigns and edits them before signing."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if user.role == Role.ADMIN.value:
        return True
    return user.role == Role.DEPARTMENT_HEAD.value and user.municipality_id is not None and (
        campaign is None or campaign.municipality_id == user.municipality_id)


def can_sign(user, campaign):
    """Only the department head of the campaign's municipality signs it."""
    return (user is not None and getattr(user, "is_authenticated", False)
            and user.role == Role.DEPARTMENT_HEAD.value and campaign.municipality_id == user.municipality_id)


def _require_manager(user, campaign=None):
    if not can_manage(user, campaign):
        raise NotPermitted(_("Мониторинг проводит начальник управления образования"))


# --- input --------------------------------------------------------------------------------------------

def _date(value, field, label):
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = (value or "").strip() if isinstance(value, str) else ""
    for fmt in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    if not text:
        raise InvalidInput(_("Укажите %(label)s", label=label), details={field: "required"})
    raise InvalidInput(_("Неверная %(label)s: ожидается дд.мм.гггг", label=label), details={field: "date"})


def _text(value, limit):
    return (value or "").replace("\r\n", "\n").strip()[:limit] if isinstance(value, str) or value is None \
        else str(value)[:limit]


def _clean(data):
    title = " ".join(_text(data.get("title"), 400).split())
    if not title:
        raise InvalidInput(_("Укажите название мониторинга"), details={"title": "required"})
    start = _date(data.get("period_start"), "period_start", _("дата начала мониторинга"))
    end = _date(data.get("period_end"), "period_end", _("дата окончания мониторинга"))
    if end < start:
        raise InvalidInput(_("Окончание мониторинга раньше его начала"), details={"period_end": "order"})
    return title, start, end


# --- campaigns ----------------------------------------------------------------------------------------

def order_title(title):
    """Return the order's title "О проведении мониторинга …" for a campaign title."""
    if title.lower().startswith("мониторинг "):
        return "О проведении мониторинга " + title[len("мониторинг "):]
    return f"О проведении мониторинга «{title}»"


def create_campaign(actor, data):
    """Open a monitoring campaign of the actor's municipality; optionally issue the order about it.

    data: title, period_start, period_end, and optionally diagnostic_id, addressees, recommendations,
    issue_order (bool).
    """
    _require_manager(actor)
    if actor.municipality_id is None:
        raise InvalidInput(_("Пользователь не привязан к муниципальному образованию"))
    municipality = db.session.get(Municipality, actor.municipality_id)
    title, start, end = _clean(data)
    diagnostic_id = data.get("diagnostic_id") or None
    if diagnostic_id is not None:
        try:
            diagnostic_id = int(diagnostic_id)
        except (TypeError, ValueError):
            raise InvalidInput(_("Неверная диагностика"), details={"diagnostic_id": "integer"}) from None
        diagnostic = db.session.get(Diagnostic, diagnostic_id)
        if diagnostic is None or diagnostic.municipality_id != municipality.id:
            raise InvalidInput(_("Диагностика не найдена"), details={"diagnostic_id": "choice"})
    order_id = None
    if data.get("issue_order"):
        from workflow import orders
        order = orders.issue_order("monitoring", municipality, actor, title=order_title(title),
                                   context={"period_start": start, "period_end": end})
        order_id = order.id
    campaign = MonitoringCampaign(
        municipality_id=municipality.id, title=title, period_start=start, period_end=end,
        diagnostic_id=diagnostic_id, order_id=order_id, created_by_id=actor.id,
        addressees=_text(data.get("addressees"), 2000) or DEFAULT_ADDRESSEES,
        recommendations=_text(data.get("recommendations"), 10000) or DEFAULT_RECOMMENDATIONS)
    db.session.add(campaign)
    db.session.commit()
    return campaign


def load_campaign(campaign_id, user):
    """Return a campaign the user may see, or raise NotFound."""
    if not isinstance(campaign_id, int) or not 0 < campaign_id < 2**31:
        raise NotFound(_("Мониторинг не найден"))
    campaign = db.session.execute(
        select(MonitoringCampaign).where(MonitoringCampaign.id == campaign_id).options(
            joinedload(MonitoringCampaign.municipality), joinedload(MonitoringCampaign.diagnostic),
            joinedload(MonitoringCampaign.signed_by), joinedload(MonitoringCampaign.created_by))
    ).scalar_one_or_none()
    if campaign is None or not can_view(user, campaign):
        raise NotFound(_("Мониторинг не найден"))
    return campaign


def campaigns_page(user, page=1, per_page=50, *, state=None, text=None, year=None):
    """Return (campaigns, total, pages) the user may see, newest first; filter by state, title words, year."""
    if not can_view(user):
        raise NotPermitted(_("Мониторинг доступен руководителям и кураторам"))
    query = select(MonitoringCampaign)
    if user.role != Role.ADMIN.value:
        query = query.where(MonitoringCampaign.municipality_id == user.municipality_id)
    if state in {s.value for s in CampaignState}:
        query = query.where(MonitoringCampaign.state == state)
    if text and text.strip():
        from workflow.queries import name_clause
        query = query.where(name_clause(MonitoringCampaign.title, text))
    if year:
        query = query.where(MonitoringCampaign.period_start <= date(year, 12, 31),
                            MonitoringCampaign.period_end >= date(year, 1, 1))
    total = db.session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    page = max(int(page or 1), 1)
    items = db.session.execute(
        query.options(joinedload(MonitoringCampaign.signed_by))
        .order_by(MonitoringCampaign.period_start.desc(), MonitoringCampaign.id.desc())
        .limit(per_page).offset((page - 1) * per_page)
    ).scalars().all()
    return items, total, page_count(total, per_page)


def _commit_campaign_change():
    try:
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        raise StaleVersion(STALE_MESSAGE) from None
    except BaseException:
        db.session.rollback()
        raise


def _check_version(campaign, version):
    if version in (None, ""):
        return
    try:
        version = int(version)
    except (TypeError, ValueError):
        raise InvalidInput(_("Поле version должно быть целым числом")) from None
    if version != campaign.version:
        raise StaleVersion(STALE_MESSAGE)


def update_campaign(actor, campaign_id, data, version=None):
    """Change the recommendations, addressees or title and period of an open campaign."""
    campaign = load_campaign(campaign_id, actor)
    _require_manager(actor, campaign)
    if campaign.is_signed:
        raise Conflict(_("Мониторинг подписан: изменить его нельзя"))
    _check_version(campaign, version)
    if "title" in data or "period_start" in data or "period_end" in data:
        title, start, end = _clean({"title": data.get("title", campaign.title),
                                    "period_start": data.get("period_start", campaign.period_start),
                                    "period_end": data.get("period_end", campaign.period_end)})
        campaign.title, campaign.period_start, campaign.period_end = title, start, end
    if "recommendations" in data:
        campaign.recommendations = _text(data.get("recommendations"), 10000)
    if "addressees" in data:
        campaign.addressees = _text(data.get("addressees"), 2000)
    _commit_campaign_change()
    return campaign


# --- the figures, in SQL ---------------------------------------------------------------------------------

def _diagnostic_ids(municipality_id, diagnostic_id, period_end):
    """Select the ids of the diagnostics a campaign counts."""
    if diagnostic_id is not None:
        return select(Diagnostic.id).where(Diagnostic.id == diagnostic_id,
                                           Diagnostic.municipality_id == municipality_id)
    return select(Diagnostic.id).where(Diagnostic.municipality_id == municipality_id,
                                       Diagnostic.held_on <= period_end)


def approved_clause():
    """SQL: the route was approved by the curator and not returned to the draft since (on Route).

    Route.approved_at is set by the approve transition and cleared by a return to the draft, so it is
    set exactly while the route is curator_approved, in progress or reflected, or closed after its
    approval (closed by the curator, or archived from any state but the draft).
    """
    return Route.approved_at.isnot(None)


def _participants(municipality_id, diagnostic_id, period_end):
    """The distinct (teacher, school) pairs of the counted diagnostics' results.

    Joined to the diagnostics rather than filtered by `IN (their ids)`: SQLite's planner then reads the
    results by diagnostic instead of scanning them all in school or teacher order.
    """
    counted = (Diagnostic.id == diagnostic_id, Diagnostic.municipality_id == municipality_id) \
        if diagnostic_id is not None else (Diagnostic.municipality_id == municipality_id,
                                           Diagnostic.held_on <= period_end)
    return (select(DiagnosticResult.teacher_id.label("teacher_id"), DiagnosticResult.school_id.label("school_id"))
            .join(Diagnostic, Diagnostic.id == DiagnosticResult.diagnostic_id).where(*counted)
            .group_by(DiagnosticResult.teacher_id, DiagnosticResult.school_id).subquery())


def _b2_teachers(diagnostic_ids):
    return select(Route.teacher_id).where(Route.diagnostic_id.in_(diagnostic_ids), approved_clause())


def f2_value(b2, c2):
    """F2 in percent, one decimal place; None when C2 = 0."""
    if not c2:
        return None
    return round(b2 * 100.0 / c2, 1)


def format_f2(value):
    """"100 %", "66,7 %", or "—" for no value."""
    if value is None:
        return "—"
    text = f"{value:.1f}".rstrip("0").rstrip(".").replace(".", ",")
    return f"{text} %"


def _school_sort_key(name):
    return [int(part) if part.isdigit() else part.casefold() for part in re.split(r"(\d+)", name or "")]


def _participant_rows(municipality_id, diagnostic_id, period_end):
    """One row per teacher and school of a counted diagnostic's results: the teacher's routes in B2 and
    `nth`, 1 on the teacher's first school only (so the totals count every teacher once)."""
    pairs = _participants(municipality_id, diagnostic_id, period_end)
    routes = (select(func.count(Route.id))
              .where(Route.teacher_id == pairs.c.teacher_id,
                     Route.diagnostic_id.in_(_diagnostic_ids(municipality_id, diagnostic_id, period_end)),
                     approved_clause())
              .correlate(pairs).scalar_subquery())
    nth = func.row_number().over(partition_by=pairs.c.teacher_id, order_by=pairs.c.school_id)
    return select(pairs.c.teacher_id, pairs.c.school_id, routes.label("routes"), nth.label("nth")).subquery()


_FIGURE_STATEMENTS = {}


def _figure_statements(one_diagnostic):
    """compute_figures' statements, built once per kind of campaign (one diagnostic, or all held by the
    period's end) with bound parameters: building and keying them anew cost as much as running them."""
    statements = _FIGURE_STATEMENTS.get(one_diagnostic)
    if statements is not None:
        return statements
    municipality_id = bindparam("municipality_id")
    diagnostic_id = bindparam("diagnostic_id") if one_diagnostic else None
    period_end = None if one_diagnostic else bindparam("period_end")
    rows = _participant_rows(municipality_id, diagnostic_id, period_end)
    first, in_b2 = rows.c.nth == 1, rows.c.routes > 0
    overdue = overdue_count_column(bindparam("today"))
    statements = {
        # Per school of the participants: C2, B2, and the same counting each teacher once (on their first
        # school), with their routes in B2, for the totals.
        "counts": select(rows.c.school_id, func.count(), func.count(case((in_b2, 1))),
                         func.count(case((first, 1))), func.count(case((and_(first, in_b2), 1))),
                         func.coalesce(func.sum(case((first, rows.c.routes))), 0)).group_by(rows.c.school_id),
        # Every school of the municipality with its routes by state and, of the routes under way, their
        # planned activities past the deadline.
        "schools": select(School.id, School.name, Route.state, func.count(Route.id),
                          func.sum(case((Route.state.in_(ACTIVE_STATES), overdue)))).select_from(School)
        .outerjoin(Route, Route.school_id == School.id).where(School.municipality_id == municipality_id)
        .group_by(School.id, School.name, Route.state),
        "diagnostics": select(Diagnostic)
        .where(Diagnostic.id.in_(_diagnostic_ids(municipality_id, diagnostic_id, period_end)))
        .order_by(Diagnostic.held_on, Diagnostic.id),
    }
    _FIGURE_STATEMENTS[one_diagnostic] = statements
    return statements


def indicator_figures(municipality_id, *, diagnostic_id=None, period_end):
    """Return the indicator alone: C2 and B2 of every school of the participants, and the totals (C2, B2,
    F2, the routes developed), from one GROUP BY over the diagnostic's participants.

    {"schools": {school id: (c2, b2)}, "c2", "b2", "f2", "routes_developed"}; a teacher who took the
    diagnostic in two schools counts in each school and once in the totals.
    """
    statements = _figure_statements(diagnostic_id is not None)
    counted_by_school = db.session.execute(statements["counts"], _campaign_params(
        municipality_id, diagnostic_id, period_end)).all()
    c2_total = sum(row[3] for row in counted_by_school)
    b2_total = sum(row[4] for row in counted_by_school)
    return {
        "schools": {school_id: (c2, b2) for school_id, c2, b2, *_ in counted_by_school},
        "c2": c2_total, "b2": b2_total, "f2": f2_value(b2_total, c2_total),
        # int(): PostgreSQL sums integers as numeric.
        "routes_developed": int(sum(row[5] for row in counted_by_school)),
    }


def _campaign_params(municipality_id, diagnostic_id, period_end):
    params = {"municipality_id": municipality_id}
    params.update({"diagnostic_id": diagnostic_id} if diagnostic_id is not None else {"period_end": period_end})
    return params


def compute_figures(municipality_id, *, diagnostic_id=None, period_end, today=None):
    """Return the live figures: totals and per school, C2, B2, F2 (indicator_figures), and every school's
    routes by state and overdue activities.
    """
    today = today or date.today()
    statements = _figure_statements(diagnostic_id is not None)
    params = _campaign_params(municipality_id, diagnostic_id, period_end)
    indicator = indicator_figures(municipality_id, diagnostic_id=diagnostic_id, period_end=period_end)
    counts = indicator["schools"]

    names, by_state, overdue_by_school = {}, {}, {}
    no_routes = dict.fromkeys(STATES, 0)
    for school_id, name, state, count, overdue in db.session.execute(statements["schools"],
                                                                     {**params, "today": today}):
        states = by_state.get(school_id)
        if states is None:
            names[school_id] = name
            states = by_state[school_id] = no_routes.copy()
            overdue_by_school[school_id] = 0
        if overdue:
            overdue_by_school[school_id] += int(overdue)
        if state is not None:
            states[state] = count
    per_school = [(school_id, name, *counts.get(school_id, (0, 0))) for school_id, name in names.items()]
    counted = db.session.execute(statements["diagnostics"], params).scalars().all()

    schools = []
    for school_id, name, c2, b2 in per_school:
        schools.append({
            "id": school_id, "name": name, "c2": c2, "b2": b2, "f2": f2_value(b2, c2),
            "routes": by_state[school_id], "routes_total": sum(by_state[school_id].values()),
            "overdue": overdue_by_school.get(school_id, 0),
        })
    schools.sort(key=lambda s: _school_sort_key(s["name"]))
    total_states = {s: sum(row["routes"][s] for row in schools) for s in STATES}
    return {
        "as_of": utcnow().isoformat(timespec="seconds"),
        "totals": {
            **{key: indicator[key] for key in ("c2", "b2", "f2", "routes_developed")}, "routes": total_states,
            "routes_total": sum(total_states.values()),
            "overdue": sum(overdue_by_school.values()),
        },
        "schools": schools,
        "diagnostics": [{"id": d.id, "title": d.title, "provider": d.provider,
                         "held_on": d.held_on.isoformat()} for d in counted],
    }


def compute_teacher_lists(municipality_id, *, diagnostic_id=None, period_end):
    """Return {"c2": [...], "b2": [...]}: the teachers behind C2 and B2 (id, full name, school)."""
    diagnostic_ids = _diagnostic_ids(municipality_id, diagnostic_id, period_end)
    participants = _participants(municipality_id, diagnostic_id, period_end)
    b2_teachers = _b2_teachers(diagnostic_ids)
    rows = db.session.execute(
        select(User.id, User.full_name, func.min(School.name),
               func.max(case((User.id.in_(b2_teachers), 1), else_=0)))
        .select_from(participants).join(User, User.id == participants.c.teacher_id)
        .outerjoin(School, School.id == participants.c.school_id)
        .group_by(User.id, User.full_name)
    ).all()
    people = sorted(({"id": i, "full_name": n, "school": s or ""} for i, n, s, _ in rows),
                    key=lambda p: (_school_sort_key(p["school"]), p["full_name"]))
    b2_ids = {i for i, _, _, flag in rows if flag}
    return {"c2": people, "b2": [p for p in people if p["id"] in b2_ids]}


def campaign_figures(campaign, today=None):
    """The campaign's figures: frozen once signed, live while open."""
    if campaign.is_signed and campaign.figures is not None:
        return campaign.figures
    return compute_figures(campaign.municipality_id, diagnostic_id=campaign.diagnostic_id,
                           period_end=campaign.period_end, today=today)


def campaign_teachers(campaign, viewer=None):
    """The teachers behind C2 and B2; a school head sees only their own school's teachers by name."""
    if campaign.is_signed and campaign.teachers is not None:
        lists = campaign.teachers
    else:
        lists = compute_teacher_lists(campaign.municipality_id, diagnostic_id=campaign.diagnostic_id,
                                      period_end=campaign.period_end)
    if viewer is not None and viewer.role == Role.SCHOOL_HEAD.value:
        school = viewer.school.name if viewer.school else None
        lists = {key: [p for p in people if p["school"] == school] for key, people in lists.items()}
    return lists


# --- signing and the report ---------------------------------------------------------------------------------

def sign_campaign(actor, campaign_id, version=None, today=None):
    """Sign the campaign: freeze its figures and lists and store the report DOCX with its SHA-256."""
    campaign = load_campaign(campaign_id, actor)
    if not can_sign(actor, campaign):
        raise NotPermitted(_("Подписать мониторинг может только начальник управления образования"))
    if campaign.is_signed:
        raise Conflict(_("Мониторинг уже подписан"))
    _check_version(campaign, version)
    documents.compiled_template(REPORT_TEMPLATE)
    try:
        figures = compute_figures(campaign.municipality_id, diagnostic_id=campaign.diagnostic_id,
                                  period_end=campaign.period_end, today=today)
        teachers = compute_teacher_lists(campaign.municipality_id, diagnostic_id=campaign.diagnostic_id,
                                         period_end=campaign.period_end)
        signed_at = utcnow()
        context = report_context(campaign, figures, signer=actor, signed_on=signed_at.date())
        rendered = documents.render_document(REPORT_TEMPLATE, context)
        stored = StoredFile(original_name=report_filename(campaign), content_type=documents.DOCX_MIME,
                            size=len(rendered.data), sha256=rendered.sha256, data=rendered.data,
                            uploaded_by_id=actor.id)
        db.session.add(stored)
        campaign.figures, campaign.teachers = figures, teachers
        campaign.state = CampaignState.SIGNED.value
        campaign.signed_by_id, campaign.signed_at = actor.id, signed_at
        campaign.report_file = stored
        campaign.report_sha256 = rendered.sha256
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        raise StaleVersion(STALE_MESSAGE) from None
    except BaseException:
        db.session.rollback()
        raise
    return campaign


def report_filename(campaign):
    return f"Мониторинг ИОМ {campaign.period_start:%d.%m.%Y}–{campaign.period_end:%d.%m.%Y}.docx"


def report_document(campaign):
    """Return (bytes, file name) of a signed campaign's stored report; the bytes match the stored hash."""
    if not campaign.is_signed or campaign.report_file_id is None:
        raise Conflict(_("Отчёт формируется при подписании мониторинга"))
    data = db.session.execute(select(StoredFile.data).where(StoredFile.id == campaign.report_file_id)).scalar_one()
    if hashlib.sha256(data).hexdigest() != campaign.report_sha256:
        raise Conflict(_("Файл отчёта повреждён: его хеш не совпадает с сохранённым при подписании"))
    return data, report_filename(campaign)


def _plural(n, one, few, many):
    if n % 10 == 1 and n % 100 != 11:
        return one
    if n % 10 in (2, 3, 4) and n % 100 not in (12, 13, 14):
        return few
    return many


def _genitive_teachers(n):
    """"для 52 педагогов", "для 21 педагога"."""
    return "педагога" if n % 10 == 1 and n % 100 != 11 else "педагогов"


def ru_period(start, end):
    """"с 27 по 31 марта 2023 года", "с 27 марта по 3 апреля 2023 года", or with both years."""
    if start == end:
        return format_date(start, "d MMMM yyyy 'года'", locale="ru")
    if (start.year, start.month) == (end.year, end.month):
        return f"с {start.day} по {format_date(end, 'd MMMM yyyy', locale='ru')} года"
    if start.year == end.year:
        return f"с {format_date(start, 'd MMMM', locale='ru')} по {format_date(end, 'd MMMM yyyy', locale='ru')} года"
    return f"с {format_date(start, 'd MMMM yyyy', locale='ru')} года по {format_date(end, 'd MMMM yyyy', locale='ru')} года"


def _school_list(names):
    """"СОШ № 1, 2, 3" when every name is "СОШ № N", else the names separated by commas."""
    numbers = [re.fullmatch(r"СОШ\s*№\s*(\d+)", n.strip()) for n in names]
    if names and all(numbers):
        return "СОШ № " + ", ".join(m.group(1) for m in numbers)
    return ", ".join(names)


def _initials(full_name):
    """"Ежкова Марина Анатольевна" -> "М.А. Ежкова"."""
    parts = (full_name or "").split()
    if len(parts) < 2:
        return full_name or ""
    return "".join(p[0] + "." for p in parts[1:3]) + " " + parts[0]


def _academic_year(day):
    first = day.year if day.month >= 9 else day.year - 1
    return f"{first}-{first + 1} уч.г."


def _capitalized(text):
    return text[:1].upper() + text[1:]


def _lines(text):
    return [line.strip() for line in (text or "").replace("\r\n", "\n").split("\n") if line.strip()]


def report_context(campaign, figures, *, signer, signed_on):
    """Compose the report's text in the layout of seed 000 from the frozen figures."""
    municipality = campaign.municipality
    place = municipality.name
    totals = figures["totals"]
    c2, b2, f2 = totals["c2"], totals["b2"], totals["f2"]
    narrative = []
    basis = ""
    if campaign.order_id is not None and campaign.order is not None:
        basis = (f" Мониторинг проводился в соответствии с приказом от {campaign.order.issued_on:%d.%m.%Y} "
                 f"№ {campaign.order.number} «{campaign.order.title}».")
    narrative.append(
        f"{_capitalized(ru_period(campaign.period_start, campaign.period_end))} проведен мониторинг разработки "
        f"индивидуальных образовательных маршрутов непрерывного профессионального развития на основе "
        f"результатов диагностики профессиональных компетенций педагогов общеобразовательных организаций "
        f"({place}). Организатор мониторинга — {municipality.department_name or place}.{basis} Мониторинг "
        f"проведен в целях реализации проекта «Современная школа» национального проекта «Образование» и "
        f"достижения показателя «Доля педагогических работников и управленческих кадров, для которых "
        f"разработаны индивидуальные образовательные маршруты на основе результатов диагностики "
        f"профессиональных компетенций».")
    narrative.append("По результатам мониторинга было выявлено следующее:")
    counted = figures.get("diagnostics") or []
    if len(counted) == 1:
        d = counted[0]
        held = date.fromisoformat(d["held_on"])
        who = f"{d['provider']}, " if d["provider"] else ""
        source = f"диагностике «{d['title']}» ({who}в {MONTHS_IN[held.month - 1]} {held.year} года)"
    else:
        source = "диагностике профессиональных компетенций"
    if c2:
        narrative.append(f"В {source} приняли участие {c2} {_plural(c2, 'педагог', 'педагога', 'педагогов')} "
                         f"ОО ({place}).")
    else:
        narrative.append(f"Педагогов, прошедших {source.replace('диагностике', 'диагностику', 1)}, нет.")
    developed_schools = [s["name"] for s in figures["schools"] if s["b2"]]
    if b2:
        whom = f"всех {b2}" if b2 == c2 else f"{b2} из {c2}"
        narrative.append(f"Для {whom} {_genitive_teachers(b2)} {_school_list(developed_schools)} были "
                         f"разработаны индивидуальные образовательные маршруты (далее ИОМ), утверждённые "
                         f"кураторами.")
    elif c2:
        narrative.append("Индивидуальные образовательные маршруты на основе результатов диагностики "
                         "не разработаны (не утверждены кураторами).")
    share = (f"составила {format_f2(f2).replace(' %', '%')}" if f2 is not None
             else "не рассчитывается: нет педагогов, прошедших диагностику")
    narrative.append(f"По результатам мониторинга доля педагогических работников, для которых разработан ИОМ "
                     f"непрерывного профессионального развития, {share}.")
    developed = totals.get("routes_developed", b2)
    routes_sentence = (
        f"По результатам диагностики профессиональных компетенций педагогов общеобразовательных организаций "
        f"({place}) в {_academic_year(campaign.period_end)} разработаны {developed} "
        f"{_plural(developed, 'индивидуальный образовательный маршрут', 'индивидуальных образовательных маршрута', 'индивидуальных образовательных маршрутов')}.")
    indicator_heading = (
        f"Показатель доли педагогических работников ОО ({place}), для которых разработан индивидуальный "
        f"образовательный маршрут непрерывного профессионального развития на основе результатов диагностики "
        f"профессиональных компетенций, от общей численности педагогических работников, прошедших "
        f"диагностику профессиональных компетенций:")
    title = campaign.title
    if title.lower().startswith("мониторинг "):
        title = "мониторинга " + title[len("мониторинг "):]
    else:
        title = f"мониторинга «{title}»"
    return {
        "addressees": _lines(campaign.addressees),
        "title": f"О результатах {title}",
        "narrative": narrative,
        "legend": LEGEND,
        "routes_sentence": routes_sentence,
        "indicator_heading": indicator_heading,
        "computed_line": computed_line(b2, c2),
        "recommendations": _lines(campaign.recommendations),
        "head_title": municipality.head_title or "Начальник управления образования",
        "head_name": _initials(signer.full_name) if signer is not None else (municipality.head_name or ""),
        "signed_on": signed_on,
        "municipality_name": place,
        "period_start": campaign.period_start, "period_end": campaign.period_end,
        "c2": c2, "b2": b2, "f2": format_f2(f2),
        "schools": [{"name": s["name"], "c2": s["c2"], "b2": s["b2"], "f2": format_f2(s["f2"])}
                    for s in figures["schools"]],
    }


def computed_line(b2, c2):
    """"F2 = 52 / 52 × 100 % = 100 %" (or "— " when C2 = 0)."""
    if not c2:
        return f"F2 = {b2} / {c2} × 100 % = — (C2 = 0: показатель не рассчитывается)"
    return f"F2 = {b2} / {c2} × 100 % = {format_f2(f2_value(b2, c2))}"


def sample_report_context():
    """The report of seed 000, for the template registry (validating uploaded versions)."""
    schools = [{"name": f"СОШ № {n}", "c2": 3, "b2": 3, "f2": "100 %"} for n in (1, 2, 3)]
    return {
        "addressees": ["Начальнику методического отдела МКУ ЦПО МО Динской район", "Руководителям ОО"],
        "title": "О результатах мониторинга разработки индивидуальных образовательных маршрутов",
        "narrative": ["С 27 по 31 марта 2023 года проведен мониторинг …",
                      "По результатам мониторинга было выявлено следующее:"],
        "legend": LEGEND, "routes_sentence": "… разработаны 52 индивидуальных образовательных маршрута.",
        "indicator_heading": "Показатель доли педагогических работников …:",
        "computed_line": computed_line(52, 52),
        "recommendations": _lines(DEFAULT_RECOMMENDATIONS),
        "head_title": "Начальник управления образования МО Динской район", "head_name": "М.А. Ежкова",
        "signed_on": date(2023, 4, 3), "municipality_name": "МО Динской район",
        "period_start": date(2023, 3, 27), "period_end": date(2023, 3, 31),
        "c2": 52, "b2": 52, "f2": "100 %", "schools": schools,
    }


documents.register_template(REPORT_TEMPLATE, _l("Отчёт о результатах мониторинга"), sample_report_context,
                            description=_l("Письмо о результатах мониторинга разработки ИОМ (семя 000): адресаты, "
                                        "показатель F2 = B2 / C2 × 100 %, рекомендации, подпись начальника."))

