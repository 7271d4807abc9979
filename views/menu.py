"""The main menu, rendered once per kind of visitor and kept: every page draws it, and it depends only on
the user's role (and id, for a teacher's profile link), the language, the current page and the inbox
badge's count.

The menu's entries are decided by role alone (see templates/_nav.html and the *_can_* helpers it
calls), so the key below names everything its HTML depends on. Forms with CSRF tokens, the bell and
the user's name stay outside, in base.html, and are drawn per request.
"""
from flask import current_app, render_template, request
from flask_babel import get_locale
from flask_login import current_user
from markupsafe import Markup

from views.inbox import request_menu_counts

MAX_ENTRIES = 4096


def _key(user):
    return (str(get_locale()), user.role, user.id, request.endpoint or "", request.script_root,
            request_menu_counts().get("total", 0))


def main_menu():
    """The menu's <li> items for the signed-in user (templates/_nav.html), cached by what they depend on."""
    user = current_user._get_current_object()
    if not user.is_authenticated:
        return Markup("")
    cache = current_app.extensions["iom_main_menu"]  # key -> Markup, per app
    key = _key(user)
    html = cache.get(key)
    if html is None or current_app.debug:
        html = Markup(render_template("_nav.html"))
        if len(cache) >= MAX_ENTRIES:
            cache.clear()  # bounded; a district's users cycle through it and refill it cheaply
        cache[key] = html
    return html


def init_app(app):
    app.extensions["iom_main_menu"] = {}
    app.add_template_global(main_menu)
