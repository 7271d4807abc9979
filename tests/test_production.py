"""Production serving: settings from the environment, SECRET_KEY required, a pool sized per worker."""
import subprocess
import sys

import pytest

import config
from _servers import gunicorn, server_env
from app import create_app

PG_URL = "postgresql+psycopg://iom@db.invalid:5432/iom"


def _python(code, env):
    return subprocess.run([sys.executable, "-c", code], cwd=config.BASE_DIR, env=env,
                          capture_output=True, text=True, timeout=120)


def test_create_app_refuses_to_start_without_secret_key(tmp_path):
    with pytest.raises(RuntimeError, match="SECRET_KEY is not set"):
        create_app({"SECRET_KEY": None, "TESTING": False, "DEBUG": False, "DEMO": False,
                    "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite3'}"})


def test_wsgi_entry_point_needs_secret_key_from_the_environment(tmp_path):
    env = server_env(f"sqlite:///{tmp_path / 'x.sqlite3'}", tmp_path / "instance")
    without = {k: v for k, v in env.items() if k != "SECRET_KEY"}
    refused = _python("import wsgi", without)
    assert refused.returncode != 0
    assert "SECRET_KEY is not set" in refused.stderr
    started = _python("import wsgi; print(wsgi.app.config['SECRET_KEY'])", env)
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == env["SECRET_KEY"]


def test_demo_mode_keeps_a_generated_key_in_the_instance_folder(tmp_path):
    env = server_env(f"sqlite:///{tmp_path / 'x.sqlite3'}", tmp_path / "instance", IOM_DEMO="1")
    del env["SECRET_KEY"]
    code = "import wsgi; print(wsgi.app.config['SECRET_KEY'])"
    first, second = _python(code, env), _python(code, env)
    assert first.returncode == 0, first.stderr
    assert len(first.stdout.strip()) == 64 and first.stdout == second.stdout
    assert (tmp_path / "instance" / "secret_key").stat().st_mode & 0o077 == 0


def test_settings_come_from_the_environment(tmp_path):
    env = server_env(PG_URL, tmp_path / "instance", DB_POOL_SIZE="7", DB_MAX_OVERFLOW="3",
                     SESSION_COOKIE_SECURE="1", MAX_CONTENT_LENGTH="1048576")
    code = ("import wsgi\nfrom models import db\nwith wsgi.app.app_context():\n"
            "    pool = db.engine.pool\n"
            "    print(db.engine.url.render_as_string(), pool.size(), pool._max_overflow,\n"
            "          wsgi.app.config['SESSION_COOKIE_SECURE'], wsgi.app.config['MAX_CONTENT_LENGTH'])")
    result = _python(code, env)  # no connection is made: the engine connects lazily
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [PG_URL, "7", "3", "True", "1048576"]


def test_engine_options_size_the_pool_only_for_postgresql():
    options = config.engine_options(PG_URL, {"DB_POOL_SIZE": "8", "DB_MAX_OVERFLOW": "2"})
    assert options == {"pool_size": 8, "max_overflow": 2, "pool_timeout": 30, "pool_recycle": 1800}
    # Connections are pinged after sitting idle (app._ping_after_idle, tests/test_db_ping.py), not at
    # every checkout.
    assert config.engine_options("sqlite:////tmp/iom.sqlite3", {"DB_POOL_SIZE": "8"}) == {}


def test_the_wal_checkpointer_is_installed_for_sqlite_only(app):
    """sqlite_wal.py (tested on SQLite in tests/test_sqlite_wal.py) is not installed on PostgreSQL."""
    from models import db
    checkpointer = app.extensions.get("iom_wal_checkpointer")
    if db.engine.dialect.name == "sqlite":
        assert checkpointer is not None
    else:
        assert checkpointer is None


def test_database_url_accepts_plain_postgres_urls(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@h:5432/d")
    assert config.database_url() == "postgresql+psycopg://u:p@h:5432/d"
    monkeypatch.delenv("DATABASE_URL")
    assert config.database_url().startswith("sqlite:///") and config.database_url().endswith("iom.sqlite3")


def test_gunicorn_serves_the_documented_entry_point(app, tmp_path):
    """`gunicorn wsgi:app` (as the README says) serves the login page and the API on loopback."""
    import httpx
    from models import db
    db.session.close()
    with gunicorn(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path, count=1, workers=2) as (url,):
        login = httpx.get(f"{url}/login", timeout=30)
        assert login.status_code == 200 and "Войти" in login.text
        assert httpx.get(f"{url}/api/v1/openapi.json", timeout=30).json()["info"]["version"] == "v1"
    readme = (config.BASE_DIR / "README.md").read_text(encoding="utf-8")
    assert "gunicorn -w 4 -b 127.0.0.1:8000 wsgi:app" in readme
