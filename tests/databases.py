"""Isolated databases for tests on either backend.

The suite runs on embedded SQLite by default. Started with DATABASE_URL set to a PostgreSQL database (`.ci/run`'s
second pass), every isolated database is a schema of its own in that database, dropped after: created at the newest
revision by replaying the statements Alembic's upgrade ran once on an empty schema (`migrated_schema_statements`),
or left empty where a test migrates it itself (`fresh_database_url(migrated=False)`).
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any, Iterator

import pytest
from sqlalchemy import create_engine, event, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from engine.store.db import dispose_engines
from engine.store.migrate import upgrade_to_head

SERVER_DATABASE_URL = os.environ.get("DATABASE_URL", "")
"""The PostgreSQL database the suite was started with; empty on the SQLite pass."""
ON_POSTGRES = SERVER_DATABASE_URL.startswith("postgresql")
sqlite_only = pytest.mark.skipif(ON_POSTGRES, reason="checks SQLite's own file, pragmas or locks")


@contextmanager
def fresh_database_url(migrated: bool = True) -> Iterator[str | None]:
    """The DATABASE_URL of a database of its own: None on the SQLite pass (the data folder's file, made and migrated
    on first use), else a new PostgreSQL schema (its tables found through search_path), at the newest revision
    unless `migrated` is False (then empty), dropped with everything in it afterwards."""
    if not ON_POSTGRES:
        yield None
        return
    statements = migrated_schema_statements() if migrated else ()
    schema = f"test_{uuid.uuid4().hex[:16]}"
    server = create_engine(SERVER_DATABASE_URL, poolclass=NullPool)
    with server.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        conn.exec_driver_sql(f'SET LOCAL search_path TO "{schema}"')
        for statement, parameters in statements:
            conn.exec_driver_sql(statement, parameters)
    try:
        yield make_url(SERVER_DATABASE_URL).update_query_dict(
            {"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    finally:
        dispose_engines()
        try:
            with server.begin() as conn:
                conn.exec_driver_sql("SET LOCAL lock_timeout = '30s'")
                conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        except OperationalError:
            pass  # a process the test left behind still holds it; CI drops the whole database at the end
        server.dispose()


@cache
def migrated_schema_statements() -> tuple[tuple[str, Any], ...]:
    """What Alembic's upgrade to head writes into an empty PostgreSQL schema (DDL and the alembic_version row), in
    order, recorded once per test process on a throwaway schema.

    Running Alembic itself costs about a second per schema on PostgreSQL, most of it reflecting the empty schema to
    decide what to create, and several hundred tests each get a schema. Its decisions depend only on what the schema
    already holds, which is nothing, so replaying its writes gives every test exactly the schema it would have made.
    The migrations themselves still run: here, once per test process, on every SQLite test's new file, and in
    tests/unit/test_store.py on empty schemas, which also checks that a replayed schema is the migrated one."""
    recorded: list[tuple[str, Any]] = []
    with fresh_database_url(migrated=False) as url:
        engine = create_engine(url, poolclass=NullPool)

        @event.listens_for(engine, "before_cursor_execute")
        def record(_conn, _cursor, statement, parameters, _context, _executemany) -> None:
            if not statement.lstrip().upper().startswith(("SELECT", "SHOW", "WITH")):  # reads only inform choices
                recorded.append((statement, parameters))

        upgrade_to_head(engine)
        engine.dispose()
    return tuple(recorded)


def use_database(patch: pytest.MonkeyPatch, home: str | Path, database_url: str | None) -> None:
    """Point this process (and workers it starts) at data folder `home` and `database_url` (None: SQLite there)."""
    patch.setenv("COLDSTART_HOME", str(home))
    if database_url is None:
        patch.delenv("DATABASE_URL", raising=False)
    else:
        patch.setenv("DATABASE_URL", database_url)
    dispose_engines()


@contextmanager
def isolated_database(patch: pytest.MonkeyPatch, home: Path, migrated: bool = True) -> Iterator[Path]:
    """Point this process and the workers it starts at data folder `home` and a database of their own, with no rows
    (`fresh_database_url`)."""
    with fresh_database_url(migrated) as url:
        use_database(patch, home, url)
        try:
            yield home
        finally:
            dispose_engines()


@contextmanager
def hold_write_lock(home: Path) -> Iterator[None]:
    """Another connection holding the queue's write lock: SQLite's BEGIN IMMEDIATE on the file, or on PostgreSQL an
    EXCLUSIVE lock on `runs` (reads go on; claims, progress and state changes wait)."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgresql"):
        other = sqlite3.connect(home / "coldstart.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            other.execute("COMMIT")
            other.close()
        return
    holder = create_engine(url, poolclass=NullPool)
    with holder.begin() as conn:
        conn.exec_driver_sql("LOCK TABLE runs IN EXCLUSIVE MODE")
        yield
    holder.dispose()
