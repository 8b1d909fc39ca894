"""One settings object: every variable the engine reads, with its default and a message naming it when it is bad."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.settings import get_settings

VARIABLES = ("COLDSTART_HOME", "DATABASE_URL", "COLDSTART_MAX_UPLOAD_MB", "COLDSTART_EXECUTOR",
             "COLDSTART_DEVICE_SLOTS", "COLDSTART_MAX_RUNS_PER_DEVICE", "COLDSTART_WARM_CHILDREN",
             "COLDSTART_AUTOSTART_WORKER", "COLDSTART_EXTRA_MODELS", "COLDSTART_API_KEY")


@pytest.fixture
def clean_environment(monkeypatch, tmp_path):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_defaults(clean_environment, tmp_path):
    settings = get_settings()
    assert settings.home == (tmp_path / "var").resolve()
    assert settings.database_url == f"sqlite:///{tmp_path.resolve() / 'var' / 'coldstart.db'}"
    assert settings.run_dir(7) == settings.home / "artifacts" / "run-7"
    assert (settings.max_upload_mb, settings.executor, settings.device_slots) == (200, "local", [])
    assert (settings.max_runs_per_device, settings.warm_children, settings.autostart_worker) == (1, None, True)
    assert (settings.extra_model_modules, settings.api_key) == ([], None)


def test_each_variable_is_read_into_its_setting(clean_environment, tmp_path):
    values = {"COLDSTART_HOME": str(tmp_path / "h"), "DATABASE_URL": "postgresql+psycopg://db/lab",
              "COLDSTART_MAX_UPLOAD_MB": "50", "COLDSTART_EXECUTOR": " Ray ",
              "COLDSTART_DEVICE_SLOTS": "cuda:1, cpu,cuda:1", "COLDSTART_MAX_RUNS_PER_DEVICE": "3",
              "COLDSTART_WARM_CHILDREN": "0",
              "COLDSTART_AUTOSTART_WORKER": "off", "COLDSTART_EXTRA_MODELS": "a.b, c", "COLDSTART_API_KEY": "k"}
    for name, value in values.items():
        clean_environment.setenv(name, value)
    settings = get_settings()
    assert settings.home == Path(values["COLDSTART_HOME"]).resolve()
    assert (settings.database_url, settings.max_upload_mb, settings.executor) == (values["DATABASE_URL"], 50, "ray")
    assert settings.device_slots == ["cuda:1", "cpu"]
    assert (settings.max_runs_per_device, settings.warm_children, settings.autostart_worker) == (3, 0, False)
    assert (settings.extra_model_modules, settings.api_key) == (["a.b", "c"], "k")


@pytest.mark.parametrize(("name", "value", "setting", "message"), [
    ("COLDSTART_EXECUTOR", "slurm", "executor", "COLDSTART_EXECUTOR='slurm' is not an executor"),
    ("COLDSTART_DEVICE_SLOTS", "gpu0", "device_slots", "COLDSTART_DEVICE_SLOTS has gpu0"),
    ("COLDSTART_MAX_RUNS_PER_DEVICE", "0", "max_runs_per_device", "COLDSTART_MAX_RUNS_PER_DEVICE='0'"),
    ("COLDSTART_WARM_CHILDREN", "two", "warm_children", "COLDSTART_WARM_CHILDREN='two' is not a whole number"),
])
def test_a_bad_value_names_its_variable_only_where_it_is_used(clean_environment, name, value, setting, message):
    clean_environment.setenv(name, value)
    settings = get_settings()  # the paths and the database still read: the app keeps working
    with pytest.raises(ValueError, match=message):
        getattr(settings, setting)
