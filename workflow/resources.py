"""The resource map (ресурсная карта): catalogue entries curators manage, import and pick from."""
import re
from datetime import date

from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload
from flask_babel import gettext as _

from models import ResourceCompetency, ResourceEntry, Role, db
from models.diagnostics import (
    RESOURCE_FORMAT_LABELS, RESOURCE_KIND_LABELS, RESOURCE_LEVEL_LABELS, ResourceFormat, ResourceLevel,
)
from models.route import DIRECTION_LABELS
from workflow import spreadsheets
from workflow.errors import InvalidInput, NotFound, NotPermitted
from workflow.queries import page_count
from workflow.spreadsheets import (
    ImportFailed, cell_text, error, key, normalize_header, parse_date, parse_decimal, read_table,
)

MANAGE_ROLES = (Role.ADMIN.value, Role.DEPARTMENT_HEAD.value, Role.CURATOR.value)
FIELDS = ["title", "provider", "kind", "level", "direction", "format", "starts_on", "ends_on", "hours",
          "annotation", "competencies", "url"]

DIRECTION_CHOICES = {d.value: label for d, label in DIRECTION_LABELS.items()}

# Words people write in the file for each code (normalized), besides the code and the label itself.
_KIND_WORDS = {
    "course": {"курсы", "курс", "кпк", "курсы пк", "повышение квалификации"},
    "seminar": {"семинар"}, "webinar": {"вебинар"}, "training": {"тренинг"},
    "master_class": {"мастер-класс", "мастер класс"},
    "community": {"сообщество", "профессиональное сообщество", "мо", "методическое объединение"},
    "self_education": {"самообразование"},
}
_LEVEL_WORDS = {"regional": {"региональный", "регион"}, "municipal": {"муниципальный", "муниципалитет"},
                "school": {"школьный", "школа", "оо"}}
_FORMAT_WORDS = {"in_person": {"очно", "очный", "очная"},
                 "online": {"дистанционно", "дистанционный", "дистанционная", "онлайн", "online"},
                 "blended": {"очно-дистанционно", "очно-дистанционный", "смешанный", "смешанная", "blended"}}
_DIRECTION_WORDS = {"professional": {"профессиональное"}, "psycho_pedagogical": {"психолого-педагогическое"},
                    "methodical": {"методическое"}, "informational": {"информационное"}}

# (field, Russian header, required, accepted headers in normalized form)
COLUMNS = [
    ("title", "Название", True, {"название", "наименование", "мероприятие", "title"}),
    ("provider", "Организатор", False, {"организатор", "провайдер", "организация", "provider"}),
    ("kind", "Вид", True, {"вид", "форма", "тип", "kind"}),
    ("level", "Уровень", True, {"уровень", "level"}),
    ("direction", "Направление", True, {"направление", "direction"}),
    ("format", "Формат", False, {"формат", "format"}),
    ("starts_on", "Дата начала", False, {"дата начала", "начало", "starts_on", "start"}),
    ("ends_on", "Дата окончания", False, {"дата окончания", "окончание", "ends_on", "end"}),
    ("hours", "Часы", False, {"часы", "часов", "объем часов", "объем, ч", "hours"}),
    ("annotation", "Аннотация", False, {"аннотация", "описание", "annotation"}),
    ("competencies", "Компетенции", True, {"компетенции", "компетенция", "дефициты", "competencies"}),
    ("url", "Ссылка", False, {"ссылка", "url", "сайт"}),
]
KNOWN_HEADERS = set().union(*(c[3] for c in COLUMNS))
TEMPLATE_HEADERS = [c[1] for c in COLUMNS]


def _choice(value, labels, words, what, field):
    text = normalize_header(value)
    for code, label in labels.items():
        if text in {code, normalize_header(label)} | words.get(code, set()):
            return code
    allowed = ", ".join(str(label) for label in labels.values()).lower()
    raise InvalidInput(_("Неизвестное значение «%(value)s» (%(what)s); допустимо: %(allowed)s",
                         value=cell_text(value), what=what, allowed=allowed),
                       details={field: "choice"})


def split_competencies(value):
    """Split a list of competency areas written with ';', '|' or line breaks."""
    if isinstance(value, (list, tuple)):
        items = value
    else:
        items = re.split(r"[;|\n]+", value or "")
    seen, result = set(), []
    for item in items:
        name = re.sub(r"\s+", " ", str(item)).strip()
        if name and key(name) not in seen:
            seen.add(key(name))
            result.append(name[:300])
    return result


def clean_entry(data):
    """Check and normalize the fields of an entry; raise InvalidInput with the first problem."""
    cleaned = {}
    title = cell_text(data.get("title"))
    if not title:
        raise InvalidInput(_("Укажите название мероприятия"), details={"title": "required"})
    cleaned["title"] = title[:400]
    cleaned["provider"] = cell_text(data.get("provider"))[:300]
    cleaned["kind"] = _choice(data.get("kind"), RESOURCE_KIND_LABELS, _KIND_WORDS, _("вид мероприятия"), "kind")
    cleaned["level"] = _choice(data.get("level"), RESOURCE_LEVEL_LABELS, _LEVEL_WORDS, _("уровень"), "level")
    cleaned["direction"] = _choice(data.get("direction"), DIRECTION_CHOICES, _DIRECTION_WORDS, _("направление"),
                                    "direction")
    raw_format = data.get("format")
    cleaned["format"] = _choice(raw_format, RESOURCE_FORMAT_LABELS, _FORMAT_WORDS, _("формат"), "format") \
        if cell_text(raw_format) else ResourceFormat.IN_PERSON.value
    for name, label in (("starts_on", _("дата начала")), ("ends_on", _("дата окончания"))):
        raw = data.get(name)
        value = parse_date(raw) if cell_text(raw) else None
        if cell_text(raw) and value is None:
            raise InvalidInput(_("Неверная %(label)s «%(value)s»: ожидается дд.мм.гггг", label=label,
                                 value=cell_text(raw)), details={name: "date"})
        cleaned[name] = value
    if cleaned["starts_on"] and cleaned["ends_on"] and cleaned["ends_on"] < cleaned["starts_on"]:
        raise InvalidInput(_("Дата окончания раньше даты начала"), details={"ends_on": "order"})
    raw_hours = data.get("hours")
    cleaned["hours"] = None
    if cell_text(raw_hours):
        hours = parse_decimal(raw_hours)
        if hours is None or hours != hours.to_integral_value() or not 0 < hours <= 2000:
            raise InvalidInput(_("Часы «%(value)s»: ожидается целое число от 1 до 2000", value=cell_text(raw_hours)),
                               details={"hours": "integer"})
        cleaned["hours"] = int(hours)
    cleaned["annotation"] = str(data.get("annotation") or "").strip()[:5000]
    url = cell_text(data.get("url"))
    if url and not url.lower().startswith(("http://", "https://")):
        raise InvalidInput(_("Ссылка должна начинаться с http:// или https://"), details={"url": "url"})
    cleaned["url"] = url[:1000]
    competencies = split_competencies(data.get("competencies"))
    if not competencies:
        raise InvalidInput(_("Укажите хотя бы одну компетенцию (область дефицита), на которую направлено "
                           "мероприятие"), details={"competencies": "required"})
    cleaned["competencies"] = competencies
    return cleaned


def can_manage(user):
    return user is not None and user.is_authenticated and user.role in MANAGE_ROLES


def require_manager(user):
    if not can_manage(user):
        raise NotPermitted(_("Ресурсную карту ведут кураторы, начальник управления и администратор"))


def _municipality_id(user):
    if user.municipality_id is None:
        raise InvalidInput(_("Пользователь не привязан к муниципалитету"))
    return user.municipality_id


def _set_fields(entry, cleaned):
    for name, value in cleaned.items():
        if name != "competencies":
            setattr(entry, name, value)
    wanted = {key(n): n for n in cleaned["competencies"]}
    for item in list(entry.competencies):
        if item.key not in wanted:
            entry.competencies.remove(item)
        else:
            item.name = wanted.pop(item.key)
    for item_key, name in wanted.items():
        entry.competencies.append(ResourceCompetency(name=name, key=item_key[:300]))


def create_entry(actor, data):
    """Add an entry to the resource map of the actor's municipality."""
    require_manager(actor)
    cleaned = clean_entry(data)
    entry = ResourceEntry(municipality_id=_municipality_id(actor), created_by_id=actor.id)
    _set_fields(entry, cleaned)
    db.session.add(entry)
    db.session.commit()
    return entry


def load_entry(entry_id, user):
    entry = db.session.execute(
        select(ResourceEntry).where(ResourceEntry.id == entry_id).options(selectinload(ResourceEntry.competencies))
    ).scalar_one_or_none()
    if entry is None or (user.role != Role.ADMIN.value and entry.municipality_id != user.municipality_id):
        raise NotFound(_("Мероприятие ресурсной карты не найдено"))
    return entry


def update_entry(actor, entry_id, data):
    """Change an entry of the resource map."""
    require_manager(actor)
    entry = load_entry(entry_id, actor)
    cleaned = clean_entry(data)
    _set_fields(entry, cleaned)
    db.session.commit()
    return entry


def delete_entry(actor, entry_id):
    """Remove an entry; activities already filled from it keep their text."""
    require_manager(actor)
    entry = load_entry(entry_id, actor)
    db.session.delete(entry)
    db.session.commit()


def entry_form_data(entry):
    return {
        "title": entry.title, "provider": entry.provider, "kind": entry.kind, "level": entry.level,
        "direction": entry.direction, "format": entry.format, "starts_on": entry.starts_on,
        "ends_on": entry.ends_on, "hours": entry.hours, "annotation": entry.annotation,
        "competencies": "\n".join(entry.competency_names), "url": entry.url,
    }


def entry_as_dict(entry):
    return {
        "id": entry.id, "title": entry.title, "provider": entry.provider, "kind": entry.kind,
        "level": entry.level, "direction": entry.direction, "format": entry.format,
        "starts_on": entry.starts_on.isoformat() if entry.starts_on else None,
        "ends_on": entry.ends_on.isoformat() if entry.ends_on else None, "hours": entry.hours,
        "annotation": entry.annotation, "competencies": entry.competency_names, "url": entry.url,
    }


def list_entries(user, *, q="", kind="", level="", direction="", page=1, per_page=50):
    """Return (entries, total, pages) of the user's municipality's resource map, filtered."""
    query = select(ResourceEntry).options(selectinload(ResourceEntry.competencies))
    if user.role != Role.ADMIN.value:
        query = query.where(ResourceEntry.municipality_id == user.municipality_id)
    if kind:
        query = query.where(ResourceEntry.kind == kind)
    if level:
        query = query.where(ResourceEntry.level == level)
    if direction:
        query = query.where(ResourceEntry.direction == direction)
    q = (q or "").strip()
    if q:
        like = f"%{q}%"
        query = query.where(or_(
            ResourceEntry.title.ilike(like), ResourceEntry.provider.ilike(like),
            ResourceEntry.id.in_(select(ResourceCompetency.entry_id).where(
                or_(ResourceCompetency.name.ilike(like), ResourceCompetency.key.like(f"%{key(q)}%"))))))
    total = db.session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    page = max(int(page or 1), 1)
    entries = db.session.execute(
        query.order_by(ResourceEntry.title, ResourceEntry.id).limit(per_page).offset((page - 1) * per_page)
    ).scalars().all()
    return entries, total, page_count(total, per_page)


def matching_entries(competencies, municipality_id, today=None):
    """Return {competency key: [entries]} of the resource map that address these competency areas.

    Entries that have not ended come first, school and municipal before regional, soonest first.
    """
    keys = {key(c) for c in competencies if c}
    if not keys or municipality_id is None:
        return {}
    today = today or date.today()
    level_order = {ResourceLevel.SCHOOL.value: 0, ResourceLevel.MUNICIPAL.value: 1, ResourceLevel.REGIONAL.value: 2}
    rows = db.session.execute(
        select(ResourceCompetency.key, ResourceEntry)
        .join(ResourceEntry, ResourceEntry.id == ResourceCompetency.entry_id)
        .where(ResourceCompetency.key.in_(keys), ResourceEntry.municipality_id == municipality_id)
        .options(selectinload(ResourceEntry.competencies))
    ).all()
    found = {}
    for item_key, entry in rows:
        found.setdefault(item_key, []).append(entry)
    for entries in found.values():
        entries.sort(key=lambda e: (e.ends_on is not None and e.ends_on < today, level_order.get(e.level, 3),
                                    e.starts_on or date.max, e.title))
    return found


def deficit_choices(route):
    """Return [{"deficit", "entries"}] for the deficits of the route's diagnostic (drafting helper)."""
    from workflow.diagnostics import teacher_results

    if route.diagnostic_id is None:
        _, results = teacher_results(route.teacher_id)
    else:
        _, results = teacher_results(route.teacher_id, route.diagnostic_id)
    deficits = [r for r in results if r.is_deficit]
    if not deficits:
        return []
    municipality_id = route.school.municipality_id if route.school is not None else \
        route.teacher.municipality_id
    matches = matching_entries([r.competency for r in deficits], municipality_id)
    covered = {key(a.deficit) for a in route.activities}
    return [{"result": r, "deficit": r.competency, "entries": matches.get(key(r.competency), []),
             "covered": key(r.competency) in covered} for r in deficits]


def add_activity_from_entry(route_id, actor, entry_id, deficit, version):
    """Fill a new road-map activity of a draft from a resource-map entry, for one deficit."""
    from workflow import service
    from workflow.diagnostics import activity_from_entry

    route = service.load_route(route_id, actor, full=False)
    entry = load_entry(entry_id, actor) if actor.role == Role.ADMIN.value else _entry_for_route(entry_id, route)
    deficit = (deficit or "").strip() or (entry.competency_names[0] if entry.competency_names else entry.title)
    item = activity_from_entry(entry, deficit[:2000], period_start=route.period_start, period_end=route.period_end)
    if item["deadline"] is None:
        item["deadline"] = route.period_end
    return service.add_activity(route_id, actor, item, version)


def propose_activity_from_entry(route_id, actor, entry_id, deficit, version):
    """During implementation: ask the curator (a correction) to add an activity filled from an entry."""
    from workflow import service
    from workflow.diagnostics import activity_from_entry

    route = service.load_route(route_id, actor, full=False)
    entry = _entry_for_route(entry_id, route)
    deficit = (deficit or "").strip() or (entry.competency_names[0] if entry.competency_names else entry.title)
    item = activity_from_entry(entry, deficit[:2000], period_start=route.period_start, period_end=route.period_end)
    if item["deadline"] is None:
        item["deadline"] = route.period_end
    return service.request_correction(
        route_id, actor, reason=f"Добавить мероприятие ресурсной карты «{entry.title}» по дефициту «{deficit}»",
        action="add", fields=item, version=version)


def _entry_for_route(entry_id, route):
    entry = db.session.get(ResourceEntry, entry_id)
    municipality_id = route.school.municipality_id if route.school is not None else route.teacher.municipality_id
    if entry is None or entry.municipality_id != municipality_id:
        raise NotFound(_("Мероприятие ресурсной карты не найдено"))
    return entry


# --- import -------------------------------------------------------------------------------------------

def _map_columns(header):
    positions, titles, errors = spreadsheets.map_columns(header, COLUMNS)
    if errors:
        raise ImportFailed(errors)
    return positions, titles


def import_entries(data, actor, *, dry_run=False):
    """Import the resource map from CSV/XLSX: all rows or none; an entry with the same title,
    organizer and start date is updated, not duplicated. Return {"rows", "created", "updated", "unchanged"}."""
    require_manager(actor)
    municipality_id = _municipality_id(actor)
    table = read_table(data, KNOWN_HEADERS)
    positions, titles = _map_columns(table.header)
    if not table.rows:
        raise ImportFailed([error(None, None, _("В файле нет строк: только заголовок"))])
    errors, cleaned_rows, seen = [], [], {}
    for number, cells in table.rows:
        raw = {name: (cells[i] if i < len(cells) else None) for name, i in positions.items()}
        try:
            cleaned = clean_entry(raw)
        except InvalidInput as exc:
            field = next(iter(exc.details or {}), None)
            errors.append(error(number, titles.get(field), exc.message))
            continue
        identity = (key(cleaned["title"]), key(cleaned["provider"]), cleaned["starts_on"])
        if identity in seen:
            errors.append(error(number, titles["title"], _("Повторяющаяся строка: то же мероприятие в строке "
                                                           "%(row)s", row=seen[identity])))
            continue
        seen[identity] = number
        cleaned_rows.append((identity, cleaned))
    if errors:
        raise ImportFailed(errors)
    existing = {}
    for entry in db.session.execute(select(ResourceEntry).where(ResourceEntry.municipality_id == municipality_id)
                                    .options(selectinload(ResourceEntry.competencies))).scalars():
        existing.setdefault((key(entry.title), key(entry.provider), entry.starts_on), entry)
    counts = {"rows": len(cleaned_rows), "created": 0, "updated": 0, "unchanged": 0, "dry_run": bool(dry_run)}
    try:
        for identity, cleaned in cleaned_rows:
            entry = existing.get(identity)
            if entry is None:
                counts["created"] += 1
                if not dry_run:
                    entry = ResourceEntry(municipality_id=municipality_id, created_by_id=actor.id)
                    _set_fields(entry, cleaned)
                    db.session.add(entry)
                continue
            current = entry_form_data(entry)
            current["competencies"] = entry.competency_names
            if all(current[f] == cleaned[f] for f in FIELDS):
                counts["unchanged"] += 1
            else:
                counts["updated"] += 1
                if not dry_run:
                    _set_fields(entry, cleaned)
        if dry_run:
            db.session.rollback()
        else:
            db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return counts


def template_csv():
    """Return the resource-map import template (UTF-8 with BOM, semicolons)."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(TEMPLATE_HEADERS)
    writer.writerow(["Формирование функциональной грамотности обучающихся", "ГБОУ ИРО Краснодарского края",
                     "Курсы повышения квалификации", "Региональный", "Методическое", "Дистанционно",
                     "01.10.2022", "30.11.2022", "36",
                     "Приёмы формирования читательской и математической грамотности на уроках",
                     "Формирование функциональной грамотности обучающихся|Оценивание образовательных результатов",
                     "https://iro23.ru"])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")
