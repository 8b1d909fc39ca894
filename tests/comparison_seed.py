"""Seed a test database with finished runs, written row by row the way the evaluation module records them.

Shared by the comparison unit tests and the Compare / Home page tests, so every test reads the same known numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.store.db import session_scope
from engine.store.tables import DatasetRow, ExperimentRow, MetricRow, RunEventRow, RunRow


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


def seed_runs(runs: list[SeededRun], *, dataset: str = "toy", protocol: str = "cold-user",
              experiment: str = "toy cold users") -> dict[str, list[int]]:
    """Write a dataset, one experiment and `runs` (metrics, not-applicable reasons, loss events); ids per model."""
    ids: dict[str, list[int]] = {}
    with session_scope() as session:
        data = DatasetRow(name=dataset, source="synthetic", path=f"datasets/{dataset}", n_users=50, n_items=40,
                          n_interactions=500)
        exp = ExperimentRow(name=experiment, dataset=data, protocol=protocol, seed=0)
        session.add_all([data, exp])
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
            for slice_name, values in spec.metrics.items():
                session.add_all(MetricRow(run_id=run.id, slice=slice_name, name=name, mean=v,
                                          ci_low=v - spec.half_width, ci_high=v + spec.half_width,
                                          n_users=spec.n_users) for name, v in values.items())
            session.add_all(RunEventRow(run_id=run.id, kind="progress", epoch=epoch + 1, n_epochs=len(spec.losses),
                                        loss=loss, metric=0.1 * (epoch + 1)) for epoch, loss in enumerate(spec.losses))
    return ids
