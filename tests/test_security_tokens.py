"""API tokens: stored hashed, revocable, expiring; the token request is throttled like the login form."""
import hashlib
import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from conftest import PASSWORD
from models import ApiToken, db
from models._time import utcnow
from workflow import accounts


def _issue(client, login="teacher", password=PASSWORD, ip="127.0.0.1"):
    return client.post("/api/v1/tokens", json={"login": login, "password": password},
                       environ_base={"REMOTE_ADDR": ip})


def _token(client, login="teacher"):
    response = _issue(client, login)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["token"]


def _get_routes(client, token):
    return client.get("/api/v1/routes", headers={"Authorization": f"Bearer {token}"})


def _record(token):
    digest = hashlib.sha256(token.encode()).hexdigest()
    return db.session.execute(select(ApiToken).where(ApiToken.token_hash == digest)).scalar_one()


def test_token_works_and_only_its_hash_is_stored(client, district):
    token = _token(client)
    assert _get_routes(client, token).status_code == 200
    record = _record(token)
    assert record.token_hash == hashlib.sha256(token.encode()).hexdigest() != token
    # No column of any table holds the plain token.
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(table.select()).all():
            assert not any(isinstance(value, (str, bytes)) and token in (
                value if isinstance(value, str) else value.decode("latin-1")) for value in row), table.name


def test_expired_token_is_refused(client, district):
    token = _token(client)
    record = _record(token)
    record.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    response = _get_routes(client, token)
    assert response.status_code == 401
    body = response.get_json()
    assert body["error"] and "просрочен" in body["message"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_token_expires_after_the_configured_lifetime(app, client, district):
    app.config["API_TOKEN_TTL_HOURS"] = 2
    token = _token(client)
    lifetime = _record(token).expires_at - _record(token).created_at
    assert timedelta(hours=1, minutes=59) < lifetime <= timedelta(hours=2, seconds=1)


def test_revoked_token_is_refused(client, district):
    token = _token(client)
    other = _token(client)
    response = client.delete("/api/v1/tokens/current", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 204
    assert _record(token).revoked_at is not None
    assert _get_routes(client, token).status_code == 401
    # Revoking one token leaves the user's other tokens working.
    assert _get_routes(client, other).status_code == 200


def test_revoke_token_in_the_workflow(client, district):
    token = _token(client)
    assert accounts.revoke_token(token) is True
    assert _get_routes(client, token).status_code == 401
    assert accounts.revoke_token("no-such-token") is False


def test_tokens_of_a_deactivated_user_are_refused(client, district):
    token = _token(client)
    accounts.update_user(district.teacher, active=False)
    assert _get_routes(client, token).status_code == 401


def test_password_change_revokes_the_users_tokens(client, district):
    token = _token(client)
    curator_token = _token(client, "curator")
    accounts.set_password(district.teacher, "new-password-789")
    assert _get_routes(client, token).status_code == 401
    assert _get_routes(client, curator_token).status_code == 200


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Basic dGVhY2hlcjpwYXNz", "bearer x" + "y" * 600,
                                    "Token abc"])
def test_malformed_authorization_is_refused(client, district, header):
    response = client.get("/api/v1/routes", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.get_json()["error"]


def test_session_cookie_does_not_authenticate_the_api(client, auth, district):
    auth.login("teacher")
    assert client.get("/api/v1/routes").status_code == 401


# --- the token request shares the sign-in throttle ----------------------------------------------------

def test_unknown_login_and_wrong_password_get_the_same_api_answer(client, district):
    unknown = _issue(client, "no-such-user", "whatever-123")
    wrong = _issue(client, "teacher", "wrong-password")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.get_json() == wrong.get_json()


def test_token_request_is_throttled_per_account(client, district):
    for _ in range(5):
        assert _issue(client, "teacher", "wrong-password").status_code == 401
    response = _issue(client, "teacher", PASSWORD)
    assert response.status_code == 429
    assert response.get_json()["error"] == "too_many_attempts"
    assert "Слишком много" in response.get_json()["message"]
    assert int(response.headers["Retry-After"]) > 0


def test_token_request_is_throttled_per_address(client, district):
    for index in range(20):
        _issue(client, f"guess{index}", "wrong-password", ip="203.0.113.50")
    assert _issue(client, "teacher", PASSWORD, ip="203.0.113.50").status_code == 429
    assert _issue(client, "teacher", PASSWORD, ip="203.0.113.51").status_code == 201


def test_web_and_api_failures_count_together(client, district):
    for _ in range(3):
        client.post("/login", data={"login": "teacher", "password": "wrong-password"})
    for _ in range(2):
        _issue(client, "teacher", "wrong-password")
    assert client.post("/login", data={"login": "teacher", "password": PASSWORD}).status_code == 429
    assert _issue(client, "teacher", PASSWORD).status_code == 429


def test_token_request_is_logged_without_secrets(client, district, caplog):
    caplog.set_level(logging.INFO, logger="iom.security")
    _issue(client, "teacher", "Wrong-Secret-77")
    token = _token(client)
    messages = "\n".join(r.getMessage() for r in caplog.records if r.name == "iom.security")
    assert "login failed" in messages and "channel=api" in messages and "login succeeded" in messages
    assert "Wrong-Secret-77" not in messages and PASSWORD not in messages and token not in messages
