"""Fit one model on a split and evaluate it on the split's test slices: the unit of work of the CLI and job system.

Free of database code on purpose: the job system calls `fit_and_evaluate` in its child process and records the
`RunResult` with `engine.runs.results.record_run_result`, the CLI does the same, so both produce identical records.
"""

from __future__ import annotations

import importlib.metadata
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import pandas as pd
import torch
from pydantic import ValidationError

from engine.core.model import FitContext, ProgressReporter, Recommender
from engine.data.dataset import Dataset
from engine.data.indexing import build_train_data
from engine.metrics.document import RunResults, SplitSummary, TuningRecord, ValidationChoice
from engine.metrics.evaluation import DEFAULT_KS, Evaluation, evaluate, make_validator
from engine.metrics.names import VALIDATION_METRIC
from engine.models.registry import create_model
from engine.runs.protocol_catalog import PROTOCOLS, get_protocol
from engine.protocols.split import Split
from engine.training.device import describe_device, pick_device, seed_everything

if TYPE_CHECKING:
    from engine.runs.tuning import TuningBudget

LIBRARIES = ("torch", "numpy", "pandas", "scipy", "scikit-learn", "streamlit")


class RunInputError(ValueError):
    """A run that cannot start as asked (bad hyper-parameters, for instance), with a message for the user."""


class StopRequested(Exception):
    """Fitting ended because the run was asked to stop: a model cut short is not worth evaluating, and a run that
    was stopped must not say it evaluated."""


@dataclass
class RunResult:
    """A fitted model and everything recorded about its run.

    `results` is the per-model entry of results.json (typed; `results.to_json()` is what is stored).
    """

    model: Recommender
    results: RunResults
    per_user: pd.DataFrame
    fit_seconds: float
    eval_seconds: float
    recommendations: dict[str, pd.DataFrame] = field(default_factory=dict)


def split_summary(split: Split) -> SplitSummary:
    """The `split` entry of results.json: what identifies the split the numbers were measured on."""
    return SplitSummary(fingerprint=split.fingerprint, protocol=split.protocol, seed=split.seed,
                        params=split.params, cold_users=len(split.cold_users), cold_items=len(split.cold_items),
                        test_slices=[s.name for s in split.test], valid_slices=[s.name for s in split.valid])


def library_versions() -> dict[str, str]:
    """Python and library versions, recorded with results so numbers can be traced to an environment."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def build_model(model_name: str, params: dict[str, Any], seed: int) -> Recommender:
    """An unfitted registered model; invalid hyper-parameters become a `RunInputError` naming the field."""
    try:
        return create_model(model_name, params, seed=seed)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())
        raise RunInputError(f"invalid parameters for model {model_name!r}: {problems}") from None


def write_recommendations(recommendations: dict[str, pd.DataFrame], folder: str | Path, model_name: str) -> None:
    """Top-K lists as `folder/MODEL/SLICE.csv` with columns user_id,item_id,rank,score."""
    target = Path(folder) / model_name
    target.mkdir(parents=True, exist_ok=True)
    for slice_name, frame in recommendations.items():
        frame.to_csv(target / f"{slice_name}.csv", index=False, columns=["user_id", "item_id", "rank", "score"])


def fit_and_evaluate(dataset: Dataset, split: Split, model_name: str, params: dict[str, Any], seed: int, *,
                     ks: Sequence[int] = DEFAULT_KS, progress: ProgressReporter | None = None,
                     device: torch.device | str = "auto", save_recommendations: str | Path | None = None,
                     validation_metric: str = VALIDATION_METRIC, tuning: "TuningBudget | None" = None,
                     start_from: list[dict[str, Any]] | None = None) -> RunResult:
    """Fit `model_name` with `params` on the split's training part (early stopping on its validation slice) and
    evaluate it on every test slice; optionally write the top-K lists under `save_recommendations`. Raises
    `StopRequested`, before evaluating, when `progress` asked the fit to stop.

    With a `tuning` budget, `params` are ignored: the model's search space is searched on the validation slice
    (starting from the defaults, then `start_from`), and the best trial's model is the one evaluated, once, on test.
    """
    seed_everything(seed)
    model = build_model(model_name, params, seed)
    train_data = build_train_data(split.train, dataset)
    validator = make_validator(train_data, split, validation_metric, seed=seed)
    chosen_device = device if isinstance(device, torch.device) else pick_device(device)
    context = FitContext(validator=validator, progress=progress, device=str(chosen_device))
    started = time.perf_counter()
    search = None
    if tuning is not None:
        from engine.runs.tuning import tune_model  # optuna only where tuning is asked for (GPU workers may lack it)

        search = tune_model(model_name, train_data, validator, budget=tuning, seed=seed, context=context,
                            start_from=start_from)
        model = search.best_model
    else:
        model.fit(train_data, context)
    fit_seconds = time.perf_counter() - started
    if progress is not None and progress.should_stop():
        raise StopRequested
    if progress is not None:
        progress.log("evaluating on the test slices")
    started = time.perf_counter()
    # the top-K lists are always kept: the exposure view (engine.analysis.fairness) reads them back
    evaluation: Evaluation = evaluate(model, train_data, split.test, ks, seed=seed, recommendations=True)
    declaration = get_protocol(split.protocol) if split.protocol in PROTOCOLS else None
    if declaration is not None and declaration.extra_slices is not None:
        extra, rows = declaration.extra_slices(model, train_data, dataset, split, ks, seed)
        evaluation.slices.update(extra)
        evaluation.per_user = pd.concat([evaluation.per_user, rows], ignore_index=True)
    eval_seconds = time.perf_counter() - started
    if save_recommendations is not None:
        write_recommendations(evaluation.recommendations, save_recommendations, model_name)
    validation_slice = validator.slice_for(model)
    report = model.fit_report()
    results = RunResults(
        fit_seconds=round(fit_seconds, 4), eval_seconds=round(eval_seconds, 4),
        device=describe_device(chosen_device), params=model.config.model_dump(mode="json"), seed=seed,
        validation=ValidationChoice(metric=validation_metric,
                                    slice=validation_slice.name if validation_slice is not None else None),
        slices=evaluation.slices, excluded_users=evaluation.excluded_users,
        tuning=TuningRecord.model_validate(search.to_json()) if search is not None else None,
        **({"fit_report": report} if report else {}))  # a key only where a fit decided something
    return RunResult(model, results, evaluation.per_user, fit_seconds, eval_seconds, evaluation.recommendations)
