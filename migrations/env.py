"""Alembic environment: the app's metadata, batch mode for SQLite, type comparison on."""
import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app

config = context.config

# Keep loggers configured by the app (and by pytest) alive: fileConfig disables them by default.
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")


def get_engine():
    return current_app.extensions["migrate"].db.engine


config.set_main_option("sqlalchemy.url",
                       get_engine().url.render_as_string(hide_password=False).replace("%", "%%"))
target_db = current_app.extensions["migrate"].db


def get_metadata():
    return target_db.metadata


def _options():
    # SQLite cannot ALTER most things in place: render changes as batch operations
    # (copy-and-move), which also run unchanged on PostgreSQL.
    return {"render_as_batch": True, "compare_type": True}


def run_migrations_offline():
    """Emit the SQL of the migrations to stdout instead of running them."""
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=get_metadata(),
                      literal_binds=True, **_options())
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    """Run the migrations on the app's engine."""

    def process_revision_directives(context, revision, directives):
        # Do not write an empty revision when the models did not change.
        if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
            directives[:] = []
            logger.info("No changes in schema detected.")

    conf_args = dict(current_app.extensions["migrate"].configure_args)
    conf_args.setdefault("process_revision_directives", process_revision_directives)
    for key, value in _options().items():
        conf_args.setdefault(key, value)

    with get_engine().connect() as connection:
        context.configure(connection=connection, target_metadata=get_metadata(), **conf_args)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
