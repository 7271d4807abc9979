"""Command line for administrators and scripts: flask --app app <command>."""
import sys

import click
from flask.cli import AppGroup
from sqlalchemy import func, select

from models import User, db
from workflow import accounts
from workflow.errors import WorkflowError


def _fail(message):
    """Print a one-line error and exit non-zero, never a traceback."""
    click.echo(f"Ошибка: {message}", err=True)
    sys.exit(1)


def _run(action):
    try:
        return action()
    except WorkflowError as exc:
        db.session.rollback()
        _fail(exc.message)


schools_cli = AppGroup("schools", help="Manage schools.")
users_cli = AppGroup("users", help="Manage users, roles and curator assignments.")


@schools_cli.command("create")
@click.argument("name")
def schools_create(name):
    """Create a school."""
    school = _run(lambda: accounts.create_school(name))
    click.echo(f"Школа создана: {school.name} (id {school.id})")


@schools_cli.command("list")
def schools_list():
    """List schools."""
    from models import School
    for school in db.session.execute(select(School).order_by(School.name)).scalars():
        click.echo(f"{school.id}\t{school.name}")


@users_cli.command("create")
@click.argument("login")
@click.option("--role", required=True, type=click.Choice(accounts.ROLES))
@click.option("--full-name", required=True)
@click.option("--password", required=True)
@click.option("--school", default=None, help="School name, e.g. \"СОШ № 1\".")
@click.option("--email", default=None)
def users_create(login, role, full_name, password, school, email):
    """Create a user."""
    user = _run(lambda: accounts.create_user(login, role=role, full_name=full_name, password=password,
                                             school=school, email=email))
    click.echo(f"Пользователь создан: {user.login} ({user.role_label})")


@users_cli.command("set-password")
@click.argument("login")
@click.argument("password")
def users_set_password(login, password):
    """Set a user's password (ends their sessions)."""
    user = _run(lambda: accounts.set_password(login, password))
    click.echo(f"Пароль изменён: {user.login}")


@users_cli.command("assign-curator")
@click.argument("teacher")
@click.argument("curator")
def users_assign_curator(teacher, curator):
    """Assign CURATOR (login) to TEACHER (login)."""
    user = _run(lambda: accounts.assign_curator(teacher, curator))
    click.echo(f"Куратор {user.curator.login} назначен педагогу {user.login}")


@users_cli.command("list")
def users_list():
    """List users."""
    for user in db.session.execute(select(User).order_by(User.role, User.login)).scalars():
        click.echo(f"{user.login}\t{user.role}\t{user.full_name}")


@click.command("init-db")
def init_db():
    """Create or upgrade the database schema to the latest migration."""
    from workflow.schema import upgrade_schema
    _run(upgrade_schema)
    click.echo(f"База данных готова: {db.engine.url.render_as_string(hide_password=True)}")


@click.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Load only when the database has no users.")
def seed_demo(if_empty):
    """Load the demo district (Динской район)."""
    from workflow import demo
    if if_empty and db.session.execute(select(func.count(User.id))).scalar_one():
        click.echo("В базе уже есть данные; демо-район не загружается.")
        return
    if not if_empty and db.session.execute(select(func.count(User.id))).scalar_one():
        _fail("база данных не пуста; демо-район загружается только в пустую базу")
    _run(demo.load)
    click.echo(demo.LOGINS_TEXT)


@click.command("backup")
@click.argument("path", required=False, type=click.Path(path_type=str))
def backup_command(path):
    """Write a consistent backup of the database to PATH (default: instance/backups/)."""
    from workflow import backup
    written = _run(lambda: backup.backup(path))
    click.echo(f"Резервная копия записана: {written} ({written.stat().st_size} байт)")


@click.command("restore")
@click.argument("path", type=click.Path(path_type=str))
@click.option("--force", is_flag=True, help="Replace a database that already holds data.")
def restore_command(path, force):
    """Restore the backup PATH into this (empty) database, then upgrade its schema."""
    from workflow import backup
    from workflow.schema import upgrade_schema
    _run(lambda: backup.restore(path, force=force))
    _run(upgrade_schema)
    counts = backup.table_counts()
    click.echo(f"База восстановлена из {path}: пользователей {counts.get('users', 0)}, "
               f"маршрутов {counts.get('routes', 0)}, записей журнала {counts.get('route_events', 0)}")


def register_commands(app):
    from diagnostics_cli import diagnostics_cli
    app.cli.add_command(diagnostics_cli)
    from reminders_cli import remind_command
    app.cli.add_command(remind_command)
    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)
    app.cli.add_command(schools_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(init_db)
    app.cli.add_command(seed_demo)
