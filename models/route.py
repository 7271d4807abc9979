import enum
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, ForeignKey, Index, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from models import db
from models._time import utcnow
from models.files import StoredFile
from models.org import School
from models.user import User


class Stage(str, enum.Enum):
    DIAGNOSTIC_MOTIVATIONAL = "diagnostic_motivational"
    DESIGN = "design"
    IMPLEMENTATION = "implementation"
    ANALYTICAL = "analytical"


STAGE_LABELS = {
    Stage.DIAGNOSTIC_MOTIVATIONAL: _l("Диагностико-мотивационный"),
    Stage.DESIGN: _l("Проектировочный"),
    Stage.IMPLEMENTATION: _l("Реализационный"),
    Stage.ANALYTICAL: _l("Аналитический"),
}


class Direction(str, enum.Enum):
    PROFESSIONAL = "professional"
    PSYCHO_PEDAGOGICAL = "psycho_pedagogical"
    METHODICAL = "methodical"
    INFORMATIONAL = "informational"


DIRECTION_LABELS = {
    Direction.PROFESSIONAL: _l("Профессиональное"),
    Direction.PSYCHO_PEDAGOGICAL: _l("Психолого-педагогическое"),
    Direction.METHODICAL: _l("Методическое"),
    Direction.INFORMATIONAL: _l("Информационное"),
}


class ActivityStatus(str, enum.Enum):
    PLANNED = "planned"
    DONE = "done"
    NOT_DONE = "not_done"


ACTIVITY_STATUS_LABELS = {
    ActivityStatus.PLANNED: _l("Запланировано"),
    ActivityStatus.DONE: _l("Выполнено"),
    ActivityStatus.NOT_DONE: _l("Не выполнено"),
}


class CorrectionStatus(str, enum.Enum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class StateWriteError(RuntimeError):
    """Raised when code writes Route.state outside a workflow transition."""


_state_write_allowed: ContextVar[bool] = ContextVar("state_write_allowed", default=False)


@contextmanager
def allow_state_write():
    """Let the workflow's state machine write Route.state inside this block."""
    token = _state_write_allowed.set(True)
    try:
        yield
    finally:
        _state_write_allowed.reset(token)


class Route(db.Model):
    """A teacher's individual educational route (ИОМ)."""

    __tablename__ = "routes"
    __table_args__ = (
        Index("ix_routes_curator_state", "curator_id", "state"),
        Index("ix_routes_school_state", "school_id", "state"),
        # Leads with teacher_id (the foreign key's index) and covers the monitoring's B2 lookup per
        # participant (approved routes of the counted diagnostics) without reading the routes.
        Index("ix_routes_teacher_approved", "teacher_id", "approved_at", "diagnostic_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    teacher_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    curator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id"), index=True)
    # The diagnostic the route was built from (counted in the monitoring indicator B2).
    diagnostic_id: Mapped[int | None] = mapped_column(ForeignKey("diagnostics.id"), index=True)
    # Indexed after curator_id and school_id (above), not alone: a lone index on five values looks
    # selective to SQLite's planner (no statistics), which then walks whole states of the region
    # instead of one municipality's or one curator's routes (see bench/, measurements 2 and 3).
    state: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(default=1)
    period_start: Mapped[date | None]
    period_end: Mapped[date | None]
    # Section 1: general information about the teacher.
    workplace: Mapped[str] = mapped_column(String(300), default="")
    education: Mapped[str] = mapped_column(String(500), default="")
    position: Mapped[str] = mapped_column(String(200), default="")
    subject: Mapped[str] = mapped_column(String(200), default="")
    experience_years: Mapped[int | None]
    qualification_category: Mapped[str] = mapped_column(String(120), default="")
    attestation_date: Mapped[date | None]
    # Section 2, 4, 5.
    request: Mapped[str] = mapped_column(Text, default="")
    reflection: Mapped[str] = mapped_column(Text, default="")
    recommendations: Mapped[str] = mapped_column(Text, default="")
    # Set while a draft waits for the curator's review.
    review_requested_at: Mapped[datetime | None]
    # When the curator approved the route, kept while it goes on (and once it is closed), cleared when it
    # is returned to the draft: set exactly on the routes the monitoring counts in B2 (workflow/monitoring.py).
    approved_at: Mapped[datetime | None]
    state_changed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    teacher: Mapped[User] = relationship(foreign_keys=[teacher_id])
    curator: Mapped[User | None] = relationship(foreign_keys=[curator_id])
    school: Mapped[School | None] = relationship()
    activities: Mapped[list["Activity"]] = relationship(
        back_populates="route", order_by="Activity.position, Activity.id", cascade="all, delete-orphan"
    )
    events: Mapped[list["RouteEvent"]] = relationship(
        back_populates="route", order_by="RouteEvent.id", passive_deletes=True
    )
    corrections: Mapped[list["Correction"]] = relationship(
        back_populates="route", order_by="Correction.id", passive_deletes=True
    )

    __mapper_args__ = {"version_id_col": version}

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with allow_state_write():
            self.state = "drafted"

    @validates("state")
    def _guard_state(self, key, value):
        if not _state_write_allowed.get():
            raise StateWriteError("Route.state changes only through a workflow transition")
        return value

    def __repr__(self):
        return f"<Route {self.id} {self.state}>"


class Activity(db.Model):
    """One row of a route's road map (section 3)."""

    __tablename__ = "activities"
    # Overdue counts ask for a route's planned activities past their deadline. The status is indexed
    # only here, behind route_id: alone (three values) it lured SQLite into scanning every planned
    # activity of the region for one curator's overdue count.
    __table_args__ = (Index("ix_activities_route_status_deadline", "route_id", "status", "deadline"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    route_id: Mapped[int] = mapped_column(ForeignKey("routes.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    stage: Mapped[str] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(32))
    deficit: Mapped[str] = mapped_column(Text, default="")
    tasks: Mapped[str] = mapped_column(Text, default="")
    forms: Mapped[str] = mapped_column(Text, default="")
    deadline: Mapped[date | None] = mapped_column(index=True)
    result_form: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default=ActivityStatus.PLANNED.value)
    product: Mapped[str] = mapped_column(Text, default="")
    product_url: Mapped[str] = mapped_column(String(1000), default="")
    product_file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_files.id"), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    completed_at: Mapped[datetime | None]

    route: Mapped[Route] = relationship(back_populates="activities")
    product_file: Mapped[StoredFile | None] = relationship()


class RouteEvent(db.Model):
    """Append-only audit trail: every transition and road-map correction of a route."""

    __tablename__ = "route_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    route_id: Mapped[int] = mapped_column(ForeignKey("routes.id"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    # The principal whose substitute the actor was, when the actor acted only through a substitution
    # (workflow/delegation.py); the timeline shows "actor за principal".
    on_behalf_of_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    # A trigger name for transitions, or correction_requested/approved/rejected.
    event: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str] = mapped_column(String(32))
    to_state: Mapped[str] = mapped_column(String(32))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    route: Mapped[Route] = relationship(back_populates="events")
    actor: Mapped[User | None] = relationship(foreign_keys=[actor_id])
    on_behalf_of: Mapped[User | None] = relationship(foreign_keys=[on_behalf_of_id])


@event.listens_for(RouteEvent, "before_update")
@event.listens_for(RouteEvent, "before_delete")
def _audit_is_append_only(mapper, connection, target):
    raise RuntimeError("The audit trail is append-only")


class Correction(db.Model):
    """A teacher's request to change the road map while the route is in progress."""

    __tablename__ = "corrections"

    id: Mapped[int] = mapped_column(primary_key=True)
    route_id: Mapped[int] = mapped_column(ForeignKey("routes.id"), index=True)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    # {"action": "add"|"change"|"remove", "activity_id": int|None, "fields": {...}}
    proposal: Mapped[dict] = mapped_column(JSON)
    # The road map as it was before the correction was applied (list of activity dicts).
    previous_roadmap: Mapped[list | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default=CorrectionStatus.PENDING.value, index=True)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    decision_comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]

    route: Mapped[Route] = relationship(back_populates="corrections")
    requested_by: Mapped[User] = relationship(foreign_keys=[requested_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
