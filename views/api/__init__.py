"""The JSON API under /api/v1, documented by an OpenAPI document generated from the code.

To add a group of endpoints:

1. create a module ``views/api/<name>.py`` with
   ``blp = api_blueprint("api_<name>", __name__, description="...")`` and views on it
   (``@blp.route("/<name>/...")``, ``@blp.arguments(Schema)``, ``@blp.response(200, Schema)``);
2. add ``"views.api.<name>"`` to ``BLUEPRINT_MODULES`` below.

Use ``<id:name>`` for database ids in URLs (1..2**31-1; anything else is a 404).

Every view of such a blueprint requires ``Authorization: Bearer <token>`` unless decorated with
``@public``; inside a view ``current_api_user()`` (views.api.auth) returns the caller. Errors of any
kind are answered as ``{"error": code, "message": text}`` by views.api.errors.
"""
import importlib
from http import HTTPStatus

from flask_smorest import Api, Blueprint
from flask_smorest.spec.plugins import integerconverter2paramschema
from werkzeug.routing import IntegerConverter
from flask_babel import lazy_gettext as _l

API_PREFIX = "/api/v1"
BEARER_SCHEME = "bearerAuth"
MAX_ID = 2**31 - 1

# One line per group of endpoints; each module exposes `blp` made by api_blueprint().
BLUEPRINT_MODULES = [
    "views.api.tokens",
    "views.api.routes",
    "views.api.documents",
    "views.api.diagnostics",
    "views.api.monitoring",
    "views.api.inbox",
    "views.api.comments",
    "views.api.notifications",
]


class IomApi(Api):
    """flask-smorest's Api with the project's error format and no app-wide error handler."""

    def __init__(self, *args, **kwargs):
        from views.api.schemas import ErrorSchema
        self.ERROR_SCHEMA = ErrorSchema
        super().__init__(*args, **kwargs)

    def _register_error_handlers(self):
        # Api would answer every HTTPException of the whole app with its own JSON, web pages
        # included; the API blueprints carry their own handlers (views.api.errors) instead.
        pass


api = IomApi(spec_kwargs={
    "security": [{BEARER_SCHEME: []}],
    "info": {"description": _l("JSON API индивидуальных образовательных маршрутов (ИОМ) педагогов. "
                            "Токен: POST /api/v1/tokens; далее заголовок Authorization: Bearer <token>. "
                            "Ошибки: {\"error\": код, \"message\": текст}.")},
})


class IdConverter(IntegerConverter):
    """A database id in a URL (`<id:route_id>`): 1..2**31-1, so a huge number is a 404, not a DB error."""

    def __init__(self, map, *args, **kwargs):
        super().__init__(map, min=1, max=MAX_ID)


api.register_converter(IdConverter, integerconverter2paramschema)


class ApiBlueprint(Blueprint):
    """flask-smorest's Blueprint whose argument schemas are made once.

    Given a Schema class, webargs makes an instance of it on every request (binding and translating
    each field anew); an instance made here at declaration is reused instead. Schemas hold no state
    between loads, so one instance serves every request.
    """

    def arguments(self, schema, *args, **kwargs):
        return super().arguments(schema() if isinstance(schema, type) else schema, *args, **kwargs)


def api_blueprint(name, import_name, *, description="", url_prefix=""):
    """Create a blueprint of the API: mounted under /api/v1, token-protected, JSON errors."""
    from views.api import auth, errors
    blp = ApiBlueprint(name, import_name, url_prefix=API_PREFIX + url_prefix, description=description)
    blp.before_request(auth.require_token_unless_public)
    errors.register_handlers(blp)
    blp.iom_api_blueprint = True
    return blp


def public(view):
    """Mark an API view as callable without a token (and document it so); put it under @blp.route."""
    view = Blueprint.doc(security=[])(view)
    view._api_public = True
    return view


def error_responses(blp, *codes):
    """Document the error statuses a view can answer with (schema: ErrorSchema)."""
    def decorator(view):
        for code in codes:
            view = blp.alt_response(code, response=HTTPStatus(code).name)(view)
        return view
    return decorator


def init_api(app):
    """Bind the Api to the app, register every API blueprint and exempt them from CSRF."""
    app.url_map.converters["id"] = IdConverter
    api.init_app(app)
    api.spec.components.security_scheme(
        BEARER_SCHEME, {"type": "http", "scheme": "bearer",
                        "description": _l("Токен из POST /api/v1/tokens")})
    # What a transition answers (views/api/routes.py), referred to by name in its documented answer.
    from views.api.schemas import RouteStateSchema
    if "RouteState" not in api.spec.components.schemas:
        api.spec.components.schema("RouteState", schema=RouteStateSchema)
    csrf = app.extensions.get("csrf")
    for module_name in BLUEPRINT_MODULES:
        blp = importlib.import_module(module_name).blp
        if not getattr(blp, "iom_api_blueprint", False):
            raise RuntimeError(f"{module_name}.blp must be created with views.api.api_blueprint()")
        api.register_blueprint(blp)
        if csrf is not None:
            # The API authenticates by bearer token only and never reads the session cookie,
            # so a cross-site form cannot act through it.
            csrf.exempt(blp)
    return api


__all__ = ["API_PREFIX", "BLUEPRINT_MODULES", "api", "api_blueprint", "error_responses", "init_api",
           "public"]
