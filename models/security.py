from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models import db
from models._time import utcnow


class LoginAttempt(db.Model):
    """One sign-in attempt (web form or API token request), kept for throttling across processes."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_login_created", "login", "created_at"),
        Index("ix_login_attempts_ip_created", "ip", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The login as typed (normalised, truncated); the account may not exist.
    login: Mapped[str] = mapped_column(String(80))
    ip: Mapped[str] = mapped_column(String(64))
    # "success", "failure" or "throttled"; only failures count towards the limits.
    outcome: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16), default="web")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
