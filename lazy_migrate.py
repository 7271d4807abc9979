"""Flask-Migrate, imported when a migration command or function first needs it.

Flask-Migrate imports Alembic (and Mako, Pygments) at once: about 11 MB in every worker that never
migrates. ``LazyMigrate().init_app(app, db, directory=...)`` registers the same ``flask db`` commands and
``app.extensions["migrate"]`` as ``Migrate().init_app`` does, importing Flask-Migrate on first use.
"""
import click
from flask import g
from flask.cli import with_appcontext


class _LazyConfig:
    """Stands in for Flask-Migrate's app.extensions["migrate"] until something reads it."""

    def __init__(self, app, db, directory):
        self._app, self._db, self._directory = app, db, directory

    def __getattr__(self, name):
        from flask_migrate import Migrate
        Migrate().init_app(self._app, self._db, directory=self._directory)  # replaces this stand-in
        return getattr(self._app.extensions["migrate"], name)


class _LazyGroup(click.Group):
    """The `flask db` group, its commands loaded from Flask-Migrate when they are listed or run."""

    def list_commands(self, ctx):
        from flask_migrate.cli import db as group
        return group.list_commands(ctx)

    def get_command(self, ctx, name):
        from flask_migrate.cli import db as group
        return group.get_command(ctx, name)


# The same options and callback as flask_migrate.cli.db (its commands read g.directory and g.x_arg).
@click.group(cls=_LazyGroup, name="db")
@click.option("-d", "--directory", default=None, help='Migration script directory (default is "migrations")')
@click.option("-x", "--x-arg", multiple=True, help="Additional arguments consumed by custom env.py scripts")
@with_appcontext
def db_group(directory, x_arg):
    """Perform database migrations."""
    g.directory = directory
    g.x_arg = x_arg


class LazyMigrate:
    def init_app(self, app, db, directory):
        app.extensions["migrate"] = _LazyConfig(app, db, directory)
        app.cli.add_command(db_group, name="db")
