"""The interface language: Russian by default, English on request (Flask-Babel)."""
from flask import Blueprint, current_app, has_request_context, redirect, request, session, url_for
from flask_babel import Babel, get_locale
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


def plural(number, forms):
    """Pick number's form from a translated message of forms separated by "|".

    Russian needs three forms (one|few|many: 1, 21 день; 2, 24 дня; 5, 11 дней), English two
    (one|other), so such a message lists its forms and is translated as a whole:
    plural(n, _("%(num)s день|%(num)s дня|%(num)s дней", num=n)).
    """
    variants = (forms if isinstance(forms, str) else str(forms)).split("|")
    number = abs(int(number or 0))
    locale = get_locale()  # None outside a request: the source language, Russian
    if locale is None or locale.language == "ru":
        if number % 10 == 1 and number % 100 != 11:
            index = 0
        elif 2 <= number % 10 <= 4 and not 12 <= number % 100 <= 14:
            index = 1
        else:
            index = 2
    else:
        index = 0 if number == 1 else 1
    return variants[min(index, len(variants) - 1)]


def init_app(app):
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.globals["plural"] = plural

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
