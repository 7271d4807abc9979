"""Application factory of the IOM route workflow engine."""
import logging
import os
import secrets
import sqlite3
import time
import weakref

from flask import Flask, jsonify, render_template, request
from flask.sessions import SecureCookieSessionInterface
from flask.templating import Environment
from flask_babel import gettext as _, lazy_gettext as _l
from flask_bootstrap import Bootstrap5
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError, OperationalError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

import config
from models import db, login_manager
from lazy_migrate import LazyMigrate
from workflow.errors import WorkflowError
from workflow.jinja_lookup import DictKeyLookup, PlainCallContext


class PageEnvironment(DictKeyLookup, Environment):
    """Flask's Jinja environment; lists read their rows' dict keys directly and call plain functions
    directly (workflow/jinja_lookup.py)."""

    context_class = PlainCallContext


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, minus two per-request costs that every request paid.

    Flask makes the signing serializer anew for each request (the API's included, which never send
    the cookie); it is made once per set of keys here. And an empty session nobody changed (every API
    call's) is saved without reading the cookie's settings first.
    """

    def __init__(self):
        self._serializers = {}  # (secret key, fallbacks) -> serializer

    def get_signing_serializer(self, app):
        if not app.secret_key:
            return None
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        found = self._serializers.get(keys)
        if found is None:
            found = super().get_signing_serializer(app)
            if len(self._serializers) >= 8:  # keys rotate rarely; never let them pile up
                self._serializers.clear()
            self._serializers[keys] = found
        return found

    def save_session(self, app, session, response):
        if not session and not session.modified:
            # What Flask does for an empty, unchanged session, without reading the cookie's settings first.
            if session.accessed:
                response.vary.add("Cookie")
            return None
        return super().save_session(app, session, response)


class IOMFlask(Flask):
    """The app's Flask class: the Jinja environment's class and the session interface differ."""

    jinja_environment = PageEnvironment
    session_interface = CookieSessions()


class BoundedIntConverter(IntegerConverter):
    """`<int:...>` limited to a 32-bit database integer."""

    def __init__(self, map, *args, max=2**31 - 1, **kwargs):
        super().__init__(map, *args, max=max, **kwargs)


# Sent with every response that does not set them itself.
SECURITY_HEADERS = (("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"),
                    ("Referrer-Policy", "same-origin"))

csrf = CSRFProtect()
bootstrap = Bootstrap5()
migrate = LazyMigrate()  # Flask-Migrate (and Alembic) imported on first use
log = logging.getLogger("iom")


def create_app(test_config=None):
    """Create and configure the app: config, extensions, blueprints, error handlers, CLI."""
    app = IOMFlask(__name__, instance_path=str(config.INSTANCE_DIR))
    app.config.from_object(config.Config)
    app.json.ensure_ascii = False  # Russian text stays readable in JSON
    if isinstance(test_config, dict):
        app.config.update(test_config)
    elif test_config is not None:
        app.config.from_object(test_config)
    _require_secret_key(app)
    os.makedirs(app.instance_path, exist_ok=True)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(config.BASE_DIR / "migrations"))
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Войдите, чтобы продолжить.")
    login_manager.localize_callback = str  # flash the message in the request's language, as plain text
    login_manager.login_message_category = "warning"
    login_manager.session_protection = "strong"
    csrf.init_app(app)
    bootstrap.init_app(app)
    from views import i18n
    i18n.init_app(app)
    with app.app_context():
        _configure_engine(db.engine, ping_after_idle=app.config["DB_PING_AFTER_IDLE_SECONDS"])
        import sqlite_wal
        sqlite_wal.init_app(app, db.engine)

    # Ids in URLs fit a database integer, so an absurd id is a 404 and never a database error.
    app.url_map.converters["int"] = BoundedIntConverter
    from views import register_blueprints
    register_blueprints(app)
    from views import http_security
    http_security.init_app(app)
    _register_error_handlers(app)

    from commands import register_commands
    register_commands(app)

    @app.after_request
    def _security_headers(response):
        headers = response.headers
        # What headers.setdefault does, without the KeyError (an HTTPException) that Werkzeug raises and
        # catches inside `in`, `get` and `setdefault` for every header not there yet.
        present = {name.lower() for name in headers.keys()}
        for name, value in SECURITY_HEADERS:
            if name.lower() not in present:
                headers[name] = value
        return response

    return app


def _require_secret_key(app):
    """Refuse to start without SECRET_KEY, except in tests, debug and the local demo."""
    if app.config.get("SECRET_KEY"):
        return
    if app.config.get("DEMO"):
        # The local demo keeps a generated key in instance/ so sessions survive a restart.
        key_file = os.path.join(app.instance_path, "secret_key")
        os.makedirs(app.instance_path, exist_ok=True)
        if not os.path.exists(key_file):
            with open(os.open(key_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as handle:
                handle.write(secrets.token_hex(32))
        with open(key_file) as handle:
            app.config["SECRET_KEY"] = handle.read().strip()
        return
    if app.config.get("TESTING") or app.debug:
        app.config["SECRET_KEY"] = secrets.token_hex(32)
        return
    raise RuntimeError("SECRET_KEY is not set: set the SECRET_KEY environment variable (or IOM_DEMO=1 for a demo).")


# The engines already given their listeners. Held weakly, by the engine itself: an id() would outlive
# its engine, and a new engine at the same address (tests and the benchmark make several) went without.
_configured_engines = weakref.WeakSet()


def _configure_engine(engine, ping_after_idle=None):
    """SQLite: WAL, synchronous=NORMAL, busy timeout, and immediate transactions for writes.
    PostgreSQL: a transaction that wrote nothing ends with COMMIT (see _keep_prepared_statements).
    ping_after_idle: seconds a pooled connection may sit idle before it is pinged (_ping_after_idle);
    None leaves the pool's own settings (the benchmark's baseline keeps pool_pre_ping)."""
    if engine in _configured_engines:
        return
    _configured_engines.add(engine)
    if ping_after_idle is not None:
        _ping_after_idle(engine, ping_after_idle)
    if engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg":
        _keep_prepared_statements(engine)
        return
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, connection_record):
        # Let SQLAlchemy, not the driver, emit BEGIN (see the pysqlite notes in SQLAlchemy's docs).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "close")
    def _on_close(dbapi_connection, connection_record):
        # SQLite's advice: as a connection closes, re-analyze the tables whose statistics went stale.
        # Never wait for the write lock here, and never fail a close for it.
        try:
            dbapi_connection.execute("PRAGMA busy_timeout=0")
            dbapi_connection.execute("PRAGMA optimize")
        except sqlite3.Error:
            pass

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        # A write request takes the write lock at BEGIN, so two writers queue on the busy
        # timeout instead of failing with "database is locked" when one upgrades its lock.
        # A view marked @lock_at_first_write reads without the lock and takes it just before its first
        # write (see _lock_before_first_write).
        from flask import has_request_context
        immediate = not has_request_context() or request.method not in {"GET", "HEAD", "OPTIONS"}
        deferred = immediate and has_request_context() and _locks_at_first_write(request.endpoint)
        connection.info[_DEFERRED_LOCK] = False
        begin = "BEGIN IMMEDIATE" if immediate and not deferred else "BEGIN"
        # On the driver's connection: every request begins, and exec_driver_sql's statement machinery
        # (execution context, result, events) cost more than the BEGIN itself.
        try:
            connection.connection.dbapi_connection.execute(begin)
        except sqlite3.Error as exc:
            raise OperationalError(begin, None, exc) from exc
        connection.info[_DEFERRED_LOCK] = deferred

    @event.listens_for(engine, "before_cursor_execute")
    def _lock_before_first_write(connection, cursor, statement, parameters, context, executemany):
        # The reads of a @lock_at_first_write view ran in a read transaction, outside the write lock.
        # Its first write ends that read transaction (nothing written yet) and begins an immediate one,
        # which waits on the busy timeout like any writer; the write then sees the newest data. Only
        # views whose writes are all guarded by a version check may do this: a change committed by
        # another writer since the reads makes the version-checked UPDATE match no row (StaleDataError,
        # a 409), never a lost update. Upgrading the read transaction in place instead would fail at
        # once with SQLITE_BUSY(_SNAPSHOT) whenever another writer holds or has just released the lock.
        if not connection.info.get(_DEFERRED_LOCK) or statement.lstrip()[:6].upper() in ("SELECT", "PRAGMA"):
            return
        connection.info[_DEFERRED_LOCK] = False
        dbapi_connection = connection.connection.dbapi_connection
        try:
            dbapi_connection.execute("ROLLBACK")
            dbapi_connection.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise OperationalError(statement, parameters, exc) from exc


_DEFERRED_LOCK = "iom.lock_at_first_write"
_READ_ONLY = "iom.read_only_transaction"


_RETURNED_AT = "iom_returned_at"  # a pooled connection's info: when it was last returned (or made)


def _ping_after_idle(engine, seconds):
    """Check a pooled connection before use only when it has sat idle in the pool for `seconds` or more.

    SQLAlchemy's pool_pre_ping checks the connection at every checkout: one more round trip to the
    database on every request, most of them on a connection that answered a moment ago. A connection
    returned to the pool less than `seconds` ago is taken as it is (as HikariCP's aliveBypassWindowMs
    does); one that sat longer is pinged, and a dead one is replaced before use (DisconnectionError
    makes the pool discard it and connect anew). Should the server go away within the window, that
    request's first statement fails, and SQLAlchemy's disconnect handling renews the pool's connections.
    seconds=0 pings at every checkout.
    """
    dialect = engine.dialect

    @event.listens_for(engine, "connect")
    def _made(dbapi_connection, connection_record):
        connection_record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _returned(dbapi_connection, connection_record):
        if dbapi_connection is not None:  # None: the connection was invalidated
            connection_record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, connection_record, connection_proxy):
        returned = connection_record.info.get(_RETURNED_AT)
        if returned is not None and time.monotonic() - returned < seconds:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:
            if dialect.is_disconnect(exc, dbapi_connection, None):
                raise DisconnectionError(f"the pooled connection is gone: {exc}") from exc
            raise


def _keep_prepared_statements(engine):
    """End a PostgreSQL transaction that wrote nothing with COMMIT rather than ROLLBACK.

    psycopg prepares a statement on the server once a connection has run it a few times, and
    PostgreSQL then stops planning it anew. But psycopg drops every prepared statement at each
    ROLLBACK, and a request that only reads (most requests) ends its transaction with one; so no
    statement would ever stay prepared, and every page would pay for planning all its statements
    again (about 5 ms for the menu's badge counts alone). For a transaction that ran nothing but
    SELECTs, COMMIT and ROLLBACK are the same; COMMIT keeps the prepared statements. Any other
    statement (INSERT, UPDATE, DELETE, SET, a CTE...), and a failed transaction, end with ROLLBACK as before.
    (SELECT ... FOR UPDATE only locks, and either end releases its locks. A SELECT of a function with a
    transactional side effect, such as set_config(..., false), would count as read-only: the app runs none.)
    """
    from psycopg.pq import TransactionStatus

    @event.listens_for(engine, "begin")
    def _read_only_so_far(connection):
        connection.info[_READ_ONLY] = True

    @event.listens_for(engine, "before_cursor_execute")
    def _note_write(connection, cursor, statement, parameters, context, executemany):
        if statement.lstrip()[:6].upper() != "SELECT" or executemany:
            connection.info[_READ_ONLY] = False

    dialect = engine.dialect
    rollback = dialect.do_rollback

    def do_rollback(dbapi_connection):
        # dbapi_connection: the pool's proxy of a psycopg connection; its info is Connection.info
        # (an ad hoc proxy, as at the first connect, has none).
        try:
            info = dbapi_connection.info
        except (AttributeError, NotImplementedError):
            info = None
        if info is not None and info.pop(_READ_ONLY, False) and \
                dbapi_connection.driver_connection.info.transaction_status == TransactionStatus.INTRANS:
            dbapi_connection.commit()
        else:
            rollback(dbapi_connection)

    dialect.do_rollback = do_rollback


def lock_at_first_write(view):
    """Mark a view whose writes are all version-checked: on SQLite it reads outside the write lock.

    Put it right under the route decorator. Every other write request takes the lock at its first
    statement (BEGIN IMMEDIATE), so its reads and writes are serialized with the other writers'.
    """
    view._lock_at_first_write = True
    return view


def _locks_at_first_write(endpoint):
    from flask import current_app
    view = current_app.view_functions.get(endpoint) if endpoint else None
    return getattr(view, "_lock_at_first_write", False)


def wants_json():
    return request.path.startswith("/api/") or (
        request.accept_mimetypes.best == "application/json"
    )


def error_response(status, code, message, details=None):
    """Return an error as JSON for the API and as a page for the web, in the user's language."""
    message = str(message)
    if wants_json():
        body = {"error": code, "message": message}
        if details:
            body["details"] = details
        return jsonify(body), status
    return render_template("error.html", status=status, message=message), status


HTTP_MESSAGES = {
    400: _l("Неверный запрос."),
    401: _l("Требуется вход в систему."),
    403: _l("Недостаточно прав."),
    404: _l("Страница не найдена."),
    405: _l("Метод не поддерживается."),
    409: _l("Конфликт: данные уже изменены."),
    413: _l("Файл слишком большой."),
    415: _l("Неподдерживаемый тип данных."),
    422: _l("Неверные данные."),
    429: _l("Слишком много попыток. Повторите позже."),
}


def _register_error_handlers(app):
    @app.errorhandler(WorkflowError)
    def _workflow_error(exc):
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(CSRFError)
    def _csrf_error(exc):
        return error_response(400, "csrf_failed",
                              _("Форма устарела или отправлена не с этого сайта. Обновите страницу и повторите."))

    @app.errorhandler(HTTPException)
    def _http_error(exc):
        if request.path.startswith("/api/"):
            # Unknown API URLs and wrong methods: the API's own JSON ({"error", "message"}).
            from views.api.errors import handle_http_exception
            return handle_http_exception(exc)
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, HTTP_MESSAGES.get(exc.code, exc.description or code))

    @app.errorhandler(Exception)
    def _unexpected(exc):
        log.exception("Unhandled error on %s %s", request.method, request.path)
        db.session.rollback()
        return error_response(500, "internal_error", _("Внутренняя ошибка. Мы уже знаем о ней; повторите позже."))
