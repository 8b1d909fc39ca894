"""Where the app keeps its data and database, read from the environment so tests and workers agree."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """Paths and limits shared by the app, the CLI and worker processes."""

    home: Path
    database_url: str
    max_upload_mb: int

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


def get_settings() -> Settings:
    """Settings from `COLDSTART_HOME` (default `./var`), `DATABASE_URL` and `COLDSTART_MAX_UPLOAD_MB`."""
    home = Path(os.environ.get("COLDSTART_HOME", "var")).resolve()
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{home / 'coldstart.db'}"
    max_upload_mb = int(os.environ.get("COLDSTART_MAX_UPLOAD_MB", "200"))
    return Settings(home=home, database_url=url, max_upload_mb=max_upload_mb)
