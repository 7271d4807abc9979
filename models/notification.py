"""Route comments, in-app notifications and the reminders' once-a-day log."""
from datetime import date, datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models import db
from models._time import utcnow
from models.route import Route
from models.user import User


class RouteComment(db.Model):
    """One message of a route's discussion thread; append-only, like the audit trail."""

    __tablename__ = "route_comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    route_id: Mapped[int] = mapped_column(ForeignKey("routes.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    route: Mapped[Route] = relationship()
    author: Mapped[User] = relationship()


@event.listens_for(RouteComment, "before_update")
@event.listens_for(RouteComment, "before_delete")
def _comments_are_append_only(mapper, connection, target):
    raise RuntimeError("Route comments are append-only")


class Notification(db.Model):
    """Something that happened to a route, for one user; its text is rendered when shown, in the
    reader's language, from the kind and the parameters (never stored as a sentence)."""

    __tablename__ = "notifications"
    # The bell on every page counts a user's unread notifications: one indexed COUNT.
    __table_args__ = (Index("ix_notifications_user_read", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    route_id: Mapped[int | None] = mapped_column(ForeignKey("routes.id"), index=True)
    # A route event (approve, correction_requested, ...), "comment" or a reminder kind.
    kind: Mapped[str] = mapped_column(String(40))
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    actor: Mapped[User | None] = relationship(foreign_keys=[actor_id])
    route: Mapped[Route | None] = relationship()


class ReminderLog(db.Model):
    """A reminder sent: one row per user, kind, object and day, so a second run that day sends nothing."""

    __tablename__ = "reminder_log"
    __table_args__ = (UniqueConstraint("user_id", "kind", "object_id", "sent_on",
                                       name="uq_reminder_log_user_kind_object_day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[int]
    sent_on: Mapped[date]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
