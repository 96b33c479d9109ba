"""Alembic environment.

Two callers: taskmanager_webapp.dbmigrate hands over an open connection (on which it already holds
the migration lock) in ``config.attributes["connection"]``; ``flask db ...`` (Flask-Migrate) has
neither, and the engine of the current Flask app is used.
"""

from alembic import context

# Importing the models fills db.metadata for autogenerate.
from taskmanager_webapp import models  # noqa: F401  # pylint: disable=unused-import
from taskmanager_webapp.extensions import db

config = context.config


def _run(connection):
    context.configure(
        connection=connection,
        target_metadata=db.metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from flask import current_app

    with current_app.extensions["migrate"].db.engine.connect() as conn:
        _run(conn)


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported")
run_migrations_online()
