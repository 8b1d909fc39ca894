"""Every setting the engine reads from the environment, in one place, so the app, the CLI and worker processes agree.

`get_settings()` reads the environment afresh at each call, so a test's monkeypatched variable and a job child's
inherited environment both apply. Paths and the database are read at once; the job, registry and API settings are
read when used, so a mistyped worker setting stops the worker with a clear message, not every page of the app.

| variable | setting | default |
| --- | --- | --- |
| COLDSTART_HOME | `home`: data folder (datasets, splits, artifacts, SQLite file) | ./var |
| DATABASE_URL | `database_url` | SQLite in the data folder |
| COLDSTART_MAX_UPLOAD_MB | `max_upload_mb` | 200 |
| COLDSTART_EXECUTOR | `executor`: local or ray | local |
| COLDSTART_DEVICE_SLOTS | `device_slots`: cpu, cuda:N, comma-separated | one per visible GPU, else cpu |
| COLDSTART_MAX_RUNS_PER_DEVICE | `max_runs_per_device` | 1 |
| COLDSTART_WARM_CHILDREN | `warm_children`: ready interpreters per slot | the executor's own |
| COLDSTART_AUTOSTART_WORKER | `autostart_worker`: the app starts a worker | on (0, false, no, off: off) |
| COLDSTART_EXTRA_MODELS | `extra_model_modules`: modules adding models to the registry | none |
| COLDSTART_API_KEY | `api_key`: the key the serving API asks for | none |
| RAY_ADDRESS | `ray_address`: the Ray cluster of the ray executor | a local Ray |
| COLDSTART_RAY_CPUS_PER_RUN | `ray_cpus_per_run`: CPUs a run asks Ray for | 1 |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

HOME_ENV = "COLDSTART_HOME"
DATABASE_URL_ENV = "DATABASE_URL"
MAX_UPLOAD_ENV = "COLDSTART_MAX_UPLOAD_MB"
EXECUTOR_ENV = "COLDSTART_EXECUTOR"
DEVICE_SLOTS_ENV = "COLDSTART_DEVICE_SLOTS"
MAX_RUNS_ENV = "COLDSTART_MAX_RUNS_PER_DEVICE"
WARM_CHILDREN_ENV = "COLDSTART_WARM_CHILDREN"
AUTOSTART_ENV = "COLDSTART_AUTOSTART_WORKER"
EXTRA_MODELS_ENV = "COLDSTART_EXTRA_MODELS"
API_KEY_ENV = "COLDSTART_API_KEY"
RAY_ADDRESS_ENV = "RAY_ADDRESS"
RAY_CPUS_PER_RUN_ENV = "COLDSTART_RAY_CPUS_PER_RUN"


@dataclass(frozen=True)
class Settings:
    """Paths, limits and switches shared by the app, the CLI and worker processes."""

    home: Path
    database_url: str
    max_upload_mb: int
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)
    """The environment these settings were read from (the rest is read from it on use)."""

    @property
    def datasets_dir(self) -> Path:
        return self.home / "datasets"

    @property
    def splits_dir(self) -> Path:
        return self.home / "splits"

    @property
    def artifacts_dir(self) -> Path:
        return self.home / "artifacts"

    def run_dir(self, run_id: int) -> Path:
        """Where a run's model and per-user files live: `artifacts_dir/run-<id>/` (the job system and results agree)."""
        return self.artifacts_dir / f"run-{run_id}"

    @property
    def executor(self) -> Literal["local", "ray"]:
        """Where runs execute: `local` (processes on this machine) or `ray` (a Ray cluster, RAY_ADDRESS)."""
        kind = self.environ.get(EXECUTOR_ENV, "local").strip().lower() or "local"
        if kind not in ("local", "ray"):
            raise ValueError(f"{EXECUTOR_ENV}={kind!r} is not an executor: use local (this machine) or ray "
                             "(RAY_ADDRESS)")
        return kind  # type: ignore[return-value]

    @property
    def ray_address(self) -> str | None:
        """The Ray cluster runs go to with the ray executor; None starts a local Ray on this machine."""
        return self.environ.get(RAY_ADDRESS_ENV, "").strip() or None

    @property
    def ray_cpus_per_run(self) -> int:
        """CPUs a run asks Ray for (default 1); a run on a GPU asks for one GPU besides."""
        raw = self.environ.get(RAY_CPUS_PER_RUN_ENV, "1").strip()
        if not raw.isdigit() or int(raw) < 1:
            raise ValueError(f"{RAY_CPUS_PER_RUN_ENV}={raw!r} is not a positive whole number; set it to 1 or more")
        return int(raw)

    @property
    def device_slots(self) -> list[str]:
        """The configured device slots, in order and without repeats; empty when none are configured."""
        configured = [slot.strip() for slot in self.environ.get(DEVICE_SLOTS_ENV, "").split(",") if slot.strip()]
        bad = [slot for slot in configured if slot != "cpu" and not (slot.startswith("cuda:") and slot[5:].isdigit())]
        if bad:
            raise ValueError(f"{DEVICE_SLOTS_ENV} has {', '.join(bad)}: use cpu or cuda:N, comma-separated")
        return list(dict.fromkeys(configured))

    @property
    def max_runs_per_device(self) -> int:
        """Concurrent runs per device (default 1: a run gets a whole device)."""
        raw = self.environ.get(MAX_RUNS_ENV, "1")
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value < 1:
            raise ValueError(f"{MAX_RUNS_ENV}={raw!r} is not a positive whole number; set it to 1 or more")
        return value

    @property
    def warm_children(self) -> int | None:
        """Ready interpreters per device slot, or None to let the executor choose."""
        raw = self.environ.get(WARM_CHILDREN_ENV, "").strip()
        if not raw:
            return None
        if not raw.isdigit():
            raise ValueError(f"{WARM_CHILDREN_ENV}={raw!r} is not a whole number; set it to 0 (none), 1, 2 or more")
        return int(raw)

    @property
    def autostart_worker(self) -> bool:
        """Whether the app starts a training worker itself when none is alive."""
        return self.environ.get(AUTOSTART_ENV, "1").strip().lower() not in ("0", "false", "no", "off")

    @property
    def extra_model_modules(self) -> list[str]:
        """Modules, each with its own `MODELS` dict, added to the model registry (the tests' fault models)."""
        return [module.strip() for module in self.environ.get(EXTRA_MODELS_ENV, "").split(",") if module.strip()]

    @property
    def api_key(self) -> str | None:
        """The key a client of the serving API sends as X-API-Key; None when the API is open (loopback only)."""
        return self.environ.get(API_KEY_ENV) or None


def get_settings() -> Settings:
    """Settings from the environment as it is now (see the module's table)."""
    environ = dict(os.environ)
    home = Path(environ.get(HOME_ENV, "var")).resolve()
    url = environ.get(DATABASE_URL_ENV) or f"sqlite:///{home / 'coldstart.db'}"
    max_upload_mb = int(environ.get(MAX_UPLOAD_ENV, "200"))
    return Settings(home=home, database_url=url, max_upload_mb=max_upload_mb, environ=environ)
