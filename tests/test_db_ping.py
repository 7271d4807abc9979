"""app._ping_after_idle: a pooled connection is checked before use only after sitting idle, and a dead
one is replaced before the request uses it."""
import importlib

from models import db

app_module = importlib.import_module("app")


class _Clock:
    """time for app.py: monotonic() runs `ahead` seconds ahead of the real one."""

    def __init__(self, ahead=0.0):
        self.ahead = ahead
        self.real = app_module.time

    def monotonic(self):
        return self.real.monotonic() + self.ahead


def _counting_pings(monkeypatch, engine, fail_first=0):
    pings = []
    real = engine.dialect.do_ping

    def do_ping(dbapi_connection):
        pings.append(dbapi_connection)
        if len(pings) <= fail_first:
            raise engine.dialect.loaded_dbapi.OperationalError("server closed the connection unexpectedly")
        return real(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", do_ping)
    return pings


def _select_one(engine):
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1
        return conn.connection.dbapi_connection


def test_a_connection_is_pinged_only_after_sitting_idle(app, monkeypatch):
    engine = db.engine
    assert app.config["DB_PING_AFTER_IDLE_SECONDS"] == 1.0
    pings = _counting_pings(monkeypatch, engine)
    first = _select_one(engine)  # a new connection is not pinged, nor one returned a moment ago
    assert _select_one(engine) is first and _select_one(engine) is first
    assert pings == []
    monkeypatch.setattr(app_module, "time", _Clock(ahead=5))  # it has sat in the pool for 5 s
    assert _select_one(engine) is first
    assert pings == [first]
    assert _select_one(engine) is first and len(pings) == 1  # just returned again: not pinged


def test_a_dead_idle_connection_is_replaced_before_use(app, monkeypatch):
    engine = db.engine
    first = _select_one(engine)
    monkeypatch.setattr(engine.dialect, "is_disconnect", lambda exc, connection, cursor: True)
    pings = _counting_pings(monkeypatch, engine, fail_first=1)
    monkeypatch.setattr(app_module, "time", _Clock(ahead=5))
    replacement = _select_one(engine)  # the ping failed: the pool made a new connection, unpinged
    assert pings == [first] and replacement is not first


def test_an_error_that_is_not_a_disconnect_is_raised(app, monkeypatch):
    import pytest
    engine = db.engine
    _select_one(engine)
    monkeypatch.setattr(engine.dialect, "is_disconnect", lambda exc, connection, cursor: False)
    _counting_pings(monkeypatch, engine, fail_first=1)
    monkeypatch.setattr(app_module, "time", _Clock(ahead=5))
    with pytest.raises(Exception, match="server closed the connection"):
        _select_one(engine)
