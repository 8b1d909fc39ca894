"""Write transactions for the job queue: take SQLite's write lock up front, and retry when it stays taken.

A deferred SQLite transaction that reads and then writes can fail on the lock upgrade when another process wrote
in between; `BEGIN IMMEDIATE` takes the write lock first, so two supervisors (or a supervisor and the app) claiming
runs serialize instead of failing (https://sqlite.org/lang_transaction.html). On PostgreSQL the same transactions
are ordinary ones whose reads lock the rows they check (`SELECT ... FOR UPDATE`; claims add `SKIP LOCKED`, so
workers on several machines take different runs without waiting on each other); SQLite ignores those clauses.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Callable, Iterator, TypeVar

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from engine.store.db import get_engine

T = TypeVar("T")

LOCK_RETRIES = 5
"""Attempts after the 30 s busy timeout runs out: a writer that holds the database for minutes is a real fault."""


@contextmanager
def immediate_session() -> Iterator[Session]:
    """A unit of work that holds the database's write lock from its first statement; commits on success."""
    engine = get_engine()
    with engine.connect() as connection:
        if engine.dialect.name != "sqlite":
            with Session(bind=connection, expire_on_commit=False) as session, session.begin():
                yield session
            return
        # pysqlite would emit a deferred BEGIN itself; in autocommit mode we issue BEGIN IMMEDIATE by hand.
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        session = Session(bind=connection, expire_on_commit=False, autoflush=True)
        try:
            yield session
            session.flush()
        except BaseException:
            session.close()
            connection.exec_driver_sql("ROLLBACK")
            raise
        connection.exec_driver_sql("COMMIT")
        session.close()


RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
"""PostgreSQL's serialization failure, deadlock detected and lock not available: the transaction lost a race."""


def is_lock_error(error: BaseException) -> bool:
    """True when the database gave up waiting for another writer or broke a deadlock (worth retrying, not a bug)."""
    if not isinstance(error, OperationalError):
        return False
    return "locked" in str(error.orig).lower() or getattr(error.orig, "sqlstate", None) in RETRYABLE_SQLSTATES


def with_lock_retry(work: Callable[[], T], retries: int = LOCK_RETRIES, pause_s: float = 0.5) -> T:
    """Run `work` (one whole transaction), again after a pause when the database stayed locked too long."""
    for attempt in range(retries):
        try:
            return work()
        except OperationalError as error:
            if not is_lock_error(error):
                raise
            time.sleep(pause_s * (attempt + 1))
    return work()
