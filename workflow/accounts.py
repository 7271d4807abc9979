"""Schools, users, roles, curator assignments and API tokens."""
import hashlib
import secrets
from datetime import date, timedelta

from flask import current_app, has_app_context
from flask_babel import gettext as _
from sqlalchemy import bindparam, select, update

from models import ApiToken, Municipality, Role, Route, School, User, db
from models._time import utcnow
from workflow import delegation
from workflow.errors import Conflict, InvalidInput, NotFound

ROLES = [r.value for r in Role]
MIN_PASSWORD_LENGTH = 8


def default_municipality():
    """Return the municipality a single-district installation works in, creating it if needed."""
    municipality = db.session.execute(select(Municipality).order_by(Municipality.id)).scalars().first()
    if municipality is None:
        municipality = Municipality(name="Муниципальное образование", department_name="Управление образования")
        db.session.add(municipality)
        db.session.flush()
    return municipality


def find_school(name, municipality=None):
    query = select(School).where(School.name == (name or "").strip())
    if municipality is not None:
        query = query.where(School.municipality_id == municipality.id)
    school = db.session.execute(query).scalars().first()
    if school is None:
        raise NotFound(_("Школа «%(name)s» не найдена", name=name))
    return school


def find_user(login):
    user = db.session.execute(select(User).where(User.login == (login or "").strip())).scalar_one_or_none()
    if user is None:
        raise NotFound(_("Пользователь «%(login)s» не найден", login=login))
    return user


def create_school(name, municipality=None):
    """Create a school in the municipality (the default one when not given)."""
    name = (name or "").strip()
    if not name:
        raise InvalidInput(_("Укажите название школы"))
    municipality = municipality or default_municipality()
    exists = db.session.execute(
        select(School.id).where(School.name == name, School.municipality_id == municipality.id)
    ).first()
    if exists:
        raise Conflict(_("Школа «%(name)s» уже есть", name=name))
    school = School(name=name, municipality_id=municipality.id)
    db.session.add(school)
    db.session.commit()
    return school


def _hash_method():
    # Tests lower the work factor; production keeps werkzeug's scrypt default.
    return current_app.config.get("PASSWORD_HASH_METHOD", "scrypt") if has_app_context() else "scrypt"


def _check_password(password):
    if not password or len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(_("Пароль должен быть не короче %(min)s символов", min=MIN_PASSWORD_LENGTH))


def create_user(login, *, role, full_name, password, school=None, email=None, position="",
                municipality=None):
    """Create a user with a hashed password; a school is required for teachers and school heads."""
    login = (login or "").strip()
    if not login or len(login) > 80 or any(ch.isspace() for ch in login):
        raise InvalidInput(_("Логин не может быть пустым или содержать пробелы"))
    if role not in ROLES:
        raise InvalidInput(_("Неизвестная роль «%(role)s»; допустимые: %(roles)s", role=role, roles=", ".join(ROLES)))
    if not (full_name or "").strip():
        raise InvalidInput(_("Укажите ФИО"))
    _check_password(password)
    if isinstance(school, str):
        school = find_school(school)
    if role in {Role.TEACHER.value, Role.SCHOOL_HEAD.value} and school is None:
        raise InvalidInput(_("Для педагога и руководителя ОО укажите школу"))
    if db.session.execute(select(User.id).where(User.login == login)).first():
        raise Conflict(_("Логин «%(login)s» уже занят", login=login))
    if municipality is None:
        municipality = school.municipality if school else default_municipality()
    user = User(login=login, role=role, full_name=full_name.strip(), email=(email or None),
                school_id=school.id if school else None, municipality_id=municipality.id,
                position=position or "")
    user.set_password(password, method=_hash_method())
    db.session.add(user)
    db.session.commit()
    return user


def set_password(login_or_user, password):
    """Set a new password and end the user's existing sessions."""
    user = login_or_user if isinstance(login_or_user, User) else find_user(login_or_user)
    _check_password(password)
    user.set_password(password, method=_hash_method())
    # A new password also ends API access granted under the old one.
    db.session.execute(update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
                       .values(revoked_at=utcnow()))
    db.session.commit()
    return user


def update_user(user, *, role=None, full_name=None, school=None, active=None, email=None, position=None):
    """Change a user's role, name, school or activity; a role change or deactivation ends sessions."""
    if role is not None and role not in ROLES:
        raise InvalidInput(_("Неизвестная роль «%(role)s»", role=role))
    if role is not None and role != user.role:
        user.role = role
        user.rotate_sessions()
    if active is not None and active != user.active:
        user.active = active
        user.rotate_sessions()
    if full_name is not None:
        if not full_name.strip():
            raise InvalidInput(_("Укажите ФИО"))
        user.full_name = full_name.strip()
    if school is not None:
        user.school_id = school.id
    if email is not None:
        user.email = email or None
    if position is not None:
        user.position = position
    db.session.commit()
    return user


def assign_curator(teacher_login_or_user, curator_login_or_user):
    """Assign a curator to a teacher; the teacher's open routes move to the new curator."""
    teacher = teacher_login_or_user if isinstance(teacher_login_or_user, User) else find_user(teacher_login_or_user)
    curator = curator_login_or_user if isinstance(curator_login_or_user, User) else find_user(curator_login_or_user)
    if curator.role != Role.CURATOR.value:
        raise InvalidInput(_("Пользователь «%(login)s» не куратор", login=curator.login))
    if curator.id == teacher.id:
        raise InvalidInput(_("Нельзя назначить пользователя куратором самому себе"))
    teacher.curator_id = curator.id
    for route in db.session.execute(
        select(Route).where(Route.teacher_id == teacher.id, Route.state != "closed")
    ).scalars():
        route.curator_id = curator.id
    db.session.commit()
    return teacher


# --- authentication and API tokens -------------------------------------------------------------

def authenticate(login, password):
    """Return the active user with this login and password, or None (same answer for both failures)."""
    user = db.session.execute(select(User).where(User.login == (login or "").strip())).scalar_one_or_none()
    if user is None:
        # Spend the same time as a real check so the answer does not reveal the login exists.
        User(password_hash=_DUMMY_HASH).check_password(password or "")
        return None
    if not user.check_password(password or "") or not user.is_active:
        return None
    return user


_DUMMY_HASH = "scrypt:32768:8:1$dummysaltdummys$" + "0" * 128


def _hash_token(token):
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(user, ttl_hours):
    """Create an API token; return the plain token (shown once) and its record."""
    token = secrets.token_urlsafe(32)
    record = ApiToken(user_id=user.id, token_hash=_hash_token(token),
                      expires_at=utcnow() + timedelta(hours=ttl_hours))
    db.session.add(record)
    db.session.commit()
    return token, record


# Built once: SQLAlchemy memoizes a statement's cache key on the statement object. Each also tells
# whether the user may substitute someone today, which spares most requests the delegation query.
_TOKEN_QUERY = (select(ApiToken.revoked_at, ApiToken.expires_at, User, delegation.substitutes_today_column())
                .join(User, User.id == ApiToken.user_id).where(ApiToken.token_hash == bindparam("token_hash")))
_SESSION_USER_QUERY = select(User, delegation.substitutes_today_column()).where(User.id == bindparam("user_id"))


def load_session_user(session_id):
    """Return the active user of a session id "<id>:<nonce>" (User.get_id), or None; a rotated nonce
    ends old sessions. One statement per request."""
    user_id, _sep, nonce = (session_id or "").partition(":")
    if not user_id.isdigit():
        return None
    today = date.today()
    found = db.session.execute(_SESSION_USER_QUERY, {"user_id": int(user_id), "today": today}).one_or_none()
    if found is None:
        return None
    user, substitutes_today = found
    if not user.is_active or user.session_nonce != nonce:
        return None
    delegation.note_substitutes(user, substitutes_today, today)
    return user


def resolve_token(token):
    """Return the user of a valid, unexpired, unrevoked token, or None."""
    if not token:
        return None
    # The token and its user in one statement (every API request runs it), built once.
    today = date.today()
    found = db.session.execute(_TOKEN_QUERY, {"token_hash": _hash_token(token), "today": today}).one_or_none()
    if found is None:
        return None
    revoked_at, expires_at, user, substitutes_today = found
    if revoked_at is not None or expires_at <= utcnow() or not user.is_active:
        return None
    delegation.note_substitutes(user, substitutes_today, today)
    return user


def revoke_token(token):
    """Revoke a token; return True when it existed."""
    record = db.session.execute(
        select(ApiToken).where(ApiToken.token_hash == _hash_token(token))
    ).scalar_one_or_none()
    if record is None:
        return False
    record.revoked_at = record.revoked_at or utcnow()
    db.session.commit()
    return True


def check_user_change(actor, user, *, role, active, school):
    """Refuse an admin's edit that locks the admin out or leaves a teacher or school head without a school."""
    if actor.id == user.id and (role != Role.ADMIN.value or not active):
        raise InvalidInput(_("Нельзя снять с себя роль администратора или отключить свою учётную запись"))
    if role in {Role.TEACHER.value, Role.SCHOOL_HEAD.value} and school is None and user.school_id is None:
        raise InvalidInput(_("Для педагога и руководителя ОО укажите школу"))
