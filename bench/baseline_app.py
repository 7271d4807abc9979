"""The bare baselines: plain Flask + SQLAlchemy doing the least each kind of request can do.

Served by the same gunicorn settings as the app (bench/server.py), on the same database, with the
same SQLite settings (WAL, synchronous=NORMAL, busy timeout, BEGIN IMMEDIATE for writes):

- ``POST /bare/routes/<id>/transition``: one UPDATE (reflected <-> in progress) and one INSERT (its
  audit row) in a transaction;
- ``POST /bare/login`` then ``GET /bare/routes/<id>``: a logged-in session (Flask-Login loads the
  user by key) and two SELECTs by key (the route, its teacher), rendered into a small page.

    gunicorn -w 2 'bench.baseline_app:create_app()'   # DATABASE_URL names the database
"""
import os

from flask import Flask, abort, jsonify, render_template_string, request
from flask_login import LoginManager, UserMixin, login_required, login_user
from sqlalchemy import create_engine, text
from werkzeug.security import check_password_hash

import config
from models._time import utcnow

PAGE = """<!doctype html><html lang="ru"><head><meta charset="utf-8"><title>Маршрут {{ route.id }}</title></head>
<body><h1>Маршрут № {{ route.id }}</h1><p>Педагог: {{ teacher.full_name }}</p>
<p>Состояние: {{ route.state }}, версия {{ route.version }}</p><p>{{ route.request }}</p></body></html>"""


class BareUser(UserMixin):
    def __init__(self, row):
        self.id, self.login, self.full_name = row.id, row.login, row.full_name


def create_app(url=None):
    """Create the baseline app on the database DATABASE_URL names."""
    from app import _configure_engine
    app = Flask(__name__)
    app.secret_key = os.environ.get("SECRET_KEY", "bench-baseline")
    engine = create_engine(url or config.database_url(), pool_pre_ping=True)
    _configure_engine(engine)
    login_manager = LoginManager(app)

    @login_manager.user_loader
    def load_user(user_id):
        with engine.connect() as conn:
            row = conn.execute(text("SELECT id, login, full_name FROM users WHERE id = :id"),
                               {"id": int(user_id)}).first()
        return BareUser(row) if row else None

    @app.post("/bare/routes/<int:route_id>/transition")
    def transition(route_id):
        # The reflected <-> in progress cycle the app's transitions run, with a consistent audit row.
        now = utcnow()
        with engine.begin() as conn:
            row = conn.execute(
                text("UPDATE routes SET state = CASE WHEN state = 'reflected' THEN 'in_progress' "
                     "ELSE 'reflected' END, version = version + 1, state_changed_at = :now, updated_at = :now "
                     "WHERE id = :id RETURNING state, teacher_id, curator_id"),
                {"now": now, "id": route_id}).first()
            if row is None:
                abort(404)
            returned = row.state == "in_progress"
            conn.execute(
                text("INSERT INTO route_events (route_id, actor_id, event, from_state, to_state, comment, "
                     "created_at) VALUES (:route_id, :actor_id, :event, :source, :dest, :comment, :now)"),
                {"route_id": route_id, "actor_id": row.curator_id if returned else row.teacher_id,
                 "event": "return_reflection" if returned else "submit_reflection",
                 "source": "reflected" if returned else "in_progress", "dest": row.state,
                 "comment": "Дополните выводы о результатах открытого урока" if returned else "", "now": now})
        return jsonify({"id": route_id, "state": row.state})

    @app.post("/bare/login")
    def login():
        with engine.connect() as conn:
            row = conn.execute(text("SELECT id, login, full_name, password_hash FROM users WHERE login = :login"),
                               {"login": request.form.get("login", "")}).first()
        if row is None or not check_password_hash(row.password_hash, request.form.get("password", "")):
            abort(403)
        login_user(BareUser(row))
        return jsonify({"id": row.id})

    @app.get("/bare/routes/<int:route_id>")
    @login_required
    def route_page(route_id):
        with engine.connect() as conn:
            route = conn.execute(text("SELECT id, teacher_id, state, version, request FROM routes WHERE id = :id"),
                                 {"id": route_id}).first()
            if route is None:
                abort(404)
            teacher = conn.execute(text("SELECT id, full_name FROM users WHERE id = :id"),
                                   {"id": route.teacher_id}).first()
        return render_template_string(PAGE, route=route, teacher=teacher)

    return app
