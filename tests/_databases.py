"""Scratch databases beside the test session's own: a new SQLite file or a new PostgreSQL database."""
import uuid
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def is_postgres(url):
    return bool(url) and make_url(url).get_backend_name() == "postgresql"


@contextmanager
def scratch_database(session_url, tmp_path, label="scratch"):
    """Yield the URL of a new empty database of the session's kind; drop it afterwards."""
    if not is_postgres(session_url):
        yield f"sqlite:///{tmp_path / f'{label}-{uuid.uuid4().hex[:6]}.sqlite3'}"
        return
    base = make_url(session_url)
    name = f"{base.database}_{label}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def app_config(url, **extra):
    """The test configuration of an app bound to URL."""
    return {"TESTING": True, "SECRET_KEY": "test", "WTF_CSRF_ENABLED": False,
            "SQLALCHEMY_DATABASE_URI": url, "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000", **extra}
