"""Diagnostics of professional competencies, the resource map and monitoring campaigns."""
import enum
from datetime import date, datetime
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, ForeignKey, Index, Numeric, String, Text, UniqueConstraint, event, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models import db
from models._time import utcnow
from models.files import StoredFile
from models.org import Municipality, School
from models.user import User


class Diagnostic(db.Model):
    """One diagnostic of professional competencies held on a date (e.g. ФИОКО, September 2022)."""

    __tablename__ = "diagnostics"
    __table_args__ = (
        UniqueConstraint("municipality_id", "title_key", "held_on", name="uq_diagnostics_municipality_title"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    # The title normalized for matching (case, ё, spaces), so re-imports find the same diagnostic.
    title_key: Mapped[str] = mapped_column(String(300))
    provider: Mapped[str] = mapped_column(String(300), default="")
    held_on: Mapped[date] = mapped_column(index=True)
    # A score below the threshold is a deficit when the file has no deficit column.
    threshold: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    municipality: Mapped[Municipality] = relationship()

    def __repr__(self):
        return f"<Diagnostic {self.title} {self.held_on}>"


class DiagnosticResult(db.Model):
    """A teacher's result in one competency area of a diagnostic."""

    __tablename__ = "diagnostic_results"
    __table_args__ = (
        UniqueConstraint("teacher_id", "diagnostic_id", "competency_key",
                         name="uq_diagnostic_results_teacher_diagnostic_competency"),
        Index("ix_diagnostic_results_diagnostic_school", "diagnostic_id", "school_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    teacher_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    diagnostic_id: Mapped[int] = mapped_column(ForeignKey("diagnostics.id"), index=True)
    # The school the teacher worked at when diagnosed: per-school figures count by it.
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id"), index=True)
    competency: Mapped[str] = mapped_column(String(300))
    competency_key: Mapped[str] = mapped_column(String(300), index=True)
    score: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    is_deficit: Mapped[bool] = mapped_column(default=False, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    teacher: Mapped[User] = relationship()
    diagnostic: Mapped[Diagnostic] = relationship()
    school: Mapped[School | None] = relationship()


class DiagnosticImport(db.Model):
    """The record of one committed import: who, when, which file, what changed."""

    __tablename__ = "diagnostic_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    imported_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_files.id"), index=True)
    file_name: Mapped[str] = mapped_column(String(255), default="")
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    rows: Mapped[int] = mapped_column(default=0)
    created: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    imported_by: Mapped[User | None] = relationship()
    file: Mapped[StoredFile | None] = relationship()


class ResourceKind(str, enum.Enum):
    COURSE = "course"
    SEMINAR = "seminar"
    WEBINAR = "webinar"
    TRAINING = "training"
    MASTER_CLASS = "master_class"
    COMMUNITY = "community"
    SELF_EDUCATION = "self_education"


RESOURCE_KIND_LABELS = {
    ResourceKind.COURSE.value: _l("Курсы повышения квалификации"),
    ResourceKind.SEMINAR.value: _l("Семинар"),
    ResourceKind.WEBINAR.value: _l("Вебинар"),
    ResourceKind.TRAINING.value: _l("Тренинг"),
    ResourceKind.MASTER_CLASS.value: _l("Мастер-класс"),
    ResourceKind.COMMUNITY.value: _l("Профессиональное сообщество"),
    ResourceKind.SELF_EDUCATION.value: _l("Самообразование"),
}


class ResourceLevel(str, enum.Enum):
    REGIONAL = "regional"
    MUNICIPAL = "municipal"
    SCHOOL = "school"


RESOURCE_LEVEL_LABELS = {
    ResourceLevel.REGIONAL.value: _l("Региональный"),
    ResourceLevel.MUNICIPAL.value: _l("Муниципальный"),
    ResourceLevel.SCHOOL.value: _l("Школьный"),
}


class ResourceFormat(str, enum.Enum):
    IN_PERSON = "in_person"
    ONLINE = "online"
    BLENDED = "blended"


RESOURCE_FORMAT_LABELS = {
    ResourceFormat.IN_PERSON.value: _l("Очно"),
    ResourceFormat.ONLINE.value: _l("Дистанционно"),
    ResourceFormat.BLENDED.value: _l("Очно-дистанционно"),
}


class ResourceEntry(db.Model):
    """An entry of the resource map (ресурсная карта): a course, seminar, community and so on."""

    __tablename__ = "resource_entries"
    __table_args__ = (Index("ix_resource_entries_municipality_kind", "municipality_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"), index=True)
    title: Mapped[str] = mapped_column(String(400))
    provider: Mapped[str] = mapped_column(String(300), default="")
    kind: Mapped[str] = mapped_column(String(32))
    level: Mapped[str] = mapped_column(String(16))
    # One of models.route.Direction.
    direction: Mapped[str] = mapped_column(String(32))
    format: Mapped[str] = mapped_column(String(16), default=ResourceFormat.IN_PERSON.value)
    starts_on: Mapped[date | None]
    ends_on: Mapped[date | None]
    hours: Mapped[int | None]
    annotation: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str] = mapped_column(String(1000), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    competencies: Mapped[list["ResourceCompetency"]] = relationship(
        back_populates="entry", order_by="ResourceCompetency.id", cascade="all, delete-orphan"
    )
    created_by: Mapped[User | None] = relationship()

    @property
    def competency_names(self):
        return [c.name for c in self.competencies]

    @property
    def kind_label(self):
        return RESOURCE_KIND_LABELS.get(self.kind, self.kind)

    @property
    def level_label(self):
        return RESOURCE_LEVEL_LABELS.get(self.level, self.level)

    @property
    def format_label(self):
        return RESOURCE_FORMAT_LABELS.get(self.format, self.format)


class ResourceCompetency(db.Model):
    """A competency area a resource-map entry addresses (matched to deficits by its key)."""

    __tablename__ = "resource_competencies"
    __table_args__ = (UniqueConstraint("entry_id", "key", name="uq_resource_competencies_entry_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("resource_entries.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    key: Mapped[str] = mapped_column(String(300), index=True)

    entry: Mapped[ResourceEntry] = relationship(back_populates="competencies")


class CampaignState(str, enum.Enum):
    OPEN = "open"
    SIGNED = "signed"


CAMPAIGN_STATE_LABELS = {CampaignState.OPEN.value: _l("Открыт"), CampaignState.SIGNED.value: _l("Подписан")}


class MonitoringCampaign(db.Model):
    """A dated monitoring of the municipality's routes; signing freezes its figures and report."""

    __tablename__ = "monitoring_campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"), index=True)
    title: Mapped[str] = mapped_column(String(400))
    period_start: Mapped[date]
    period_end: Mapped[date]
    # When set, only this diagnostic counts; otherwise every diagnostic held by the period's end.
    diagnostic_id: Mapped[int | None] = mapped_column(ForeignKey("diagnostics.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), default=CampaignState.OPEN.value, index=True)
    recommendations: Mapped[str] = mapped_column(Text, default="")
    # Who the report is addressed to, one addressee per line (seed 000: the methodical department, school heads).
    addressees: Mapped[str] = mapped_column(Text, default="")
    # The order "О проведении мониторинга", when one was issued (workflow.orders).
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    signed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    signed_at: Mapped[datetime | None]
    # Frozen at signing: {"totals": {...}, "schools": [...], "states": {...}, "overdue": n}.
    figures: Mapped[dict | None] = mapped_column(JSON)
    # Frozen at signing: {"c2": [{"id", "full_name", "school"}], "b2": [...]}.
    teachers: Mapped[dict | None] = mapped_column(JSON)
    report_file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_files.id"), index=True)
    report_sha256: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(default=1)

    municipality: Mapped[Municipality] = relationship()
    diagnostic: Mapped[Diagnostic | None] = relationship()
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    signed_by: Mapped[User | None] = relationship(foreign_keys=[signed_by_id])
    report_file: Mapped[StoredFile | None] = relationship()
    order: Mapped["Order | None"] = relationship()  # noqa: F821 (models.orders, resolved by the registry)

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_signed(self):
        return self.state == CampaignState.SIGNED.value

    @property
    def state_label(self):
        return CAMPAIGN_STATE_LABELS.get(self.state, self.state)


class SignedCampaignError(RuntimeError):
    """Raised when code changes or deletes a signed monitoring campaign."""


@event.listens_for(MonitoringCampaign, "before_update")
@event.listens_for(MonitoringCampaign, "before_delete")
def _signed_campaign_is_frozen(mapper, connection, target):
    # Read the stored state: the object's own may be unloaded or already changed in memory.
    table = MonitoringCampaign.__table__
    stored = connection.execute(select(table.c.state).where(table.c.id == target.id)).scalar()
    if stored == CampaignState.SIGNED.value:
        raise SignedCampaignError("A signed monitoring campaign never changes")
