"""Hyper-parameter tuning on the validation slice only, with the same trial budget for every model.

Seeded random search over a model's declared `search_space` (a small grid per field): the first trial is always the
model's defaults, the others are distinct grid combinations drawn with the seed, so every model gets exactly
`budget` fits (or its whole grid, when smaller). The score is whatever `Validator` the caller passes, which by
contract reads the split's validation part, never test (see `engine.evaluation.make_validator`).

Tuned parameters are recorded per dataset in a JSON file (`<directory>/<dataset key>.json`, default folder
`engine/models/tuned/`, shipped with the code for the reference datasets), per protocol, model and split seed:

    {"dataset": "ml-100k", "metric": "ndcg@20",
     "protocols": {"warm": {"als": {"1": {"params": {...}, "valid": 0.251, "budget": 16, "trials": 16}}}}}
"""

from __future__ import annotations

import itertools
import json
import math
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from engine.models.base import FitContext, Recommender, TrainData, Validator
from engine.models.registry import create_model, get_model_class

DEFAULT_BUDGET = 16
TUNED_DIR = Path(__file__).resolve().parent / "models" / "tuned"
_SAFE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass
class Trial:
    """One fitted configuration and its validation score (NaN with `error` set when it could not be fitted)."""

    params: dict[str, Any]
    score: float
    fit_seconds: float
    error: str | None = None


@dataclass
class TuningResult:
    """The outcome of `tune_model`: the best trial's parameters (searched fields only; {} = defaults), all trials."""

    model: str
    metric: str
    best_params: dict[str, Any]
    best_score: float
    budget: int
    trials: list[Trial] = field(default_factory=list)
    best_model: Recommender | None = None
    """The fitted model of the best trial, so callers need not refit it (not recorded)."""


def candidate_params(search_space: dict[str, list[Any]], budget: int, seed: int,
                     defaults: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The configurations to try: the defaults ({}) first, then up to budget - 1 distinct grid points, seeded.

    Grid points that equal the defaults (per `defaults`, the model's default config) are not drawn twice.
    """
    if budget < 1:
        raise ValueError(f"tuning budget {budget} must be at least 1 trial")
    names = sorted(search_space)
    grid = [point for point in itertools.product(*(search_space[n] for n in names))
            if defaults is None or any(defaults.get(n) != v for n, v in zip(names, point))]
    order = np.random.default_rng(seed).permutation(len(grid)) if grid and names else []
    chosen = [dict(zip(names, grid[i])) for i in order[: budget - 1]]
    return [{}] + chosen


def tune_model(name: str, train_data: TrainData, validator: Validator, *, budget: int = DEFAULT_BUDGET,
               seed: int = 0, context: FitContext | None = None) -> TuningResult:
    """Fit `budget` configurations of model `name` on `train_data` and keep the best by `validator`.

    Configurations that fail (invalid for this dataset, e.g. a time window without timestamps) are recorded with
    their error and skipped, so one bad grid point never sinks a tuning run. `seed` seeds both the draw of
    configurations and the models, so a tuning run is reproducible.
    """
    cls = get_model_class(name)
    trials: list[Trial] = []
    best_model: Recommender | None = None
    best_score = -math.inf
    for params in candidate_params(cls.search_space, budget, seed, cls.Config().model_dump()):
        started = time.perf_counter()
        try:
            model = create_model(name, params, seed=seed)
            model.fit(train_data, FitContext(validator=validator, device=context.device if context else "cpu"))
            score = float(validator(model))
            error = None
        except (ValueError, ValidationError) as exc:
            score, error = math.nan, f"{type(exc).__name__}: {exc}"
        trials.append(Trial(params, score, time.perf_counter() - started, error))
        if score > best_score:  # strict, so the earliest (the defaults first) wins a tie; NaN never wins
            best_model, best_score = model, score
    if best_model is None:
        errors = "; ".join(sorted({t.error or "no validation score" for t in trials}))
        raise ValueError(f"tuning {name!r}: no configuration could be fitted and validated ({errors})")
    best = next(t for t in trials if t.score == best_score)
    return TuningResult(name, getattr(validator, "metric_name", "score"), best.params, best.score, budget, trials,
                        best_model)


def _tuned_file(dataset_key: str, directory: Path | None) -> Path:
    if not _SAFE_KEY.match(dataset_key):
        raise ValueError(f"dataset key {dataset_key!r} must be 1-100 letters, digits, dots, dashes or underscores "
                         "(it names the tuned-parameters file)")
    return (directory or TUNED_DIR) / f"{dataset_key}.json"


def record_tuning(result: TuningResult, dataset_key: str, protocol: str, split_seed: int,
                  directory: Path | None = None) -> Path:
    """Store the best parameters of `result` for (dataset, protocol, model, split seed); returns the file."""
    path = _tuned_file(dataset_key, directory)
    document = json.loads(path.read_text()) if path.exists() else {"dataset": dataset_key, "protocols": {}}
    document["metric"] = result.metric
    entry = {"params": result.best_params, "valid": round(result.best_score, 6), "budget": result.budget,
             "trials": len(result.trials)}
    document["protocols"].setdefault(protocol, {}).setdefault(result.model, {})[str(split_seed)] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    return path


def tuned_params(dataset_key: str, protocol: str, model: str, split_seed: int | None = None,
                 directory: Path | None = None) -> dict[str, Any]:
    """Recorded tuned parameters ({} = model defaults when nothing was recorded).

    With a recorded `split_seed`, that seed's tuning; otherwise the configuration chosen for the most seeds
    (lowest seed on a tie), a sensible default for a new split of the same dataset and protocol.
    """
    path = _tuned_file(dataset_key, directory)
    if not path.exists():
        return {}
    by_seed = json.loads(path.read_text()).get("protocols", {}).get(protocol, {}).get(model, {})
    if not by_seed:
        return {}
    if split_seed is not None and str(split_seed) in by_seed:
        return dict(by_seed[str(split_seed)]["params"])
    ordered = sorted(by_seed.items(), key=lambda kv: int(kv[0]) if kv[0].lstrip("-").isdigit() else kv[0])
    votes = Counter(json.dumps(entry["params"], sort_keys=True) for _, entry in ordered)
    winner = max(votes.values())
    return next(dict(entry["params"]) for _, entry in ordered
                if votes[json.dumps(entry["params"], sort_keys=True)] == winner)
