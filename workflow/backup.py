"""Consistent backups of the database and restores into an empty one.

SQLite is copied with its online backup API (a consistent snapshot while the app keeps
running); PostgreSQL with pg_dump in its custom format (one snapshot transaction) and
pg_restore in a single transaction. Backups hold password hashes: they are written 0600.
"""
import os
import shutil
import sqlite3
import subprocess
from datetime import datetime
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, inspect, literal, select, table

from models import db
from workflow.errors import Conflict, InvalidInput

# Tables that mark a file as a backup of this application.
REQUIRED_TABLES = {"users", "routes", "route_events"}
BOOKKEEPING_TABLES = {"alembic_version"}


class BackupFailed(Conflict):
    code = "backup_failed"


def _dialect():
    return db.engine.dialect.name


def _sqlite_path():
    path = db.engine.url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        raise InvalidInput(_("резервное копирование базы SQLite в памяти не поддерживается"))
    return Path(path)


def _default_name():
    suffix = "sqlite3" if _dialect() == "sqlite" else "dump"
    return f"iom-{datetime.now():%Y%m%d-%H%M%S}.{suffix}"


def _target_path(path):
    if path is None:
        return Path(current_app.instance_path) / "backups" / _default_name()
    path = Path(path)
    return path / _default_name() if path.is_dir() else path


def _release_connections():
    """End this process's transactions and pooled connections before touching the database file."""
    db.session.remove()
    db.engine.dispose()


def table_counts():
    """Return {table: number of rows} for every application table of the database."""
    names = sorted(set(inspect(db.session.connection()).get_table_names()) - BOOKKEEPING_TABLES)
    return {name: db.session.execute(select(func.count()).select_from(table(name))).scalar_one()
            for name in names}


def is_empty():
    """True when no application table holds a row (a fresh schema counts as empty)."""
    names = set(inspect(db.session.connection()).get_table_names()) - BOOKKEEPING_TABLES
    return not any(db.session.execute(select(literal(1)).select_from(table(name)).limit(1)).first()
                   for name in names)


def backup(path=None):
    """Write a consistent backup of the database to path (a file or a directory); return the file."""
    target = _target_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    try:
        if _dialect() == "sqlite":
            _sqlite_backup(_sqlite_path(), partial)
        elif _dialect() == "postgresql":
            _pg_dump(partial)
        else:
            raise InvalidInput(_("резервное копирование базы %(dialect)s не поддерживается", dialect=_dialect()))
        os.chmod(partial, 0o600)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def restore(path, force=False):
    """Bring a backup back into this database; refuse a database with data unless force."""
    source = Path(path)
    if not source.is_file():
        raise InvalidInput(_("файл резервной копии не найден: %(source)s", source=source))
    if _dialect() == "sqlite":
        _check_sqlite_backup(source)
    elif _dialect() == "postgresql":
        _check_pg_backup(source)
    else:
        raise InvalidInput(_("восстановление базы %(dialect)s не поддерживается", dialect=_dialect()))
    if not force and not is_empty():
        raise Conflict(_("база данных не пуста; восстановление заменит её данные — повторите с --force"))
    _release_connections()
    if _dialect() == "sqlite":
        _sqlite_restore(source, _sqlite_path())
    else:
        _pg_restore(source)
    _release_connections()


# --- SQLite ----------------------------------------------------------------------------------------

def _sqlite_backup(database, target):
    source = sqlite3.connect(database, timeout=30)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)
        # One self-contained file, whatever journal mode the live database uses.
        copy.execute("PRAGMA journal_mode=DELETE")
    finally:
        copy.close()
        source.close()


def _check_sqlite_backup(source):
    try:
        connection = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            ok = connection.execute("PRAGMA quick_check").fetchone()[0] == "ok"
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            connection.close()
    except sqlite3.DatabaseError:
        ok, tables = False, set()
    if not ok or not REQUIRED_TABLES <= tables:
        raise InvalidInput(_("файл %(source)s не является резервной копией базы ИОМ (SQLite)", source=source))


def _sqlite_restore(source, database):
    backup_file = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    live = sqlite3.connect(database, timeout=30)
    try:
        backup_file.backup(live)
    finally:
        live.close()
        backup_file.close()


# --- PostgreSQL ------------------------------------------------------------------------------------

def _pg_tool(name):
    tool = shutil.which(name)
    if tool is None:
        raise BackupFailed(_("не найдена программа %(name)s (клиент PostgreSQL); установите postgresql-client",
                             name=name))
    return tool


def _pg_connection():
    """Return the libpq URL (without the password) and an environment carrying the password."""
    url = db.engine.url
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    libpq = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return libpq, env


def _run_pg(args, env, what):
    result = subprocess.run(args, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        raise BackupFailed(_("%(program)s завершился с ошибкой: %(error)s", program=what,
                             error=lines[0] if lines else result.returncode))
    return result.stdout


def _pg_dump(target):
    libpq, env = _pg_connection()
    _run_pg([_pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
             f"--file={target}", f"--dbname={libpq}"], env, "pg_dump")


def _check_pg_backup(source):
    result = subprocess.run([_pg_tool("pg_restore"), "--list", str(source)], capture_output=True, text=True)
    listed = {line.split()[-2] for line in result.stdout.splitlines()
              if " TABLE DATA " in line and len(line.split()) >= 2}
    if result.returncode != 0 or not REQUIRED_TABLES <= listed:
        raise InvalidInput(_("файл %(source)s не является резервной копией базы ИОМ (pg_dump, формат custom)",
                             source=source))


def _pg_restore(source):
    libpq, env = _pg_connection()
    _run_pg([_pg_tool("pg_restore"), "--no-owner", "--no-privileges", "--clean", "--if-exists",
             "--single-transaction", "--exit-on-error", f"--dbname={libpq}", str(source)], env, "pg_restore")
