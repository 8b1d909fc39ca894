"""Hyper-parameter tuning on the validation slice only, with the same budget for every model (optuna).

A comparison is fair only when every model had the same chance on the user's data (Rendle et al. 2019, "On the
difficulty of evaluating baselines"). Each model gets the same `TuningBudget` (trials, or minutes of wall time)
over its declared search space (`engine.core.search_space`): optuna's TPE sampler, seeded, so the same seed and
budget give the same trials; the first trial is always the model's defaults, then the best settings known from
earlier comparisons (`start_from`); a trial whose validation curve falls below the median of earlier trials at the
same epoch is pruned (optuna's MedianPruner), and `trial_seconds` caps one fit (gradient models keep their best
epoch so far). The score is whatever `Validator` the caller passes, which by contract reads the split's validation
part, never test (see `engine.metrics.evaluation.make_validator`); the test part is scored once, after, by the caller.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Literal

import optuna
from pydantic import ValidationError

from engine.core.data import TrainData
from engine.core.model import FitContext, ProgressReporter, Recommender, Validator
from engine.core.search_space import contains, suggest
from engine.metrics.statistics import paired_gain
from engine.models.registry import create_model, get_model_class

DEFAULT_TRIALS = 16
"""Enough for TPE to home in on a handful of dimensions; the Train form's and the benchmarks' default."""
DEFAULT_TRIAL_SECONDS = 30.0
"""The Train form's cap on one trial's training, so 16 trials of any model take minutes: on ML-100K every model
serving new items but DeepFM and two-tower fits in less with its defaults (benchmarks/fit_times.py)."""
TrialState = Literal["complete", "pruned", "failed"]
_STATES: dict[optuna.trial.TrialState, TrialState] = {
    optuna.trial.TrialState.COMPLETE: "complete", optuna.trial.TrialState.PRUNED: "pruned",
    optuna.trial.TrialState.FAIL: "failed"}
_FIT_ERRORS = (ValueError, ValidationError)
"""Errors that mean "this configuration does not work here" (invalid for the data, diverged): recorded, skipped."""

optuna.logging.set_verbosity(optuna.logging.ERROR)  # trials are reported through our own progress, not stderr


class TuningError(ValueError):
    """No configuration of a model could be fitted and validated, or a budget that cannot be used."""


@dataclass(frozen=True)
class TuningBudget:
    """What every model gets: `trials` fits, or `minutes` of wall time (both: whichever ends first).

    `trial_seconds` caps one fit: a gradient model stops training there and keeps its best epoch so far.
    """

    trials: int | None = DEFAULT_TRIALS
    minutes: float | None = None
    trial_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.trials is None and self.minutes is None:
            raise TuningError("a tuning budget needs a number of trials or of minutes")
        if self.trials is not None and self.trials < 1:
            raise TuningError(f"a tuning budget of {self.trials} trials is not enough: use at least 1")
        if self.minutes is not None and not self.minutes > 0:
            raise TuningError(f"a tuning budget of {self.minutes} minutes is not enough: use more than 0")
        if self.trial_seconds is not None and not self.trial_seconds > 0:
            raise TuningError(f"a time limit of {self.trial_seconds} s per trial is not enough: use more than 0")

    def describe(self) -> str:
        """'16 trials', '5 minutes' or '16 trials or 5 minutes', plus the per-trial limit."""
        parts = [f"{self.trials} trials" if self.trials is not None else "",
                 f"{self.minutes:g} minutes" if self.minutes is not None else ""]
        text = " or ".join(part for part in parts if part)
        return text + (f", at most {self.trial_seconds:g} s per trial" if self.trial_seconds is not None else "")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TuningBudget":
        return cls(**{key: data.get(key) for key in ("trials", "minutes", "trial_seconds")})


@dataclass
class Trial:
    """One configuration tried: its validation score (NaN when pruned or failed), fit time and state."""

    number: int
    params: dict[str, Any]
    score: float
    fit_seconds: float
    state: TrialState = "complete"
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"number": self.number, "params": self.params,
                "score": None if math.isnan(self.score) else round(self.score, 6),
                "fit_seconds": round(self.fit_seconds, 3), "state": self.state, "error": self.error}


@dataclass
class TuningResult:
    """The outcome of `tune_model`: the best trial's parameters (every searched field) and score, all trials."""

    model: str
    metric: str
    best_params: dict[str, Any]
    best_score: float
    budget: TuningBudget
    trials: list[Trial] = field(default_factory=list)
    best_model: Recommender | None = None
    """The fitted model of the best trial, so callers need not refit it (not recorded)."""
    note: str | None = None
    """Why the chosen settings are not the highest-scoring trial's (the defaults kept within the noise)."""

    def to_json(self) -> dict[str, Any]:
        """The `tuning` entry of a model in results.json."""
        entry = {"budget": self.budget.to_json(), "metric": self.metric, "best_params": self.best_params,
                 "best_score": round(self.best_score, 6), "n_trials": len(self.trials),
                 "trials": [trial.to_json() for trial in self.trials]}
        return entry | ({"note": self.note} if self.note else {})


class _PruningValidator:
    """The validator as the model's early stopping sees it: each score goes to the trial, which is stopped when its
    curve falls below the median of earlier trials at the same validation step."""

    def __init__(self, validator: Validator, trial: optuna.Trial) -> None:
        self._validator = validator
        self._trial = trial
        self._step = 0
        self.metric_name = validator.metric_name

    def __getattr__(self, name: str) -> Any:  # slice_for and the like belong to the wrapped validator
        return getattr(self._validator, name)

    def __call__(self, model: Recommender) -> float:
        score = float(self._validator(model))
        if math.isfinite(score):
            self._step += 1
            self._trial.report(score, self._step)
            if self._trial.should_prune():
                raise optuna.TrialPruned(f"validation {score:.4f} at step {self._step} is below the median trial")
        return score


@dataclass
class _CancelOnly:
    """A fit's progress while tuning: only cancelling reaches the model; the tuner reports trials itself."""

    outer: ProgressReporter | None

    def report(self, **_: Any) -> None:
        """Epochs within a trial are not shown: the run's curve is the score per trial."""

    def log(self, message: str) -> None:
        """Logs of single fits would drown the trial lines."""

    def should_stop(self) -> bool:
        return self.outer is not None and self.outer.should_stop()


def _known_settings(space: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any] | None:
    """`settings` restricted to the searched fields, or None when a value is outside today's space."""
    picked = {name: settings[name] for name in space if name in settings}
    if len(picked) != len(space) or not all(contains(space[name], value) for name, value in picked.items()):
        return None
    return picked


def tune_model(name: str, train_data: TrainData, validator: Validator, *,
               budget: TuningBudget | int = TuningBudget(), seed: int = 0, context: FitContext | None = None,
               start_from: list[dict[str, Any]] | None = None,
               on_trial: Callable[[Trial], None] | None = None) -> TuningResult:
    """Search model `name`'s space on `train_data`, scoring each trial with `validator`; keep the best.

    `budget` is a `TuningBudget` or a number of trials. `start_from` lists settings tried right after the
    defaults (the best known from earlier studies). `context` gives the device and the run's progress (trials are
    reported as epochs with their score; cancelling stops the search). Configurations that fail (invalid for this
    dataset, diverged) are recorded with their error and skipped, so one bad trial never sinks the search.
    """
    budget = TuningBudget(trials=budget) if isinstance(budget, int) else budget
    cls = get_model_class(name)
    space = dict(cls.search_space)
    context = context or FitContext()
    defaults = cls.Config().model_dump()
    outcome: dict[str, Any] = {"model": None, "score": -math.inf}
    trials: list[Trial] = []
    started = time.perf_counter()

    def objective(trial: optuna.Trial) -> float:
        params = {field_name: suggest(trial, field_name, dimension) for field_name, dimension in space.items()}
        fit_started = time.perf_counter()
        trial.set_user_attr("params", params)
        try:
            model = create_model(name, params, seed=seed)
            model.fit(train_data, FitContext(validator=_PruningValidator(validator, trial),
                                             progress=_CancelOnly(context.progress),
                                             time_budget_s=budget.trial_seconds, device=context.device,
                                             watched=False, extras=context.extras))
            score = float(validator(model))
        except _FIT_ERRORS as error:
            trial.set_user_attr("error", f"{type(error).__name__}: {error}")
            raise
        finally:
            trial.set_user_attr("fit_seconds", time.perf_counter() - fit_started)
        if score > outcome["score"]:  # strict, so the earliest (the defaults first) wins a tie; NaN never wins
            outcome.update(model=model, score=score)
        if trial.number == 0 and params == _known_settings(space, defaults):
            outcome["defaults"] = (model, score)
        return score

    def after_trial(study: optuna.Study, frozen: optuna.trial.FrozenTrial) -> None:
        record = Trial(frozen.number, frozen.user_attrs.get("params", {}),
                       float(frozen.value) if frozen.value is not None else math.nan,
                       float(frozen.user_attrs.get("fit_seconds", 0.0)), _STATES.get(frozen.state, "failed"),
                       frozen.user_attrs.get("error"))
        trials.append(record)
        if on_trial is not None:
            on_trial(record)
        _report(context.progress, record, len(trials), budget, time.perf_counter() - started)
        if context.progress is not None and context.progress.should_stop():
            study.stop()

    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(1, min(10, (budget.trials or 16) // 2))),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1))
    for settings in [defaults, *(start_from or [])]:
        known = _known_settings(space, settings)
        if known is not None and space:
            study.enqueue_trial(known, skip_if_exists=True)
    n_trials = 1 if not space else budget.trials
    study.optimize(objective, n_trials=n_trials, timeout=budget.minutes * 60 if budget.minutes else None,
                   callbacks=[after_trial], catch=_FIT_ERRORS)
    if outcome["model"] is None:
        errors = "; ".join(sorted({t.error or f"trial {t.number} {t.state}" for t in trials}))
        raise TuningError(f"tuning {name!r}: no configuration could be fitted and validated ({errors})")
    best = next(t for t in trials if t.state == "complete" and t.score == outcome["score"])
    metric = getattr(validator, "metric_name", "score")
    note = _defaults_within_noise(validator, outcome, best)
    if note is not None:
        if context.progress is not None:
            context.progress.log(note)
        defaults_trial = trials[0] if trials[0].number == 0 else next(t for t in trials if t.number == 0)
        return TuningResult(name, metric, defaults_trial.params, defaults_trial.score, budget, trials,
                            outcome["defaults"][0], note)
    return TuningResult(name, metric, best.params, best.score, budget, trials, outcome["model"])


def _defaults_within_noise(validator: Validator, outcome: dict[str, Any], best: Trial) -> str | None:
    """Why the defaults are kept, or None: when the best trial beats them by less than one standard error of the
    paired difference on the validation slice (the one-standard-error rule, Breiman et al. 1984). The best of many
    trials on a few hundred validation users, or on the few items of a new-items slice, wins partly by luck, and
    the defaults, chosen across unlike data, generalise better than settings fitted to that luck. The error counts
    users and held-out items as samples (`paired_gain`)."""
    defaults = outcome.get("defaults")
    terms = getattr(validator, "terms", None)
    if defaults is None or terms is None or best.number == 0 or outcome["model"] is defaults[0]:
        return None
    paired = paired_gain(terms(outcome["model"]), terms(defaults[0]))
    if paired.n_users < 2 or paired.gain > paired.standard_error:
        return None
    over = f"{paired.n_users} validation users" + (f" and {paired.n_items} items" if paired.n_items else "")
    return (f"defaults kept: the best trial (#{best.number + 1}, {best.score:.4f}) beat them by {paired.gain:+.4f}, "
            f"within one standard error ({paired.standard_error:.4f}) over {over}")


def _report(progress: ProgressReporter | None, trial: Trial, done: int, budget: TuningBudget, elapsed: float) -> None:
    """Trials as the run's epochs: the live chart shows the validation score per trial."""
    if progress is None:
        return
    expected = budget.trials or done + 1
    if budget.minutes is not None:
        by_time = done * budget.minutes * 60 / max(elapsed, 1e-9)
        expected = min(expected, max(done, math.ceil(by_time))) if budget.trials else max(done, math.ceil(by_time))
    score = None if math.isnan(trial.score) else trial.score
    progress.report(epoch=done, n_epochs=max(expected, done), metric=score)
    shown = ", ".join(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"
                      for key, value in trial.params.items())
    outcome = f"{trial.score:.4f}" if score is not None else trial.state + (f" ({trial.error})" if trial.error else "")
    progress.log(f"trial {trial.number + 1}: {shown or 'defaults'} -> {outcome}")
