"""API tokens: issue one for a login and password, revoke the one in use."""
from flask import current_app, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from views.api import api_blueprint, error_responses, public
from views.api.auth import bearer_token, current_api_user
from views.api.errors import Unauthorized
from views.api.schemas import TokenRequestSchema, TokenSchema
from workflow import accounts, security

blp = api_blueprint("api_tokens", __name__, description=_l("Токены доступа к API"))


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"


@blp.route("/tokens", methods=["POST"])
@public
@blp.arguments(TokenRequestSchema)
@blp.response(201, TokenSchema)
@error_responses(blp, 401, 429)
def issue_token(data):
    """Issue a bearer token for a login and password.

    The token is shown once; send it as `Authorization: Bearer <token>`.
    """
    # Throttled and logged like the sign-in form (429 with Retry-After while throttled).
    user = security.attempt_login(data["login"], data["password"], request.remote_addr, channel="api")
    if user is None:
        # One answer for an unknown login and a wrong password.
        raise InvalidCredentials(_("Неверный логин или пароль"))
    token, record = accounts.issue_token(user, current_app.config["API_TOKEN_TTL_HOURS"])
    return {"token": token, "expires_at": record.expires_at}


@blp.route("/tokens/current", methods=["DELETE"])
@blp.response(204)
@error_responses(blp, 401)
def revoke_current_token():
    """Revoke the token of this request."""
    current_api_user()
    accounts.revoke_token(bearer_token())
