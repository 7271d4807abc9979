"""CSRF: every state-changing web URL refuses a request without the form's token and changes nothing.

These tests run with CSRF enabled (the other tests disable it). Each POST/PUT/PATCH/DELETE rule of
the web (the API takes bearer tokens, never the session cookie) is called by someone the access
policy allows, with the sample request of tests/access_samples.py: without a token it gets 400 with
the Russian message and the database stays as it was; with the token the same request succeeds,
so the refusal is the token's doing. That no GET changes state is checked by the access matrix,
for every GET rule and every role.
"""
import re

import pytest

from access_samples import PERSONAS, Context, build_url, expected, request_kwargs, sample_for
from conftest import PASSWORD
from models import db
from test_access_matrix import RULES, _diff, snapshot
from workflow import policy

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
WEB_RULES = [(rule, endpoint, method) for rule, endpoint, method in RULES
             if method in STATE_CHANGING and not rule.startswith("/api/")]
CSRF_MESSAGE = "Форма устарела или отправлена не с этого сайта"
TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@pytest.fixture
def csrf_app(app):
    app.config["WTF_CSRF_ENABLED"] = True
    return app


def _token(client, path):
    page = client.get(path, follow_redirects=True).get_data(as_text=True)
    match = TOKEN.search(page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def _sign_in(client, user):
    token = _token(client, "/login")
    response = client.post("/login", data={"login": user.login, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302


def _allowed_persona(endpoint, method, sample):
    access = policy.access_for(endpoint, method)
    for persona in PERSONAS:
        if expected(access, persona, sample, False) == "ok":
            return persona
    raise AssertionError(f"nobody may call {endpoint} {method}")


def test_there_are_state_changing_web_rules():
    assert len(WEB_RULES) > 20
    assert ("/login", "auth.login", "POST") in WEB_RULES


def test_login_form_itself_needs_the_token(csrf_app, district):
    client = csrf_app.test_client()
    response = client.post("/login", data={"login": "teacher", "password": PASSWORD})
    assert response.status_code == 400
    assert CSRF_MESSAGE in response.get_data(as_text=True)
    token = _token(client, "/login")
    assert client.post("/login", data={"login": "teacher", "password": PASSWORD,
                                       "csrf_token": token}).status_code == 302


def test_token_from_another_session_is_refused(csrf_app, district):
    attacker, victim = csrf_app.test_client(), csrf_app.test_client()
    _sign_in(victim, district.teacher)
    foreign = _token(attacker, "/login")
    route = district.route()
    response = victim.post(f"/routes/{route.id}/edit", data={"request": "Подмена", "version": route.version,
                                                            "csrf_token": foreign})
    assert response.status_code == 400
    db.session.expire_all()
    assert db.session.get(type(route), route.id).request != "Подмена"


@pytest.mark.parametrize("rule_text, endpoint, method", WEB_RULES, ids=[f"{m} {r}" for r, e, m in WEB_RULES])
def test_state_changing_rule_requires_the_csrf_token(csrf_app, district, rule_text, endpoint, method):
    app = csrf_app
    rule = next(r for r in app.url_map.iter_rules() if r.rule == rule_text and r.endpoint == endpoint)
    sample = sample_for(endpoint, method)
    persona = _allowed_persona(endpoint, method, sample)
    ctx = Context(district, persona, sample)
    client = app.test_client()
    if ctx.user is not None:
        _sign_in(client, ctx.user)
    if sample.prepare:
        sample.prepare(ctx)
    url = build_url(app, rule, ctx)

    # Without the token: 400 with the Russian message, nothing changed.
    kwargs = request_kwargs(ctx, False, method)
    db.session.commit()
    before = snapshot()
    response = client.open(url, method=method, **kwargs)
    assert response.status_code == 400, f"{persona}: {response.status_code}"
    assert CSRF_MESSAGE in response.get_data(as_text=True)
    db.session.rollback()
    assert not _diff(before, snapshot())

    # With the token the same request goes through (so the refusal above was the token's doing).
    token = _token(client, "/login" if ctx.user is None else "/routes")
    kwargs = request_kwargs(ctx, False, method)
    kwargs["data"] = {**kwargs.get("data", {}), "csrf_token": token}
    response = client.open(url, method=method, **kwargs)
    assert response.status_code < 400, f"{persona} with the token: {response.status_code}"
    assert CSRF_MESSAGE not in response.get_data(as_text=True)
    db.session.rollback()
    if sample.changes is not False:
        assert _diff(before, snapshot()), "the request with the token changed nothing"
