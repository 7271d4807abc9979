"""The interface language: Russian by default, English on request (Flask-Babel)."""
import weakref
from functools import lru_cache

from babel import Locale, support
from flask import Blueprint, Request, current_app, g, has_request_context, redirect, request, session, url_for
from flask_babel import Babel, Domain, get_locale
from flask_login import current_user
from jinja2 import pass_eval_context
from markupsafe import Markup
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header
from werkzeug.utils import cached_property
from wtforms.i18n import messages_path

from models import db
from views.auth import safe_next

bp = Blueprint("i18n", __name__)


class RequestDomain(Domain):
    """Flask-Babel's message domain that keeps the request's catalog at hand.

    Flask-Babel looks the catalog up on every gettext (the context on g, the locale, its string form,
    the cache); a page translates a few hundred strings, lazy labels included. The catalog is remembered
    on the request's Babel context together with the locale object it was found for, so force_locale()
    and refresh() (which replace that object) still switch catalogs.
    """

    def get_translations(self):
        if not g:
            return super().get_translations()
        ctx = g.__dict__.get("_flask_babel")
        if ctx is None:
            return super().get_translations()
        locale = ctx.__dict__.get("babel_locale") or get_locale()
        found = ctx.__dict__.get("iom_translations")
        if found is not None and found[0] is locale:
            return found[1]
        translations = super().get_translations()
        ctx.iom_translations = (locale, translations)
        return translations


class IomBabel(Babel):
    @cached_property
    def domain_instance(self):
        return RequestDomain(domain=self.domain)


babel = IomBabel()


# The callables for each catalog (Flask-Babel keeps a catalog per language for the process).
_TEMPLATE_GETTEXT = weakref.WeakKeyDictionary()
# Texts without variables kept per catalog: a page's labels and headings are the same on every render.
PLAIN_TEXTS_KEPT = 4096


def template_gettext(translations):
    """Jinja's new-style gettext/ngettext bound to one catalog (what jinja2.ext installs, minus the lookups).

    Given to templates by a context processor (as gettext, _ and ngettext), so `_()` in a page resolves
    the catalog once per render. Made once per catalog; a text without variables is translated and
    escaped once (a page has some eighty of them).
    Templates rendered without the request's context (macros imported without context) fall back to the
    environment's callables, which give the same text.
    """
    found = _TEMPLATE_GETTEXT.get(translations)
    if found is None:
        found = _TEMPLATE_GETTEXT[translations] = _template_gettext(translations)
    return found


def _template_gettext(translations):
    ugettext, ungettext = translations.ugettext, translations.ungettext
    plain = {}

    # pass_eval_context, not pass_context: Jinja derives a whole new context for every call of a
    # pass_context function inside a loop, which made `_()` in a list row cost more than the row.
    @pass_eval_context
    def gettext(__eval_ctx, __string, **variables):
        if not variables and __eval_ctx.autoescape:
            # `% {}` as below: "%%" in a message is a percent sign, with or without variables.
            return kept(plain, __string, lambda: Markup(ugettext(__string)) % {}, PLAIN_TEXTS_KEPT)
        rv = ugettext(__string)
        if __eval_ctx.autoescape:
            rv = Markup(rv)
        return rv % variables

    @pass_eval_context
    def ngettext(__eval_ctx, __singular, __plural, __num, **variables):
        variables.setdefault("num", __num)
        rv = ungettext(__singular, __plural, __num)
        if __eval_ctx.autoescape:
            rv = Markup(rv)
        return rv % variables

    return {"gettext": gettext, "_": gettext, "ngettext": ngettext}


@lru_cache(maxsize=16)
def _wtforms_catalog(locale):
    return support.Translations.load(messages_path(), [locale], domain="wtforms")


class IomRequest(Request):
    @cached_property
    def wtforms_translations(self):
        """WTForms' own messages in the request's language (Flask-WTF reads this attribute; it would
        otherwise parse the catalog file again on every request that builds a form)."""
        return _wtforms_catalog(str(get_locale()))


def select_locale():
    """The signed-in user's choice, else this session's, else (API) Accept-Language, else Russian.

    Returns a Locale made once per language (Flask-Babel would parse the identifier on every request).
    """
    languages = current_app.config["LANGUAGES"]
    if has_request_context():
        api = request.path.startswith("/api/")
        # Without a cookie there is no session and no remember-me cookie, so no signed-in user: an API
        # client's call (a bearer token) skips flask-login's session checks.
        if not api or request.cookies:
            chosen = getattr(current_user, "locale", None) if current_user.is_authenticated else None
            chosen = chosen or session.get("locale")
            if chosen in languages:
                return _locale(chosen)
        if api:
            # API clients have no session: they ask with Accept-Language.
            best = _best_language(request.headers.get("Accept-Language", ""), tuple(languages))
            return _locale(best or current_app.config["BABEL_DEFAULT_LOCALE"])
    return _locale(current_app.config["BABEL_DEFAULT_LOCALE"])


@lru_cache(maxsize=16)
def _locale(identifier):
    return Locale.parse(identifier)


@lru_cache(maxsize=256)  # API clients send a few distinct headers; an odd one costs a parse
def _best_language(header, languages):
    """The best of `languages` an Accept-Language header asks for, or None."""
    return parse_accept_header(header, LanguageAccept).best_match(list(languages))


def kept(cache, key, build, limit):
    """cache[key], built on first use; the cache stops growing at `limit` entries (then builds each time).

    The per-catalog texts (labels, badges, day counts) are kept with it: each depends on the request's
    catalog and a small key only, and lists and answers draw them on every row.
    """
    found = cache.get(key)
    if found is None:
        found = build()
        if len(cache) < limit:
            cache[key] = found
    return found


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
    app.request_class = IomRequest

    @app.context_processor
    def _languages():
        from flask_babel import get_locale, get_translations
        return {"languages": app.config["LANGUAGES"], "current_locale": str(get_locale() or "ru"),
                **template_gettext(get_translations())}


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
