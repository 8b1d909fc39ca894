"""The store (SQLite in WAL mode on the first pass, PostgreSQL on the second): foreign keys, one unit of work per
transaction, schema brought to the newest Alembic revision on first use."""

from __future__ import annotations

import sqlite3

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError

from engine.settings import get_settings
from engine.store.db import dispose_engines, get_engine, session_scope
from engine.store.migrate import current_revision, head_revision
from engine.store.tables import Base, DatasetRow, ExperimentRow
from tests.databases import isolated_database, sqlite_only


@pytest.fixture
def coldstart_home(tmp_path, monkeypatch):
    """The suite's fixture, but on PostgreSQL an empty schema rather than one made at head: these tests watch the
    migrations make (or upgrade) the schema on both backends."""
    with isolated_database(monkeypatch, tmp_path / "home", migrated=False) as home:
        yield home


@sqlite_only
def test_database_is_created_in_the_data_folder_with_wal_and_foreign_keys(coldstart_home):
    engine = get_engine()
    assert (coldstart_home / "coldstart.db").exists()
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000


def test_deleting_a_dataset_cascades_to_its_experiments(coldstart_home):
    with session_scope() as s:
        ds = DatasetRow(name="d", source="cli", path="p")
        s.add(ds)
        s.flush()
        s.add(ExperimentRow(name="e", dataset_id=ds.id, protocol="warm"))
    with session_scope() as s:
        s.delete(s.get(DatasetRow, 1))
    with session_scope() as s:
        assert s.query(ExperimentRow).count() == 0


def test_an_experiment_cannot_point_at_a_missing_dataset(coldstart_home):
    with pytest.raises(IntegrityError):
        with session_scope() as s:
            s.add(ExperimentRow(name="e", dataset_id=999, protocol="warm"))


def test_a_failed_unit_of_work_leaves_nothing_behind(coldstart_home):
    with pytest.raises(RuntimeError):
        with session_scope() as s:
            s.add(DatasetRow(name="half", source="cli", path="p"))
            s.flush()
            raise RuntimeError("boom")
    with session_scope() as s:
        assert s.query(DatasetRow).count() == 0


def _legacy_sqlite_file(path) -> None:
    """A database as an older version left it: no alembic_version table, a datasets table without later columns."""
    path.parent.mkdir(parents=True)
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE datasets (id INTEGER PRIMARY KEY, name VARCHAR(200), source VARCHAR(40), path VARCHAR(500))")
    old.execute("INSERT INTO datasets (name, source, path) VALUES ('legacy', 'cli', 'p')")
    old.commit()
    old.close()


@sqlite_only
def test_a_database_made_before_alembic_keeps_its_rows_and_stands_at_head(coldstart_home):
    _legacy_sqlite_file(coldstart_home / "coldstart.db")
    dispose_engines()
    with session_scope() as s:
        row = s.query(DatasetRow).one()
        assert row.name == "legacy" and row.fingerprint is None
        s.add(ExperimentRow(name="e", dataset_id=row.id, protocol="warm"))
    with get_engine().connect() as conn:
        assert current_revision(conn) == head_revision()
        assert {"runs", "metrics", "run_events", "tuning_trials", "workers"} <= set(inspect(conn).get_table_names())


def test_the_migrated_schema_is_exactly_what_the_tables_declare(coldstart_home):
    """A change to engine/store/tables.py without a revision of its own fails here (and so on every backend)."""
    with get_engine().connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert differences == []


def test_a_test_database_made_at_head_is_what_the_migrations_make(tmp_path, monkeypatch):
    """Other tests' databases skip the migrations on PostgreSQL (tests/databases.py replays what they wrote once):
    what they get must be the migrated schema at the head revision, with no rows."""
    with isolated_database(monkeypatch, tmp_path / "home"):
        with get_engine().connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head_revision()]
            assert all(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0
                       for table in Base.metadata.tables)


def test_a_database_made_by_the_old_additive_migrations_matches_a_fresh_one(coldstart_home):
    """The schema the pre-Alembic code created (create_all of the same tables) upgrades to head, rows kept."""
    coldstart_home.mkdir(parents=True)
    old = create_engine(get_settings().database_url)
    Base.metadata.create_all(old)
    with old.begin() as conn:
        conn.execute(text("INSERT INTO datasets (name, source, path, feedback, item_kinds, user_kinds, n_users, "
                          "n_items, n_interactions, fingerprint, details, created_at) VALUES ('kept', 'cli', 'p', "
                          "'{}', '{}', '{}', 1, 2, 3, 'f', '{}', '2026-01-01')"))
    old.dispose()
    dispose_engines()
    with session_scope() as s:
        assert [(r.name, r.n_interactions) for r in s.query(DatasetRow)] == [("kept", 3)]
    with get_engine().connect() as conn:
        assert current_revision(conn) == head_revision()


def test_opening_the_database_again_does_not_migrate_twice(coldstart_home):
    get_engine()
    dispose_engines()
    with get_engine().connect() as conn:
        versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    assert versions == [head_revision()]
