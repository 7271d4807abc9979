"""Typed errors of the workflow; views map them to HTTP statuses and messages in the user's language."""
from flask_babel import lazy_gettext as _l


class WorkflowError(Exception):
    """Base class: carries a machine code and a message for the user (translated when raised)."""

    code = "workflow_error"
    status = 400

    def __init__(self, message, *, details=None):
        # A lazy message is resolved now, in the language of the request that raised it.
        message = str(message)
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(WorkflowError):
    code = "not_found"
    status = 404


class NotPermitted(WorkflowError):
    code = "forbidden"
    status = 403


class TransitionNotAllowed(WorkflowError):
    code = "transition_not_allowed"
    status = 409


class StaleVersion(WorkflowError):
    code = "stale_version"
    status = 409


class Conflict(WorkflowError):
    code = "conflict"
    status = 409


class InvalidInput(WorkflowError):
    code = "validation_error"
    status = 422


STALE_MESSAGE = _l(
    "Маршрут уже изменён другим пользователем. Обновите страницу: ваши изменения не сохранены, "
    "чужие не потеряны."
)
