"""Sign in and sign out."""
from urllib.parse import urlsplit

from flask import Blueprint, flash, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired

from models import db, login_manager
from workflow import accounts, security

bp = Blueprint("auth", __name__)
login_manager.user_loader(accounts.load_session_user)


class LoginForm(FlaskForm):
    login = StringField(_l("Логин"), validators=[DataRequired(message=_l("Введите логин"))])
    password = PasswordField(_l("Пароль"), validators=[DataRequired(message=_l("Введите пароль"))])
    remember = BooleanField(_l("Запомнить меня"))
    submit = SubmitField(_l("Войти"))


def safe_next(target):
    """Return target when it is a path on this site, else None (no open redirects)."""
    if not target or not isinstance(target, str):
        return None
    target = target.strip()
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def _clear_session():
    """Empty the session, keeping only the interface language the visitor chose."""
    locale = session.get("locale")
    session.clear()
    if locale:
        session["locale"] = locale


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("web.index"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = security.attempt_login(form.login.data, form.password.data, request.remote_addr)
        except security.TooManyAttempts as exc:
            flash(str(exc.message), "danger")
            response = make_response(render_template("auth/login.html", form=form), 429)
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        if user is None:
            # The same answer for an unknown login, a wrong password and a deactivated account.
            flash(str(security.BAD_CREDENTIALS_MESSAGE), "danger")
        else:
            # A fresh session on sign-in: nothing of the anonymous session carries over but the language.
            _clear_session()
            login_user(user, remember=form.remember.data)
            return redirect(safe_next(request.args.get("next")) or url_for("web.index"))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    # Rotating the nonce also invalidates this user's remember-me cookies on every device.
    current_user.rotate_sessions()
    db.session.commit()
    security.log_logout(current_user, request.remote_addr)
    logout_user()
    _clear_session()
    flash(_("Вы вышли из системы."), "info")
    return redirect(url_for("auth.login"))
