"""The store: SQLite in WAL mode with foreign keys, schema created and migrated on first use."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from engine.store.db import dispose_engines, get_engine, session_scope
from engine.store.tables import DatasetRow, ExperimentRow


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


def test_columns_added_since_an_old_database_file_are_migrated_at_start(coldstart_home):
    coldstart_home.mkdir(parents=True)
    old = sqlite3.connect(coldstart_home / "coldstart.db")
    old.execute("CREATE TABLE datasets (id INTEGER PRIMARY KEY, name VARCHAR(200), source VARCHAR(40), path VARCHAR(500))")
    old.execute("INSERT INTO datasets (name, source, path) VALUES ('legacy', 'cli', 'p')")
    old.commit()
    old.close()
    dispose_engines()
    with session_scope() as s:
        row = s.query(DatasetRow).one()
        assert row.name == "legacy" and row.fingerprint is None
