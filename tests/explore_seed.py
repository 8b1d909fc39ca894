"""Finished runs made the way the job system or the CLI makes them: with saved models on a small synthetic dataset
(`finished_runs`, or in a data folder of their own for serving tests, `runs_to_serve`), or recorded on a given
split (`recorded_runs`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from engine.data.catalog import save_dataset
from engine.data.dataset import Dataset
from engine.data.synthetic import generate_synthetic
from engine.runs.experiments import create_experiment, load_split
from engine.protocols.split import Split
from engine.runs.results import RunRecorder, record_run_result
from engine.runs.runner import fit_and_evaluate
from engine.settings import get_settings
from engine.store.db import session_scope
from engine.store.tables import RunRow
from tests.databases import isolated_database


def finished_runs(models: tuple[str, ...], protocol: str = "cold-user",
                  dataset: Dataset | None = None) -> tuple[int, list[int]]:
    """Store `dataset` (default: 60-user synthetic data) under its own name and a `protocol` experiment, fit and
    record `models`, save each model in its run's artifact folder; returns the experiment id and the run ids in the
    order of `models`. Dataset names are unique, so tests sharing a database pass differently named datasets."""
    dataset = dataset if dataset is not None else generate_synthetic(60, 40, 900, seed=1)
    experiment_id = create_experiment(save_dataset(dataset, dataset.name or "synthetic", "synthetic"), protocol, {},
                                      seed=0)
    split = load_split(experiment_id)
    run_ids = []
    for name in models:
        result = fit_and_evaluate(dataset, split, name, {}, seed=0, ks=(10,), device="cpu")
        with session_scope() as session:
            row = RunRow(experiment_id=experiment_id, model=name, status="done")
            session.add(row)
            session.flush()
            record_run_result(session, row, result)
            result.model.save(get_settings().run_dir(row.id))
            run_ids.append(row.id)
    return experiment_id, run_ids


@contextmanager
def isolated_database_for_serving(home: Path) -> Iterator[Path]:
    """A data folder and database of their own at `home`, with no API key set (as in a fresh shell), while the
    context lasts: where serving tests make their runs."""
    with pytest.MonkeyPatch.context() as patch, isolated_database(patch, home) as folder:
        patch.delenv("COLDSTART_API_KEY", raising=False)
        yield folder


@contextmanager
def runs_to_serve(home: Path, models: tuple[str, ...], protocol: str, dataset: Dataset) -> Iterator[dict[str, int]]:
    """`finished_runs` in a data folder of their own at `home` (`isolated_database_for_serving`): the run id of each
    model, while the folder is the engine's."""
    with isolated_database_for_serving(home):
        _, run_ids = finished_runs(models, protocol=protocol, dataset=dataset)
        yield dict(zip(models, run_ids))


def recorded_runs(dataset: Dataset, split: Split, models: tuple[str, ...], source: str) -> list[int]:
    """Fit `models` on `split` (seed 0, NDCG and recall at 10 and 20) and record them as the CLI does; the run ids
    in the order of `models`."""
    recorder = RunRecorder.start(dataset, split, source)
    run_ids = []
    for model in models:
        run_id = recorder.begin(model, {}, 0)
        recorder.finish(run_id, fit_and_evaluate(dataset, split, model, {}, 0, ks=(10, 20)))
        run_ids.append(run_id)
    return run_ids
