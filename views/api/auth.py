"""Bearer-token authentication of the API; the browser session cookie is never consulted.

- ``current_api_user()`` returns the caller of the current API request or raises 401.
- ``@token_required`` protects a view of a blueprint not made by ``api_blueprint()``
  (views of ``api_blueprint()`` blueprints are protected already unless marked ``@public``).
- ``@roles_required("department_head", ...)`` answers 403 unless the caller has one of the roles.
"""
from functools import wraps

from flask import current_app, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from workflow import accounts
from workflow.errors import NotPermitted
from views.api.errors import Unauthorized

_ENVIRON_KEY = "iom.api_user"
_NO_TOKEN = _l("Требуется токен доступа: заголовок Authorization: Bearer <token>")
_BAD_TOKEN = _l("Токен недействителен, просрочен или отозван. Получите новый: POST /api/v1/tokens")


def bearer_token():
    """Return the token of the Authorization: Bearer header, or None."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 512:
        return None
    return token


def current_api_user():
    """Return the user of the request's bearer token, or raise 401."""
    # Cached per request (in its WSGI environ), not in g: an app context may outlive a request.
    user = request.environ.get(_ENVIRON_KEY)
    if user is None:
        token = bearer_token()
        if token is None:
            raise Unauthorized(_NO_TOKEN)
        user = accounts.resolve_token(token)
        if user is None:
            raise Unauthorized(_BAD_TOKEN)
        request.environ[_ENVIRON_KEY] = user
    return user


def token_required(view):
    """Answer 401 unless the request carries a valid bearer token."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        current_api_user()
        return view(*args, **kwargs)
    return wrapper


def roles_required(*roles):
    """Answer 403 unless the caller has one of the roles (after the token check)."""
    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not current_api_user().has_role(*roles):
                raise NotPermitted(_("Недостаточно прав для этого действия"))
            return view(*args, **kwargs)
        return wrapper
    return decorator


def require_token_unless_public():
    """before_request of every API blueprint: deny by default, views opt out with @public."""
    if request.method == "OPTIONS":
        return None
    view = current_app.view_functions.get(request.endpoint)
    if view is None or getattr(view, "_api_public", False):
        return None
    current_api_user()
    return None
