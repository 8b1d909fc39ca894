"""Seed a test database with finished runs, written row by row the way the evaluation module records them.

Shared by the comparison unit tests and the Compare / Home page tests, so every test reads the same known numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from engine.data.catalog import save_dataset
from engine.data.dataset import Dataset
from engine.runs.results import PER_USER_FILE
from engine.settings import get_settings
from engine.store.db import session_scope
from engine.store.tables import ExperimentRow, MetricRow, RunEventRow, RunRow


@dataclass
class SeededRun:
    """What one seeded run looks like: model, seeds, per-slice metric means and slices it cannot serve."""

    model: str
    metrics: dict[str, dict[str, float]]
    seed: int = 0
    fit_seconds: float = 1.0
    not_applicable: dict[str, str] = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    losses: list[float] = field(default_factory=list)
    status: str = "done"
    half_width: float = 0.01
    n_users: int = 100
    per_user: pd.DataFrame | None = None
    """Rows of `slice`, `user_id`, `history` and metric columns, written where the evaluation keeps them."""


def toy_dataset(n_users: int = 6) -> Dataset:
    """Users u0.. (alternating gender) who each liked a few of six items: enough for a stored dataset."""
    users = [f"u{i}" for i in range(n_users)]
    interactions = pd.DataFrame([(u, f"i{(n + j) % 6}") for n, u in enumerate(users) for j in range(3)],
                                columns=["user_id", "item_id"])
    table = pd.DataFrame({"user_id": users, "gender": ["F" if i % 2 else "M" for i in range(n_users)]})
    return Dataset(interactions, users=table, user_kinds={"gender": "categorical"}, name="toy")


def seed_runs(runs: list[SeededRun], *, dataset: str = "toy", protocol: str = "cold-user",
              experiment: str = "toy cold users") -> dict[str, list[int]]:
    """Store a toy dataset, one experiment and `runs` (metrics, not-applicable reasons, loss events, per-user
    values); returns the run ids per model."""
    ids: dict[str, list[int]] = {}
    dataset_id = save_dataset(toy_dataset(), dataset, "synthetic")
    with session_scope() as session:
        exp = ExperimentRow(name=experiment, dataset_id=dataset_id, protocol=protocol, seed=0)
        session.add(exp)
        session.flush()
        for spec in runs:
            slices: dict[str, dict] = {name: {"not_applicable": reason} for name, reason in spec.not_applicable.items()}
            for slice_name, values in spec.metrics.items():
                slices[slice_name] = {name: {"mean": v, "ci": [v - spec.half_width, v + spec.half_width],
                                             "n_users": spec.n_users} for name, v in values.items()}
            run = RunRow(experiment_id=exp.id, model=spec.model, params=spec.params, seed=spec.seed,
                         status=spec.status, device="cpu", fit_seconds=spec.fit_seconds, eval_seconds=0.5,
                         results={"fit_seconds": spec.fit_seconds, "slices": slices}, progress=1.0)
            session.add(run)
            session.flush()
            ids.setdefault(spec.model, []).append(run.id)
            if spec.per_user is not None:
                folder = get_settings().artifacts_dir / f"run-{run.id}"
                folder.mkdir(parents=True, exist_ok=True)
                spec.per_user.to_parquet(folder / PER_USER_FILE, index=False)
                run.artifact_path = str(folder.relative_to(get_settings().home))
            for slice_name, values in spec.metrics.items():
                session.add_all(MetricRow(run_id=run.id, slice=slice_name, name=name, mean=v,
                                          ci_low=v - spec.half_width, ci_high=v + spec.half_width,
                                          n_users=spec.n_users) for name, v in values.items())
            session.add_all(RunEventRow(run_id=run.id, kind="progress", epoch=epoch + 1, n_epochs=len(spec.losses),
                                        loss=loss, metric=0.1 * (epoch + 1)) for epoch, loss in enumerate(spec.losses))
    return ids
