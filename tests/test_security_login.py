"""Sign-in security: throttling, one answer for every failure, logging, sessions, cookies, `next`."""
import logging
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app import create_app
from conftest import PASSWORD
from models import LoginAttempt, db
from workflow import accounts, security

PROTECTED = "/"  # needs sign-in; redirects to /login?next=/ when signed out


def _post_login(client, login, password=PASSWORD, ip="127.0.0.1", **data):
    return client.post("/login", data={"login": login, "password": password, **data},
                       environ_base={"REMOTE_ADDR": ip})


def _is_signed_in(client):
    """Tell whether the client's cookies open a page that needs sign-in."""
    response = client.get(PROTECTED)
    assert response.status_code in (200, 302)
    return not (response.status_code == 302 and "/login" in response.headers["Location"])


def _age_attempts(minutes):
    """Move every stored attempt into the past, as if `minutes` had passed."""
    for attempt in db.session.execute(select(LoginAttempt)).scalars():
        attempt.created_at -= timedelta(minutes=minutes)
    db.session.commit()


def _set_cookie_headers(response, name):
    return [h for h in response.headers.getlist("Set-Cookie") if h.startswith(name + "=")]


# --- one answer for every failure ----------------------------------------------------------------

def _normalized_body(response, typed_login):
    return response.get_data(as_text=True).replace(f'value="{typed_login}"', 'value="LOGIN"')


def test_unknown_login_wrong_password_and_inactive_account_get_the_same_answer(client, district):
    accounts.update_user(district.other_teacher, active=False)
    unknown = _post_login(client, "no-such-user", "whatever-123")
    wrong = _post_login(client, "teacher", "wrong-password")
    inactive = _post_login(client, "teacher2", PASSWORD)
    assert unknown.status_code == wrong.status_code == inactive.status_code == 200
    assert "Неверный логин или пароль." in unknown.get_data(as_text=True)
    assert _normalized_body(unknown, "no-such-user") == _normalized_body(wrong, "teacher") \
        == _normalized_body(inactive, "teacher2")
    assert not _is_signed_in(client)


# --- throttling ------------------------------------------------------------------------------------

def test_account_is_throttled_after_five_failures_even_with_the_right_password(client, district):
    for _ in range(5):
        assert _post_login(client, "teacher", "wrong-password").status_code == 200
    response = _post_login(client, "teacher", PASSWORD)
    assert response.status_code == 429
    assert "Слишком много неудачных попыток входа" in response.get_data(as_text=True)
    assert int(response.headers["Retry-After"]) > 0
    assert not _is_signed_in(client)
    # The limit is per account: another account from the same address still signs in.
    assert _post_login(client, "curator").status_code == 302


def test_account_throttle_ignores_case_and_spaces_of_the_login(client, district):
    for variant in ["teacher", "TEACHER", " Teacher", "teacheR ", "tEacher"]:
        _post_login(client, variant, "wrong-password")
    assert _post_login(client, "teacher").status_code == 429


def test_throttle_applies_to_unknown_logins_the_same_way(client, district):
    for _ in range(5):
        _post_login(client, "ghost", "wrong-password")
    assert _post_login(client, "ghost", "wrong-password").status_code == 429


def test_account_throttle_ends_when_the_window_passes(client, district):
    for _ in range(5):
        _post_login(client, "teacher", "wrong-password")
    assert _post_login(client, "teacher").status_code == 429
    _age_attempts(16)
    assert _post_login(client, "teacher").status_code == 302
    assert _is_signed_in(client)


def test_success_resets_the_account_count(client, district):
    for _ in range(4):
        _post_login(client, "teacher", "wrong-password")
    assert _post_login(client, "teacher").status_code == 302
    client.post("/logout")
    for _ in range(4):
        _post_login(client, "teacher", "wrong-password")
    assert _post_login(client, "teacher").status_code == 302


def test_address_is_throttled_after_twenty_failures_across_accounts(client, district):
    for index in range(20):
        _post_login(client, f"guess{index}", "wrong-password", ip="203.0.113.7")
    blocked = _post_login(client, "teacher", PASSWORD, ip="203.0.113.7")
    assert blocked.status_code == 429
    assert "Слишком много" in blocked.get_data(as_text=True)
    # Another address is not affected.
    assert _post_login(client, "teacher", PASSWORD, ip="198.51.100.9").status_code == 302


def test_throttled_attempts_do_not_extend_the_lock(client, district):
    for _ in range(5):
        _post_login(client, "teacher", "wrong-password")
    _age_attempts(10)
    for _ in range(3):
        assert _post_login(client, "teacher", "wrong-password").status_code == 429
    _age_attempts(6)
    assert _post_login(client, "teacher").status_code == 302


def test_throttle_is_shared_by_app_processes_through_the_database(app, district):
    """A second app instance on the same database sees the first one's failures."""
    other = create_app({
        "TESTING": True, "SECRET_KEY": "test", "WTF_CSRF_ENABLED": False,
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    })
    first = app.test_client()
    for _ in range(5):
        _post_login(first, "teacher", "wrong-password")
    with other.app_context():
        second = other.test_client()
        assert _post_login(second, "teacher").status_code == 429
        db.session.remove()
        db.engine.dispose()


def test_limits_come_from_config(app, client, district):
    app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"] = 2
    for _ in range(2):
        _post_login(client, "teacher", "wrong-password")
    assert _post_login(client, "teacher").status_code == 429


def test_old_attempts_are_pruned(client, district):
    _post_login(client, "teacher", "wrong-password")
    _age_attempts(60 * 25)
    _post_login(client, "teacher", "wrong-password")
    assert db.session.execute(select(func.count(LoginAttempt.id))).scalar_one() == 1


def test_trusted_proxy_address_is_used_for_throttling(app, district):
    proxied = create_app({
        "TESTING": True, "SECRET_KEY": "test", "WTF_CSRF_ENABLED": False, "PROXY_COUNT": 1,
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    })
    with proxied.app_context():
        client = proxied.test_client()
        client.post("/login", data={"login": "teacher", "password": "x" * 9},
                    headers={"X-Forwarded-For": "192.0.2.44"})
        ips = db.session.execute(select(LoginAttempt.ip)).scalars().all()
        db.session.remove()
        db.engine.dispose()
    assert ips == ["192.0.2.44"]


# --- the security log ----------------------------------------------------------------------------

def test_success_and_failure_are_logged_without_the_password(client, district, caplog):
    caplog.set_level(logging.INFO, logger="iom.security")
    _post_login(client, "teacher", "Wrong-Secret-77")
    _post_login(client, "teacher", PASSWORD, ip="192.0.2.1")
    messages = [r.getMessage() for r in caplog.records if r.name == "iom.security"]
    assert any("login failed" in m and "'teacher'" in m for m in messages)
    assert any("login succeeded" in m and "192.0.2.1" in m for m in messages)
    joined = "\n".join(messages)
    assert "Wrong-Secret-77" not in joined and PASSWORD not in joined


def test_throttled_attempt_is_logged(client, district, caplog):
    caplog.set_level(logging.INFO, logger="iom.security")
    for _ in range(6):
        _post_login(client, "teacher", "wrong-password")
    assert any("throttled" in r.getMessage() for r in caplog.records if r.name == "iom.security")


# --- sessions -----------------------------------------------------------------------------------

def test_session_is_renewed_at_login(client, district):
    with client.session_transaction() as sess:
        sess["planted"] = "by-an-attacker"
    before = client.get_cookie("session").value
    assert _post_login(client, "teacher").status_code == 302
    after = client.get_cookie("session").value
    assert after != before
    with client.session_transaction() as sess:
        assert "planted" not in sess
        assert sess["_user_id"] == district.teacher.get_id()


def _remembered_client(app, login="teacher"):
    """Sign in with "remember me"; return the client and the remember cookie's value."""
    client = app.test_client()
    assert _post_login(client, login, remember="y").status_code == 302
    cookie = client.get_cookie("remember_token")
    assert cookie is not None and cookie.value
    return client, cookie.value


def _client_with_remember_cookie(app, value):
    client = app.test_client()
    client.set_cookie("remember_token", value)
    return client


def test_remember_cookie_alone_signs_in(app, district):
    _, remember = _remembered_client(app)
    assert _is_signed_in(_client_with_remember_cookie(app, remember))


def test_logout_ends_the_session_and_every_remember_cookie(app, district):
    client, remember = _remembered_client(app)
    other_device, _ = _remembered_client(app)
    old_session = client.get_cookie("session").value
    assert client.post("/logout").status_code == 302
    assert not _is_signed_in(client)
    replay = app.test_client()
    replay.set_cookie("session", old_session)
    assert not _is_signed_in(replay)
    assert not _is_signed_in(_client_with_remember_cookie(app, remember))
    assert not _is_signed_in(other_device)


@pytest.mark.parametrize("change", ["password", "deactivation", "role"])
def test_account_changes_end_sessions_and_remember_cookies(app, district, change):
    client, remember = _remembered_client(app)
    assert _is_signed_in(client)
    teacher = db.session.get(type(district.teacher), district.teacher.id)
    if change == "password":
        accounts.set_password(teacher, "new-password-456")
    elif change == "deactivation":
        accounts.update_user(teacher, active=False)
    else:
        accounts.update_user(teacher, role="curator")
    assert not _is_signed_in(client)
    assert not _is_signed_in(_client_with_remember_cookie(app, remember))


def test_unrelated_edit_keeps_sessions(app, district):
    client, remember = _remembered_client(app)
    accounts.update_user(db.session.get(type(district.teacher), district.teacher.id), full_name="Новое Имя")
    assert _is_signed_in(client)
    assert _is_signed_in(_client_with_remember_cookie(app, remember))


# --- cookies ------------------------------------------------------------------------------------

def _login_cookies(client, **kwargs):
    response = client.post("/login", data={"login": "teacher", "password": PASSWORD, "remember": "y"},
                           **kwargs)
    assert response.status_code == 302
    session_cookie = _set_cookie_headers(response, "session")
    remember_cookie = _set_cookie_headers(response, "remember_token")
    assert session_cookie and remember_cookie
    return session_cookie[0], remember_cookie[0]


def _attributes(header):
    return {part.strip().split("=", 1)[0].lower(): part.strip() for part in header.split(";")[1:]}


def test_cookies_are_httponly_and_samesite_lax_and_not_secure_over_http(client, district):
    for header in _login_cookies(client):
        attributes = _attributes(header)
        assert "httponly" in attributes
        assert attributes["samesite"].lower() == "samesite=lax"
        assert "secure" not in attributes


def test_cookies_are_secure_when_served_over_https(client, district):
    for header in _login_cookies(client, base_url="https://localhost"):
        attributes = _attributes(header)
        assert {"secure", "httponly"} <= set(attributes)
        assert attributes["samesite"].lower() == "samesite=lax"


def _app_with_keys(app, secret_key, fallbacks=()):
    return create_app({
        "TESTING": True, "SECRET_KEY": secret_key, "SECRET_KEY_FALLBACKS": list(fallbacks),
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
    })


def test_session_cookies_follow_the_secret_key_and_its_fallbacks(app):
    """The signing serializer is made once per set of keys: a new key (or a retired one) takes effect."""
    from flask import request
    from itsdangerous import BadSignature
    interface = app.session_interface
    assert interface.get_signing_serializer(app) is interface.get_signing_serializer(app)
    signed = interface.get_signing_serializer(app).dumps({"_user_id": "7"})

    def opened(some_app):
        with some_app.test_request_context(headers={"Cookie": f"session={signed}"}):
            return dict(some_app.session_interface.open_session(some_app, request))

    assert opened(app) == {"_user_id": "7"}
    assert opened(_app_with_keys(app, "rotated", fallbacks=["test"])) == {"_user_id": "7"}  # still valid
    assert opened(_app_with_keys(app, "rotated")) == {}  # the old key retired: a fresh, empty session
    with pytest.raises(BadSignature):
        _app_with_keys(app, "rotated").session_interface.get_signing_serializer(app).loads(signed + "x")
    assert interface.get_signing_serializer(app) is not \
        _app_with_keys(app, "other").session_interface.get_signing_serializer(_app_with_keys(app, "other"))


def test_api_calls_without_cookies_get_no_cookie(client, district):
    token, _ = accounts.issue_token(district.teacher, ttl_hours=1)
    response = client.get("/api/v1/routes", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert "Cookie" in response.headers["Vary"]  # as Flask says: Flask-Login looked into the session
    # A page that signs in still sets its session cookie (the interface's short cut is for untouched sessions).
    assert _set_cookie_headers(_post_login(client, district.teacher.login), "session")


def test_preferred_https_scheme_makes_cookies_secure(app, district):
    secure_app = create_app({
        "TESTING": True, "SECRET_KEY": "test", "WTF_CSRF_ENABLED": False, "PREFERRED_URL_SCHEME": "https",
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    })
    assert secure_app.config["SESSION_COOKIE_SECURE"] and secure_app.config["REMEMBER_COOKIE_SECURE"]
    with secure_app.app_context():
        headers = _login_cookies(secure_app.test_client())
        db.session.remove()
        db.engine.dispose()
    for header in headers:
        assert "secure" in _attributes(header)


def test_forwarded_https_behind_a_trusted_proxy_makes_cookies_secure(app, district):
    proxied = create_app({
        "TESTING": True, "SECRET_KEY": "test", "WTF_CSRF_ENABLED": False, "PROXY_COUNT": 1,
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    })
    with proxied.app_context():
        headers = _login_cookies(proxied.test_client(), headers={"X-Forwarded-Proto": "https"})
        db.session.remove()
        db.engine.dispose()
    for header in headers:
        assert "secure" in _attributes(header)


# --- `next` after login ----------------------------------------------------------------------------

@pytest.mark.parametrize("target", [
    "//evil.com", "/\\evil.com", "https://evil.com", "http://evil.com/routes", "javascript:alert(1)",
    "%2F%2Fevil.com", "///evil.com", "\\\\evil.com", "/\t/evil.com", " //evil.com", "evil.com",
    "JAVASCRIPT:alert(1)", "data:text/html,<script>alert(1)</script>",
])
def test_next_outside_this_site_goes_to_the_default_page(client, district, target):
    response = client.post("/login", query_string={"next": target},
                           data={"login": "teacher", "password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_next_raw_encoded_double_slash_goes_to_the_default_page(client, district):
    response = client.post("/login?next=%2F%2Fevil.com", data={"login": "teacher", "password": PASSWORD})
    assert response.headers["Location"] == "/"


def test_next_on_this_site_is_followed(client, district):
    response = client.post("/login", query_string={"next": "/routes?state=drafted"},
                           data={"login": "teacher", "password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/routes?state=drafted"


def test_login_form_keeps_next_through_a_failed_attempt(client, district):
    page = client.get("/login?next=/routes").get_data(as_text=True)
    # The form posts back to the same URL, so `next` survives a wrong password.
    assert re.search(r'<form[^>]*action=""', page)
    failed = client.post("/login?next=/routes", data={"login": "teacher", "password": "wrong-password"})
    assert failed.status_code == 200
    response = client.post("/login?next=/routes", data={"login": "teacher", "password": PASSWORD})
    assert response.headers["Location"] == "/routes"


def test_security_module_reports_wait_seconds(app, district):
    for _ in range(5):
        security.record_attempt("teacher", "127.0.0.1", security.FAILURE)
    wait = security.throttle_state("teacher", "127.0.0.1")
    assert 0 < wait <= 15 * 60 + 1
    assert security.throttle_state("curator", "127.0.0.2") == 0


@pytest.mark.parametrize("path", ["/login", "/", "/api/v1/routes", "/no-such-page", "/api/v1/no-such"])
def test_every_response_carries_the_security_headers(client, district, path):
    response = client.get(path)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_a_view_that_sets_a_security_header_itself_keeps_its_value(app):
    @app.get("/_own_frame_policy")
    def own_frame_policy():
        return "", 200, {"X-Frame-Options": "SAMEORIGIN"}

    response = app.test_client().get("/_own_frame_policy")
    assert response.headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    assert response.headers["Referrer-Policy"] == "same-origin"
