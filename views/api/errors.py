"""Every error of the API as JSON {"error": code, "message": text[, "details"]}; never HTML or a traceback."""
import logging

from flask import jsonify, request
from werkzeug.exceptions import HTTPException
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

from models import db
from workflow.errors import WorkflowError

log = logging.getLogger("iom.api")

MESSAGES = {
    400: _l("Неверный запрос."),
    401: _l("Требуется токен доступа: заголовок Authorization: Bearer <token>."),
    403: _l("Недостаточно прав."),
    404: _l("Ресурс не найден."),
    405: _l("Метод не поддерживается для этого адреса."),
    406: _l("Неподдерживаемый формат ответа."),
    409: _l("Конфликт: данные уже изменены."),
    413: _l("Запрос слишком большой."),
    415: _l("Неподдерживаемый тип данных: ожидается application/json."),
    422: _l("Неверные данные запроса."),
    429: _l("Слишком много запросов. Повторите позже."),
    500: _l("Внутренняя ошибка. Мы уже знаем о ней; повторите позже."),
}


class Unauthorized(WorkflowError):
    """No token, or an unknown, expired or revoked one."""

    code = "unauthorized"
    status = 401


def json_error(status, code, message, details=None, headers=None):
    """Build the API's error response."""
    body = {"error": code, "message": str(message)}
    if details:
        body["details"] = _plain(details)
    response = jsonify(body)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _plain(value, top=True):
    """Resolve lazy (translated) messages inside validation details to plain strings.

    marshmallow keeps a lone lazy message of a field as is, not in a list as it does a str: list it.
    """
    if isinstance(value, dict):
        return {key: _plain(item, False) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [str(item) if isinstance(item, LazyString) else _plain(item, False) for item in value]
    if isinstance(value, LazyString):
        return str(value) if top else [str(value)]
    return value


def _flatten_messages(messages):
    """Turn webargs' {"json": {...}} into {...} when a single location failed."""
    if isinstance(messages, dict) and len(messages) == 1:
        (location, inner), = messages.items()
        if location in {"json", "query", "querystring", "form", "headers", "files", "path"}:
            return inner
    return messages


def _summary(details, prefix=""):
    """One line naming the first invalid fields, for the message."""
    parts = []
    if isinstance(details, dict):
        for key, value in details.items():
            name = _("объект") if key == "_schema" else f"{prefix}{key}"
            if isinstance(value, dict):
                parts.extend(_summary(value, f"{name}."))
            elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
                parts.append(f"{name}: {' '.join(value)}")
            else:
                parts.append(name)
    elif isinstance(details, list):
        parts.append(" ".join(str(v) for v in details))
    return parts


def handle_http_exception(exc):
    status = exc.code or 500
    data = getattr(exc, "data", None) or {}
    messages = data.get("messages") or data.get("errors")
    if status == 422 or (status == 400 and messages):
        details = _plain(_flatten_messages(messages)) if messages else None
        if status == 400:
            return json_error(400, "bad_request", _("Тело запроса не является корректным JSON."))
        summary = "; ".join(_summary(details)[:5])
        message = MESSAGES[422] + (f" {summary}" if summary else "")
        return json_error(422, "validation_error", message, details)
    code = (exc.name or "error").lower().replace(" ", "_")
    headers = {}
    if status == 405 and getattr(exc, "valid_methods", None):
        headers["Allow"] = ", ".join(exc.valid_methods)
    return json_error(status, code, data.get("message") or MESSAGES.get(status, exc.description or code),
                      headers=headers)


def handle_workflow_error(exc):
    headers = {}
    if getattr(exc, "retry_after", None):
        headers["Retry-After"] = str(exc.retry_after)
    return json_error(exc.status, exc.code, exc.message, exc.details, headers)


def handle_unexpected(exc):
    log.exception("Unhandled API error on %s %s", request.method, request.path)
    db.session.rollback()
    return json_error(500, "internal_error", MESSAGES[500])


def register_handlers(blp):
    """Attach the JSON error handlers to an API blueprint."""
    blp.register_error_handler(HTTPException, handle_http_exception)
    blp.register_error_handler(WorkflowError, handle_workflow_error)
    blp.register_error_handler(Exception, handle_unexpected)
