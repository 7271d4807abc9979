"""Sign-in throttling and the security log, shared by the login form and the API token request.

Attempts are stored in the database, so the limits hold across several app processes.
"""
import logging
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select

from models import LoginAttempt, db
from models._time import utcnow
from workflow import accounts
from workflow.errors import WorkflowError

log = logging.getLogger("iom.security")

SUCCESS, FAILURE, THROTTLED = "success", "failure", "throttled"

# Defaults; each can be overridden in the app config under the same name.
DEFAULTS = {
    "LOGIN_MAX_FAILURES_PER_ACCOUNT": 5,
    "LOGIN_MAX_FAILURES_PER_IP": 20,
    "LOGIN_THROTTLE_WINDOW_MINUTES": 15,
    # Attempts older than this are pruned; keep it above the window.
    "LOGIN_ATTEMPTS_RETENTION_HOURS": 24,
}

THROTTLED_MESSAGE = _l("Слишком много неудачных попыток входа. Повторите через {minutes} мин.")
BAD_CREDENTIALS_MESSAGE = _l("Неверный логин или пароль.")


class TooManyAttempts(WorkflowError):
    """Sign-in is throttled for this account or address; carries the seconds to wait."""

    code = "too_many_attempts"
    status = 429

    def __init__(self, message, *, retry_after):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Limits:
    per_account: int
    per_ip: int
    window: timedelta
    retention: timedelta


def limits():
    """Return the throttling limits from the app config (or the defaults outside an app)."""
    cfg = current_app.config if has_app_context() else {}
    value = {key: int(cfg.get(key, default)) for key, default in DEFAULTS.items()}
    return Limits(
        per_account=value["LOGIN_MAX_FAILURES_PER_ACCOUNT"],
        per_ip=value["LOGIN_MAX_FAILURES_PER_IP"],
        window=timedelta(minutes=value["LOGIN_THROTTLE_WINDOW_MINUTES"]),
        retention=timedelta(hours=max(value["LOGIN_ATTEMPTS_RETENTION_HOURS"],
                                      value["LOGIN_THROTTLE_WINDOW_MINUTES"] / 60)),
    )


def normalize_login(login):
    """Return the throttling key of a typed login: stripped, lower-cased, at most 80 characters."""
    return (login or "").strip().lower()[:80]


def _normalize_ip(ip):
    return (ip or "unknown")[:64]


def _failure_filter(column, value, since):
    """Select this login's (or address's) failures that count now."""
    conditions = [column == value, LoginAttempt.outcome == FAILURE, LoginAttempt.created_at >= since]
    if column is LoginAttempt.login:
        # Per account, a success resets the count.
        last_success = db.session.execute(
            select(func.max(LoginAttempt.created_at)).where(
                column == value, LoginAttempt.outcome == SUCCESS, LoginAttempt.created_at >= since)
        ).scalar()
        if last_success is not None:
            conditions.append(LoginAttempt.created_at > last_success)
    return conditions


def _wait_for(column, value, limit, window, now):
    """Return the seconds until fewer than `limit` failures remain in the window (0 when already so)."""
    conditions = _failure_filter(column, value, now - window)
    count = db.session.execute(select(func.count(LoginAttempt.id)).where(*conditions)).scalar_one()
    if count < limit:
        return 0
    # The count drops below the limit when the (count - limit + 1) oldest failures leave the window.
    pivot = db.session.execute(
        select(LoginAttempt.created_at).where(*conditions)
        .order_by(LoginAttempt.created_at, LoginAttempt.id).offset(count - limit).limit(1)
    ).scalar_one()
    return max(int((pivot + window - now).total_seconds()) + 1, 1)


def throttle_state(login, ip, now=None):
    """Return the seconds this login or address must wait before trying again (0 when free)."""
    now = now or utcnow()
    lim = limits()
    # Per address every failure counts: one address guessing many accounts is what that limit stops.
    return max(
        _wait_for(LoginAttempt.login, normalize_login(login), lim.per_account, lim.window, now),
        _wait_for(LoginAttempt.ip, _normalize_ip(ip), lim.per_ip, lim.window, now),
    )


def record_attempt(login, ip, outcome, channel="web"):
    """Store one attempt, prune attempts past the retention period, and commit."""
    now = utcnow()
    db.session.add(LoginAttempt(login=normalize_login(login), ip=_normalize_ip(ip), outcome=outcome,
                                channel=channel, created_at=now))
    db.session.execute(delete(LoginAttempt).where(LoginAttempt.created_at < now - limits().retention))
    db.session.commit()


def attempt_login(login, password, ip, channel="web"):
    """Check the throttle, authenticate, record and log the attempt; return the user or None.

    Raises TooManyAttempts (429) while the account or the address is throttled; the password is
    not checked then, so guessing stops. Unknown logins and wrong passwords get the same answer.
    """
    key = normalize_login(login)
    wait = throttle_state(key, ip)
    if wait:
        record_attempt(key, ip, THROTTLED, channel)
        log.warning("login throttled: login=%r ip=%s channel=%s retry_after=%ss", key, ip, channel, wait)
        raise TooManyAttempts(THROTTLED_MESSAGE.format(minutes=max((wait + 59) // 60, 1)), retry_after=wait)
    user = accounts.authenticate(login, password)
    if user is None:
        record_attempt(key, ip, FAILURE, channel)
        log.warning("login failed: login=%r ip=%s channel=%s", key, ip, channel)
        return None
    record_attempt(key, ip, SUCCESS, channel)
    log.info("login succeeded: login=%r user_id=%s ip=%s channel=%s", key, user.id, ip, channel)
    return user


def log_logout(user, ip):
    log.info("logout: user_id=%s ip=%s", getattr(user, "id", None), ip)
