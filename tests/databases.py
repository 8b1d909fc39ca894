"""Isolated databases for tests on either backend.

The suite runs on embedded SQLite by default. Started with DATABASE_URL set to a PostgreSQL database (`.ci/run`'s
second pass), every isolated database is a schema of its own in that database, created empty and dropped after.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import create_engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from engine.store.db import dispose_engines

SERVER_DATABASE_URL = os.environ.get("DATABASE_URL", "")
"""The PostgreSQL database the suite was started with; empty on the SQLite pass."""
ON_POSTGRES = SERVER_DATABASE_URL.startswith("postgresql")
sqlite_only = pytest.mark.skipif(ON_POSTGRES, reason="checks SQLite's own file, pragmas or locks")


@contextmanager
def fresh_database_url() -> Iterator[str | None]:
    """The DATABASE_URL of an empty database: None on the SQLite pass (the data folder's file), else a new
    PostgreSQL schema (its tables found through search_path), dropped with everything in it afterwards."""
    if not ON_POSTGRES:
        yield None
        return
    schema = f"test_{uuid.uuid4().hex[:16]}"
    server = create_engine(SERVER_DATABASE_URL, poolclass=NullPool)
    with server.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
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


def use_database(patch: pytest.MonkeyPatch, home: str | Path, database_url: str | None) -> None:
    """Point this process (and workers it starts) at data folder `home` and `database_url` (None: SQLite there)."""
    patch.setenv("COLDSTART_HOME", str(home))
    if database_url is None:
        patch.delenv("DATABASE_URL", raising=False)
    else:
        patch.setenv("DATABASE_URL", database_url)
    dispose_engines()


@contextmanager
def isolated_database(patch: pytest.MonkeyPatch, home: Path) -> Iterator[Path]:
    """Point this process and the workers it starts at data folder `home` and an empty database of their own."""
    with fresh_database_url() as url:
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
