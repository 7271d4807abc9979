"""HTTP-level hardening: Secure cookies over HTTPS and the reverse-proxy headers we trust."""
from werkzeug.middleware.proxy_fix import ProxyFix


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


def init_app(app):
    """Make cookies Secure under HTTPS and trust PROXY_COUNT reverse proxies' X-Forwarded-* headers."""
    if str(app.config.get("PREFERRED_URL_SCHEME", "")).lower() == "https":
        app.config["SESSION_COOKIE_SECURE"] = True
        app.config["REMEMBER_COOKIE_SECURE"] = True
    app.wsgi_app = SecureCookiesOverHttps(app.wsgi_app)
    proxies = int(app.config.get("PROXY_COUNT") or 0)
    if proxies > 0:
        # Behind nginx or a load balancer: the client address (for login throttling) and the
        # scheme (for Secure cookies) come from X-Forwarded-For / X-Forwarded-Proto.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
