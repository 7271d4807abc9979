"""Configuration read from the environment.

Every setting can be given as an environment variable of the same name; the
defaults make `make run` work on a fresh machine with an embedded SQLite file.
"""
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("IOM_INSTANCE_DIR", BASE_DIR / "instance"))


def _bool(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def database_url():
    """Return the database URL, defaulting to a SQLite file under instance/."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        return f"sqlite:///{INSTANCE_DIR / 'iom.sqlite3'}"
    # Heroku-style and bare postgres URLs select psycopg 3.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def engine_options(url, environ=None):
    """Return SQLAlchemy engine options; on PostgreSQL a pool sized for one worker process.

    Each gunicorn worker has its own pool, so the server sees up to
    workers x (DB_POOL_SIZE + DB_MAX_OVERFLOW) connections: keep that below max_connections.
    Connections are checked before use only after sitting idle (DB_PING_AFTER_IDLE_SECONDS, see
    app._ping_after_idle), not by SQLAlchemy's pool_pre_ping at every checkout.
    """
    environ = os.environ if environ is None else environ
    options = {}
    if url.startswith("postgresql"):
        options.update(
            pool_size=int(environ.get("DB_POOL_SIZE", 5)),
            max_overflow=int(environ.get("DB_MAX_OVERFLOW", 10)),
            pool_timeout=int(environ.get("DB_POOL_TIMEOUT", 30)),
            pool_recycle=int(environ.get("DB_POOL_RECYCLE", 1800)),
        )
    return options


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY")
    # Demo mode (make run) may use a generated key; production must set SECRET_KEY.
    DEMO = _bool("IOM_DEMO")
    SQLALCHEMY_DATABASE_URI = database_url()
    SQLALCHEMY_ENGINE_OPTIONS = engine_options(SQLALCHEMY_DATABASE_URI)
    # A pooled connection idle this long (seconds) is pinged before use; 0 pings at every checkout.
    DB_PING_AFTER_IDLE_SECONDS = max(float(os.environ.get("DB_PING_AFTER_IDLE_SECONDS", 1)), 0.0)
    SQLALCHEMY_RECORD_QUERIES = False
    # SQLite: checkpoint the WAL after the response that follows every N commits of a process, not in a
    # commit (sqlite_wal.py); 0 leaves SQLite's own schedule (every 1,000 pages, inside a commit).
    SQLITE_CHECKPOINT_EVERY = max(int(os.environ.get("SQLITE_CHECKPOINT_EVERY", 25)), 0)
    WTF_CSRF_ENABLED = True
    WTF_CSRF_TIME_LIMIT = None
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE")
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE")
    PREFERRED_URL_SCHEME = os.environ.get("PREFERRED_URL_SCHEME", "http")
    # Number of reverse proxies in front of the app whose X-Forwarded-For/-Proto are trusted.
    PROXY_COUNT = int(os.environ.get("PROXY_COUNT", 0))
    MAX_CONTENT_LENGTH = int(os.environ.get("MAX_CONTENT_LENGTH", 16 * 1024 * 1024))
    BOOTSTRAP_SERVE_LOCAL = True
    # Rows per page of the lists (routes, queue, inbox, users...); ?per_page is not offered on the web.
    PAGE_SIZE = min(max(int(os.environ.get("PAGE_SIZE", 25)), 1), 200)
    # The inbox: the department head and admins see waiting routes after this many days (others at once;
    # also "overdue" in its filter); a teacher sees activities due within INBOX_DUE_DAYS.
    INBOX_STALE_DAYS = int(os.environ.get("INBOX_STALE_DAYS", 7))
    INBOX_DUE_DAYS = int(os.environ.get("INBOX_DUE_DAYS", 7))
    # Interface languages: Russian is the default; a user may switch to English (translations/).
    BABEL_DEFAULT_LOCALE = "ru"
    BABEL_DEFAULT_TIMEZONE = "Europe/Moscow"
    BABEL_TRANSLATION_DIRECTORIES = str(BASE_DIR / "translations")
    LANGUAGES = {"ru": "Русский", "en": "English"}
    API_TOKEN_TTL_HOURS = int(os.environ.get("API_TOKEN_TTL_HOURS", 24 * 30))
    # Notification mail (SMTP). Without MAIL_SERVER nothing is ever sent; notifications stay in the app.
    MAIL_SERVER = os.environ.get("MAIL_SERVER") or None
    MAIL_PORT = int(os.environ.get("MAIL_PORT") or 0) or None  # default: 465 with SSL, else 25
    MAIL_USE_TLS = _bool("MAIL_USE_TLS")
    MAIL_USE_SSL = _bool("MAIL_USE_SSL")
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME") or None
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD") or None
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER") or None
    MAIL_TIMEOUT = float(os.environ.get("MAIL_TIMEOUT", 10))
    # The address of the site in links of mail (e.g. https://iom.example.ru); needed by `flask remind`.
    APP_BASE_URL = os.environ.get("APP_BASE_URL") or None
    # Reminders (flask --app app remind): how many days ahead / waiting, unless --days is given.
    REMIND_DAYS = int(os.environ.get("REMIND_DAYS", 3))
    # flask-smorest / OpenAPI
    API_TITLE = "ИОМ: API маршрутов"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api/v1"
    OPENAPI_JSON_PATH = "openapi.json"


class TestConfig(Config):
    TESTING = True
    SECRET_KEY = "test-secret-key"
    WTF_CSRF_ENABLED = False
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL", "sqlite://")
