"""Fixtures: a fresh database per test (SQLite file, or PostgreSQL when DATABASE_URL names one)."""
import os
import uuid
from datetime import date, timedelta

import pytest
from flask import g
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

import config
from app import create_app
from models import Municipality, db
from workflow import accounts, service

PASSWORD = "password-123"


def _postgres_url():
    url = os.environ.get("DATABASE_URL", "")
    return config.database_url() if url.startswith(("postgres", "postgresql")) else None


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    """Give the test session its own database: a scratch PostgreSQL database, or SQLite files."""
    pg = _postgres_url()
    if pg is None:
        yield None
        return
    base = make_url(pg)
    name = f"iom_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield base.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def app(database_url, tmp_path):
    url = database_url or f"sqlite:///{tmp_path / 'test.sqlite3'}"
    app = create_app({
        "TESTING": True, "SECRET_KEY": "test", "WTF_CSRF_ENABLED": False,
        "SQLALCHEMY_DATABASE_URI": url, "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    })

    @app.before_request
    def _load_user_per_request():
        # Requests share the fixture's app context (and so `g`); drop Flask-Login's cached user and
        # Flask-WTF's cached CSRF token so each request reads them from its own cookies, as in
        # production (ended sessions stay ended; a new session gets its own token).
        g.pop("_login_user", None)
        g.pop("csrf_token", None)
        g.pop("_flask_babel", None)  # Flask-Babel's per-request locale cache
        g.pop("menu_counts", None)  # the menu's badge counts (views/inbox.py), computed once per request

    with app.app_context():
        db.create_all()
        yield app
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


class District:
    """A small district built through the workflow, CTFd-style factory helpers included."""

    def __init__(self):
        self.municipality = Municipality(name="МО Тестовый район",
                                         department_name="Управление образования МО Тестовый район",
                                         place="ст. Тестовая", head_name="И.И. Начальникова")
        db.session.add(self.municipality)
        db.session.commit()
        self.school = accounts.create_school("СОШ № 1", self.municipality)
        self.other_school = accounts.create_school("СОШ № 2", self.municipality)
        self.admin = self.user("admin", "admin")
        self.head = self.user("head", "department_head")
        self.school_head = self.user("director1", "school_head", self.school)
        self.other_school_head = self.user("director2", "school_head", self.other_school)
        self.curator = self.user("curator", "curator")
        self.other_curator = self.user("curator2", "curator")
        self.teacher = self.user("teacher", "teacher", self.school)
        self.other_teacher = self.user("teacher2", "teacher", self.other_school)
        accounts.assign_curator(self.teacher, self.curator)
        accounts.assign_curator(self.other_teacher, self.other_curator)

    def user(self, login, role, school=None):
        return accounts.create_user(login, role=role, full_name=f"Пользователь {login}", password=PASSWORD,
                                    school=school, municipality=self.municipality)

    def route(self, teacher=None, state="drafted", activities=1):
        """Create a route and drive it through the workflow to the given state."""
        teacher = teacher or self.teacher
        curator = teacher.curator
        today = date.today()
        route = service.create_route(teacher, data={
            "period_start": today, "period_end": today + timedelta(days=300),
            "request": "Затруднения в формировании функциональной грамотности",
            "activities": [activity_data(i) for i in range(activities)],
        })
        steps = {
            "drafted": [],
            "under_review": [("request_review", teacher)],
            "curator_approved": [("request_review", teacher), ("approve", curator)],
            "in_progress": [("request_review", teacher), ("approve", curator), ("start", teacher)],
        }
        if state in {"reflected", "closed"}:
            for step in steps["in_progress"]:
                service.apply_transition(route.id, step[0], step[1])
            route = service.load_route(route.id, teacher)
            for activity in route.activities:
                service.record_activity_result(route.id, activity.id, teacher, status="done",
                                               product="Конспект урока")
            service.update_route(route.id, teacher, {"reflection": "Маршрут выполнен"}, None)
            service.apply_transition(route.id, "submit_reflection", teacher)
            if state == "closed":
                service.update_route(route.id, curator, {"recommendations": "Курсы ПК"}, None)
                service.apply_transition(route.id, "close", curator)
        else:
            for trigger, actor in steps[state]:
                service.apply_transition(route.id, trigger, actor)
        db.session.expire_all()
        return service.load_route(route.id, teacher)


def activity_data(i=0):
    return {
        "stage": ["diagnostic_motivational", "design", "implementation", "analytical"][i % 4],
        "direction": "methodical", "deficit": f"Дефицит {i + 1}", "tasks": f"Задача {i + 1}",
        "forms": "Курсы ПК", "deadline": (date.today() + timedelta(days=30 + i)).isoformat(),
        "result_form": "Методическая разработка",
    }


@pytest.fixture
def district(app):
    return District()


class Auth:
    def __init__(self, client):
        self.client = client

    def login(self, login, password=PASSWORD, **kwargs):
        return self.client.post("/login", data={"login": login, "password": password}, **kwargs)

    def logout(self):
        return self.client.post("/logout")


@pytest.fixture
def auth(client):
    return Auth(client)
