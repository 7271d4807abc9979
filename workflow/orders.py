"""Orders of the department (приказы): kinds as data, the number registry, issuing and reading.

Public contract:

``issue_order(kind, municipality, issued_by, *, title, context, issued_on=None, route_ids=()) -> Order``
    Take the next number of the municipality's registry for the year of ``issued_on`` (default: today),
    render the kind's template with ``context`` plus the common keys below, store the DOCX bytes and their
    SHA-256, and commit, all in one transaction. The issuer must be the department head of that
    municipality (or an admin). Numbers are sequential per (municipality, year), never reused and never
    duplicated under concurrent issuing: one upsert ``... ON CONFLICT DO UPDATE SET last = last + 1
    RETURNING last`` on the counter row, whose row lock (PostgreSQL) or the write lock (SQLite, BEGIN
    IMMEDIATE) is held until commit, and UNIQUE(municipality_id, year, number) as a backstop.

Common keys every order template gets (they override the caller's): ``kind``, ``title``, ``number``
(str), ``year``, ``issued_on`` (date), ``department_name``, ``department_name_upper``, ``place``,
``head_title``, ``head_name``, ``municipality_name``.

Kind ``routes_approval`` (template ``order_routes_approval``), via ``issue_routes_approval(head, route_ids)``:
    ``preamble`` (str), ``items`` (list of str, numbered 1..n), ``routes`` (list of {teacher, school,
    curator, period}); defaults are filled in.
Kind ``monitoring`` (template ``order_monitoring``): the caller gives
    ``period_start`` and ``period_end`` (date or "YYYY-MM-DD"; required), and optionally ``subject``
    (what is monitored, printed as item 1 "Провести <subject> в период с дд.мм.гггг по дд.мм.гггг.";
    default derived from the title), ``preamble`` (str) and ``items`` (list of str, numbered from 2).
"""
import hashlib
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import bindparam, false, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import joinedload, selectinload
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from models import Municipality, Order, OrderCounter, OrderRoute, Role, Route, School, StoredFile, User, db
from workflow import documents
from workflow.errors import Conflict, InvalidInput, NotFound, NotPermitted
from workflow.queries import page_bounds, page_count
from workflow.states import STATE_LABELS

MAX_TITLE = 1000


# --- kinds of orders, as data ------------------------------------------------------------------------

@dataclass(frozen=True)
class OrderKind:
    name: str
    label: str
    template: str
    # prepare(context, title) -> the kind's context with defaults filled in; raises InvalidInput.
    prepare: object = None


ORDER_KINDS = {}


def register_order_kind(name, label, template, prepare=None):
    """Declare a kind of order rendered with the named template (see workflow.documents.register_template)."""
    ORDER_KINDS[name] = OrderKind(name, label, template, prepare)
    return ORDER_KINDS[name]


def kind_label(name):
    kind = ORDER_KINDS.get(name)
    return kind.label if kind else name


def _as_date(value, field):
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value.strip():
        for parse in (date.fromisoformat, lambda v: datetime.strptime(v, "%d.%m.%Y").date()):
            try:
                return parse(value.strip())
            except ValueError:
                continue
    raise InvalidInput(_("Неверная дата в поле %(field)s: ожидается дд.мм.гггг", field=field), details={field: "date"})


def _text_list(value, field):
    if value is None:
        return None
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(_("Поле %(field)s должно быть списком строк", field=field), details={field: "list"})
    return [v.strip() for v in value if v.strip()]


ROUTES_APPROVAL_TITLE = "Об утверждении индивидуальных образовательных маршрутов педагогических работников"
ROUTES_APPROVAL_PREAMBLE = (
    "В соответствии с Порядком организации работы по составлению и сопровождению индивидуальных "
    "образовательных маршрутов педагогических работников и управленческих кадров общеобразовательных "
    "учреждений, на основании результатов диагностики профессиональных компетенций педагогических "
    "работников и решений кураторов об утверждении маршрутов"
)
ROUTES_APPROVAL_ITEMS = [
    "Утвердить индивидуальные образовательные маршруты педагогических работников согласно списку.",
    "Кураторам индивидуальных образовательных маршрутов обеспечить методическое сопровождение "
    "педагогических работников при реализации маршрутов.",
    "Руководителям общеобразовательных организаций взять на контроль реализацию индивидуальных "
    "образовательных маршрутов педагогических работников.",
    "Контроль за исполнением приказа оставляю за собой.",
]


def _prepare_routes_approval(context, title):
    prepared = dict(context)
    prepared["preamble"] = (context.get("preamble") or "").strip() or ROUTES_APPROVAL_PREAMBLE
    prepared["items"] = _text_list(context.get("items"), "items") or list(ROUTES_APPROVAL_ITEMS)
    routes = context.get("routes") or []
    prepared["routes"] = [{key: str(row.get(key) or "") for key in ("teacher", "school", "curator", "period")}
                          for row in routes]
    return prepared


MONITORING_PREAMBLE = (
    "В целях реализации федерального проекта «Современная школа» национального проекта «Образование» "
    "и достижения показателя «Доля педагогических работников и управленческих кадров, для которых "
    "разработаны индивидуальные образовательные маршруты на основе результатов диагностики "
    "профессиональных компетенций»"
)
MONITORING_ITEMS = [
    "Руководителям общеобразовательных организаций обеспечить представление сведений, необходимых для "
    "проведения мониторинга, в установленные сроки.",
    "Контроль за исполнением приказа оставляю за собой.",
]


def _prepare_monitoring(context, title):
    prepared = dict(context)
    if not context.get("period_start") or not context.get("period_end"):
        raise InvalidInput("Укажите даты начала и окончания мониторинга",
                           details={"period_start": "required", "period_end": "required"})
    start = _as_date(context["period_start"], "period_start")
    end = _as_date(context["period_end"], "period_end")
    if end < start:
        raise InvalidInput("Окончание мониторинга раньше его начала", details={"period_end": "order"})
    prepared["period_start"], prepared["period_end"] = start, end
    subject = (context.get("subject") or "").strip()
    if not subject:
        subject = title.strip()
        if subject.lower().startswith("о проведении "):
            subject = subject[len("о проведении "):]
        if subject.lower().startswith("мониторинга"):
            subject = "мониторинг" + subject[len("мониторинга"):]
    prepared["subject"] = subject
    prepared["preamble"] = (context.get("preamble") or "").strip() or MONITORING_PREAMBLE
    prepared["items"] = _text_list(context.get("items"), "items") or list(MONITORING_ITEMS)
    return prepared


register_order_kind("routes_approval", _l("Об утверждении ИОМ"), "order_routes_approval", _prepare_routes_approval)
register_order_kind("monitoring", _l("О проведении мониторинга"), "order_monitoring", _prepare_monitoring)


def _common_sample():
    return {
        "kind": "routes_approval", "title": ROUTES_APPROVAL_TITLE, "number": "731", "year": 2022,
        "issued_on": date(2022, 9, 1),
        "department_name": "Управление образования администрации Советского городского округа "
                           "Ставропольского края",
        "department_name_upper": "УПРАВЛЕНИЕ ОБРАЗОВАНИЯ АДМИНИСТРАЦИИ СОВЕТСКОГО ГОРОДСКОГО ОКРУГА "
                                 "СТАВРОПОЛЬСКОГО КРАЯ",
        "place": "г.Зеленокумск", "head_title": "Начальник управления образования",
        "head_name": "Т.П. Пахмутова", "municipality_name": "Советский городской округ",
    }


def sample_routes_approval_context():
    context = _common_sample()
    context.update(_prepare_routes_approval({"routes": [
        {"teacher": "Иванова Мария Петровна", "school": "МБОУ СОШ № 1", "curator": "Петрова Анна Сергеевна",
         "period": "01.09.2022 – 31.05.2023"},
    ]}, ROUTES_APPROVAL_TITLE))
    return context


def sample_monitoring_context():
    title = "О проведении мониторинга разработки индивидуальных образовательных маршрутов"
    context = _common_sample()
    context.update(kind="monitoring", title=title)
    context.update(_prepare_monitoring({"period_start": date(2023, 3, 27), "period_end": date(2023, 3, 31)},
                                       title))
    return context


documents.register_template("order_routes_approval", _l("Приказ об утверждении ИОМ"), sample_routes_approval_context,
                            description=_l("Приказ по форме приказа № 731 (семя 002) со списком утверждённых "
                                        "маршрутов."))
documents.register_template("order_monitoring", _l("Приказ о проведении мониторинга"), sample_monitoring_context,
                            description=_l("Приказ «О проведении мониторинга …» с датами мониторинга."))


# --- the registry and issuing ------------------------------------------------------------------------

def can_issue(user, municipality_id=None):
    """Tell whether the user may issue orders (of the given municipality)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if user.role == Role.ADMIN.value:
        return True
    return user.role == Role.DEPARTMENT_HEAD.value and user.municipality_id is not None and (
        municipality_id is None or user.municipality_id == municipality_id)


def next_number(municipality_id, year):
    """Bump and return the registry's counter of (municipality, year) in the current transaction."""
    dialect = db.session.get_bind().dialect.name
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(dialect)
    if insert is None:  # any other database: lock the row, then bump it
        counter = db.session.execute(
            select(OrderCounter).where(OrderCounter.municipality_id == municipality_id, OrderCounter.year == year)
            .with_for_update()
        ).scalar_one_or_none()
        if counter is None:
            counter = OrderCounter(municipality_id=municipality_id, year=year, last=0)
            db.session.add(counter)
        counter.last += 1
        db.session.flush()
        return counter.last
    statement = insert(OrderCounter).values(municipality_id=municipality_id, year=year, last=1)
    statement = statement.on_conflict_do_update(
        index_elements=[OrderCounter.municipality_id, OrderCounter.year],
        set_={"last": OrderCounter.last + 1},
    ).returning(OrderCounter.last)
    return db.session.execute(statement).scalar_one()


def _json_safe(value):
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def search_key(number, title, issuer_name):
    """The lower-cased text an order is found by."""
    return " ".join(f"№ {number} {title} {issuer_name or ''}".split()).lower()[:1400]


def order_filename(order, ext="docx"):
    return f"Приказ № {order.number} от {documents.ru_date(order.issued_on)}.{ext}"


def stored_order_name(number, issued_on):
    """The stored DOCX's file name (Russian, as the paper)."""
    return f"Приказ № {number} от {documents.ru_date(issued_on)}.docx"


def issue_order(kind, municipality, issued_by, *, title, context, issued_on=None, route_ids=()):
    """Issue an order: take the next registry number, render and store its DOCX, commit; return the Order."""
    spec = ORDER_KINDS.get(kind)
    if spec is None:
        raise InvalidInput(_("Неизвестный вид приказа: %(kind)s", kind=kind), details={"kind": "choice"})
    if municipality is None:
        raise InvalidInput(_("Не указано муниципальное образование"), details={"municipality": "required"})
    if not can_issue(issued_by, municipality.id):
        raise NotPermitted(_("Издавать приказы может начальник управления образования своего муниципалитета"))
    title = " ".join((title or "").split())
    if not title:
        raise InvalidInput(_("Укажите заголовок приказа"), details={"title": "required"})
    if len(title) > MAX_TITLE:
        raise InvalidInput(_("Заголовок приказа длиннее %(limit)s знаков", limit=MAX_TITLE),
                           details={"title": "length"})
    issued_on = _as_date(issued_on, "issued_on") if issued_on else date.today()
    prepared = spec.prepare(dict(context or {}), title) if spec.prepare else dict(context or {})
    department = municipality.department_name or municipality.name
    head_name = municipality.head_name or (issued_by.full_name if issued_by.role != Role.ADMIN.value else "")
    municipality_id = municipality.id
    issuer_id = issued_by.id
    # Compile the template before taking the registry's lock, so the lock is held only to render.
    documents.compiled_template(spec.template)
    try:
        number = next_number(municipality_id, issued_on.year)
        full = {
            **prepared, "kind": kind, "title": title, "number": str(number), "year": issued_on.year,
            "issued_on": issued_on, "department_name": department, "department_name_upper": department.upper(),
            "place": municipality.place or "", "head_title": municipality.head_title or "",
            "head_name": head_name, "municipality_name": municipality.name,
        }
        rendered = documents.render_document(spec.template, full)
        stored = StoredFile(original_name=stored_order_name(number, issued_on),
                            content_type=documents.DOCX_MIME, size=len(rendered.data), sha256=rendered.sha256,
                            data=rendered.data, uploaded_by_id=issuer_id)
        order = Order(municipality_id=municipality_id, year=issued_on.year, number=number, kind=kind,
                      title=title, issued_on=issued_on, issued_by_id=issuer_id, file=stored,
                      sha256=rendered.sha256, template_version_id=rendered.template_version_id,
                      context=_json_safe(full), search_text=search_key(number, title, issued_by.full_name))
        for position, route_id in enumerate(route_ids):
            order.routes.append(OrderRoute(route_id=route_id, position=position))
        db.session.add(order)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(_("Номер приказа уже занят: приказ одновременно издан другим пользователем. "
                       "Повторите.")) from None
    except OperationalError as exc:
        db.session.rollback()
        if "lock" in str(exc.orig).lower() or "deadlock" in str(exc.orig).lower():
            raise Conflict(_("Реестр приказов занят другим пользователем. Повторите.")) from None
        raise
    except BaseException:
        db.session.rollback()
        raise
    return order


# --- the order approving routes ----------------------------------------------------------------------

def _municipality_of(user):
    if user.municipality_id is None:
        raise NotPermitted(_("Пользователь не привязан к муниципальному образованию"))
    return db.session.get(Municipality, user.municipality_id)


def approvable_routes_query(user):
    """Select the curator-approved routes of the user's municipality, for the approval order's form."""
    if user.role not in {Role.DEPARTMENT_HEAD.value, Role.ADMIN.value} or user.municipality_id is None:
        return select(Route).where(false())
    return (
        select(Route)
        .join(School, Route.school_id == School.id)
        .join(User, Route.teacher_id == User.id)
        .where(Route.state == "curator_approved", School.municipality_id == user.municipality_id)
        .options(joinedload(Route.teacher), joinedload(Route.curator), joinedload(Route.school))
        .order_by(School.name, User.full_name, Route.id)
    )


def route_period(route):
    if route.period_start and route.period_end:
        return f"{documents.ru_date(route.period_start)} – {documents.ru_date(route.period_end)}"
    return documents.ru_date(route.period_start or route.period_end)


def issue_routes_approval(head, route_ids, *, title=None, preamble=None, items=None, issued_on=None):
    """Issue the order approving the chosen curator-approved routes of the head's municipality.

    The table lists the routes by school name, then teacher's full name, then route id.
    """
    if not can_issue(head):
        raise NotPermitted(_("Издавать приказы может начальник управления образования"))
    municipality = _municipality_of(head)
    try:
        ids = sorted({int(i) for i in route_ids or []})
    except (TypeError, ValueError):
        raise InvalidInput(_("Неверный список маршрутов"), details={"route_ids": "integer"}) from None
    if not ids:
        raise InvalidInput(_("Выберите хотя бы один утверждённый куратором маршрут"), details={"route_ids": "required"})
    routes = db.session.execute(
        select(Route).join(School, Route.school_id == School.id).join(User, Route.teacher_id == User.id)
        .where(Route.id.in_(ids), School.municipality_id == municipality.id)
        .options(joinedload(Route.teacher), joinedload(Route.curator), joinedload(Route.school))
        .order_by(School.name, User.full_name, Route.id)
    ).unique().scalars().all()
    found = {r.id for r in routes}
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFound(_("Маршруты не найдены: %(ids)s", ids=", ".join(map(str, missing))))
    not_approved = [r for r in routes if r.state != "curator_approved"]
    if not_approved:
        listed = ", ".join(f"№ {r.id} ({STATE_LABELS.get(r.state, r.state)})" for r in not_approved)
        raise InvalidInput(_("В приказ можно включить только маршруты, утверждённые куратором: %(listed)s",
                             listed=listed),
                           details={"route_ids": "state"})
    rows = [{"teacher": r.teacher.full_name, "school": r.school.name if r.school else "",
             "curator": r.curator.full_name if r.curator else "", "period": route_period(r)} for r in routes]
    context = {"routes": rows}
    if preamble:
        context["preamble"] = preamble
    if items:
        context["items"] = items
    return issue_order("routes_approval", municipality, head, title=title or ROUTES_APPROVAL_TITLE,
                       context=context, issued_on=issued_on, route_ids=[r.id for r in routes])


# --- reading -----------------------------------------------------------------------------------------

def _visibility(user):
    """"all" (admin), "municipality" (the department head, school heads and curators of one) or None."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    if user.role == Role.ADMIN.value:
        return "all"
    if user.role in {Role.DEPARTMENT_HEAD.value, Role.SCHOOL_HEAD.value, Role.CURATOR.value} \
            and user.municipality_id is not None:
        return "municipality"
    return None


def visibility_clause(user):
    """Orders a user may see: admin all; the department head, school heads and curators their municipality's."""
    scope = _visibility(user)
    if scope == "all":
        return Order.id.isnot(None)
    if scope == "municipality":
        return Order.municipality_id == user.municipality_id
    return false()


def can_see_orders(user):
    return user is not None and getattr(user, "is_authenticated", False) and user.role in {
        Role.ADMIN.value, Role.DEPARTMENT_HEAD.value, Role.SCHOOL_HEAD.value, Role.CURATOR.value}


def orders_query(user, *, q=None, kind=None, year=None):
    """Select the orders the user may see, newest first, searchable by number, title and issuer."""
    query = (
        select(Order)
        .where(visibility_clause(user))
        .options(joinedload(Order.issued_by))
        .order_by(Order.issued_on.desc(), Order.number.desc(), Order.id.desc())
    )
    if kind:
        query = query.where(Order.kind == kind)
    if year:
        query = query.where(Order.year == int(year))
    q = " ".join((q or "").split())
    if q:
        number = q.lstrip("№").strip()
        if number.isdigit() and len(number) < 10:
            # A number finds the order with that number, or the orders of that year.
            query = query.where(or_(Order.number == int(number), Order.year == int(number)))
        else:
            query = query.where(Order.search_text.contains(q.lower(), autoescape=True))
    return query


def paginate_orders(query, page=1, per_page=50):
    page, per_page = page_bounds(page, per_page)
    total = db.session.execute(select(func.count()).select_from(query.order_by(None).subquery())).scalar_one()
    items = db.session.execute(query.limit(per_page).offset((page - 1) * per_page)).unique().scalars().all()
    return items, total, page_count(total, per_page), page, per_page


def load_order(order_id, user):
    """Return an order the user may see, with its issuer and routes, or raise NotFound."""
    order = db.session.execute(
        select(Order).where(Order.id == order_id, visibility_clause(user))
        .options(joinedload(Order.issued_by), joinedload(Order.municipality),
                 selectinload(Order.routes).joinedload(OrderRoute.route).joinedload(Route.teacher))
    ).unique().scalar_one_or_none()
    if order is None:
        raise NotFound(_("Приказ не найден"))
    return order


def order_document(order):
    """Return the stored DOCX bytes of an issued order (exactly as issued; checked against the SHA-256)."""
    data = db.session.execute(
        select(StoredFile.data).where(StoredFile.id == order.file_id)
    ).scalar_one()
    if hashlib.sha256(data).hexdigest() != order.sha256:
        raise Conflict(_("Файл приказа повреждён: контрольная сумма не совпадает. Сообщите администратору."))
    return data


def _route_orders_query(scope):
    query = (select(Order).join(OrderRoute, OrderRoute.order_id == Order.id)
             .where(OrderRoute.route_id == bindparam("route_id")).order_by(Order.issued_on, Order.id))
    return query.where(Order.municipality_id == bindparam("municipality_id")) if scope == "municipality" else query


# Built once (every route page asks): the statement per visibility, the user's values as parameters.
_ROUTE_ORDERS = {scope: _route_orders_query(scope) for scope in ("all", "municipality")}


def route_orders(route, user):
    """orders_of_route for a loaded route; reads nothing when the route was loaded knowing that no order
    lists it (service.may_have), as for most routes."""
    from workflow import service
    if not service.may_have(route, "orders"):
        return []
    return orders_of_route(route.id, user)


def orders_of_route(route_id, user):
    """Return the orders referring to a route that the user may see (e.g. the approval order)."""
    scope = _visibility(user)
    if scope is None:
        return []
    params = {"route_id": route_id}
    if scope == "municipality":
        params["municipality_id"] = user.municipality_id
    return db.session.execute(_ROUTE_ORDERS[scope], params).scalars().all()
