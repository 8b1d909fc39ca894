"""Shared fixtures: an isolated data folder and database per test (tests/databases.py: SQLite, or a PostgreSQL
schema on that pass), and the real MovieLens 100K from ../shared."""

from __future__ import annotations

import inspect
from functools import cache
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


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread_per_test_process() -> None:
    """Fits inside a test process run on one intra-op thread. `make test` runs as many test processes as the
    machine has cores (pytest-xdist), and torch's default of a thread per core then puts two spinning OpenMP threads
    on each core: the small fits of the suite took five to ten times the CPU (and the wall time) they take on one.
    Processes the tests start (workers, servers) keep the product's own thread settings."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def ml100k_dir() -> Path:
    """MovieLens 100K in the canonical layout; read in place, never copied (its terms forbid redistribution)."""
    if not (ML100K / "interactions.csv").exists():
        pytest.skip(f"MovieLens 100K not found at {ML100K}: it lives in ../shared beside the project (not redistributable)")
    return ML100K


DATABASE_HELPERS = ("isolated_database", "use_database", "fresh_database_url", "DATABASE_URL", "runs_to_serve")
"""What a test module or fixture calls when it reads or writes the database (tests/databases.py)."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--database-tests-only", action="store_true",
                     help="run only the tests that read or write the database: a quick check of a change to the "
                          "store on another backend (.ci/run runs the whole suite on both)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--database-tests-only"):
        return
    keep = [item for item in items if _uses_database(item)]
    config.hook.pytest_deselected(items=[item for item in items if item not in keep])
    items[:] = keep


def _uses_database(item: pytest.Item) -> bool:
    """The test's module, or any fixture it depends on (pytest's closure), opens a test database."""
    if any(helper in _source_of_module(str(item.path)) for helper in DATABASE_HELPERS):
        return True
    fixture_defs = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    return any(_opens_database(definition.func) for definitions in fixture_defs.values() for definition in definitions)


@cache
def _source_of_module(path: str) -> str:
    return Path(path).read_text()


@cache
def _opens_database(fixture_function) -> bool:
    """Whether a fixture's own code names a database helper (pytest's built-in fixtures have no readable source)."""
    try:
        source = inspect.getsource(fixture_function)
    except (OSError, TypeError):
        return False
    return any(helper in source for helper in DATABASE_HELPERS)
