"""The results document, typed: what `evaluate` measures, what a run records, what `results.json` holds.

One model writes and reads every copy of the numbers: the `slices` of an evaluation, a run's `results` column in
the database (`RunResults`), and the CLI's `results.json` (`ResultsDocument`). The JSON shape is the stable one of
the README; `to_json` gives it back key for key, so scripts that read results.json see no change.

A slice a model cannot serve is `NotApplicable` (JSON `{"not_applicable": reason}`); a served slice maps metric
names to `MetricSummary` (mean, 95% bootstrap interval, users counted).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator, Literal, Union

from pydantic import BaseModel, ConfigDict, Field


class _Record(BaseModel):
    """Base of the document's parts: keys the code does not know yet are kept, so nothing read is lost on write."""

    model_config = ConfigDict(extra="allow")


class MetricSummary(_Record):
    """One metric on one slice: the mean over counted users, its bootstrap CI (None when not computed)."""

    mean: float | None
    ci: tuple[float, float] | None = None
    n_users: int = 0


class NotApplicable(_Record):
    """A slice the model cannot serve, with the model's own reason."""

    not_applicable: str


SliceResult = Union[NotApplicable, dict[str, MetricSummary]]
"""One slice of a run: the model's reason for not serving it, or its metrics by name (`ndcg@20`, `auc`, ...)."""


class NotServedError(KeyError):
    """A number asked of a slice the model did not serve or a metric it did not report."""

    def __str__(self) -> str:
        return self.args[0]


def slice_metric(slices: dict[str, SliceResult], slice_name: str, metric: str) -> MetricSummary:
    """The summary of `metric` on `slice_name`, or a `NotServedError` that says why there is none."""
    entry = slices.get(slice_name)
    if entry is None:
        raise NotServedError(f"no slice {slice_name!r}; slices: {', '.join(slices)}")
    if isinstance(entry, NotApplicable):
        raise NotServedError(f"slice {slice_name!r} is not applicable: {entry.not_applicable}")
    if metric not in entry:
        raise NotServedError(f"slice {slice_name!r} has no metric {metric!r}")
    return entry[metric]


class ValidationChoice(_Record):
    """What the run early-stopped and tuned on: the metric and the validation slice (None: none it could serve)."""

    metric: str
    slice: str | None = None


def params_text(params: dict[str, Any]) -> str:
    """Settings in one line, by name (`factors=64, lr=0.01`): how a trial's or a protocol's parameters are shown."""
    return ", ".join(f"{k}={v}" for k, v in sorted(params.items()))


class TrialRecord(_Record):
    """One tuning trial: settings, validation score (None when pruned or failed), fit time, state."""

    number: int
    params: dict[str, Any]
    score: float | None = None
    fit_seconds: float = 0.0
    state: Literal["complete", "pruned", "failed"] = "complete"
    error: str | None = None


class TuningRecord(_Record):
    """How a tuned run chose its settings: the budget, the metric, the best trial and every trial."""

    budget: dict[str, Any]
    metric: str
    best_params: dict[str, Any]
    best_score: float | None = None
    n_trials: int = 0
    trials: list[TrialRecord] = Field(default_factory=list)
    note: str | None = None
    """Why the kept settings are not the highest-scoring trial's: the defaults kept because no trial beat them by
    more than one standard error on validation (engine/runs/tuning.py); absent otherwise."""

    def kept_trial(self) -> int | None:
        """The number (from 0) of the trial whose settings the run kept: the defaults' trial 0 when the note says
        they were kept, else the first trial that reached the best score; None when no recorded trial did."""
        if self.note:
            return 0
        return next((t.number for t in self.trials if t.state == "complete" and t.score is not None
                     and self.best_score is not None and t.score == self.best_score), None)


class RunResults(_Record):
    """A run's results (results.json's per-model entry; the `results` column of a run row)."""

    fit_seconds: float = 0.0
    eval_seconds: float = 0.0
    device: str = "cpu"
    params: dict[str, Any] = Field(default_factory=dict)
    seed: int = 0
    validation: ValidationChoice | None = None
    slices: dict[str, SliceResult] = Field(default_factory=dict)
    excluded_users: dict[str, int] = Field(default_factory=dict)
    tuning: TuningRecord | None = None
    """Only for a tuned run; absent from the JSON otherwise."""

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> "RunResults | None":
        """The typed results of a stored entry; None for a run that recorded none (queued, failed)."""
        return cls.model_validate(data) if data else None

    @staticmethod
    def tuning_of(data: dict[str, Any] | None) -> TuningRecord | None:
        """Only the tuning record of a stored entry (None for an untuned run or one not yet recorded), its slices
        left unparsed: Compare says how every listed run was set from it, and parses whole results only for the
        runs selected."""
        recorded = (data or {}).get("tuning")
        return TuningRecord.model_validate(recorded) if recorded else None

    def to_json(self) -> dict[str, Any]:
        """The JSON entry, `tuning` only when the run was tuned, and its `note` only when there is one (the stable
        shape of runs tuned before notes existed)."""
        exclude: dict[str, Any] = {"tuning": True} if self.tuning is None else \
            {"tuning": {"note"}} if self.tuning.note is None else {}
        return self.model_dump(mode="json", exclude=exclude)

    def metric(self, slice_name: str, metric: str) -> MetricSummary:
        """The summary of `metric` on `slice_name` (a `NotServedError` saying why when there is none)."""
        return slice_metric(self.slices, slice_name, metric)

    def served(self) -> Iterator[tuple[str, dict[str, MetricSummary]]]:
        """(slice, metrics) of every slice the model served, in recorded order."""
        for name, entry in self.slices.items():
            if not isinstance(entry, NotApplicable):
                yield name, entry

    def refused(self) -> dict[str, str]:
        """Slice -> the model's reason, for every slice it could not serve."""
        return {name: entry.not_applicable for name, entry in self.slices.items() if isinstance(entry, NotApplicable)}


class SplitSummary(_Record):
    """What identifies the split the numbers were measured on."""

    fingerprint: str
    protocol: str
    seed: int
    params: dict[str, Any] = Field(default_factory=dict)
    cold_users: int = 0
    cold_items: int = 0
    test_slices: list[str] = Field(default_factory=list)
    valid_slices: list[str] = Field(default_factory=list)


class RecordedRuns(_Record):
    """Where the CLI recorded the runs in the database."""

    dataset_id: int
    experiment_id: int
    run_ids: dict[str, int] = Field(default_factory=dict)


class ResultsDocument(_Record):
    """`results.json`: the split, each model's results, the library versions, where the runs were recorded."""

    split: SplitSummary
    models: dict[str, RunResults] = Field(default_factory=dict)
    environment: dict[str, str] = Field(default_factory=dict)
    recorded: RecordedRuns | None = None

    def to_json(self) -> dict[str, Any]:
        """The documented JSON shape (each model's entry as `RunResults.to_json` writes it)."""
        data = {"split": self.split.model_dump(mode="json"),
                "models": {name: entry.to_json() for name, entry in self.models.items()},
                "environment": dict(self.environment)}
        if self.recorded is not None:
            data["recorded"] = self.recorded.model_dump(mode="json")
        return data | (self.model_extra or {})

    def write(self, path: str | Path) -> None:
        """Write the document as indented JSON, creating the folder."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.text())

    def text(self) -> str:
        """The document as indented JSON text."""
        return json.dumps(self.to_json(), indent=1, default=str)

    @classmethod
    def read(cls, path: str | Path) -> "ResultsDocument":
        """A results.json written by `evaluate` (or by hand, in the same shape)."""
        return cls.model_validate_json(Path(path).read_text())
