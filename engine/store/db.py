"""One SQLAlchemy engine per process (embedded SQLite tuned for a reader app plus writer workers, or PostgreSQL for
several machines), its schema brought to the newest Alembic revision on first use."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from engine.settings import get_settings
from engine.store.migrate import upgrade_to_head

_engines: dict[str, Engine] = {}


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def get_engine(url: str | None = None) -> Engine:
    """The process's engine for `url` (default: settings), created with its schema on first use."""
    settings = get_settings()
    url = url or settings.database_url
    engine = _engines.get(url)
    if engine is None:
        if url.startswith("sqlite"):
            settings.home.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(url, pool_pre_ping=True)
        upgrade_to_head(engine)
        _engines[url] = engine
    return engine


def dispose_engines() -> None:
    """Forget engines (after a fork, or when tests switch DATABASE_URL)."""
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A unit of work: commits on success, rolls back on any error."""
    factory = sessionmaker(get_engine(url), expire_on_commit=False)
    with factory.begin() as session:
        yield session
