"""The Home page's one-button demo: a small synthetic shop, a few-shot new-user experiment, auto and four kinds of model.

The point is the whole story within a few minutes on a laptop CPU: auto (which picks per kind of user on the
validation slice, the selection a user who does not know which model to pick should start from), popularity (the
baseline every new user gets), collaborative filtering (strong once a user has history), a hybrid that also reads
attributes, and a cold-start specialist. Runs go through the ordinary job queue, so the demo exercises exactly what a user's own runs do.
Pressing the button again reuses the dataset, the experiment and any demo run that is finished or on its way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy import select

from engine.data.catalog import save_dataset
from engine.data.synthetic import generate_synthetic
from engine.jobs.queue import submit_runs
from engine.models.registry import DEFAULT_MODEL
from engine.protocols.few_shot import FEW_SHOT_USER
from engine.runs.experiments import create_experiment
from engine.store.db import session_scope
from engine.store.tables import DatasetRow, ExperimentRow, RunRow

LIVE_STATES = ("queued", "running", "done")


@dataclass(frozen=True)
class DemoPlan:
    """What the demo builds; the defaults train in well under a minute each on two CPU cores."""

    dataset_name: str = "demo: synthetic shop"
    n_users: int = 300
    n_items: int = 200
    n_interactions: int = 6000
    seed: int = 0
    protocol: str = FEW_SHOT_USER.name
    experiment_name: str = "demo: new users with 1 to 10 known interactions"
    models: dict[str, dict[str, Any]] = field(default_factory=lambda: {
        DEFAULT_MODEL: {},                # auto: the validated pick among fast candidates, per kind of user and item
        "mostpop": {},                    # popularity: what every brand-new user gets today
        "itemknn": {},                    # collaborative filtering: item-item neighbours, folds in a few clicks
        "hybridmf": {"epochs": 10},       # hybrid: LightFM-style factors over ids and attributes
        "dropoutnet": {"epochs": 5},      # cold-start specialist: trained to work with missing CF input
    })


@dataclass(frozen=True)
class DemoSizes:
    """Users, items and interactions of the demo sample as the data catalogue counts them."""

    users: int
    items: int
    interactions: int


def _stored_dataset(plan: DemoPlan) -> DatasetRow | None:
    """The demo dataset's catalogue row, once the demo has stored it."""
    with session_scope() as session:
        return session.scalar(select(DatasetRow).where(DatasetRow.name == plan.dataset_name))


@lru_cache(maxsize=4)
def _generated_sizes(n_users: int, n_items: int, n_interactions: int, seed: int) -> DemoSizes:
    """Sizes of the seeded sample, generated once per process: the Home page asks on every visit."""
    frame = generate_synthetic(n_users, n_items, n_interactions, seed).interactions
    return DemoSizes(frame["user_id"].nunique(), frame["item_id"].nunique(), len(frame))


def demo_sizes(plan: DemoPlan) -> DemoSizes:
    """What the demo stores, counted as the catalogue counts (users and items with an interaction).

    The plan's sizes are only what the generator is asked for: a user or item that none of its random draws reached
    has no interaction and is not stored, so the Home page states these counts instead. They come from the stored
    sample, or (before the first demo) from the same seeded sample the button will store.
    """
    row = _stored_dataset(plan)
    if row is not None:
        return DemoSizes(row.n_users, row.n_items, row.n_interactions)
    return _generated_sizes(plan.n_users, plan.n_items, plan.n_interactions, plan.seed)


def _dataset_id(plan: DemoPlan) -> int:
    """The demo dataset, generated and stored the first time."""
    existing = _stored_dataset(plan)
    if existing is not None:
        return existing.id
    dataset = generate_synthetic(plan.n_users, plan.n_items, plan.n_interactions, plan.seed)
    details = {"origin": "Home page demo", "n_users": plan.n_users, "n_items": plan.n_items,
               "n_interactions": plan.n_interactions, "seed": plan.seed}
    return save_dataset(dataset, plan.dataset_name, "synthetic", details)


def _experiment_id(plan: DemoPlan, dataset_id: int) -> int:
    """The demo experiment on the demo dataset, split the first time."""
    with session_scope() as session:
        existing = session.scalar(select(ExperimentRow.id).where(
            ExperimentRow.dataset_id == dataset_id, ExperimentRow.name == plan.experiment_name))
    if existing is not None:
        return existing
    return create_experiment(dataset_id, plan.protocol, {}, plan.seed, plan.experiment_name)


def start_demo(plan: DemoPlan | None = None) -> list[int]:
    """Make sure the demo's runs exist (queued, running or done) and return their ids, one per model.

    Only models without such a run are queued, so pressing the button twice never trains twice.
    """
    plan = plan or DemoPlan()
    experiment_id = _experiment_id(plan, _dataset_id(plan))
    with session_scope() as session:
        rows = session.execute(select(RunRow.model, RunRow.id)
                               .where(RunRow.experiment_id == experiment_id, RunRow.status.in_(LIVE_STATES),
                                      RunRow.model.in_(list(plan.models)))
                               .order_by(RunRow.id.desc())).all()
    live: dict[str, int] = {}
    for model, run_id in rows:
        live.setdefault(model, run_id)
    run_ids = []
    for model, params in plan.models.items():
        if model not in live:
            live[model] = submit_runs(experiment_id, model, params, seeds=(plan.seed,))[0]
        run_ids.append(live[model])
    return run_ids
