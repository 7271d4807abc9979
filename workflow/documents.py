"""Official DOCX documents: templates, their registry and uploaded versions, rendering, route documents.

Public contract (other slices use it):

- ``render_docx(template_name, context) -> bytes``: render the active version of a template (the latest
  admin-uploaded version, or ``docx_templates/<template_name>.docx``) with docxtpl in a sandboxed,
  autoescaping Jinja environment. ``render_document(...)`` also returns which version was used.
- ``register_template(name, title, sample_context_fn, variables=None, description="")``: declare a
  template: its sample context (used to validate uploads) and the top-level variable names an uploaded
  version may use (default: the sample context's keys).
- ``route_context(route)``: the context of the route document (keys documented below).
- Filters in every template: ``ru_date`` (дд.мм.гггг), ``ru_long_date`` («01» сентября 2022 года).
- ``pdf_available()`` and ``docx_to_pdf(data)`` (LibreOffice, when ``soffice`` is on PATH).
- ``stream_routes_zip(routes_or_ids)``: a generator of ZIP bytes with one route DOCX per route.
"""
import hashlib
import io
import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
import unicodedata
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

from babel.dates import format_date
from flask_babel import force_locale, gettext as _, lazy_gettext as _l
from flask_babel.speaklater import LazyString
from jinja2 import StrictUndefined, meta, nodes
from jinja2.exceptions import SecurityError, TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment
from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

import config
from models import DocumentTemplate, Route, RouteEvent, StoredFile, User, db
from models.route import STAGE_LABELS, Activity, Stage
from workflow import permissions, upload_checks
from workflow.docx_render import CompiledDocx, read_raw_entries, render_with_docxtpl
from workflow.errors import Conflict, InvalidInput, NotFound, WorkflowError
from workflow.jinja_lookup import DictKeyLookup
from workflow.states import STATE_LABELS

log = logging.getLogger("iom.documents")

DOCX_DIR = config.BASE_DIR / "docx_templates"
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PDF_MIME = "application/pdf"

# Upload limits: the file itself, the archive's members, and what they unpack to.
MAX_TEMPLATE_BYTES = 2 * 1024 * 1024
MAX_MEMBERS = 300
MAX_UNPACKED_BYTES = 40 * 1024 * 1024
MAX_MEMBER_RATIO = 200
MAX_XML_PART_BYTES = 10 * 1024 * 1024


class DocumentError(WorkflowError):
    """A document could not be produced (a server-side fault; the message says what to do)."""

    code = "document_error"
    status = 500


# --- filters and the sandbox ---------------------------------------------------------------------------

def _as_date(value):
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def ru_date(value):
    """Format a date as дд.мм.гггг (empty for no date)."""
    value = _as_date(value)
    return value.strftime("%d.%m.%Y") if value else ""


def ru_long_date(value):
    """Format a date as «01» сентября 2022 года (empty for no date)."""
    value = _as_date(value)
    return format_date(value, "«dd» MMMM yyyy 'года'", locale="ru") if value else ""


FILTERS = {"ru_date": ru_date, "ru_long_date": ru_long_date}

# Filters an uploaded template may use: none of them builds large strings or reaches attributes by name.
ALLOWED_FILTERS = frozenset({
    "ru_date", "ru_long_date", "abs", "capitalize", "count", "d", "default", "e", "escape", "first", "float",
    "int", "join", "last", "length", "list", "lower", "max", "min", "reverse", "round", "sort", "string",
    "sum", "title", "trim", "truncate", "unique", "upper", "wordcount", "selectattr", "rejectattr", "select",
    "reject", "batch", "slice", "groupby",
})
FORBIDDEN_NODES = (nodes.Macro, nodes.CallBlock, nodes.Include, nodes.Import, nodes.FromImport,
                   nodes.Extends, nodes.Block, nodes.EvalContextModifier)
MAX_SEQUENCE = 10_000


class DocumentEnvironment(DictKeyLookup, SandboxedEnvironment):
    """The sandbox every template renders in; ``*`` and ``**`` cannot build huge values."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context, operator, left, right):
        if operator == "**" and (not isinstance(right, (int, float)) or abs(right) > 64):
            raise SecurityError("the power operator is limited in document templates")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int) \
                        and len(seq) * times > MAX_SEQUENCE:
                    raise SecurityError("repeating a sequence is limited in document templates")
        return super().call_binop(context, operator, left, right)


def _finalize(value):
    return "" if value is None else value


def make_env(*, strict=False):
    """Return the sandboxed, autoescaping Jinja environment of documents (strict: unknown names fail)."""
    kwargs = {"undefined": StrictUndefined} if strict else {}
    env = DocumentEnvironment(autoescape=True, finalize=_finalize, **kwargs)
    env.filters.update(FILTERS)
    return env


_ENV = make_env()

# Characters XML 1.0 cannot hold, plus the ones docxtpl's resolve_listing turns into page or
# paragraph breaks (\a, \f): user text never carries those.
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def clean_text(value):
    """Normalize line ends and drop characters a DOCX cannot hold; keep new lines and tabs."""
    if value.isprintable():  # every character it would change is unprintable (\r included)
        return value
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    return _BAD_CHARS.sub("", value)


# Official papers are Russian whatever the reader's interface language.
DOCUMENT_LOCALE = "ru"


# Values a context carries that cleaning leaves as they are.
_PLAIN_LEAVES = frozenset({int, float, bool, type(None), date, datetime})


class ContextCleaner:
    """Cleans contexts; resolves each lazy label once (a bulk export shares one cleaner for all its papers)."""

    def __init__(self):
        self._lazies = {}  # id -> (the lazy string, kept so its id is not reused; its Russian text)

    def lazy(self, value):
        known = self._lazies.get(id(value))
        if known is None:
            with force_locale(DOCUMENT_LOCALE):
                known = self._lazies[id(value)] = (value, clean_text(str(value)))
        return known[1]

    def __call__(self, value):
        kind = type(value)
        if kind is str:
            return clean_text(value)
        if kind is dict:
            # Plain leaves are handled here, without a call each: a bulk export cleans thousands.
            cleaned = {}
            for key, item in value.items():
                item_kind = type(item)
                if item_kind is str:
                    cleaned[key] = clean_text(item)
                elif item_kind in _PLAIN_LEAVES:
                    cleaned[key] = item
                else:
                    cleaned[key] = self(item)
            return cleaned
        if kind is list or kind is tuple:
            return [self(v) for v in value]
        if isinstance(value, str):
            return clean_text(value)
        if isinstance(value, LazyString):
            return self.lazy(value)
        if isinstance(value, dict):
            return {k: self(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self(v) for v in value]
        return value


def clean_context(value, cleaner=None):
    """Return a copy of a context with every string cleaned (dicts, lists and tuples walked).

    Lazy labels (states, stages, roles) are resolved in Russian, the language of the papers.
    """
    return (cleaner or ContextCleaner())(value)


# --- the registry of templates -----------------------------------------------------------------------

@dataclass(frozen=True)
class TemplateSpec:
    name: str
    title: str
    sample_context_fn: object
    variables: frozenset = field(default_factory=frozenset)
    description: str = ""

    @property
    def builtin_path(self):
        return DOCX_DIR / f"{self.name}.docx"

    def sample_context(self):
        return self.sample_context_fn()


TEMPLATES: "OrderedDict[str, TemplateSpec]" = OrderedDict()


def register_template(name, title, sample_context_fn, variables=None, description=""):
    """Declare a template (file docx_templates/<name>.docx) with its sample context and allowed variables."""
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,79}", name):
        raise ValueError(f"bad template name {name!r}")
    allowed = frozenset(variables if variables is not None else sample_context_fn().keys())
    spec = TemplateSpec(name, title, sample_context_fn, allowed, description)
    TEMPLATES[name] = spec
    return spec


def get_spec(name):
    spec = TEMPLATES.get(name)
    if spec is None:
        raise NotFound(_("Шаблон документа не найден"))
    return spec


# --- active versions and the compiled-template cache -------------------------------------------------

@dataclass(frozen=True)
class ActiveTemplate:
    name: str
    version_id: int | None  # None: the file shipped in docx_templates/
    version: int | None
    sha256: str | None
    file_id: int | None


def active_version(name):
    """Return the version of a template that renders now (the newest row, or the shipped file)."""
    row = db.session.execute(
        select(DocumentTemplate.id, DocumentTemplate.version, DocumentTemplate.sha256, DocumentTemplate.file_id)
        .where(DocumentTemplate.name == name)
        .order_by(DocumentTemplate.version.desc())
        .limit(1)
    ).first()
    if row is None or row.file_id is None:
        return ActiveTemplate(name, row.id if row else None, row.version if row else None, None, None)
    return ActiveTemplate(name, row.id, row.version, row.sha256, row.file_id)


class _CompiledCache:
    """A small LRU of compiled templates, keyed by the template file's content or stat."""

    def __init__(self, size=16):
        self.size = size
        self._items = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key, build):
        with self._lock:
            compiled = self._items.get(key)
            if compiled is not None:
                self._items.move_to_end(key)
                return compiled
        compiled = build()
        with self._lock:
            self._items[key] = compiled
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return compiled

    def clear(self):
        with self._lock:
            self._items.clear()


_CACHE = _CompiledCache()


def builtin_bytes(name):
    path = DOCX_DIR / f"{name}.docx"
    if not path.is_file():
        raise DocumentError(_("Нет файла шаблона docx_templates/%(name)s.docx. "
                              "Соберите шаблоны: python scripts/build_docx_templates.py", name=name))
    return path.read_bytes()


def template_bytes(name, active=None):
    """Return the bytes of the template version that renders now."""
    active = active or active_version(name)
    if active.file_id is None:
        return builtin_bytes(name)
    data = db.session.execute(
        select(StoredFile.data).where(StoredFile.id == active.file_id)
    ).scalar_one()
    return data


def compiled_template(name, active=None):
    """Return the compiled active version of a template (compiled once per process and version)."""
    active = active or active_version(name)
    if active.file_id is None:
        path = DOCX_DIR / f"{name}.docx"
        try:
            stat = path.stat()
        except FileNotFoundError:
            builtin_bytes(name)
            raise
        key = ("file", str(path), stat.st_mtime_ns, stat.st_size)
    else:
        key = ("db", active.sha256)
    return _CACHE.get(key, lambda: CompiledDocx(template_bytes(name, active), _ENV))


@dataclass(frozen=True)
class RenderedDocument:
    data: bytes
    sha256: str
    template_version_id: int | None


def render_document(template_name, context):
    """Render the active version of a template; return the bytes, their SHA-256 and the version used."""
    active = active_version(template_name)
    try:
        data = compiled_template(template_name, active).render(clean_context(context))
    except DocumentError:
        raise
    except (TemplateError, SecurityError, etree.LxmlError, zipfile.BadZipFile, ValueError, TypeError) as exc:
        log.exception("Rendering template %s failed", template_name)
        raise DocumentError(_("Не удалось сформировать документ по шаблону «%(name)s»: %(error)s. "
                              "Сообщите администратору: шаблон можно вернуть к встроенному.",
                              name=template_name, error=exc)) from exc
    return RenderedDocument(data, hashlib.sha256(data).hexdigest(), active.version_id)


def render_docx(template_name, context):
    """Render the active version of template ``template_name`` with ``context``; return DOCX bytes."""
    return render_document(template_name, context).data


def render_docx_reference(template_name, context):
    """Render with a fresh plain docxtpl DocxTemplate (what the fast path must match; used by tests/bench)."""
    return render_with_docxtpl(template_bytes(template_name), clean_context(context), make_env())


# --- the route document ------------------------------------------------------------------------------

STAGE_ORDER = [Stage.DIAGNOSTIC_MOTIVATIONAL, Stage.DESIGN, Stage.IMPLEMENTATION, Stage.ANALYTICAL]


def _years(n):
    if n is None:
        return ""
    if n % 10 == 1 and n % 100 != 11:
        word = "год"
    elif n % 10 in (2, 3, 4) and n % 100 not in (12, 13, 14):
        word = "года"
    else:
        word = "лет"
    return f"{n} {word}"


def approval_of(route):
    """Return (curator's name, date) of the approval in force, or None when the route is not approved."""
    if route.state == "drafted":
        return None
    approve = None
    for event in route.events:
        if event.event == "approve":
            approve = event
    if approve is None:
        return None
    who = approve.actor.full_name if approve.actor else ""
    return who, approve.created_at.date()


_LOADED = object()


def route_context(route, *, today=None, activities=_LOADED, approval=_LOADED):
    """Build the route document's context from a route loaded with its teacher, activities and events.

    A bulk export passes the activities (rows with the Activity attributes) and the approval
    ((name, date) or None, as ``approval_of`` returns it) it loaded for many routes at once.

    Keys: title; route {id, state, state_label, period_start, period_end}; teacher {full_name, position};
    organization; position; general {has_any, workplace, education, position, subject, experience,
    qualification_category, attestation_date}; request; stages [{number, key, label, activities
    [{number, stage, direction, deficit, tasks, forms, deadline, result_form, status, product}]}];
    reflection; recommendations; curator {full_name, position}; approval {approved, by, on};
    school {name}; generated_on.
    """
    teacher = route.teacher
    curator = route.curator
    school = route.school
    general = {
        "workplace": route.workplace or (school.name if school else ""),
        "education": route.education or "",
        "position": route.position or (teacher.position if teacher else "") or "",
        "subject": route.subject or "",
        "experience": _years(route.experience_years),
        "qualification_category": route.qualification_category or "",
        "attestation_date": route.attestation_date,
    }
    general["has_any"] = any(v for v in general.values())
    by_stage = {stage.value: [] for stage in STAGE_ORDER}
    if activities is _LOADED:
        activities = route.activities
    for activity in sorted(activities, key=lambda a: (a.position, a.id or 0)):
        by_stage.setdefault(activity.stage, []).append(activity)
    stages = []
    number = 0
    for index, stage in enumerate(STAGE_ORDER, start=1):
        rows = []
        for activity in by_stage.get(stage.value, []):
            number += 1
            rows.append({
                "number": number, "stage": activity.stage, "direction": activity.direction,
                "deficit": activity.deficit or "", "tasks": activity.tasks or "", "forms": activity.forms or "",
                "deadline": activity.deadline, "result_form": activity.result_form or "",
                "status": activity.status, "product": activity.product or "",
            })
        if rows:
            stages.append({"number": index, "key": stage.value, "label": STAGE_LABELS[stage],
                           "activities": rows})
    if approval is _LOADED:
        approval = approval_of(route)
    return {
        "title": "Индивидуальный образовательный маршрут",
        "route": {"id": route.id, "state": route.state, "state_label": STATE_LABELS.get(route.state, route.state),
                  "period_start": route.period_start, "period_end": route.period_end},
        "teacher": {"full_name": teacher.full_name if teacher else "",
                    "position": (teacher.position if teacher else "") or ""},
        "organization": general["workplace"],
        "position": general["position"],
        "general": general,
        "request": route.request or "",
        "stages": stages,
        "reflection": route.reflection or "",
        "recommendations": route.recommendations or "",
        "curator": {"full_name": curator.full_name if curator else "",
                    "position": (curator.position if curator else "") or ""},
        "approval": {"approved": approval is not None, "by": approval[0] if approval else "",
                     "on": approval[1] if approval else None},
        "school": {"name": school.name if school else ""},
        "generated_on": today or date.today(),
    }


def sample_route_context():
    """A full route context with invented data (validates uploaded route templates)."""
    stages = []
    number = 0
    for index, stage in enumerate(STAGE_ORDER, start=1):
        number += 1
        stages.append({"number": index, "key": stage.value, "label": STAGE_LABELS[stage], "activities": [{
            "number": number, "stage": stage.value, "direction": "methodical",
            "deficit": "Формирование функциональной грамотности", "tasks": "Освоить приёмы смыслового чтения",
            "forms": "Курсы повышения квалификации", "deadline": date(2022, 10, 1 + index),
            "result_form": "Методическая разработка", "status": "planned", "product": "",
        }]})
    return {
        "title": "Индивидуальный образовательный маршрут",
        "route": {"id": 1, "state": "curator_approved", "state_label": STATE_LABELS["curator_approved"],
                  "period_start": date(2022, 9, 1), "period_end": date(2023, 5, 31)},
        "teacher": {"full_name": "Иванова Мария Петровна", "position": "Учитель математики"},
        "organization": "МБОУ СОШ № 1", "position": "Учитель математики",
        "general": {"has_any": True, "workplace": "МБОУ СОШ № 1", "education": "Высшее педагогическое",
                    "position": "Учитель математики", "subject": "Математика", "experience": "12 лет",
                    "qualification_category": "Первая", "attestation_date": date(2021, 3, 15)},
        "request": "Затруднения в формировании функциональной грамотности обучающихся",
        "stages": stages,
        "reflection": "Маршрут выполнен", "recommendations": "Курсы повышения квалификации",
        "curator": {"full_name": "Петрова Анна Сергеевна", "position": "Методист"},
        "approval": {"approved": True, "by": "Петрова Анна Сергеевна", "on": date(2022, 9, 5)},
        "school": {"name": "МБОУ СОШ № 1"},
        "generated_on": date(2022, 9, 5),
    }


register_template("route", _l("Индивидуальный образовательный маршрут"), sample_route_context,
                  description=_l("Документ маршрута: разделы 1–2, дорожная карта по форме приложения, "
                                 "разделы 4–5."))


def route_document_query():
    """Select routes with everything the route document prints."""
    return select(Route).options(
        joinedload(Route.teacher), joinedload(Route.curator), joinedload(Route.school),
        selectinload(Route.activities),
        selectinload(Route.events).joinedload(RouteEvent.actor),
    )


# What a bulk export reads per batch of routes: the routes with their people and school, then the
# activities' printed columns and the approvals' (route, approver, time) in one statement each.
_EXPORT_ACTIVITY_COLUMNS = (Activity.route_id, Activity.id, Activity.position, Activity.stage, Activity.direction,
                            Activity.deficit, Activity.tasks, Activity.forms, Activity.deadline,
                            Activity.result_form, Activity.status, Activity.product)


def _export_batch(route_ids):
    """Load a batch of routes for the export: {id: (route, activities, approval)}."""
    routes = db.session.execute(
        select(Route).options(joinedload(Route.teacher), joinedload(Route.curator), joinedload(Route.school))
        .where(Route.id.in_(route_ids))
    ).unique().scalars().all()
    activities = {route.id: [] for route in routes}
    for row in db.session.execute(select(*_EXPORT_ACTIVITY_COLUMNS).where(Activity.route_id.in_(route_ids))):
        activities[row.route_id].append(row)
    # approval_of's rule: the route's last approve event (by id), unless the route is a draft again.
    approvals = {}
    for route_id, who, when in db.session.execute(
            select(RouteEvent.route_id, User.full_name, RouteEvent.created_at)
            .outerjoin(User, User.id == RouteEvent.actor_id)
            .where(RouteEvent.route_id.in_(route_ids), RouteEvent.event == "approve")
            .order_by(RouteEvent.id)):
        approvals[route_id] = (who or "", when.date())
    return {route.id: (route, activities[route.id], None if route.state == "drafted" else approvals.get(route.id))
            for route in routes}


def load_route_document(route_id, user):
    """Load a route with what its document prints, if the user may see it (else NotFound)."""
    route = db.session.execute(route_document_query().where(Route.id == route_id)).unique().scalar_one_or_none()
    return permissions.require_view(route, user)


def _slug(text, limit=80):
    """A file-name-safe version of a (Cyrillic) text."""
    text = unicodedata.normalize("NFC", text or "")
    text = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', " ", text)
    text = re.sub(r"\s+", " ", text).strip().strip(".")
    return text[:limit].strip() or "без имени"


def route_filename(route, ext="docx"):
    teacher = route.teacher.full_name if route.teacher else ""
    return f"ИОМ {_slug(teacher)} № {route.id}.{ext}"


def render_route_docx(route):
    """Render the route document of a loaded route."""
    return render_docx("route", route_context(route))


# --- bulk ZIP of route documents ---------------------------------------------------------------------

class _Sink(io.RawIOBase):
    """A write-only stream that keeps what was written until it is drained."""

    def __init__(self):
        self.chunks = []

    def writable(self):
        return True

    def write(self, data):
        self.chunks.append(bytes(data))
        return len(data)

    def drain(self):
        data = b"".join(self.chunks)
        self.chunks = []
        return data


def stream_routes_zip(route_ids, *, batch=100, today=None):
    """Yield a ZIP archive with one route DOCX per route id, document by document.

    The template is compiled once; routes are loaded in batches, so memory does not grow with their
    number. The caller has checked that the user may see every id (see views/documents.py).
    """
    route_ids = list(route_ids)
    active = active_version("route")
    compiled = compiled_template("route", active)
    cleaner = ContextCleaner()
    sink = _Sink()
    names = set()
    with zipfile.ZipFile(sink, "w") as archive:
        for start in range(0, len(route_ids), batch):
            chunk = route_ids[start:start + batch]
            by_id = _export_batch(chunk)
            for route_id in chunk:
                loaded = by_id.pop(route_id, None)
                if loaded is None:
                    continue
                route, activities, approval = loaded
                data = compiled.render(cleaner(route_context(route, today=today, activities=activities,
                                                             approval=approval)))
                school = _slug(route.school.name if route.school else "Без школы")
                name = f"{school}/{route_filename(route)}"
                if name in names:
                    name = f"{school}/{route.id} {route_filename(route)}"
                names.add(name)
                info = zipfile.ZipInfo(name, date_time=datetime.now().timetuple()[:6])
                info.compress_type = zipfile.ZIP_STORED  # a DOCX is compressed already
                info.external_attr = 0o644 << 16
                archive.writestr(info, data)
                yield sink.drain()
            del by_id
    yield sink.drain()


# --- validating and storing uploaded versions -------------------------------------------------------

def _describe_jinja_error(exc):
    if isinstance(exc, TemplateSyntaxError):
        where = " " + _("(строка %(line)s)", line=exc.lineno) if exc.lineno else ""
        context = " ".join(t.strip() for t in (getattr(exc, "docx_context", None) or []) if t.strip())
        near = " " + _("рядом с текстом «%(text)s»", text=context[:120]) if context else ""
        return _("синтаксическая ошибка в шаблоне%(where)s%(near)s: %(error)s", where=where, near=near,
                 error=exc.message)
    if isinstance(exc, UndefinedError):
        return _("шаблон обращается к данным, которых нет: %(error)s", error=exc.message)
    if isinstance(exc, SecurityError):
        return _("шаблон пытается выполнить запрещённое действие: %(error)s", error=exc)
    return f"{type(exc).__name__}: {exc}"


def _check_archive(data):
    """Check the upload is a sane DOCX archive before anything parses it; raise InvalidInput if not."""
    if not data:
        raise InvalidInput(_("Файл пустой"), details={"file": "empty"})
    if len(data) > MAX_TEMPLATE_BYTES:
        raise InvalidInput(_("Шаблон больше %(mb)s МБ", mb=MAX_TEMPLATE_BYTES // (1024 * 1024)), details={"file": "size"})
    if not data.startswith(b"PK\x03\x04") or not zipfile.is_zipfile(io.BytesIO(data)):
        raise InvalidInput(_("Файл не является документом DOCX (ожидается ZIP-архив Word)"),
                           details={"file": "type"})
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_MEMBERS:
                raise InvalidInput(_("В архиве DOCX слишком много файлов"), details={"file": "members"})
            total = sum(i.file_size for i in infos)
            if total > MAX_UNPACKED_BYTES:
                raise InvalidInput(_("Документ распаковывается в слишком большой объём (подозрение на ZIP-бомбу)"),
                                   details={"file": "zip_bomb"})
            names = {i.filename for i in infos}
            if "[Content_Types].xml" not in names or "word/document.xml" not in names:
                raise InvalidInput(_("Файл не является документом Word: нет word/document.xml"),
                                   details={"file": "type"})
            for info in infos:
                if info.flag_bits & 0x1:
                    raise InvalidInput(_("Документ зашифрован"), details={"file": "encrypted"})
                if info.file_size > 1024 * 1024 and info.file_size > MAX_MEMBER_RATIO * max(info.compress_size, 1):
                    raise InvalidInput(_("Документ распаковывается в слишком большой объём (подозрение на ZIP-бомбу)"),
                                       details={"file": "zip_bomb"})
                if info.filename.endswith((".xml", ".rels")):
                    if info.file_size > MAX_XML_PART_BYTES:
                        raise InvalidInput(_("Слишком большая часть документа"), details={"file": "size"})
                    with archive.open(info) as member:
                        content = member.read(MAX_XML_PART_BYTES + 1)
                    if len(content) > MAX_XML_PART_BYTES:
                        raise InvalidInput(_("Документ распаковывается в слишком большой объём "
                                             "(подозрение на ZIP-бомбу)"), details={"file": "zip_bomb"})
                    if b"<!DOCTYPE" in content or b"<!ENTITY" in content:
                        raise InvalidInput(_("Документ содержит объявления DTD/сущностей (XML-бомба); такие "
                                             "файлы не принимаются"), details={"file": "xml_bomb"})
                    # The byte check above misses a DTD in UTF-16 and other encodings; parse the prolog.
                    upload_checks.check_xml(content)
        read_raw_entries(data)
    except zipfile.BadZipFile as exc:
        raise InvalidInput(_("Повреждённый архив DOCX: %(error)s", error=exc), details={"file": "corrupt"}) from None


def _static_check(spec, sources, env):
    """Reject unknown variables, underscore attributes, forbidden tags and filters; return problems."""
    problems = []
    unknown = set()
    for part, source in sources.items():
        try:
            ast = env.parse(source)
        except TemplateSyntaxError as exc:
            problems.append(f"{part}: {_describe_jinja_error(exc)}")
            continue
        unknown |= meta.find_undeclared_variables(ast) - spec.variables
        for node in ast.find_all(FORBIDDEN_NODES):
            problems.append(_("тег «%(tag)s» в шаблонах документов не разрешён", tag=type(node).__name__))
        for node in ast.find_all(nodes.Getattr):
            if node.attr.startswith("_"):
                problems.append(_("обращение к служебному атрибуту «%(name)s» запрещено", name=node.attr))
        for node in ast.find_all(nodes.Getitem):
            if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str) \
                    and node.arg.value.startswith("_"):
                problems.append(_("обращение к служебному атрибуту «%(name)s» запрещено", name=node.arg.value))
        for node in ast.find_all((nodes.Filter, nodes.Test)):
            if isinstance(node, nodes.Filter) and node.name not in ALLOWED_FILTERS:
                problems.append(_("фильтр «%(name)s» в шаблонах документов не разрешён", name=node.name))
    if unknown:
        allowed = ", ".join(sorted(spec.variables))
        problems.append(_("неизвестные переменные: %(names)s (допустимы: %(allowed)s)",
                          names=", ".join(sorted(unknown)), allowed=allowed))
    return list(dict.fromkeys(problems))


def validate_template(name, data):
    """Check an uploaded template version; return the sample document's bytes or raise InvalidInput.

    The archive is checked first (size, real DOCX, ZIP and XML bombs); then the Jinja sources of the
    templated parts (known variables only, no underscore attributes, no macros/includes, whitelisted
    filters); then it is rendered in the strict sandbox against the template's sample data and the
    result is re-opened with python-docx.
    """
    spec = get_spec(name)
    _check_archive(data)
    strict_env = make_env(strict=True)
    try:
        compiled = CompiledDocx(data, strict_env, strict_xml=True)
    except TemplateSyntaxError as exc:
        raise InvalidInput(_("Шаблон не принят: %(reason)s", reason=_describe_jinja_error(exc)), details={"file": "syntax"}) from None
    except (zipfile.BadZipFile, KeyError, ValueError, etree.LxmlError) as exc:
        raise InvalidInput(_("Шаблон не принят: документ Word не читается (%(error)s)", error=exc),
                           details={"file": "corrupt"}) from None
    problems = _static_check(spec, compiled.sources, strict_env)
    if problems:
        raise InvalidInput(_("Шаблон не принят: %(reason)s", reason="; ".join(problems)), details={"file": "template"})
    try:
        sample = compiled.render(clean_context(spec.sample_context()))
    except (TemplateError, SecurityError) as exc:
        raise InvalidInput(_("Шаблон не принят: %(reason)s", reason=_describe_jinja_error(exc)), details={"file": "render"}) from None
    except etree.LxmlError as exc:
        raise InvalidInput(_("Шаблон не принят: после подстановки данных документ повреждён (%(error)s)", error=exc),
                           details={"file": "render"}) from None
    except (RecursionError, TypeError, ValueError, ArithmeticError, AttributeError, KeyError) as exc:
        raise InvalidInput(_("Шаблон не принят: ошибка при подстановке образца данных (%(error)s)",
                             error=f"{type(exc).__name__}: {exc}"), details={"file": "render"}) from None
    try:
        from docx import Document
        Document(io.BytesIO(sample))
    except Exception as exc:  # python-docx raises many kinds on a broken package
        raise InvalidInput(_("Шаблон не принят: получившийся документ не открывается (%(error)s)", error=exc),
                           details={"file": "render"}) from None
    return sample


def _next_version(name):
    last = db.session.execute(
        select(DocumentTemplate.version).where(DocumentTemplate.name == name)
        .order_by(DocumentTemplate.version.desc()).limit(1)
    ).scalar_one_or_none()
    return (last or 0) + 1


def _add_version(name, actor, stored, note):
    from sqlalchemy.exc import IntegrityError
    version = DocumentTemplate(name=name, version=_next_version(name), file=stored,
                               sha256=stored.sha256 if stored else None,
                               uploaded_by_id=actor.id if actor else None, note=(note or "")[:500])
    db.session.add(version)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(_("Шаблон одновременно изменил другой администратор. Повторите загрузку.")) from None
    return version


def _require_admin(actor):
    permissions.require_role(actor, "admin")


def upload_template(name, data, filename, actor, note=""):
    """Validate and store a new version of a template; it becomes the active one."""
    from workflow.upload_checks import check_upload
    _require_admin(actor)
    get_spec(name)
    # The shared checks (type by content, size cap, ZIP and XML bombs), then the template's own.
    info = check_upload(data, filename or f"{name}.docx", {"docx"}, max_bytes=MAX_TEMPLATE_BYTES)
    validate_template(name, data)
    stored = StoredFile(original_name=info.name, content_type=DOCX_MIME,
                        size=len(data), sha256=hashlib.sha256(data).hexdigest(), data=data,
                        uploaded_by_id=actor.id)
    db.session.add(stored)
    return _add_version(name, actor, stored, note)


def reset_template(name, actor):
    """Make the template shipped in docx_templates/ the active one again (kept as a new version)."""
    _require_admin(actor)
    get_spec(name)
    return _add_version(name, actor, None, _("Возврат к встроенному шаблону"))


def template_versions(name):
    return db.session.execute(
        select(DocumentTemplate).where(DocumentTemplate.name == name)
        .options(joinedload(DocumentTemplate.uploaded_by), joinedload(DocumentTemplate.file))
        .order_by(DocumentTemplate.version.desc())
    ).scalars().all()


def template_download(name, version_id=None):
    """Return (filename, bytes) of a template version (the active one by default) for an admin to edit."""
    get_spec(name)
    if version_id is None:
        return f"{name}.docx", template_bytes(name)
    version = db.session.execute(
        select(DocumentTemplate).where(DocumentTemplate.id == version_id, DocumentTemplate.name == name)
    ).scalar_one_or_none()
    if version is None:
        raise NotFound(_("Версия шаблона не найдена"))
    if version.file_id is None:
        return f"{name}.docx", builtin_bytes(name)
    data = db.session.execute(select(StoredFile.data).where(StoredFile.id == version.file_id)).scalar_one()
    return f"{name} v{version.version}.docx", data


# --- PDF through LibreOffice -------------------------------------------------------------------------

def pdf_available():
    """Tell whether LibreOffice (soffice) is on PATH, so documents can be offered as PDF."""
    return _soffice() is not None


def _soffice():
    """The path of LibreOffice's soffice on PATH, or None.

    Searched once per value of PATH in a process: every page with a route's document links (and every
    row of the orders list) asks, and a search stats a file in each directory of PATH. LibreOffice
    installed or removed while the app runs is seen after a restart."""
    return _which_soffice(os.environ.get("PATH"))


@lru_cache(maxsize=8)
def _which_soffice(path):
    return shutil.which("soffice", path=path)


def docx_to_pdf(data, timeout=120):
    """Convert DOCX bytes to PDF with ``soffice --headless --convert-to pdf``."""
    soffice = _soffice()
    if soffice is None:
        raise NotFound(_("Преобразование в PDF недоступно: LibreOffice не установлен"))
    with tempfile.TemporaryDirectory(prefix="iom-pdf-") as tmp:
        tmp = Path(tmp)
        source = tmp / "document.docx"
        source.write_bytes(data)
        # A private profile per conversion: parallel conversions do not fight over one lock.
        profile = (tmp / "profile").as_uri()
        try:
            subprocess.run([soffice, f"-env:UserInstallation={profile}", "--headless", "--convert-to", "pdf",
                            "--outdir", str(tmp), str(source)],
                           capture_output=True, timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("soffice failed: %s", exc)
            raise DocumentError(_("Не удалось преобразовать документ в PDF. Скачайте DOCX.")) from None
        result = tmp / "document.pdf"
        if not result.is_file() or not result.read_bytes().startswith(b"%PDF"):
            raise DocumentError(_("Не удалось преобразовать документ в PDF. Скачайте DOCX."))
        return result.read_bytes()
