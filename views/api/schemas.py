"""Marshmallow schemas of the API: what it accepts (strict: unknown fields are rejected) and answers."""
from datetime import timezone

import marshmallow as ma
from marshmallow import RAISE, ValidationError, fields, validate, validates_schema
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from models import ActivityStatus, Direction, Stage
from workflow.states import STATE_LABELS, STATES, TRIGGERS
from views.api.fast_dump import FastDumpMixin
from views.i18n import babel, kept

MAX_ID = 2**31 - 1
MAX_TEXT = 20000

# Messages (lazy, in the caller's language) of the validation errors integrators see in "details".
_COMMON_MESSAGES = {
    "required": _l("Обязательное поле."),
    "null": _l("Поле не может быть null."),
    "validator_failed": _l("Недопустимое значение."),
}
_TYPE_MESSAGES = {
    fields.String: {"invalid": _l("Ожидается строка."), "invalid_utf8": _l("Строка не в кодировке UTF-8.")},
    fields.Number: {"invalid": _l("Ожидается число."), "too_large": _l("Слишком большое число.")},
    fields.Integer: {"invalid": _l("Ожидается целое число.")},
    fields.Boolean: {"invalid": _l("Ожидается true или false.")},
    fields.Date: {"invalid": _l("Ожидается дата в формате ГГГГ-ММ-ДД."),
                  "format": _l("Ожидается дата в формате ГГГГ-ММ-ДД.")},
    fields.DateTime: {"invalid": _l("Ожидается дата и время в формате ISO 8601.")},
    fields.Nested: {"type": _l("Ожидается объект.")},
    fields.List: {"invalid": _l("Ожидается список.")},
    fields.Mapping: {"invalid": _l("Ожидается объект.")},
}


def _russify(field):
    messages = dict(_COMMON_MESSAGES)
    for cls in reversed(type(field).__mro__):
        messages.update(_TYPE_MESSAGES.get(cls, {}))
    field.error_messages = {**field.error_messages, **messages}
    inner = getattr(field, "inner", None)
    if isinstance(inner, fields.Field):
        _russify(inner)


class ApiSchema(FastDumpMixin, ma.Schema):
    """Base schema: unknown fields are an error, messages are in Russian; dumps follow a plan made once
    per schema (views/api/fast_dump.py)."""

    class Meta:
        unknown = RAISE

    error_messages = {"unknown": _l("Неизвестное или недоступное для изменения поле."),
                      "type": _l("Ожидается объект JSON.")}

    def on_bind_field(self, field_name, field_obj):
        _russify(field_obj)


class Text(fields.String):
    """A string that PostgreSQL can store: no NUL characters."""

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in value:
            raise ValidationError(_("Недопустимый символ NUL в строке."))
        return value


def _as_utc(value):
    """A stored (naive, UTC) datetime made aware; an aware one or None as it is."""
    return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


def utc_iso(value):
    """A stored naive UTC datetime as ISO 8601 with the +00:00 offset; None stays None."""
    value = _as_utc(value)
    return None if value is None else value.isoformat()


ISO_FORMATS = frozenset({None, "iso", "iso8601"})


class UtcDateTime(fields.DateTime):
    """A stored naive UTC datetime, answered as ISO 8601 with the +00:00 offset."""

    def _serialize(self, value, attr, obj, **kwargs):
        if self.format in ISO_FORMATS:  # the default: what marshmallow's "iso" gives, on the UTC value
            return utc_iso(value)
        return super()._serialize(_as_utc(value), attr, obj, **kwargs)

    def dump_function(self):
        """What `_serialize` gives, as a function of the value alone (views/api/fast_dump.py)."""
        if self.format in ISO_FORMATS:
            return utc_iso
        return lambda value: self._serialize(value, None, None)


_STATE_LABEL_TEXTS = {}  # (catalog, state) -> the label


def state_label(state):
    """A route state's label in the request's language (translated once per catalog)."""
    return kept(_STATE_LABEL_TEXTS, (babel.domain_instance.get_translations(), state),
                lambda: str(STATE_LABELS.get(state, state)), 256)


def _text(max_length=MAX_TEXT, **kwargs):
    return Text(validate=validate.Length(max=max_length, error=_l("Не длиннее {max} символов.")),
                **kwargs)


def _choice(values, **kwargs):
    values = list(values)
    return Text(validate=validate.OneOf(values, error=_l("Допустимые значения: {choices}.")),
                **kwargs)


def _id(**kwargs):
    return fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_ID, error=_l("Неверный id.")),
                          **kwargs)


def _version(**kwargs):
    return fields.Integer(
        required=True, strict=True, validate=validate.Range(min=1, max=MAX_ID, error=_l("Неверная версия.")),
        metadata={"description": _l("Текущая версия маршрута (поле version); устаревшая даёт 409 stale_version")},
        **kwargs)


STAGES = [s.value for s in Stage]
DIRECTIONS = [d.value for d in Direction]
ACTIVITY_STATUSES = [s.value for s in ActivityStatus]


# --- errors and tokens --------------------------------------------------------------------------

class ErrorSchema(ApiSchema):
    error = fields.String(required=True, metadata={"description": _l("Код ошибки, например stale_version")})
    message = fields.String(required=True, metadata={
        "description": _l("Сообщение для человека (по-русски по умолчанию; Accept-Language: en — по-английски)")})
    details = fields.Raw(metadata={"description": _l("Подробности, например ошибки полей")})


class TokenRequestSchema(ApiSchema):
    login = _text(80, required=True)
    password = _text(512, required=True)


class TokenSchema(ApiSchema):
    token = fields.String(required=True, metadata={"description": _l("Показывается один раз")})
    expires_at = UtcDateTime(required=True)


# --- what the API answers -------------------------------------------------------------------------

class SchoolRefSchema(ApiSchema):
    id = fields.Integer()
    name = fields.String()


class UserRefSchema(ApiSchema):
    id = fields.Integer()
    login = fields.String()
    full_name = fields.String()
    school = fields.Nested(SchoolRefSchema, allow_none=True)


class ActorSchema(ApiSchema):
    id = fields.Integer()
    login = fields.String()
    full_name = fields.String()


class GeneralInfoSchema(ApiSchema):
    """Section 1: general information about the teacher."""

    workplace = fields.String()
    education = fields.String()
    position = fields.String()
    subject = fields.String()
    experience_years = fields.Integer(allow_none=True)
    qualification_category = fields.String()
    attestation_date = fields.Date(allow_none=True)


class ActivitySchema(ApiSchema):
    """Section 3: one row of the road map."""

    id = fields.Integer()
    position = fields.Integer()
    stage = fields.String(metadata={"enum": STAGES})
    direction = fields.String(metadata={"enum": DIRECTIONS})
    deficit = fields.String()
    tasks = fields.String()
    forms = fields.String()
    deadline = fields.Date(allow_none=True)
    result_form = fields.String()
    status = fields.String(metadata={"enum": ACTIVITY_STATUSES})
    product = fields.String()
    product_url = fields.String()
    reason = fields.String()
    completed_at = UtcDateTime(allow_none=True)


class HistoryEventSchema(ApiSchema):
    id = fields.Integer()
    event = fields.String(metadata={"description": _l("Триггер перехода или correction_requested/approved/rejected")})
    trigger = fields.Method("get_trigger", allow_none=True,
                            metadata={"description": _l("Триггер, если событие — переход; иначе null")})
    from_state = fields.String()
    to_state = fields.String()
    actor = fields.Nested(ActorSchema, allow_none=True)
    on_behalf_of = fields.Nested(ActorSchema, allow_none=True, metadata={
        "description": _l("Замещаемый, за которого действовал actor (замещение), иначе null")})
    comment = fields.String()
    created_at = UtcDateTime()

    def get_trigger(self, obj):
        return obj.event if obj.event in TRIGGERS else None


class AvailabilitySchema(ApiSchema):
    trigger = fields.String()
    label = fields.String()
    allowed = fields.Boolean()
    reason = fields.String(allow_none=True, metadata={"description": _l("Почему недоступно (null, если доступно)")})
    comment_required = fields.Boolean()


class CorrectionSchema(ApiSchema):
    id = fields.Integer()
    status = fields.String(metadata={"enum": ["pending", "approved", "rejected"]})
    reason = fields.String()
    proposal = fields.Dict(metadata={"description": '{"action": "add"|"change"|"remove", "activity_id", "fields"}'})
    previous_roadmap = fields.List(fields.Dict(), allow_none=True,
                                   metadata={"description": _l("Дорожная карта до применения корректировки")})
    requested_by = fields.Nested(ActorSchema)
    decided_by = fields.Nested(ActorSchema, allow_none=True)
    decision_comment = fields.String()
    created_at = UtcDateTime()
    decided_at = UtcDateTime(allow_none=True)


class RouteStateSchema(ApiSchema):
    """A route's state after a transition, what POST /routes/<id>/transitions answers (unless asked for the
    whole route with Prefer: return=representation): what the next change needs (its version); the
    allowed transitions come with the route (GET)."""

    id = fields.Integer()
    state = fields.String(metadata={"enum": STATES})
    state_label = fields.Method("get_state_label")
    version = fields.Integer()
    updated_at = UtcDateTime()

    def get_state_label(self, obj):
        return state_label(obj.state)


def route_state(route):
    """A route's RouteState as RouteStateSchema dumps it, built directly: every transition that asks for
    no more answers it, and marshmallow's field machinery cost more than the five values."""
    return {"id": route.id, "state": route.state, "state_label": state_label(route.state),
            "version": route.version, "updated_at": utc_iso(route.updated_at)}


class RouteSchema(RouteStateSchema):
    """A route with its five sections, history and the caller's allowed transitions."""

    teacher = fields.Nested(UserRefSchema)
    curator = fields.Nested(UserRefSchema, allow_none=True)
    school = fields.Nested(SchoolRefSchema, allow_none=True)
    period_start = fields.Date(allow_none=True)
    period_end = fields.Date(allow_none=True)
    general_info = fields.Nested(GeneralInfoSchema)
    request = fields.String()
    activities = fields.List(fields.Nested(ActivitySchema))
    reflection = fields.String()
    recommendations = fields.String()
    history = fields.List(fields.Nested(HistoryEventSchema))
    allowed_transitions = fields.List(fields.Nested(AvailabilitySchema))
    corrections = fields.List(fields.Nested(CorrectionSchema))
    diagnostic_id = fields.Integer(allow_none=True, metadata={
        "description": _l("Диагностика, на основе которой разработан маршрут (учитывается в B2)")})
    review_requested_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime()


class RouteSummarySchema(ApiSchema):
    """A route as listed: no sections, history or transitions."""

    id = fields.Integer()
    state = fields.String(metadata={"enum": STATES})
    version = fields.Integer()
    teacher = fields.Nested(UserRefSchema)
    curator = fields.Nested(UserRefSchema, allow_none=True)
    school = fields.Nested(SchoolRefSchema, allow_none=True)
    period_start = fields.Date(allow_none=True)
    period_end = fields.Date(allow_none=True)
    review_requested_at = UtcDateTime(allow_none=True)
    overdue_activities = fields.Integer(metadata={"description": _l("Просроченные незавершённые мероприятия")})
    updated_at = UtcDateTime()


class PageSchema(ApiSchema):
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()
    pages = fields.Integer()


class RouteListSchema(PageSchema):
    items = fields.List(fields.Nested(RouteSummarySchema))


class ActivityListSchema(ApiSchema):
    route_id = fields.Integer()
    version = fields.Integer(metadata={"description": _l("Версия маршрута")})
    items = fields.List(fields.Nested(ActivitySchema))


class CorrectionListSchema(ApiSchema):
    route_id = fields.Integer()
    version = fields.Integer(metadata={"description": _l("Версия маршрута")})
    items = fields.List(fields.Nested(CorrectionSchema))


# --- what the API accepts -------------------------------------------------------------------------

class PaginationQuerySchema(ApiSchema):
    """Page and page size; reuse for any paginated list."""

    class Meta:
        unknown = ma.EXCLUDE

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_ID, error=_l("Не меньше 1.")))
    per_page = fields.Integer(load_default=50,
                              validate=validate.Range(min=1, max=200, error=_l("От 1 до 200.")))


class RouteListQuerySchema(PaginationQuerySchema):
    state = _choice(STATES)
    school_id = fields.Integer(validate=validate.Range(min=1, max=MAX_ID, error=_l("Неверный id.")))
    teacher_id = fields.Integer(validate=validate.Range(min=1, max=MAX_ID, error=_l("Неверный id.")))


class GeneralInfoInSchema(ApiSchema):
    workplace = _text(300)
    education = _text(500)
    position = _text(200)
    subject = _text(200)
    experience_years = fields.Integer(strict=True, allow_none=True,
                                      validate=validate.Range(min=0, max=80, error=_l("От 0 до 80 лет.")))
    qualification_category = _text(120)
    attestation_date = fields.Date(allow_none=True)


class ActivityFieldsSchema(ApiSchema):
    """Some fields of an activity (a change)."""

    stage = _choice(STAGES)
    direction = _choice(DIRECTIONS)
    deficit = _text()
    tasks = _text()
    forms = _text()
    deadline = fields.Date(allow_none=True)
    result_form = _text()


class ActivityInSchema(ActivityFieldsSchema):
    """A new road-map activity: stage and direction are required."""

    stage = _choice(STAGES, required=True)
    direction = _choice(DIRECTIONS, required=True)


class RouteCreateSchema(ApiSchema):
    teacher_id = _id(metadata={"description": _l("Куратор или администратор: педагог, для которого маршрут; "
                                              "педагог не передаёт (маршрут — для себя)")})
    from_diagnostic = fields.Boolean(load_default=False,
                                     metadata={"description": _l("Построить маршрут по результатам диагностики")})
    period_start = fields.Date(allow_none=True)
    period_end = fields.Date(allow_none=True)
    general_info = fields.Nested(GeneralInfoInSchema)
    request = _text()
    activities = fields.List(fields.Nested(ActivityInSchema),
                             validate=validate.Length(max=200, error=_l("Не больше 200 мероприятий.")))


class RoutePatchSchema(ApiSchema):
    version = _version()
    period_start = fields.Date(allow_none=True)
    period_end = fields.Date(allow_none=True)
    general_info = fields.Nested(GeneralInfoInSchema)
    request = _text()
    reflection = _text()
    recommendations = _text()


class ActivityCreateSchema(ActivityInSchema):
    version = _version()


RESULT_FIELDS = ("status", "product", "product_url", "reason")


class ActivityResultSchema(ApiSchema):
    """The result of an activity: done with its product, or not done with a reason."""

    version = _version()
    status = _choice(ACTIVITY_STATUSES, required=True)
    product = _text()
    product_url = _text(1000)
    reason = _text()


class ActivityPatchSchema(ActivityFieldsSchema):
    """Either planned fields (draft) or the result fields (in progress), not both."""

    version = _version()
    status = _choice(ACTIVITY_STATUSES)
    product = _text()
    product_url = _text(1000)
    reason = _text()

    @validates_schema
    def _one_kind(self, data, **kwargs):
        result = [k for k in RESULT_FIELDS if k in data]
        planned = [k for k in data if k not in RESULT_FIELDS and k != "version"]
        if result and planned:
            raise ValidationError(_("Нельзя в одном запросе менять план мероприятия и отмечать его результат."))
        if result and "status" not in data:
            raise ValidationError(_("Укажите status (done или not_done)."), "status")
        if not result and not planned:
            raise ValidationError(_("Нет полей для изменения."))


class VersionQuerySchema(ApiSchema):
    class Meta:
        unknown = ma.EXCLUDE

    version = fields.Integer(required=True, validate=validate.Range(min=1, max=MAX_ID, error=_l("Неверная версия.")),
                             metadata={"description": _l("Текущая версия маршрута")})


class TransitionSchema(ApiSchema):
    trigger = _choice(TRIGGERS, required=True)
    comment = _text(load_default="")
    version = _version()


# The RFC 7240 Prefer header of a transition, as documented (read by preferred_return(), not parsed by a
# schema).
PREFER_PARAMETER = {
    "in": "header", "name": "Prefer", "required": False,
    "schema": {"type": "string", "example": "return=representation"},
    "description": _l("return=representation — ответ: весь маршрут (Route: разделы, дорожная карта, история, "
                      "доступные действия) вместо его нового состояния (RouteState); return=minimal — новое "
                      "состояние, как и без заголовка. Ответ на заявленное предпочтение несёт "
                      "Preference-Applied."),
}

RETURN_PREFERENCES = ("minimal", "representation")


def preferred_return(prefer):
    """The `return` preference of a Prefer header (RFC 7240: preferences split by commas, parameters by
    semicolons, names case-insensitive): "minimal", "representation", or None when it asks for neither.
    The first `return` preference counts."""
    for preference in (prefer or "").split(","):
        token, _, value = preference.split(";", 1)[0].partition("=")
        if token.strip().lower() == "return":
            value = value.strip().strip('"').lower()
            return value if value in RETURN_PREFERENCES else None
    return None


class CorrectionCreateSchema(ApiSchema):
    version = _version()
    reason = _text(required=True)
    action = _choice(["add", "change", "remove"], required=True)
    activity_id = _id()
    fields_ = fields.Nested(ActivityFieldsSchema, data_key="fields", attribute="fields")

    @validates_schema
    def _activity_for_change(self, data, **kwargs):
        if data.get("action") in {"change", "remove"} and not data.get("activity_id"):
            raise ValidationError(_("Для change и remove укажите activity_id."), "activity_id")
        if data.get("action") == "add" and data.get("activity_id"):
            raise ValidationError(_("Для add activity_id не указывается."), "activity_id")


class CorrectionDecisionSchema(ApiSchema):
    approve = fields.Boolean(required=True)
    comment = _text(load_default="")
    version = _version()


# --- presenting a route ---------------------------------------------------------------------------

class RouteView:
    """A route as RouteSchema dumps it, for one user (their allowed transitions)."""

    def __init__(self, route, availability):
        self._route = route
        self.allowed_transitions = availability

    def __getattr__(self, name):
        return getattr(self._route, name)

    @property
    def general_info(self):
        return self._route

    @property
    def history(self):
        return self._route.events
