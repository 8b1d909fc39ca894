"""Keep a database at the newest schema revision (Alembic), including files made before Alembic was used.

Every process that opens the database runs `upgrade head` once; several starting together (the app and its
workers) take a lock first, so exactly one of them migrates and the others find the schema current.
"""

from __future__ import annotations

import fcntl
import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

MIGRATIONS = Path(__file__).with_name("migrations")
PG_MIGRATION_LOCK = 7_318_004_211
"""A fixed key for PostgreSQL's advisory lock: any number, the same in every process of the app."""

# each worker process opens the database; Alembic's per-step INFO lines would fill every worker's log
logging.getLogger("alembic").setLevel(logging.WARNING)


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's config for the migrations shipped in this package (no alembic.ini needed at run time)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision the code knows."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    """The revision a database stands at; None for an empty one or one made before Alembic."""
    return MigrationContext.configure(connection).get_current_revision()


@contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    """An exclusive lock on a file beside the SQLite database (DDL on SQLite is not transactional)."""
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    lock_path = Path(database).with_name(Path(database).name + ".migrate-lock")
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def upgrade_to_head(engine: Engine) -> None:
    """Bring the database to the head revision; a database made by an older version keeps all its rows."""
    head = head_revision()
    with engine.connect() as connection:
        if current_revision(connection) == head:
            return
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            # held to the end of this transaction, which also holds the DDL (PostgreSQL's DDL is transactional)
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK})
            command.upgrade(alembic_config(connection), "head")
        return
    with _sqlite_file_lock(engine), engine.begin() as connection:
        command.upgrade(alembic_config(connection), "head")
