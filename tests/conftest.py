"""Shared fixtures: an isolated data folder and database per test (tests/databases.py: SQLite, or a PostgreSQL
schema on that pass), and the real MovieLens 100K from ../shared."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.databases import isolated_database
from tests.shared_data import ML100K


@pytest.fixture
def coldstart_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh data folder and database (SQLite, or a PostgreSQL schema on that pass) for one test."""
    # page tests drive the run queue themselves; a background worker started by app.py would outlive the test
    monkeypatch.setenv("COLDSTART_AUTOSTART_WORKER", "0")
    with isolated_database(monkeypatch, tmp_path / "home") as home:
        yield home


@pytest.fixture(scope="session")
def ml100k_dir() -> Path:
    """MovieLens 100K in the canonical layout; read in place, never copied (its terms forbid redistribution)."""
    if not (ML100K / "interactions.csv").exists():
        pytest.skip(f"MovieLens 100K not found at {ML100K}: it lives in ../shared beside the project (not redistributable)")
    return ML100K
