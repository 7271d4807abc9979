import enum
import secrets
from datetime import datetime

from flask_babel import lazy_gettext as _l
from flask_login import UserMixin
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from models import db
from models._time import utcnow
from models.org import School


class Role(str, enum.Enum):
    TEACHER = "teacher"
    CURATOR = "curator"
    SCHOOL_HEAD = "school_head"
    DEPARTMENT_HEAD = "department_head"
    ADMIN = "admin"

    @property
    def label(self):
        return ROLE_LABELS[self]


ROLE_LABELS = {
    Role.TEACHER: _l("Педагог"),
    Role.CURATOR: _l("Куратор"),
    Role.SCHOOL_HEAD: _l("Руководитель ОО"),
    Role.DEPARTMENT_HEAD: _l("Начальник управления образования"),
    Role.ADMIN: _l("Администратор"),
}


def _nonce():
    return secrets.token_hex(8)


class User(UserMixin, db.Model):
    """A person who signs in: teacher, curator, school head, department head or admin."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    full_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(200), index=True)
    role: Mapped[str] = mapped_column(String(32), index=True)
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id"), index=True)
    municipality_id: Mapped[int | None] = mapped_column(ForeignKey("municipalities.id"), index=True)
    curator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    position: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(default=True)
    # Rotated on logout-everywhere events (password, role, deactivation) to end old sessions.
    session_nonce: Mapped[str] = mapped_column(String(32), default=_nonce)
    # The interface language the user chose (None: the default, Russian).
    locale: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    school: Mapped[School | None] = relationship()
    curator: Mapped["User | None"] = relationship(remote_side=[id], foreign_keys=[curator_id])

    @property
    def is_active(self):
        return self.active

    def get_id(self):
        return f"{self.id}:{self.session_nonce}"

    def set_password(self, password, method="scrypt"):
        self.password_hash = generate_password_hash(password, method=method)
        self.rotate_sessions()

    def check_password(self, password):
        return check_password_hash(self.password_hash, password)

    def rotate_sessions(self):
        """End every existing session and remember-me cookie of this user."""
        self.session_nonce = _nonce()

    @property
    def role_label(self):
        return ROLE_LABELS.get(Role(self.role), self.role)

    def has_role(self, *roles):
        return self.role in {Role(r).value for r in roles}

    def __repr__(self):
        return f"<User {self.login} {self.role}>"


class ApiToken(db.Model):
    """A bearer token for the JSON API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()
