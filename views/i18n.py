"""The interface language: Russian by default, English on request (Flask-Babel)."""
from flask import Blueprint, current_app, has_request_context, redirect, request, session, url_for
from flask_babel import Babel
from flask_login import current_user

from models import db
from views.auth import safe_next

bp = Blueprint("i18n", __name__)
babel = Babel()


def select_locale():
    """The signed-in user's choice, else this session's, else (API) Accept-Language, else Russian."""
    languages = current_app.config["LANGUAGES"]
    if has_request_context():
        chosen = getattr(current_user, "locale", None) if current_user.is_authenticated else None
        chosen = chosen or session.get("locale")
        if chosen in languages:
            return chosen
        if request.path.startswith("/api/"):
            # API clients have no session: they ask with Accept-Language.
            return request.accept_languages.best_match(list(languages)) or current_app.config["BABEL_DEFAULT_LOCALE"]
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def init_app(app):
    babel.init_app(app, locale_selector=select_locale)

    @app.context_processor
    def _languages():
        from flask_babel import get_locale
        return {"languages": app.config["LANGUAGES"], "current_locale": str(get_locale() or "ru")}


@bp.route("/language", methods=["POST"])
def set_language():
    """Switch the interface language for this session and, when signed in, for the user."""
    locale = request.form.get("locale", "")
    if locale in current_app.config["LANGUAGES"]:
        session["locale"] = locale
        if current_user.is_authenticated and current_user.locale != locale:
            current_user.locale = locale
            db.session.commit()
    return redirect(safe_next(request.form.get("next")) or url_for("web.index"))
