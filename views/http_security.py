"""HTTP-level hardening: the access policy before every view, Secure cookies over HTTPS, and the
reverse-proxy headers we trust."""
import logging
from functools import lru_cache

from flask import request
from flask_login import current_user
from werkzeug.middleware.proxy_fix import ProxyFix

from models import login_manager
from workflow import policy


def _with_secure(cookie):
    """Add the Secure attribute to a Set-Cookie value that lacks it."""
    attributes = {part.strip().split("=", 1)[0].lower() for part in cookie.split(";")[1:]}
    return cookie if "secure" in attributes else cookie + "; Secure"


class SecureCookiesOverHttps:
    """WSGI middleware: every cookie set on a response to an HTTPS request carries Secure.

    Flask's session cookie and Flask-Login's remember cookie take Secure only from the config;
    this also covers a deployment that serves HTTPS without SESSION_COOKIE_SECURE set.
    """

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        if environ.get("wsgi.url_scheme") != "https":
            return self.wsgi_app(environ, start_response)

        def _start_response(status, headers, exc_info=None):
            headers = [(name, _with_secure(value) if name.lower() == "set-cookie" else value)
                       for name, value in headers]
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, _start_response)


def enforce_policy():
    """before_request: apply workflow.policy before the view runs, as a second line behind the views.

    Every non-public URL needs a signed-in user (web: to the login page; API: 401 JSON without a
    valid token). URLs without an object are refused (403) to roles the table does not name; URLs
    of an object (a route, an order...) leave the decision to the view's workflow call, which
    answers 404 to those who may not see the object, so ids do not leak.
    """
    if request.endpoint is None or request.method == "OPTIONS":
        return None
    access = policy.access_for(request.endpoint, request.method)
    if access is None or access.public:
        # Rules missing from the table fail tests/test_access_matrix.py; the view's own checks apply.
        return None
    if request.path.startswith("/api/"):
        from views.api.auth import current_api_user
        user = current_api_user()
    else:
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        user = current_user
    if access.object is None:
        policy.require(user, access)
    return None


# The largest file each upload URL takes (the view checks it exactly); the body may exceed it by
# FORM_OVERHEAD for the other fields. A larger body is refused with 413 before it is read.
FORM_OVERHEAD = 64 * 1024


@lru_cache(maxsize=None)  # read on every request, the same for the process
def _upload_limits():
    from workflow import documents, spreadsheets, uploads
    return {
        "web.activity_result": uploads.MAX_PRODUCT_FILE_BYTES,
        "documents.template_detail": documents.MAX_TEMPLATE_BYTES,
        "diagnostics.import_page": spreadsheets.MAX_FILE_BYTES,
        "diagnostics.resources_import": spreadsheets.MAX_FILE_BYTES,
        "api_diagnostics.import_results": spreadsheets.MAX_FILE_BYTES,
    }


def limit_upload_size():
    """before_request (first of all, before CSRF reads the form): cap the body of upload URLs."""
    limit = _upload_limits().get(request.endpoint)
    if limit is not None:
        global_limit = request.max_content_length
        limit += FORM_OVERHEAD
        request.max_content_length = min(limit, global_limit) if global_limit else limit
    return None


def _configure_security_log():
    """Make the security log (sign-ins, throttling, logouts) reach stderr at INFO when nothing else does.

    Neither Flask nor gunicorn configures the root logger, so without this only warnings would show.
    """
    logger = logging.getLogger("iom.security")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)


def init_app(app):
    """Enforce the access policy, make cookies Secure under HTTPS, trust PROXY_COUNT proxies' headers."""
    _configure_security_log()
    # Before every other before_request (CSRFProtect parses the form in its own).
    app.before_request_funcs.setdefault(None, []).insert(0, limit_upload_size)
    app.before_request(enforce_policy)
    if str(app.config.get("PREFERRED_URL_SCHEME", "")).lower() == "https":
        app.config["SESSION_COOKIE_SECURE"] = True
        app.config["REMEMBER_COOKIE_SECURE"] = True
    app.wsgi_app = SecureCookiesOverHttps(app.wsgi_app)
    proxies = int(app.config.get("PROXY_COUNT") or 0)
    if proxies > 0:
        # Behind nginx or a load balancer: the client address (for login throttling) and the
        # scheme (for Secure cookies) come from X-Forwarded-For / X-Forwarded-Proto.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
