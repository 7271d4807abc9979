"""Administration: schools, users, roles, passwords and curator assignments (admins only)."""
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms.fields.choices import SelectChoice
from wtforms import BooleanField, PasswordField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from models import Municipality, Role, School, User, db
from models.user import ROLE_LABELS
from workflow import accounts, permissions, queries
from workflow.errors import Conflict, InvalidInput, NotFound, WorkflowError

bp = Blueprint("admin", __name__, url_prefix="/admin")

ROLE_CHOICES = [SelectChoice(role.value, label) for role, label in ROLE_LABELS.items()]


@bp.before_request
@login_required
def _admins_only():
    """Every page here is for admins; others get 403, anonymous users the login page."""
    permissions.require_role(current_user, Role.ADMIN)


def _municipality():
    if current_user.municipality_id:
        return db.session.get(Municipality, current_user.municipality_id)
    return accounts.default_municipality()


def _school_choices(empty_label=_l("— не указана —")):
    schools = db.session.execute(select(School).order_by(School.id)).scalars().all()
    return [SelectChoice(0, empty_label)] + [SelectChoice(school.id, school.name) for school in schools]


def _curator_choices():
    curators = db.session.execute(
        select(User).where(User.role == Role.CURATOR.value, User.active.is_(True)).order_by(User.full_name)
    ).scalars().all()
    return [SelectChoice(0, _("— не назначен —"))] + [
        SelectChoice(c.id, f"{c.full_name} ({c.login})") for c in curators]


def _int_arg(name, default=None):
    try:
        value = int(request.args.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 else default


class SchoolForm(FlaskForm):
    name = StringField(_l("Название школы"), validators=[DataRequired(message=_l("Укажите название школы")),
                                                         Length(max=200, message=_l("Не длиннее 200 символов"))])
    submit = SubmitField(_l("Добавить школу"))


class UserForm(FlaskForm):
    login = StringField(_l("Логин"), validators=[DataRequired(message=_l("Укажите логин")),
                                                 Length(max=80, message=_l("Не длиннее 80 символов"))])
    full_name = StringField(_l("ФИО"), validators=[DataRequired(message=_l("Укажите ФИО")),
                                                   Length(max=200, message=_l("Не длиннее 200 символов"))])
    role = SelectField(_l("Роль"), choices=ROLE_CHOICES, validate_choice=False)
    school_id = SelectField(_l("Школа"), coerce=int, validate_choice=False)
    position = StringField(_l("Должность"), validators=[Length(max=200, message=_l("Не длиннее 200 символов"))])
    email = StringField(_l("Эл. почта"), validators=[
        Optional(), Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message=_l("Неверный адрес эл. почты")),
        Length(max=200, message=_l("Не длиннее 200 символов"))])
    password = PasswordField(_l("Пароль (не короче 8 символов)"))
    active = BooleanField(_l("Учётная запись активна"), default=True)
    submit = SubmitField(_l("Сохранить"))


class PasswordForm(FlaskForm):
    password = PasswordField(_l("Новый пароль"), validators=[DataRequired(message=_l("Введите пароль"))])
    submit = SubmitField(_l("Сменить пароль"))


class AssignForm(FlaskForm):
    curator_id = SelectField(_l("Куратор"), coerce=int, validate_choice=False)
    submit = SubmitField(_l("Назначить"))


@bp.route("/")
def index():
    return redirect(url_for("admin.users"))


# --- schools ----------------------------------------------------------------------------------------

@bp.route("/schools", methods=["GET", "POST"])
def schools():
    """List schools with their numbers of users and routes; add a school."""
    form = SchoolForm()
    error, status = None, 200
    if request.method == "POST":
        if form.validate():
            try:
                school = accounts.create_school(form.name.data, _municipality())
            except (InvalidInput, Conflict) as exc:
                db.session.rollback()
                error, status = exc.message, exc.status
            else:
                flash(_("Школа «%(name)s» добавлена.", name=school.name), "success")
                return redirect(url_for("admin.schools"))
        else:
            error, status = _("Проверьте поля формы."), 422
    query = (
        select(School,
               select(func.count(User.id)).where(User.school_id == School.id).correlate(School)
               .scalar_subquery().label("users"))
        .order_by(School.id)
    )
    rows, total, pages, page, _per_page = queries.paginate(query, _int_arg("page", 1),
                                                           current_app.config["PAGE_SIZE"])
    return render_template("admin/schools.html", form=form, rows=rows, total=total, pages=pages, page=page,
                           error=error), status


# --- users --------------------------------------------------------------------------------------------

@bp.route("/users")
def users():
    """List users, filtered by role, school and a name or login fragment."""
    role = request.args.get("role") or None
    if role not in accounts.ROLES:
        role = None
    school_id = _int_arg("school")
    text = (request.args.get("q") or "").strip()[:100]
    rows, total, pages, page, _per_page = queries.paginate(
        queries.users_query(role=role, school_id=school_id, text=text), _int_arg("page", 1),
        current_app.config["PAGE_SIZE"])
    return render_template("admin/users.html", rows=rows, total=total, pages=pages, page=page, role=role,
                           school_id=school_id, text=text, roles=ROLE_CHOICES, schools=_school_choices()[1:])


def _school(form):
    return db.session.get(School, form.school_id.data) if form.school_id.data else None


@bp.route("/users/new", methods=["GET", "POST"])
def new_user():
    """Create a user with a role, a school and a password."""
    form = UserForm()
    form.school_id.choices = _school_choices()
    error, status = None, 200
    if request.method == "POST":
        if form.validate():
            try:
                school = _school(form)
                user = accounts.create_user(
                    form.login.data, role=form.role.data, full_name=form.full_name.data,
                    password=form.password.data, school=school, email=form.email.data or None,
                    position=form.position.data or "",
                    municipality=school.municipality if school else _municipality())
            except WorkflowError as exc:
                db.session.rollback()
                error, status = exc.message, exc.status
            else:
                flash(_("Пользователь «%(login)s» создан.", login=user.login), "success")
                return redirect(url_for("admin.edit_user", user_id=user.id))
        else:
            error, status = _("Проверьте поля формы."), 422
    return render_template("admin/user_form.html", form=form, user=None, error=error), status


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
def edit_user(user_id):
    """Change a user's name, role, school, position, e-mail and whether the account is active."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(_("Пользователь не найден"))
    form = UserForm(obj=user) if request.method == "GET" else UserForm()
    form.school_id.choices = _school_choices()
    if request.method == "GET":
        form.school_id.data = user.school_id or 0
    del form.login, form.password
    error, status = None, 200
    if request.method == "POST":
        if form.validate():
            try:
                accounts.check_user_change(current_user, user, role=form.role.data, active=form.active.data,
                                           school=_school(form))
                accounts.update_user(user, role=form.role.data, full_name=form.full_name.data,
                                     school=_school(form), active=form.active.data,
                                     email=form.email.data or "", position=form.position.data or "")
            except WorkflowError as exc:
                db.session.rollback()
                error, status = exc.message, exc.status
            else:
                flash(_("Изменения сохранены."), "success")
                return redirect(url_for("admin.edit_user", user_id=user.id))
        else:
            error, status = _("Проверьте поля формы."), 422
    assign_form = AssignForm(formdata=None, data={"curator_id": user.curator_id or 0})
    assign_form.curator_id.choices = _curator_choices()
    return render_template("admin/user_form.html", form=form, user=user, error=error,
                           password_form=PasswordForm(formdata=None), assign_form=assign_form), status


@bp.route("/users/<int:user_id>/password", methods=["POST"])
def set_password(user_id):
    """Set a new password; the user's existing sessions end."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(_("Пользователь не найден"))
    form = PasswordForm()
    try:
        if not form.validate():
            raise InvalidInput(_("Введите пароль"))
        accounts.set_password(user, form.password.data)
    except WorkflowError as exc:
        db.session.rollback()
        flash(_("Пароль не изменён: %(reason)s", reason=exc.message), "danger")
        return redirect(url_for("admin.edit_user", user_id=user.id))
    flash(_("Пароль пользователя «%(login)s» изменён.", login=user.login), "success")
    return redirect(url_for("admin.edit_user", user_id=user.id))


# --- curator assignments ---------------------------------------------------------------------------

@bp.route("/assignments")
def assignments():
    """Teachers and their curators, paginated, with a form per teacher to (re)assign."""
    school_id = _int_arg("school")
    only_missing = request.args.get("missing") == "1"
    query = queries.users_query(role=Role.TEACHER.value, school_id=school_id)
    if only_missing:
        query = query.where(User.curator_id.is_(None))
    rows, total, pages, page, _per_page = queries.paginate(query, _int_arg("page", 1),
                                                           current_app.config["PAGE_SIZE"])
    return render_template("admin/assignments.html", rows=rows, total=total, pages=pages, page=page,
                           curators=_curator_choices(), schools=_school_choices()[1:], school_id=school_id,
                           only_missing=only_missing)


@bp.route("/assignments/<int:teacher_id>", methods=["POST"])
def assign(teacher_id):
    """Assign a curator to a teacher; the teacher's open routes move to that curator."""
    teacher = db.session.get(User, teacher_id)
    if teacher is None:
        raise NotFound(_("Педагог не найден"))
    form = AssignForm()
    curator = db.session.get(User, form.curator_id.data or 0)
    back = request.form.get("back") or ""
    target = back if back.startswith("/admin/") and not back.startswith("//") else url_for("admin.assignments")
    try:
        if curator is None:
            raise InvalidInput(_("Выберите куратора"))
        accounts.assign_curator(teacher, curator)
    except WorkflowError as exc:
        db.session.rollback()
        flash(_("Куратор не назначен: %(reason)s", reason=exc.message), "danger")
        return redirect(target)
    flash(_("Педагогу %(teacher)s назначен куратор %(curator)s.", teacher=teacher.full_name,
            curator=curator.full_name), "success")
    return redirect(target)
