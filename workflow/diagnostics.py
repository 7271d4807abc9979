"""Diagnostic results: import from CSV/XLSX (preview, then all rows or none), deficits, routes from them."""
import csv
import hashlib
import io
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import and_, case, func, select
from sqlalchemy.exc import IntegrityError
from flask_babel import force_locale
from flask_babel import gettext as _

from models import (
    Diagnostic, DiagnosticImport, DiagnosticResult, Municipality, Role, Route, School, StoredFile, User, db,
)
from workflow import permissions, service, spreadsheets
from workflow.errors import Conflict, InvalidInput, NotFound, NotPermitted
from workflow.queries import page_count
from workflow.spreadsheets import (
    ImportFailed, cell_text, error, key, parse_date, parse_decimal, parse_flag, read_table,
)

IMPORT_ROLES = (Role.ADMIN.value, Role.DEPARTMENT_HEAD.value, Role.CURATOR.value)

# (field, Russian header, required, accepted headers in normalized form)
COLUMNS = [
    ("full_name", "ФИО", True, {"фио", "ф.и.о.", "ф. и. о.", "full_name", "full name", "фио педагога"}),
    ("school", "Школа", True, {"школа", "school", "оо", "образовательная организация", "организация"}),
    ("email", "E-mail", False, {"e-mail", "email", "e mail", "эл. почта", "электронная почта"}),
    ("diagnostic", "Диагностика", True, {"диагностика", "diagnostic", "наименование диагностики"}),
    ("date", "Дата", True, {"дата", "date", "дата проведения", "дата диагностики"}),
    ("competency", "Компетенция", True, {"компетенция", "competency", "область компетенций",
                                         "компетенции"}),
    ("score", "Балл", False, {"балл", "баллы", "score"}),
    ("deficit", "Дефицит", False, {"дефицит", "deficit", "дефицит (да/нет)"}),
]
RUSSIAN_HEADERS = [c[1] for c in COLUMNS]
ENGLISH_HEADERS = ["full_name", "school", "email", "diagnostic", "date", "competency", "score", "deficit"]
KNOWN_HEADERS = set().union(*(c[3] for c in COLUMNS))
TEMPLATE_EXAMPLE = ["Иванова Анна Петровна", "СОШ № 1", "ivanova@school1.example.ru",
                    "Оценка предметных и методических компетенций", "15.09.2022",
                    "Формирование функциональной грамотности обучающихся", "4,5", "да"]
TWO_PLACES = Decimal("0.01")


def _two(value):
    return None if value is None else Decimal(value).quantize(TWO_PLACES)


@dataclass
class PlannedDiagnostic:
    """A diagnostic the file refers to: an existing one or one the import will create."""

    title: str
    title_key: str
    held_on: date
    provider: str
    threshold: Decimal | None
    existing: Diagnostic | None = None
    is_new: bool = False
    teacher_ids: set = field(default_factory=set)
    rows: int = 0

    def as_dict(self):
        return {
            "id": self.existing.id if self.existing else None, "title": self.title, "provider": self.provider,
            "held_on": self.held_on.isoformat(), "threshold": float(self.threshold) if self.threshold is not None
            else None, "new": self.is_new, "teachers": len(self.teacher_ids), "rows": self.rows,
        }


@dataclass
class PlannedRow:
    """One valid row of the file, resolved to a teacher and a diagnostic, with what the import will do."""

    row: int
    teacher: User
    school_id: int | None
    diagnostic: PlannedDiagnostic
    competency: str
    competency_key: str
    score: Decimal | None
    is_deficit: bool
    action: str = "create"  # create | update | unchanged
    existing: DiagnosticResult | None = None

    def as_dict(self):
        return {
            "row": self.row, "teacher_id": self.teacher.id, "full_name": self.teacher.full_name,
            "diagnostic": self.diagnostic.title, "held_on": self.diagnostic.held_on.isoformat(),
            "competency": self.competency, "score": float(self.score) if self.score is not None else None,
            "deficit": self.is_deficit, "action": self.action,
        }


@dataclass
class ImportPlan:
    rows: list
    diagnostics: list
    file_name: str
    sha256: str

    def count(self, action):
        return sum(1 for r in self.rows if r.action == action)

    def summary(self, dry_run):
        return {
            "dry_run": bool(dry_run),
            "file_name": self.file_name,
            "sha256": self.sha256,
            "rows": len(self.rows),
            "teachers": len({r.teacher.id for r in self.rows}),
            "deficits": sum(1 for r in self.rows if r.is_deficit),
            "created": self.count("create"),
            "updated": self.count("update"),
            "unchanged": self.count("unchanged"),
            "diagnostics": [d.as_dict() for d in self.diagnostics],
        }


# --- reading and checking the file ---------------------------------------------------------------

def _map_columns(header):
    """Return {field: index} and {field: header text as written}; raise ImportFailed on missing columns."""
    positions, titles, errors = spreadsheets.map_columns(header, COLUMNS)
    if "score" not in positions and "deficit" not in positions:
        errors.append(error(1, _("Балл"), _("Нужен столбец «Балл» или «Дефицит»")))
    if errors:
        raise ImportFailed(errors)
    return positions, titles


def _resolve_municipality(actor, municipality):
    if municipality is not None:
        return municipality
    if actor is not None and actor.municipality_id:
        return db.session.get(Municipality, actor.municipality_id)
    found = db.session.execute(select(Municipality).order_by(Municipality.id)).scalars().first()
    if found is None:
        raise InvalidInput(_("В базе нет муниципалитета: сначала создайте школы и пользователей"))
    return found


class _People:
    """The municipality's schools and users, indexed for matching rows of a file."""

    def __init__(self, municipality):
        self.schools = list(db.session.execute(
            select(School).where(School.municipality_id == municipality.id)).scalars())
        school_ids = [s.id for s in self.schools]
        users = db.session.execute(
            select(User).where(User.municipality_id == municipality.id, User.role != Role.ADMIN.value)
        ).scalars().all()
        if school_ids:
            users += db.session.execute(
                select(User).where(User.school_id.in_(school_ids), User.municipality_id != municipality.id)
            ).scalars().all()
        self.by_email, self.by_name_school = {}, {}
        for user in users:
            if user.email:
                self.by_email.setdefault(user.email.strip().casefold(), []).append(user)
            self.by_name_school.setdefault((key(user.full_name), user.school_id), []).append(user)
        self.school_keys = {self._school_key(s.name): s for s in self.schools}

    @staticmethod
    def _school_key(name):
        return key(name).replace(" ", "")

    def school(self, name):
        """Find a school by name; "МБОУ СОШ № 1" finds "СОШ № 1" when that is the only match."""
        wanted = self._school_key(name)
        if not wanted:
            return None
        if wanted in self.school_keys:
            return self.school_keys[wanted]
        matches = [s for k, s in self.school_keys.items() if wanted.endswith(k) or k.endswith(wanted)]
        return matches[0] if len(matches) == 1 else None


def _read_rows(table, positions, titles):
    """Check each row's cells; return (values per row, errors)."""
    values, errors = [], []

    def cell(cells, name):
        index = positions.get(name)
        return cells[index] if index is not None and index < len(cells) else None

    for number, cells in table.rows:
        row_errors = []
        item = {"row": number}
        for name in ("full_name", "school", "email", "diagnostic", "competency"):
            item[name] = cell_text(cell(cells, name))
        for name, message in (("full_name", _("Не указано ФИО")), ("diagnostic", _("Не указана диагностика")),
                              ("competency", _("Не указана компетенция"))):
            if not item[name]:
                row_errors.append(error(number, titles[name], message))
        if not item["school"] and not item["email"]:
            row_errors.append(error(number, titles["school"], _("Не указана школа")))
        raw_date = cell(cells, "date")
        item["date"] = parse_date(raw_date)
        if item["date"] is None:
            text = cell_text(raw_date)
            row_errors.append(error(number, titles["date"],
                                    _("Неверная дата «%(value)s»: ожидается дд.мм.гггг", value=text)
                                    if text else _("Не указана дата диагностики")))
        raw_score = cell(cells, "score")
        item["score"] = None
        if cell_text(raw_score):
            score = parse_decimal(raw_score)
            if score is None:
                row_errors.append(error(number, titles["score"],
                                        _("«%(value)s» — не число: ожидается балл, например 4,5",
                                          value=cell_text(raw_score))))
            elif score < 0:
                row_errors.append(error(number, titles["score"], _("Балл не может быть отрицательным")))
            else:
                item["score"] = _two(score)
        item["deficit"] = None
        raw_flag = cell(cells, "deficit")
        if cell_text(raw_flag):
            item["deficit"] = parse_flag(raw_flag)
            if item["deficit"] is None:
                row_errors.append(error(number, titles["deficit"],
                                        _("«%(value)s»: в столбце «Дефицит» ожидается «да» или «нет»",
                                          value=cell_text(raw_flag))))
        elif not cell_text(raw_score) and not row_errors:
            column = titles.get("score") or titles.get("deficit")
            row_errors.append(error(number, column, _("Нужен балл или отметка о дефиците (да/нет)")))
        errors.extend(row_errors)
        if not row_errors:
            values.append(item)
    return values, errors


def plan_import(data, *, municipality, threshold=None, provider="", file_name=""):
    """Read and check a file of results; return what importing it would do, or raise ImportFailed."""
    table = read_table(data, KNOWN_HEADERS)
    positions, titles = _map_columns(table.header)
    if not table.rows:
        raise ImportFailed([error(None, None, _("В файле нет строк с результатами: только заголовок"))])
    threshold = _clean_threshold(threshold)
    provider = (provider or "").strip()[:300]
    values, errors = _read_rows(table, positions, titles)

    people = _People(municipality)
    existing = {(d.title_key, d.held_on): d for d in db.session.execute(
        select(Diagnostic).where(Diagnostic.municipality_id == municipality.id)).scalars()}
    diagnostics, planned, seen = {}, [], {}
    for item in values:
        number = item["row"]
        teacher, school, message, column = _match_teacher(people, item)
        if teacher is None:
            errors.append(error(number, titles[column], message))
            continue
        diag_key = (key(item["diagnostic"]), item["date"])
        plan = diagnostics.get(diag_key)
        if plan is None:
            found = existing.get(diag_key)
            plan = PlannedDiagnostic(
                title=found.title if found else item["diagnostic"][:300], title_key=diag_key[0][:300],
                held_on=item["date"], provider=found.provider if found else provider,
                threshold=_two(found.threshold) if found and found.threshold is not None else threshold,
                existing=found, is_new=found is None)
            if found is not None and threshold is not None and found.threshold is not None \
                    and _two(found.threshold) != threshold:
                errors.append(error(number, titles["diagnostic"],
                                    _("У диагностики «%(title)s» от %(date)s уже задан порог %(threshold)s; "
                                      "указан другой — %(other)s", title=found.title,
                                      date=f"{found.held_on:%d.%m.%Y}", threshold=_fmt(found.threshold),
                                      other=_fmt(threshold))))
            diagnostics[diag_key] = plan
        competency_key = key(item["competency"])[:300]
        duplicate_key = (teacher.id, diag_key, competency_key)
        if duplicate_key in seen:
            errors.append(error(number, titles["competency"],
                                _("Повторяющаяся строка: педагог, диагностика и компетенция уже указаны "
                                  "в строке %(row)s", row=seen[duplicate_key])))
            continue
        seen[duplicate_key] = number
        is_deficit = item["deficit"]
        if is_deficit is None:
            if item["score"] is None or plan.threshold is None:
                column = titles.get("deficit") or titles.get("score")
                errors.append(error(number, column, _("Не указано, есть ли дефицит, и у диагностики не задан порог: "
                                                    "заполните столбец «Дефицит» или укажите порог")))
                continue
            is_deficit = item["score"] < plan.threshold
        plan.teacher_ids.add(teacher.id)
        plan.rows += 1
        planned.append(PlannedRow(row=number, teacher=teacher, school_id=school.id if school else teacher.school_id,
                                  diagnostic=plan, competency=item["competency"][:300],
                                  competency_key=competency_key, score=item["score"], is_deficit=is_deficit))
    if errors:
        errors.sort(key=lambda e: (e["row"] or 0))
        raise ImportFailed(errors)
    _compare_with_stored(planned)
    return ImportPlan(rows=planned, diagnostics=list(diagnostics.values()), file_name=file_name or "",
                      sha256=hashlib.sha256(data).hexdigest())


def _fmt(value):
    return format(_two(value).normalize(), "f").replace(".", ",")


def _clean_threshold(threshold):
    if threshold in (None, ""):
        return None
    value = parse_decimal(threshold)
    if value is None or value < 0:
        raise ImportFailed([error(None, _("Порог"), _("Порог «%(value)s» — не число: ожидается, например, 3,5",
                                                           value=threshold))])
    return _two(value)


def _match_teacher(people, item):
    """Return (user, school, error message, column) for a row: by e-mail first, else by name and school."""
    school = people.school(item["school"]) if item["school"] else None
    if item["email"]:
        users = people.by_email.get(item["email"].casefold(), [])
        if len(users) == 1:
            user = users[0]
            if key(user.full_name) != key(item["full_name"]):
                return None, None, _("E-mail %(email)s принадлежит пользователю «%(user)s», а в строке указан "
                                     "«%(name)s»", email=item["email"], user=user.full_name,
                                     name=item["full_name"]), "email"
            return user, school, None, None
    if school is None:
        if item["school"]:
            return None, None, _("Школа «%(name)s» не найдена", name=item["school"]), "school"
        return None, None, _("Педагог с e-mail %(email)s не найден", email=item["email"]), "email"
    users = people.by_name_school.get((key(item["full_name"]), school.id), [])
    if len(users) > 1:
        return None, None, _("В школе «%(school)s» несколько пользователей «%(name)s»: укажите E-mail",
                             school=school.name, name=item["full_name"]), "full_name"
    if not users:
        return None, None, _("Педагог «%(name)s» (%(school)s) не найден среди пользователей: добавьте его в "
                             "систему или укажите E-mail", name=item["full_name"], school=school.name), "full_name"
    return users[0], school, None, None


def _compare_with_stored(planned):
    """Mark each row create / update / unchanged against the results already stored."""
    diagnostic_ids = {r.diagnostic.existing.id for r in planned if r.diagnostic.existing is not None}
    if not diagnostic_ids:
        return
    stored = {}
    teacher_ids = {r.teacher.id for r in planned}
    for result in db.session.execute(select(DiagnosticResult).where(
            DiagnosticResult.diagnostic_id.in_(diagnostic_ids),
            DiagnosticResult.teacher_id.in_(teacher_ids))).scalars():
        stored[(result.teacher_id, result.diagnostic_id, result.competency_key)] = result
    for row in planned:
        if row.diagnostic.existing is None:
            continue
        result = stored.get((row.teacher.id, row.diagnostic.existing.id, row.competency_key))
        if result is None:
            continue
        row.existing = result
        same = (_two(result.score) == row.score and bool(result.is_deficit) == row.is_deficit
                and result.competency == row.competency and result.school_id == row.school_id)
        row.action = "unchanged" if same else "update"


# --- the import -----------------------------------------------------------------------------------

def require_importer(actor):
    if actor is not None and (not actor.is_authenticated or actor.role not in IMPORT_ROLES):
        raise NotPermitted(_("Импортировать результаты диагностики может администратор, начальник управления "
                           "или куратор"))


def import_results(data, *, actor=None, municipality=None, dry_run=False, threshold=None, provider="",
                   file_name="", stored_file=None):
    """Import a file of diagnostic results: all rows or none; return the summary.

    actor None means the command line (a trusted operator). A dry run only plans and checks.
    """
    require_importer(actor)
    municipality = _resolve_municipality(actor, municipality)
    try:
        plan = plan_import(data, municipality=municipality, threshold=threshold, provider=provider,
                           file_name=file_name)
        if dry_run:
            db.session.rollback()
            return plan.summary(dry_run=True)
        _apply(plan, municipality, actor, stored_file)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(_("Эти результаты одновременно импортирует другой пользователь. Повторите импорт.")) from None
    except BaseException:
        db.session.rollback()
        raise
    return plan.summary(dry_run=False)


def preview_import(data, *, actor, threshold=None, provider="", file_name="", limit=500):
    """Check a file and return the dry-run summary with its first rows ("items") for the preview page."""
    require_importer(actor)
    municipality = _resolve_municipality(actor, None)
    try:
        plan = plan_import(data, municipality=municipality, threshold=threshold, provider=provider,
                           file_name=file_name)
    finally:
        db.session.rollback()
    summary = plan.summary(dry_run=True)
    summary["items"] = [row.as_dict() | {"school": row.teacher.school.name if row.teacher.school else ""}
                        for row in plan.rows[:limit]]
    return summary


def _apply(plan, municipality, actor, stored_file):
    for diagnostic in plan.diagnostics:
        if diagnostic.existing is None:
            diagnostic.existing = Diagnostic(
                municipality_id=municipality.id, title=diagnostic.title, title_key=diagnostic.title_key,
                held_on=diagnostic.held_on, provider=diagnostic.provider, threshold=diagnostic.threshold)
            db.session.add(diagnostic.existing)
        elif diagnostic.existing.threshold is None and diagnostic.threshold is not None:
            diagnostic.existing.threshold = diagnostic.threshold
    db.session.flush()
    for row in plan.rows:
        if row.action == "create":
            db.session.add(DiagnosticResult(
                teacher_id=row.teacher.id, diagnostic_id=row.diagnostic.existing.id, school_id=row.school_id,
                competency=row.competency, competency_key=row.competency_key, score=row.score,
                is_deficit=row.is_deficit))
        elif row.action == "update":
            result = row.existing
            result.score, result.is_deficit = row.score, row.is_deficit
            result.competency, result.school_id = row.competency, row.school_id
    if plan.count("create") or plan.count("update"):
        db.session.add(DiagnosticImport(
            imported_by_id=actor.id if actor is not None else None,
            file_id=stored_file.id if stored_file is not None else None, file_name=plan.file_name[:255],
            sha256=plan.sha256, rows=len(plan.rows), created=plan.count("create"),
            updated=plan.count("update"), unchanged=plan.count("unchanged")))


def store_upload(data, file_name, actor, content_type="application/octet-stream"):
    """Keep an uploaded file between the preview and the confirmation; return the StoredFile."""
    stored = StoredFile(original_name=(file_name or "import")[:255], content_type=content_type[:120],
                        size=len(data), sha256=hashlib.sha256(data).hexdigest(), data=data,
                        uploaded_by_id=actor.id if actor is not None else None)
    db.session.add(stored)
    db.session.commit()
    return stored


def load_upload(file_id, actor):
    """Return an upload kept for confirmation by this user, or raise NotFound."""
    stored = db.session.get(StoredFile, file_id)
    if stored is None or stored.uploaded_by_id != actor.id:
        raise NotFound(_("Загруженный файл не найден: загрузите его ещё раз"))
    return stored


def template_csv():
    """Return the import template as CSV (UTF-8 with BOM, semicolons: Excel opens it as is)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(RUSSIAN_HEADERS)
    writer.writerow(TEMPLATE_EXAMPLE)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def template_xlsx():
    """Return the import template as XLSX, with the date column as a real date."""
    import openpyxl
    from openpyxl.styles import Font

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Результаты"
    sheet.append(RUSSIAN_HEADERS)
    example = list(TEMPLATE_EXAMPLE)
    example[4] = date(2022, 9, 15)
    example[6] = 4.5
    sheet.append(example)
    sheet["E2"].number_format = "DD.MM.YYYY"
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for column, width in zip("ABCDEFGH", (34, 14, 28, 44, 12, 50, 8, 10)):
        sheet.column_dimensions[column].width = width
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# --- reading deficits ---------------------------------------------------------------------------

_DEFICIT_SUM = func.sum(case((DiagnosticResult.is_deficit.is_(True), 1), else_=0))


def can_view_results(user, teacher):
    """Tell whether the user may see the teacher's diagnostic results: whoever may see the profile."""
    return permissions.can_view_teacher(user, teacher)


def latest_diagnostic(teacher_id):
    """Return the latest diagnostic the teacher took, or None."""
    return db.session.execute(
        select(Diagnostic).join(DiagnosticResult, DiagnosticResult.diagnostic_id == Diagnostic.id)
        .where(DiagnosticResult.teacher_id == teacher_id)
        .order_by(Diagnostic.held_on.desc(), Diagnostic.id.desc()).limit(1)
    ).scalars().first()


def teacher_results(teacher_id, diagnostic_id=None):
    """Return the teacher's results of one diagnostic (the latest by default), deficits first."""
    if diagnostic_id is None:
        diagnostic = latest_diagnostic(teacher_id)
        if diagnostic is None:
            return None, []
        diagnostic_id = diagnostic.id
    else:
        diagnostic = db.session.get(Diagnostic, diagnostic_id)
    results = db.session.execute(
        select(DiagnosticResult).where(DiagnosticResult.teacher_id == teacher_id,
                                       DiagnosticResult.diagnostic_id == diagnostic_id)
        .order_by(DiagnosticResult.is_deficit.desc(), DiagnosticResult.competency)
    ).scalars().all()
    return diagnostic, results


def teacher_deficits(viewer, teacher):
    """Return {"diagnostic", "results", "deficits", "history"} for the profile, or None if not visible."""
    if not can_view_results(viewer, teacher):
        return None
    diagnostic, results = teacher_results(teacher.id)
    history = db.session.execute(
        select(Diagnostic, func.count(DiagnosticResult.id), _DEFICIT_SUM)
        .join(DiagnosticResult, DiagnosticResult.diagnostic_id == Diagnostic.id)
        .where(DiagnosticResult.teacher_id == teacher.id)
        .group_by(Diagnostic.id).order_by(Diagnostic.held_on.desc(), Diagnostic.id.desc())
    ).all()
    return {
        "diagnostic": diagnostic, "results": results,
        "deficits": [r for r in results if r.is_deficit],
        "history": [{"diagnostic": d, "results": n, "deficits": int(k or 0)} for d, n, k in history],
    }


def teachers_overview(user, page=1, per_page=50, *, text=None, school_id=None, curator_id=None,
                      without_route=False):
    """Teachers the user may follow (a curator's own; a school's; the municipality's) with their latest
    diagnostic's deficits; one SQL query per page. Return (rows, total, pages).

    Filters: text (the teacher's name), school_id, curator_id, without_route (no route from a diagnostic yet).
    """
    latest = (select(DiagnosticResult.teacher_id, func.max(Diagnostic.held_on).label("held_on"))
              .join(Diagnostic, Diagnostic.id == DiagnosticResult.diagnostic_id)
              .group_by(DiagnosticResult.teacher_id).subquery())
    query = (
        select(User, School.name, latest.c.held_on,
               func.count(DiagnosticResult.id), _DEFICIT_SUM,
               select(func.count(Route.id)).where(Route.teacher_id == User.id, Route.diagnostic_id.isnot(None))
               .correlate(User).scalar_subquery())
        .join(latest, latest.c.teacher_id == User.id)
        .join(DiagnosticResult, DiagnosticResult.teacher_id == User.id)
        .join(Diagnostic, and_(Diagnostic.id == DiagnosticResult.diagnostic_id, Diagnostic.held_on == latest.c.held_on))
        .outerjoin(School, School.id == User.school_id)
        .group_by(User.id, School.id, School.name, latest.c.held_on)
    )
    if user.role == Role.CURATOR.value:
        query = query.where(User.curator_id == user.id)
    elif user.role == Role.SCHOOL_HEAD.value:
        query = query.where(User.school_id == user.school_id)
    elif user.role == Role.DEPARTMENT_HEAD.value:
        query = query.where(User.municipality_id == user.municipality_id)
    elif user.role != Role.ADMIN.value:
        query = query.where(User.id == user.id)
    if text and text.strip():
        from workflow.queries import name_clause
        query = query.where(name_clause(User.full_name, text))
    if school_id:
        query = query.where(User.school_id == school_id)
    if curator_id:
        query = query.where(User.curator_id == curator_id)
    if without_route:
        query = query.where(~select(Route.id).where(Route.teacher_id == User.id, Route.diagnostic_id.isnot(None))
                            .correlate(User).exists())
    total = db.session.execute(select(func.count()).select_from(query.order_by(None).subquery())).scalar_one()
    page = max(int(page or 1), 1)
    rows = db.session.execute(query.order_by(User.full_name, User.id).limit(per_page)
                              .offset((page - 1) * per_page)).unique().all()
    return ([{"teacher": t, "school": school, "held_on": h, "results": n, "deficits": int(k or 0), "routes": r}
             for t, school, h, n, k, r in rows], total, page_count(total, per_page))


def diagnostics_overview(user, page=1, per_page=50):
    """List the diagnostics of the user's municipality with participants and deficits (SQL-counted)."""
    query = (
        select(Diagnostic, func.count(func.distinct(DiagnosticResult.teacher_id)),
               func.count(DiagnosticResult.id), _DEFICIT_SUM)
        .outerjoin(DiagnosticResult, DiagnosticResult.diagnostic_id == Diagnostic.id)
        .group_by(Diagnostic.id).order_by(Diagnostic.held_on.desc(), Diagnostic.id.desc())
    )
    if user.role != Role.ADMIN.value:
        query = query.where(Diagnostic.municipality_id == user.municipality_id)
    return [{"diagnostic": d, "teachers": t, "results": r, "deficits": int(k or 0)}
            for d, t, r, k in db.session.execute(query.limit(per_page).offset((page - 1) * per_page)).all()]


# --- drafting a route from a diagnostic ---------------------------------------------------------

RESULT_FORMS = {
    "course": "Удостоверение о повышении квалификации",
    "seminar": "Конспект, материалы семинара",
    "webinar": "Сертификат участника вебинара",
    "training": "Сертификат участника тренинга",
    "master_class": "Методическая разработка урока",
    "community": "Выступление на заседании профессионального сообщества",
    "self_education": "Отчёт о самообразовании",
}


def _resolve_teacher(actor, teacher_id):
    """Return the teacher a route may be drafted for by this actor (same rules as service.create_route)."""
    if teacher_id in (None, "") or int(teacher_id) == actor.id:
        if actor.role not in {Role.TEACHER.value, Role.CURATOR.value}:
            raise NotPermitted(_("Создать маршрут может педагог (для себя) или его куратор"))
        return actor
    teacher = db.session.get(User, int(teacher_id))
    if teacher is None or not permissions.can_manage_teacher(actor, teacher):
        raise NotPermitted(_("Можно создавать маршруты только для закреплённых за вами педагогов"))
    return teacher


def activity_from_entry(entry, deficit, *, period_start=None, period_end=None):
    """Return the fields of a road-map activity that removes a deficit through a resource-map entry."""
    with force_locale("ru"):  # the road map is part of the route's paper: Russian in any interface
        kind, form = str(entry.kind_label), str(entry.format_label)
    parts = [kind, f"«{entry.title}»"]
    if entry.provider:
        parts.append(entry.provider)
    if entry.hours:
        parts.append(f"{entry.hours} ч")
    parts.append(form.lower())
    deadline = entry.ends_on or entry.starts_on
    if deadline is None or (period_start and deadline < period_start) or (period_end and deadline > period_end):
        deadline = None
    return {
        "stage": "implementation", "direction": entry.direction, "deficit": deficit,
        "tasks": f"Восполнить дефицит «{deficit}»: {entry.annotation.strip() or entry.title}"[:2000],
        "forms": ", ".join(parts), "deadline": deadline,
        "result_form": RESULT_FORMS.get(entry.kind, "Методическая разработка"),
    }


def draft_route_from_diagnostic(actor, teacher_id=None, *, today=None):
    """Draft a route from the teacher's latest diagnostic: one road-map activity per deficit."""
    from workflow import resources

    teacher = _resolve_teacher(actor, teacher_id)
    diagnostic, results = teacher_results(teacher.id)
    if diagnostic is None:
        raise Conflict(_("У педагога %(name)s нет результатов диагностики: маршрут на их основе составить нельзя",
                         name=teacher.full_name))
    open_route = db.session.execute(
        select(Route.id).where(Route.teacher_id == teacher.id, Route.diagnostic_id == diagnostic.id,
                               Route.state != "closed")
    ).first()
    if open_route is not None:
        raise Conflict(_("По диагностике «%(title)s» у педагога уже есть маршрут № %(route)s",
                         title=diagnostic.title, route=open_route[0]))
    today = today or date.today()
    start, end = today, today + timedelta(days=365)
    deficits = [r for r in results if r.is_deficit]
    matches = resources.matching_entries([r.competency for r in deficits], diagnostic.municipality_id,
                                         today=today)
    activities = []
    for index, result in enumerate(deficits):
        entries = matches.get(key(result.competency), [])
        if entries:
            item = activity_from_entry(entries[0], result.competency, period_start=start, period_end=end)
        else:
            item = {"stage": "implementation", "direction": "methodical", "deficit": result.competency,
                    "tasks": f"Восполнить дефицит «{result.competency}»",
                    "forms": "Курсы повышения квалификации, работа в профессиональном сообществе",
                    "deadline": None, "result_form": "Методическая разработка"}
        if item["deadline"] is None:
            item["deadline"] = start + timedelta(days=min(60 * (index + 1), 330))
        activities.append(item)
    held = f"{diagnostic.held_on:%d.%m.%Y}"
    source = f"«{diagnostic.title}»" + (f" ({diagnostic.provider})" if diagnostic.provider else "")
    if deficits:
        request = (f"Профессиональные дефициты по результатам диагностики {source} от {held}: "
                   + "; ".join(r.competency for r in deficits) + ".")
    else:
        request = f"По результатам диагностики {source} от {held} профессиональных дефицитов не выявлено."
    return service.create_route(actor, teacher.id if teacher.id != actor.id else None, data={
        "period_start": start, "period_end": end, "request": request, "activities": activities,
    }, diagnostic_id=diagnostic.id)

