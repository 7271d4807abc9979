"""The access matrix: every URL rule × method × persona against workflow/policy.py.

A rule without a policy entry (or without a sample request in tests/access_samples.py) fails here,
so a new URL cannot ship without a decision on who may use it. For each rule and method, every
persona (anonymous, teacher, other_teacher, curator, other_curator, school_head, other_school_head,
department_head, admin) makes the sample request against fresh objects of district.teacher:
- allowed: success (a state-changing request changes the database);
- signed out: the login page (web) or 401 (API);
- not allowed to see the object: 404, so ids do not leak;
- allowed to see it but not to act: 403 (or 409 where the persona has a part in the route but not
  this action now);
and every refusal, and every GET by anyone, leaves the database exactly as it was.
"""
import pytest
from sqlalchemy import select

from access_samples import PERSONAS, SAMPLES, Context, build_url, expected, request_kwargs, sample_for
from app import create_app
from conftest import PASSWORD
from models import db
from workflow import accounts, documents, policy

IGNORED_METHODS = {"HEAD", "OPTIONS"}
# Tables whose rows a request may add without changing state: the sign-in log.
UNTRACKED_TABLES = {"login_attempts"}


def _rules(app):
    return sorted((rule.rule, rule.endpoint, method) for rule in app.url_map.iter_rules()
                  for method in sorted(rule.methods - IGNORED_METHODS))


def _collect_rules():
    app = create_app({"TESTING": True, "SECRET_KEY": "collect", "SQLALCHEMY_DATABASE_URI": "sqlite://",
                      "SQLALCHEMY_ENGINE_OPTIONS": {}})
    return _rules(app)


RULES = _collect_rules()


def snapshot():
    """Every row of every table (but the sign-in log), to tell whether a request changed anything."""
    db.session.expire_all()
    state = {}
    for table in db.metadata.sorted_tables:
        if table.name in UNTRACKED_TABLES:
            continue
        rows = db.session.execute(select(table)).all()
        state[table.name] = sorted(repr(tuple(row)) for row in rows)
    return state


def _diff(before, after):
    return sorted(name for name in before if before[name] != after.get(name))


def test_every_rule_has_a_policy_entry_and_a_sample(app):
    missing_policy = [f"{endpoint} {method} ({rule})" for rule, endpoint, method in _rules(app)
                      if policy.access_for(endpoint, method) is None]
    assert not missing_policy, "URL rules without an entry in workflow/policy.py POLICY: " + ", ".join(missing_policy)
    missing_sample = [f"{endpoint} {method}" for rule, endpoint, method in _rules(app)
                      if sample_for(endpoint, method) is None]
    assert not missing_sample, "URL rules without a sample request in tests/access_samples.py: " + \
        ", ".join(missing_sample)


def test_policy_names_only_existing_rules(app):
    existing = {(endpoint, method) for _, endpoint, method in _rules(app)}
    stale = [f"{endpoint} {method}" for endpoint, methods in policy.POLICY.items() for method in methods
             if (endpoint, method) not in existing]
    assert not stale, "workflow/policy.py names rules the app does not have: " + ", ".join(stale)
    endpoints = {endpoint for _, endpoint, _ in _rules(app)}
    unused = [key for key in SAMPLES if key.split(" ")[0] not in endpoints]
    assert not unused, "tests/access_samples.py has samples of rules the app does not have: " + ", ".join(unused)


def test_a_rule_missing_from_the_policy_is_reported(app):
    """The completeness check above really fails for a new URL without an entry."""
    assert policy.access_for("web.brand_new_page", "GET") is None
    assert policy.access_for("web.route", "GET") is not None
    assert policy.access_for("web.route", "HEAD") == policy.access_for("web.route", "GET")


def _sign_in(app, client, ctx, is_api):
    """Sign the persona in: a session cookie for the web, a bearer token for the API."""
    if ctx.persona == "anonymous":
        return {}
    if is_api:
        token, _ = accounts.issue_token(ctx.user, 1)
        return {"Authorization": f"Bearer {token}"}
    response = client.post("/login", data={"login": ctx.user.login, "password": PASSWORD})
    assert response.status_code == 302, f"{ctx.persona} could not sign in"
    return {}


def _check(outcome, response, method, sample, is_api, changed, pdf_available):
    """Return a description of what is wrong with the response, or None."""
    status = response.status_code
    if status >= 500:
        return f"server error {status}"
    if method == "GET" and changed:
        return f"a GET changed the database ({', '.join(changed)})"
    if outcome == "ok":
        ok = sample.ok
        if sample.pdf:
            ok = {200} if pdf_available else {404}
        if ok is None:
            ok = {200} if method == "GET" else set(range(200, 400))
        if status not in ok:
            return f"expected success {sorted(ok)[:4]}, got {status}"
        if status in (301, 302, 303) and "/login" in response.headers.get("Location", "") and not sample.ok:
            return "sent to the login page"
        changes = sample.changes if sample.changes is not None else method != "GET"
        if changes and not changed:
            return "succeeded but changed nothing (the sample request did not do its job)"
        return None
    if changed:
        return f"refused ({status}) but changed {', '.join(changed)}"
    if outcome == "login":
        if is_api:
            return None if status == 401 else f"expected 401, got {status}"
        if status == 302 and "/login" in response.headers.get("Location", ""):
            return None
        return f"expected a redirect to the login page, got {status}"
    if outcome == "hidden":
        return None if status == 404 else f"expected 404 (the object is hidden), got {status}"
    return None if status in sample.refused else f"expected a refusal {sorted(sample.refused)}, got {status}"


@pytest.mark.parametrize("rule_text, endpoint, method", RULES, ids=[f"{m} {r}" for r, e, m in RULES])
def test_access_matrix(app, district, rule_text, endpoint, method):
    rule = next(r for r in app.url_map.iter_rules() if r.rule == rule_text and r.endpoint == endpoint)
    access = policy.access_for(endpoint, method)
    sample = sample_for(endpoint, method)
    assert access is not None and sample is not None, "see test_every_rule_has_a_policy_entry_and_a_sample"
    is_api = rule_text.startswith("/api/")
    pdf_available = documents.pdf_available()
    failures = []
    for persona in PERSONAS:
        ctx = Context(district, persona, sample)
        client = app.test_client()
        headers = _sign_in(app, client, ctx, is_api)
        if sample.prepare:
            sample.prepare(ctx)
        url = build_url(app, rule, ctx)
        kwargs = request_kwargs(ctx, is_api, method)
        db.session.commit()
        before = snapshot()
        response = client.open(url, method=method, headers=headers, **kwargs)
        response.get_data()  # run a streamed body to its end
        response.close()
        db.session.rollback()
        changed = _diff(before, snapshot())
        outcome = expected(access, persona, sample, is_api)
        problem = _check(outcome, response, method, sample, is_api, changed, pdf_available)
        if problem:
            failures.append(f"{persona} ({outcome}): {problem}")
    assert not failures, f"{method} {rule_text}:\n" + "\n".join(failures)
