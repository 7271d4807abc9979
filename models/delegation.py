from datetime import date, datetime

from sqlalchemy import ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models import db
from models._time import utcnow
from models.user import User


class Substitution(db.Model):
    """A curator or head (the principal) names a substitute who acts on their routes for a period."""

    __tablename__ = "substitutions"
    __table_args__ = (
        # The per-request lookup: "whom do I substitute today?" (workflow.delegation.active_principals).
        Index("ix_substitutions_substitute_period", "substitute_id", "starts_on", "ends_on"),
        # Overlap checks and "my substitutes" lists.
        Index("ix_substitutions_principal_period", "principal_id", "starts_on", "ends_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    principal_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    substitute_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # Both days inclusive.
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    cancelled_at: Mapped[datetime | None]
    cancelled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)

    principal: Mapped[User] = relationship(foreign_keys=[principal_id])
    substitute: Mapped[User] = relationship(foreign_keys=[substitute_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    cancelled_by: Mapped[User | None] = relationship(foreign_keys=[cancelled_by_id])

    def is_active_on(self, day):
        """Tell whether the substitute may act for the principal on this day."""
        return self.cancelled_at is None and self.starts_on <= day <= self.ends_on

    def __repr__(self):
        return f"<Substitution {self.substitute_id} for {self.principal_id} {self.starts_on}..{self.ends_on}>"
