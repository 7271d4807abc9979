"""States and transitions of a route, declared once as data.

Each transition names the trigger, its source states, the destination, who may
fire it (a relation of the user to the route), the guards that must hold and
whether a comment is required. The shared machine, the list of allowed actions
and the service are all built from this table.

Labels are lazy (Flask-Babel): str() them in the language wanted; documents render them in Russian
(workflow.documents.clean_context).
"""
from flask_babel import lazy_gettext as _l

STATES = ["drafted", "curator_approved", "in_progress", "reflected", "closed"]

STATE_LABELS = {
    "drafted": _l("Черновик"),
    "curator_approved": _l("Утверждён куратором"),
    "in_progress": _l("Реализуется"),
    "reflected": _l("Саморефлексия представлена"),
    "closed": _l("Закрыт"),
}

# Relations of a user to a route (see workflow.permissions.relations).
TEACHER, CURATOR, DEPARTMENT_HEAD = "teacher", "curator", "department_head"

RELATION_LABELS = {
    TEACHER: _l("педагогу — владельцу маршрута"),
    CURATOR: _l("куратору маршрута"),
    DEPARTMENT_HEAD: _l("начальнику управления образования"),
}

TRANSITIONS = [
    {
        "trigger": "request_review",
        "label": _l("Отправить куратору на согласование"),
        "source": ["drafted"],
        "dest": "drafted",
        "actors": [TEACHER],
        "guards": ["not_under_review", "has_period", "has_request", "has_activities"],
        "comment_required": False,
    },
    {
        "trigger": "approve",
        "label": _l("Утвердить маршрут"),
        "source": ["drafted"],
        "dest": "curator_approved",
        "actors": [CURATOR],
        "guards": ["not_own_route", "under_review", "has_period", "has_request", "has_activities"],
        "comment_required": False,
    },
    {
        "trigger": "return_to_draft",
        "label": _l("Вернуть на доработку"),
        "source": ["drafted", "curator_approved"],
        "dest": "drafted",
        "actors": [CURATOR],
        "guards": ["not_own_route", "under_review_if_draft"],
        "comment_required": True,
    },
    {
        "trigger": "start",
        "label": _l("Начать реализацию"),
        "source": ["curator_approved"],
        "dest": "in_progress",
        "actors": [TEACHER, CURATOR],
        "guards": [],
        "comment_required": False,
    },
    {
        "trigger": "submit_reflection",
        "label": _l("Представить саморефлексию"),
        "source": ["in_progress"],
        "dest": "reflected",
        "actors": [TEACHER],
        "guards": ["has_reflection", "activities_resolved", "no_pending_correction"],
        "comment_required": False,
    },
    {
        "trigger": "return_reflection",
        "label": _l("Вернуть саморефлексию на доработку"),
        "source": ["reflected"],
        "dest": "in_progress",
        "actors": [CURATOR],
        "guards": ["not_own_route"],
        "comment_required": True,
    },
    {
        "trigger": "close",
        "label": _l("Закрыть маршрут"),
        "source": ["reflected"],
        "dest": "closed",
        "actors": [CURATOR],
        "guards": ["not_own_route", "has_recommendations"],
        "comment_required": False,
    },
    {
        "trigger": "archive",
        "label": _l("Закрыть (в архив) с указанием причины"),
        "source": ["drafted", "curator_approved", "in_progress", "reflected"],
        "dest": "closed",
        "actors": [DEPARTMENT_HEAD],
        "guards": [],
        "comment_required": True,
    },
]

TRIGGERS = [t["trigger"] for t in TRANSITIONS]
TRANSITIONS_BY_TRIGGER = {t["trigger"]: t for t in TRANSITIONS}
