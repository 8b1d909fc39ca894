"""Alembic's environment: migrate the connection the app hands over, or the database of DATABASE_URL.

The app runs `upgrade head` itself at start (engine.store.migrate); the `alembic` command line (alembic.ini at the
project root) uses this file to autogenerate a new revision against engine.store.tables.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from engine.settings import get_settings
from engine.store.tables import Base


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True,
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    with create_engine(get_settings().database_url).connect() as fresh:
        _run(fresh)
