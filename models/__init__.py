"""SQLAlchemy models. Nothing here imports the app or reads a request."""
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
login_manager = LoginManager()

from models.org import Municipality, School  # noqa: E402
from models.user import ApiToken, Role, User  # noqa: E402
from models.files import StoredFile  # noqa: E402
from models.security import LoginAttempt  # noqa: E402
from models.route import (  # noqa: E402
    Activity,
    ActivityStatus,
    Correction,
    CorrectionStatus,
    Direction,
    Route,
    RouteEvent,
    Stage,
    StateWriteError,
    allow_state_write,
)
from models.delegation import Substitution  # noqa: E402
from models.orders import DocumentTemplate, Order, OrderCounter, OrderRoute  # noqa: E402
from models.diagnostics import (  # noqa: E402
    Diagnostic, DiagnosticImport, DiagnosticResult, MonitoringCampaign, ResourceCompetency, ResourceEntry,
)
from models.notification import Notification, ReminderLog, RouteComment  # noqa: E402

__all__ = [
    "db", "login_manager", "Municipality", "School", "User", "Role", "ApiToken", "StoredFile",
    "Route", "Activity", "ActivityStatus", "Stage", "Direction", "RouteEvent", "Correction",
    "CorrectionStatus", "StateWriteError", "allow_state_write",
]
