"""Read finished runs back from the database and line them up: run tables, leaderboards per slice, seed spreads.

Every number here is read from what the evaluation module recorded (MetricRow aggregates, per-user Parquet
values); this module only selects, groups and formats them, so a page can never disagree with results.json.
Runs that differ only by seed (of the run or of the experiment's split) form one *variant*: the leaderboard shows a
variant's confidence interval when it has one run and its mean and standard deviation over seeds otherwise.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import defer

from engine.metrics.document import RunResults, TuningRecord, params_text
from engine.metrics.names import lower_is_better, split_metric_name
from engine.metrics.statistics import (HISTORY_BUCKETS, group_summary, history_bucket, paired_comparison,
                                       seed_summary)
from engine.models.registry import UnknownModelError, get_model_class
from engine.onboarding.protocol import parse_slice_name
from engine.onboarding.registry import STRATEGIES
from engine.protocols.slices import COLD_KINDS, OVERALL, SLICE_KINDS, WARM, few_shot_k, slice_kind
from engine.runs.curves import training_curve
from engine.runs.results import PER_USER_FILE
from engine.runs.tuning_store import run_trials
from engine.settings import get_settings
from engine.store.db import session_scope
from engine.store.tables import DatasetRow, ExperimentRow, MetricRow, RunEventRow, RunRow

RUN_COLUMNS = ["run_id", "dataset", "dataset_id", "experiment", "experiment_id", "protocol", "model", "label",
               "variant", "seed", "split_seed", "status", "device", "fit_seconds", "eval_seconds", "params",
               "tuning", "setting", "protocol_params", "created_at", "finished_at"]



class ComparisonError(ValueError):
    """A comparison that cannot be made as asked (runs on different splits, no per-user values, unknown attribute)."""


def model_label(name: str) -> str:
    """The model's human name from the registry; the registry key when the model is no longer registered."""
    try:
        return get_model_class(name).label
    except UnknownModelError:
        return name


def how_set(run: RunRow) -> str:
    """How a run's hyper-parameters were set: 'tuned (16 trials)' (', defaults kept' when no trial beat them beyond
    the validation noise), 'to be tuned (16 trials)' while it waits,
    'defaults', or 'set by hand'. Said on every leaderboard row, so a tuned model is never compared unawares with
    an untuned one."""
    try:
        model = get_model_class(run.model)
    except UnknownModelError:
        return "set by hand"
    if run.tuning and not model.search_space:
        return "defaults (nothing to tune)"
    if run.tuning:
        done = RunResults.tuning_of(run.results)
        if done is None:
            return f"to be tuned ({_trials(run.tuning.get('trials'))})"
        kept = ", defaults kept" if done.note else ""  # no trial beat them beyond the noise
        return f"tuned ({_trials(done.n_trials)}{kept})"
    defaults = model.Config().model_dump(mode="json")
    return "defaults" if all(defaults.get(k) == v for k, v in (run.params or {}).items()) else "set by hand"


def _trials(count: int | None) -> str:
    return "a time budget" if count is None else f"{count} trial{'s' if count != 1 else ''}"


def _facets(run: pd.Series) -> dict[str, str]:
    """What can set a run apart from runs of the same model name, each as display text: the registry key, dataset,
    protocol and its parameters, and every hyper-parameter."""
    facets = {"model": run["model"], "dataset": run["dataset"], "protocol": run["protocol"]}
    facets |= {f"protocol {k}": f"{k}={v}" for k, v in sorted(run["protocol_params"].items())}
    if _is_tuned(run["tuning"]):  # a tuned run is named by its budget: each seed may pick other settings
        return facets | {"tuning": run["tuning"]}
    facets |= {"tuning": "not tuned"}
    facets |= {f"param {k}": f"{k}={v}" for k, v in sorted(run["params"].items())}
    return facets


def _is_tuned(how: str) -> bool:
    return how.startswith(("tuned", "to be tuned"))


def _variant_key(runs: pd.DataFrame) -> pd.Series:
    """What runs of one variant share: model, data and protocol, and their settings (their tuning, when tuned:
    each seed of a tuned run may pick other settings)."""
    settings = [tuning if _is_tuned(tuning) else json.dumps(params, sort_keys=True)
                for tuning, params in zip(runs["tuning"], runs["params"])]
    return runs["model"] + "|" + pd.Series(settings, index=runs.index) + "|" + runs["setting"]


def variant_labels(runs: pd.DataFrame) -> pd.Series:
    """One short label per variant among `runs`: the model's name, plus only what differs between variants sharing
    that name (`ALS · factors=64` beside `ALS · factors=128`); `variant_settings` spells out the rest. Label a
    selection on its own and a model that has no sibling in it keeps its bare name."""
    key = _variant_key(runs)
    labels = pd.Series(runs["label"].to_numpy(dtype=object), index=runs.index)
    for _, group in runs.groupby("label"):
        if key[group.index].nunique() < 2:
            continue
        # a parameter some runs did not record (an older version of the model) reads as `name=–`
        facets = {idx: _facets(runs.loc[idx]) for idx in group.index}
        names = dict.fromkeys(name for own in facets.values() for name in own)
        shown = {idx: {n: own.get(n, f"{n.split()[-1]}=–") for n in names} for idx, own in facets.items()}
        differing = [n for n in names if len({own[n] for own in shown.values()}) > 1]
        # another protocol (model) explains its own parameters: name it, not each parameter that follows from it
        for owner, prefix in (("protocol", "protocol "), ("model", "param "), ("tuning", "param ")):
            if owner in differing:
                differing = [n for n in differing if not n.startswith(prefix)]
        for idx, own in shown.items():
            labels[idx] = f"{runs.at[idx, 'label']} · " + ", ".join(own[n] for n in differing)
    return labels


def labels_within_settings(runs: pd.DataFrame) -> pd.Series:
    """Each run's variant label among the runs of its own data and protocol (`setting`), for tables whose dataset
    and protocol columns say the rest: labelled among all runs, 'MostPopular · genres kind, warm' repeated both
    and widened the model column past the window."""
    if runs.empty:
        return pd.Series(index=runs.index, dtype=object)
    return pd.concat(variant_labels(group) for _, group in runs.groupby("setting", sort=False)).reindex(runs.index)


def results_key(runs: pd.DataFrame) -> tuple[tuple[int, str, str], ...]:
    """What identifies what `runs` recorded, for caches of figures computed from it: each run's id, when it
    finished (a re-run records anew) and its label (labels depend on the selection)."""
    return tuple((int(r), str(f), str(v)) for r, f, v in zip(runs["run_id"], runs["finished_at"], runs["variant"]))


def variant_settings(runs: pd.DataFrame) -> pd.DataFrame:
    """Everything behind each variant label: data, protocol, hyper-parameters and the seeds of its runs."""
    rows = [{"model": variant, "runs": len(group), "seeds": ", ".join(map(str, sorted(group["seed"].unique()))),
             "data and protocol": group["setting"].iloc[0], "settings": group["tuning"].iloc[0],
             "hyper-parameters": " | ".join(dict.fromkeys(params_text(p) for p in group["params"]))}
            for variant, group in runs.groupby("variant", sort=True)]
    return pd.DataFrame(rows, columns=["model", "runs", "seeds", "data and protocol", "settings", "hyper-parameters"])


def fit_reports(runs: pd.DataFrame, results: list[RunResults | None] | None = None) -> dict[str, list[str]]:
    """What each variant's fits decided (auto's choice per kind of user and item), per run: 'run #12: ...' lines.
    `results` are `run_results(runs)` when the caller has read them already."""
    reports: dict[str, list[str]] = {}
    results = run_results(runs) if results is None else results
    for variant, run_id, recorded in zip(runs["variant"], runs["run_id"], results):
        lines = getattr(recorded, "fit_report", None) if recorded is not None else None
        if lines:
            reports.setdefault(variant, []).extend(f"run #{int(run_id)}: {line}" for line in lines)
    return reports


def variant_tuning(runs: pd.DataFrame) -> dict[str, str]:
    """How each variant's hyper-parameters were set (see `how_set`), for the leaderboards' settings column."""
    return {variant: group["tuning"].iloc[0] for variant, group in runs.groupby("variant")}


def _tuning_records(runs: pd.DataFrame, results: list[RunResults | None] | None) -> dict[int, TuningRecord]:
    """Each tuned run's tuning record by run id (`results` are `run_results(runs)` when read already)."""
    results = run_results(runs) if results is None else results
    return {int(run_id): entry.tuning for run_id, entry in zip(runs["run_id"], results)
            if entry is not None and entry.tuning is not None}


def _trial_variant(runs: pd.DataFrame) -> dict[int, str]:
    """The name a run's trials are drawn and listed under: its variant and run id (seeds of a variant differ)."""
    return {int(r): f"{v} #{int(r)}" for r, v in zip(runs["run_id"], runs["variant"])}


def load_trials(runs: pd.DataFrame, results: list[RunResults | None] | None = None) -> pd.DataFrame:
    """Every tuning trial of `runs` with the variant and the best validation score so far: what the Compare page
    tables and plots. Columns: run_id, variant, trial, score, best_so_far, kept (the trial whose settings the run
    kept: `TuningRecord.kept_trial`), state, fit_seconds, params. `results` are `run_results(runs)` when the
    caller has read them already."""
    columns = ["run_id", "variant", "trial", "score", "best_so_far", "kept", "state", "fit_seconds", "params"]
    frame = pd.DataFrame(run_trials(runs["run_id"].astype(int).tolist()) if not runs.empty else [])
    if frame.empty:
        return pd.DataFrame(columns=columns)
    frame = frame.loc[frame["run_id"].isin(runs["run_id"])].reset_index(drop=True)
    frame["variant"] = frame["run_id"].map(_trial_variant(runs))
    frame["score"] = frame["score"].astype("float64")
    frame["best_so_far"] = frame.groupby("run_id")["score"].cummax()
    kept = {run_id: record.kept_trial() for run_id, record in _tuning_records(runs, results).items()}
    frame["kept"] = [kept.get(run_id) == trial - 1 for run_id, trial in zip(frame["run_id"], frame["trial"])]
    frame["params"] = frame["params"].map(params_text)
    return frame[columns]


def tuning_notes(runs: pd.DataFrame, results: list[RunResults | None] | None = None) -> dict[str, str]:
    """Why a tuned run kept its defaults (the recorded `TuningRecord.note`), by the name `load_trials` gives its
    trials; runs that kept their best trial have none."""
    names = _trial_variant(runs)
    return {names[run_id]: record.note for run_id, record in _tuning_records(runs, results).items() if record.note}


def list_runs(*, datasets: Iterable[str] | None = None, experiment_ids: Iterable[int] | None = None,
              models: Iterable[str] | None = None, statuses: Iterable[str] | None = None,
              run_ids: Iterable[int] | None = None) -> pd.DataFrame:
    """Runs with their dataset and experiment, newest first, filtered by any of the given values.

    Columns are `RUN_COLUMNS`; `variant` names the group of runs that differ only by seed (labelled among all the
    runs listed), `setting` the data and protocol they ran on.
    """
    # a run's results are read only for tuned runs (their trial count); the page reads the selected runs' once
    query = (select(RunRow, ExperimentRow, DatasetRow).options(defer(RunRow.results))
             .join(ExperimentRow, RunRow.experiment_id == ExperimentRow.id)
             .join(DatasetRow, ExperimentRow.dataset_id == DatasetRow.id)
             .order_by(RunRow.id.desc()))
    if datasets is not None:
        query = query.where(DatasetRow.name.in_(list(datasets)))
    if experiment_ids is not None:
        query = query.where(ExperimentRow.id.in_([int(e) for e in experiment_ids]))
    if models is not None:
        query = query.where(RunRow.model.in_(list(models)))
    if statuses is not None:
        query = query.where(RunRow.status.in_(list(statuses)))
    if run_ids is not None:
        query = query.where(RunRow.id.in_([int(r) for r in run_ids]))
    with session_scope() as session:
        rows = [{
            "run_id": run.id, "dataset": dataset.name, "dataset_id": dataset.id, "experiment": experiment.name,
            "experiment_id": experiment.id,
            "protocol": experiment.protocol, "model": run.model, "label": model_label(run.model), "seed": run.seed,
            "split_seed": experiment.seed, "status": run.status, "device": run.device or "",
            "fit_seconds": run.fit_seconds, "eval_seconds": run.eval_seconds, "params": dict(run.params or {}),
            "tuning": how_set(run),
            "created_at": run.created_at, "finished_at": run.finished_at,
            # what must match for two runs to be seeds of one another: data, protocol and its parameters
            "setting": f"{dataset.name} / {experiment.protocol} {params_text(experiment.params or {})}".strip(),
            "protocol_params": dict(experiment.params or {}),
        } for run, experiment, dataset in session.execute(query)]
    if not rows:
        return pd.DataFrame(columns=RUN_COLUMNS)
    frame = pd.DataFrame(rows)
    frame["variant"] = variant_labels(frame)
    return frame[RUN_COLUMNS].reset_index(drop=True)


def slice_sort_key(name: str) -> tuple[int, int, str]:
    """Order slices as a reader expects (the order of `SLICE_KINDS`: overall, warm, cold users, cold items, both,
    few-shot by k, temporal); names no protocol produces last."""
    kind, shot = slice_kind(name), few_shot_k(name)
    rank = list(SLICE_KINDS).index(kind.name) if kind is not None else len(SLICE_KINDS)
    return rank, shot[1] if shot else 0, name


def first_cold_slice(names: list[str]) -> int:
    """Position of the first cold-start slice among `names` (0 when there is none): the one a page opens on."""
    return next((i for i, name in enumerate(names) if name not in (OVERALL.name, WARM.name)), 0)


def cold_first(names: list[str]) -> list[str]:
    """Slices in the order a page looks for one to open on: cold-start slices first, then overall and warm."""
    start = first_cold_slice(names)
    return names[start:] + names[:start]


def slice_description(name: str) -> str:
    """What a slice measures (whose held-out rows, ranked among which items), from the protocols' one declaration;
    empty for a slice no protocol declares."""
    shot, kind = few_shot_k(name), slice_kind(name)
    if kind is None:
        return ""
    return re.sub(r"\bK\b", str(shot[1]), kind.sentence()) if shot else kind.sentence()


def load_metrics(runs: pd.DataFrame) -> pd.DataFrame:
    """Aggregate metrics of `runs` (long format): run_id, variant, slice, name, mean, ci_low, ci_high, n_users."""
    columns = ["run_id", "variant", "slice", "name", "mean", "ci_low", "ci_high", "n_users"]
    if runs.empty:
        return pd.DataFrame(columns=columns)
    with session_scope() as session:
        run_ids = runs["run_id"].astype(int).tolist()
        rows = session.execute(select(MetricRow).where(MetricRow.run_id.in_(run_ids))).scalars()
        frame = pd.DataFrame([{"run_id": m.run_id, "slice": m.slice, "name": m.name, "mean": m.mean,
                               "ci_low": m.ci_low, "ci_high": m.ci_high, "n_users": m.n_users} for m in rows],
                             columns=[c for c in columns if c != "variant"])
    frame = frame.merge(runs[["run_id", "variant"]], on="run_id", how="inner")
    for column in ("mean", "ci_low", "ci_high"):
        frame[column] = frame[column].astype("float64")
    return frame[columns]


def run_results(runs: pd.DataFrame) -> list[RunResults | None]:
    """The recorded results (results.json's per-model entry) of each of `runs`, in their order; None for a run
    that recorded none."""
    if runs.empty:
        return []
    with session_scope() as session:
        results = dict(session.execute(select(RunRow.id, RunRow.results)
                                       .where(RunRow.id.in_(runs["run_id"].astype(int).tolist()))).all())
    return [RunResults.from_json(results.get(int(run_id))) for run_id in runs["run_id"]]


def load_not_applicable(runs: pd.DataFrame, results: list[RunResults | None] | None = None) -> pd.DataFrame:
    """Slices a run's model could not serve, with the model's own reason (from the run's recorded results;
    `results` are `run_results(runs)` when the caller has read them already)."""
    columns = ["run_id", "variant", "slice", "reason"]
    if runs.empty:
        return pd.DataFrame(columns=columns)
    results = dict(zip(runs["run_id"], run_results(runs) if results is None else results))
    variant = dict(zip(runs["run_id"], runs["variant"]))
    rows = [{"run_id": run_id, "variant": variant[run_id], "slice": name, "reason": reason}
            for run_id, result in results.items() if result is not None
            for name, reason in result.refused().items()]
    return pd.DataFrame(rows, columns=columns)


def available_slices(metrics: pd.DataFrame, not_applicable: pd.DataFrame) -> list[str]:
    """Every slice any selected run reports on, in reading order. The onboarding protocol's slices (one per
    strategy and number of questions) are left out: they read as curves, in the onboarding section."""
    names = {name for name in set(metrics["slice"]) | set(not_applicable["slice"]) if parse_slice_name(name) is None}
    return sorted(names, key=slice_sort_key)


def metric_catalogue(metrics: pd.DataFrame) -> tuple[list[str], list[int]]:
    """The metric families and the cut-offs K present among `metrics`, for pickers."""
    parsed = [split_metric_name(n) for n in metrics["name"].unique()]
    return sorted({b for b, _ in parsed}), sorted({k for _, k in parsed if k is not None})


def metric_columns(metrics: pd.DataFrame, families: Iterable[str], k: int | None) -> list[str]:
    """The stored metric names for the chosen families at cut-off `k` (metrics without a K are kept as they are)."""
    present = set(metrics["name"])
    chosen = []
    for family in families:
        name = f"{family}@{k}" if f"{family}@{k}" in present else family
        if name in present:
            chosen.append(name)
    return chosen


@dataclass
class Leaderboard:
    """One slice's table: rows are variants, columns the chosen metrics.

    `value` holds the point estimate per cell (NaN where not applicable), `low` / `high` its interval (the
    bootstrap CI for one run, mean ± one standard deviation over seeds otherwise), `n_runs` how many seeds a row
    averages, `best` the winning row(s) per metric, `not_applicable` the reason per row that cannot serve the slice.
    """

    slice: str
    metrics: list[str]
    value: pd.DataFrame
    low: pd.DataFrame
    high: pd.DataFrame
    n_runs: pd.Series
    n_users: pd.DataFrame
    best: dict[str, list[str]]
    not_applicable: dict[str, str]
    settings: dict[str, str] = field(default_factory=dict)
    """How each variant's hyper-parameters were set: 'tuned (16 trials)', 'defaults' or 'set by hand'."""

    def display(self, digits: int = 4) -> pd.DataFrame:
        """Text cells for a table: `0.1234 [0.1100, 0.1350]` for one run, `0.1234 ± 0.0040 (3 seeds)` for several;
        a first column says how each row's settings were chosen."""
        rows = {}
        for variant in self.value.index:
            if variant in self.not_applicable:
                rows[variant] = {m: f"not applicable: {self.not_applicable[variant]}" for m in self.metrics}
            else:
                rows[variant] = {metric: self._cell(variant, metric, digits) for metric in self.metrics}
            rows[variant] = {"settings": self.settings.get(variant, ""), **rows[variant]}
        frame = pd.DataFrame.from_dict(rows, orient="index", columns=["settings", *self.metrics])
        frame.index.name = "model"
        return frame

    def _cell(self, variant: str, metric: str, digits: int) -> str:
        value = self.value.at[variant, metric]
        if pd.isna(value):
            return "no result"
        text = f"{value:.{digits}f}"
        low, high = self.low.at[variant, metric], self.high.at[variant, metric]
        runs = int(self.n_runs[variant])
        if runs > 1:
            return f"{text} ± {(high - value):.{digits}f} ({runs} seeds)"
        if pd.notna(low) and pd.notna(high):
            return f"{text} [{low:.{digits}f}, {high:.{digits}f}]"
        return text

    def to_csv_frame(self) -> pd.DataFrame:
        """A flat numeric table for export: per metric its value, interval bounds and number of users."""
        parts = []
        for metric in self.metrics:
            parts.append(pd.DataFrame({metric: self.value[metric], f"{metric} low": self.low[metric],
                                       f"{metric} high": self.high[metric], f"{metric} users": self.n_users[metric]}))
        frame = pd.concat(parts, axis=1) if parts else pd.DataFrame(index=self.value.index)
        frame.insert(0, "seeds", self.n_runs)
        frame.insert(0, "settings", [self.settings.get(v, "") for v in frame.index])
        frame["not applicable"] = [self.not_applicable.get(v, "") for v in frame.index]
        frame.insert(0, "slice", self.slice)
        frame.index.name = "model"
        return frame


def leaderboard(metrics: pd.DataFrame, not_applicable: pd.DataFrame, slice_name: str,
                metric_names: list[str], settings: dict[str, str] | None = None) -> Leaderboard:
    """The leaderboard of one slice over the chosen metrics, best per column marked.

    A variant with several runs shows the mean over its runs and their standard deviation (ddof=1); one run shows
    its recorded mean and confidence interval. Variants whose model cannot serve the slice keep a row with the reason.
    """
    rows = metrics.loc[(metrics["slice"] == slice_name) & metrics["name"].isin(metric_names)]
    refused = not_applicable.loc[not_applicable["slice"] == slice_name]
    variants = sorted(set(rows["variant"]) | set(refused["variant"]))
    shape = dict(index=pd.Index(variants, name="model"), columns=metric_names, dtype="float64")
    value, low, high = pd.DataFrame(**shape), pd.DataFrame(**shape), pd.DataFrame(**shape)
    n_users = pd.DataFrame(**shape)
    n_runs = pd.Series(0, index=value.index, dtype="int64")
    for (variant, name), group in rows.groupby(["variant", "name"]):
        n_runs[variant] = max(n_runs[variant], len(group))
        summary = seed_summary(group["mean"])
        value.at[variant, name] = summary["mean"]
        n_users.at[variant, name] = group["n_users"].mean()
        if len(group) > 1:
            centre, spread = summary["mean"], summary["std"]
            low.at[variant, name], high.at[variant, name] = centre - spread, centre + spread
        else:
            low.at[variant, name], high.at[variant, name] = group["ci_low"].iloc[0], group["ci_high"].iloc[0]
    reasons = {v: r for v, r in zip(refused["variant"], refused["reason"]) if v not in set(rows["variant"])}
    if metric_names:
        # best first by the headline metric; rows without a value (not applicable, no result) last, by name
        order = value[metric_names[0]].sort_values(ascending=lower_is_better(metric_names[0]), na_position="last",
                                                   kind="stable").index
        value, low, high, n_users, n_runs = (part.loc[order] for part in (value, low, high, n_users, n_runs))
    best = {}
    for metric in metric_names:
        column = value[metric].dropna()
        if column.empty:
            best[metric] = []
            continue
        target = column.min() if lower_is_better(metric) else column.max()
        best[metric] = column.index[np.isclose(column.to_numpy(), target)].tolist()
    return Leaderboard(slice_name, list(metric_names), value, low, high, n_runs, n_users, best, reasons,
                       dict(settings or {}))


PROTOCOL_SLICES = "the protocol's slices"
"""The group of every slice a leaderboard tab shows (overall, warm, cold, few-shot, temporal)."""


def slice_group(name: str) -> tuple[str, str]:
    """(group, label) of a slice for a chart that draws many: an onboarding slice belongs to its strategy's group
    and reads as `3 questions`; every other slice is in `PROTOCOL_SLICES` under its own name."""
    onboarding = parse_slice_name(name)
    if onboarding is None:
        return PROTOCOL_SLICES, name
    strategy, step = onboarding
    label = STRATEGIES[strategy].label if strategy in STRATEGIES else strategy
    return f"onboarding: {label}", f"{step} question{'' if step == 1 else 's'}"


def slice_overview(metrics: pd.DataFrame, metric_name: str) -> pd.DataFrame:
    """One metric for every variant and slice (mean over seeds), slices in reading order, each with its group and
    label (`slice_group`): the data of the bar chart by slice."""
    rows = metrics.loc[metrics["name"] == metric_name]
    grouped = rows.groupby(["variant", "slice"], as_index=False).agg(
        mean=("mean", "mean"), ci_low=("ci_low", "mean"), ci_high=("ci_high", "mean"), runs=("run_id", "nunique"))
    grouped["order"] = grouped["slice"].map(_overview_order)
    grouped[["group", "label"]] = pd.DataFrame([slice_group(name) for name in grouped["slice"]], index=grouped.index,
                                               columns=["group", "label"])
    return grouped.sort_values(["order", "variant"]).drop(columns="order").reset_index(drop=True)


def _overview_order(name: str) -> tuple:
    """The protocol's slices in reading order, then onboarding slices by strategy (as registered) and questions."""
    onboarding = parse_slice_name(name)
    if onboarding is None:
        return 0, slice_sort_key(name)
    strategies = list(STRATEGIES)
    strategy, step = onboarding
    return 1, (strategies.index(strategy) if strategy in strategies else len(strategies), step, strategy)


def metrics_on_slice(metrics: pd.DataFrame, metric_names: list[str], slice_name: str) -> pd.DataFrame:
    """Several metrics of one slice per variant (mean over seeds), in long format: variant, name, mean."""
    rows = metrics.loc[(metrics["slice"] == slice_name) & metrics["name"].isin(metric_names)]
    return rows.groupby(["variant", "name"], as_index=False).agg(mean=("mean", "mean"))


CURVE_SIDES = ("user", "item")


def _curve_k(slice_name: str, side: str) -> int | None:
    """Where a slice sits on the cold-start curve of `side`: 0 for the fully cold slice, k for few-shot-`side`-kK,
    None for a slice that is not on that curve."""
    if slice_name == COLD_KINDS[side].name:
        return 0
    shot = few_shot_k(slice_name)
    return shot[1] if shot is not None and shot[0] == side else None


def cold_start_sides(slices: Iterable[str]) -> list[str]:
    """The sides (`user`, `item`) whose cold-start curve has points among `slices`, so a page opens on one with data
    (a cold-item experiment has no new-user curve)."""
    names = list(slices)
    return [side for side in CURVE_SIDES if any(_curve_k(name, side) is not None for name in names)]


def cold_start_curve(metrics: pd.DataFrame, metric_name: str, side: str) -> pd.DataFrame:
    """Metric against k, the number of revealed interactions of a new user (side=`user`) or item (`item`).

    k = 0 is the fully cold slice (`cold-user` / `cold-item`) when the runs have it, so the curve starts where the
    model knows attributes only.
    """
    rows = metrics.loc[metrics["name"] == metric_name].copy()
    rows["k"] = [_curve_k(name, side) for name in rows["slice"]]
    rows = rows.dropna(subset=["k"])
    rows["k"] = rows["k"].astype(int)
    return (rows.groupby(["variant", "k"], as_index=False)
            .agg(mean=("mean", "mean"), ci_low=("ci_low", "mean"), ci_high=("ci_high", "mean"))
            .sort_values(["variant", "k"]).reset_index(drop=True))


def quality_vs_cost(runs: pd.DataFrame, metrics: pd.DataFrame, metric_name: str, slice_name: str) -> pd.DataFrame:
    """Per variant: mean training seconds and mean quality on a slice, with `pareto` marking the efficient ones.

    A variant is on the Pareto front when no other variant is at least as good and at least as fast, and strictly
    better in one of the two.
    """
    rows = metrics.loc[(metrics["name"] == metric_name) & (metrics["slice"] == slice_name), ["run_id", "mean"]]
    joined = rows.merge(runs[["run_id", "variant", "fit_seconds"]], on="run_id").dropna(subset=["fit_seconds"])
    frame = joined.groupby("variant", as_index=False).agg(fit_seconds=("fit_seconds", "mean"), quality=("mean", "mean"))
    quality = -frame["quality"].to_numpy() if lower_is_better(metric_name) else frame["quality"].to_numpy()
    seconds = frame["fit_seconds"].to_numpy()
    dominated = [bool(np.any((quality >= q) & (seconds <= s) & ((quality > q) | (seconds < s))))
                 for q, s in zip(quality, seconds)]
    frame["pareto"] = ~np.asarray(dominated, dtype=bool)
    return frame.sort_values("fit_seconds").reset_index(drop=True)


def load_training_curves(runs: pd.DataFrame) -> pd.DataFrame:
    """Per-epoch training loss and validation metric of `runs`: each run's curve as its run card draws it
    (`engine.runs.curves.training_curve`).

    Tuned runs are left out: their progress events count trials, which the Tuning tab draws (`load_trials`)."""
    columns = ["run_id", "variant", "epoch", "loss", "metric"]
    runs = runs.loc[~runs["tuning"].map(_is_tuned)] if not runs.empty else runs
    if runs.empty:
        return pd.DataFrame(columns=columns)
    fields = ["run_id", "kind", "epoch", "n_epochs", "step", "loss", "metric"]
    with session_scope() as session:
        events = session.execute(
            select(*(getattr(RunEventRow, name) for name in fields))
            .where(RunEventRow.run_id.in_(runs["run_id"].astype(int).tolist()), RunEventRow.kind == "progress")
            .order_by(RunEventRow.id)).all()
    events = pd.DataFrame(events, columns=fields)
    curves = [training_curve(group).assign(run_id=run_id) for run_id, group in events.groupby("run_id", sort=True)]
    curves = [curve for curve in curves if not curve.empty]
    if not curves:
        return pd.DataFrame(columns=columns)
    frame = pd.concat(curves, ignore_index=True).merge(runs[["run_id", "variant"]], on="run_id")
    frame["variant"] = frame["variant"] + " #" + frame["run_id"].astype(str)
    return frame[columns].astype({"loss": "float64", "metric": "float64"})


def load_per_user(runs: pd.DataFrame) -> pd.DataFrame:
    """Per-user metric values of the finished `runs` that kept them, with run_id, experiment_id and variant added."""
    settings = get_settings()
    with session_scope() as session:
        paths = dict(session.execute(select(RunRow.id, RunRow.artifact_path)
                                     .where(RunRow.id.in_(runs["run_id"].astype(int).tolist()))).all())
    variant = dict(zip(runs["run_id"], runs["variant"]))
    experiment = dict(zip(runs["run_id"], runs["experiment_id"]))
    frames = []
    for run_id, artifact in paths.items():
        file = settings.home / artifact / PER_USER_FILE if artifact else None
        if file is None or not file.exists():
            continue
        frame = pd.read_parquet(file)
        frame.insert(0, "variant", variant[run_id])
        frame.insert(0, "experiment_id", experiment[run_id])
        frame.insert(0, "run_id", run_id)
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["run_id", "experiment_id", "variant", "slice", "user_id", "history"])
    combined = pd.concat(frames, ignore_index=True)
    combined["user_id"] = combined["user_id"].astype(str)
    return combined


def per_user_values(per_user: pd.DataFrame, metric_name: str, slice_name: str) -> pd.DataFrame:
    """One metric's per-user values on a slice (users without a held-out positive are left out, as in the mean)."""
    if metric_name not in per_user.columns:
        return pd.DataFrame(columns=["variant", "user_id", "value"])
    rows = per_user.loc[per_user["slice"] == slice_name, ["variant", "user_id", metric_name]]
    return rows.rename(columns={metric_name: "value"}).dropna(subset=["value"]).reset_index(drop=True)


def _grouped(per_user: pd.DataFrame, metric_name: str, slice_name: str, groups: pd.Series) -> pd.DataFrame:
    """`group_summary` of the metrics module per variant: mean, bootstrap CI and users per group."""
    columns = ["variant", "group", "mean", "ci_low", "ci_high", "n_users"]
    if metric_name not in per_user.columns:
        return pd.DataFrame(columns=columns)
    rows = per_user.loc[(per_user["slice"] == slice_name) & groups.notna()]
    parts = []
    for variant, part in rows.groupby("variant", sort=True):
        summary = group_summary(part, metric_name, groups[part.index].astype(str))
        summary.insert(0, "variant", variant)
        parts.append(summary)
    return pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)


def _in_order(frame: pd.DataFrame, order: Iterable[str]) -> pd.DataFrame:
    """`_grouped`'s rows with groups in reading order (not the text order `group_summary` sorts them in)."""
    rank = {group: i for i, group in enumerate(order)}
    return frame.sort_values(["group", "variant"], key=lambda c: c.map(rank) if c.name == "group" else c,
                             kind="stable").reset_index(drop=True)


def history_buckets(per_user: pd.DataFrame, metric_name: str, slice_name: str) -> pd.DataFrame:
    """A metric per history-length bucket (0, 1, 2-5, 6-20, >20 interactions the model saw), per variant."""
    frame = _grouped(per_user, metric_name, slice_name, history_bucket(per_user["history"]).set_axis(per_user.index))
    return _in_order(frame, HISTORY_BUCKETS).rename(columns={"group": "bucket"})


def _number(value: float) -> str:
    """A group edge as a reader writes it: `25`, not `25.0`; `0.1235`, not `0.123456`."""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.4g}"


def _range_labels(values: pd.Series, n_bins: int) -> pd.Series:
    """`values` in at most `n_bins` quantile ranges labelled as a reader writes them: `18-24`, `25-34` for whole
    numbers (each range starts after the last one ends), `0.5 to 1.2` otherwise, never pandas' `6.999` left edge."""
    known = values.dropna()
    edges = np.unique(np.quantile(known, np.linspace(0, 1, n_bins + 1)))
    codes = pd.Series(np.searchsorted(edges[1:-1], values, side="left"), index=values.index).where(values.notna())
    if np.allclose(known, np.round(known)):
        highs = np.floor(edges[1:])
        lows = np.concatenate([[edges[0]], highs[:-1] + 1])
        labels = [_number(lo) if lo == hi else f"{_number(lo)}-{_number(hi)}" for lo, hi in zip(lows, highs)]
    else:
        labels = [f"{_number(lo)} to {_number(hi)}" for lo, hi in zip(edges[:-1], edges[1:])]
    return codes.map(dict(enumerate(labels)))


def attribute_groups(values: pd.Series, n_bins: int) -> tuple[pd.Series, list[str]]:
    """Each user's group of one attribute and the groups in reading order: categories alphabetically, numbers in
    ascending order (`10` after `9`), many distinct numbers as `n_bins` quantile ranges."""
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return values, sorted(values.dropna().astype(str).unique())
    if values.nunique() > n_bins:
        labels = _range_labels(values, n_bins)
        return labels, list(dict.fromkeys(labels.loc[values.sort_values().index].dropna()))
    labels = values.map(_number, na_action="ignore")
    return labels, [_number(v) for v in sorted(values.dropna().unique())]


def user_groups(per_user: pd.DataFrame, metric_name: str, slice_name: str, users: pd.DataFrame,
                attribute: str, n_bins: int = 4) -> pd.DataFrame:
    """A metric per value of a user attribute (numeric attributes in `n_bins` quantile ranges), per variant, groups
    in reading order."""
    if attribute not in users.columns:
        raise ComparisonError(f"the users table has no attribute {attribute!r}; choose one of "
                              f"{', '.join(c for c in users.columns if c != 'user_id')}")
    labels, order = attribute_groups(users.set_index(users["user_id"].astype(str))[attribute], n_bins)
    return _in_order(_grouped(per_user, metric_name, slice_name, per_user["user_id"].map(labels)), order)


def _paired_rows(per_user: pd.DataFrame, run_a: int, run_b: int, slice_name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both runs' per-user rows on a slice, indexed by user; refused when the runs used different splits, since
    then the same user id was tested on different held-out items and a paired comparison means nothing."""
    experiments = per_user.loc[per_user["run_id"].isin([run_a, run_b])].groupby("run_id")["experiment_id"].first()
    if experiments.nunique() > 1:
        raise ComparisonError(f"runs {run_a} and {run_b} were evaluated on different experiments (splits); "
                              "compare two runs of the same experiment user by user")
    rows = per_user.loc[per_user["slice"] == slice_name]
    return (rows.loc[rows["run_id"] == run_a].set_index("user_id"),
            rows.loc[rows["run_id"] == run_b].set_index("user_id"))


def paired_table(per_user: pd.DataFrame, run_a: int, run_b: int, slice_name: str,
                 metric_names: list[str]) -> pd.DataFrame:
    """Run B minus run A per metric on the users both evaluated: their means, the difference, its paired bootstrap
    CI and the Wilcoxon p-value (from the metrics module's `paired_comparison`)."""
    a, b = _paired_rows(per_user, run_a, run_b, slice_name)
    if a.empty or b.empty:
        raise ComparisonError(f"runs {run_a} and {run_b} do not both have per-user values on {slice_name}; "
                              "pick a slice both runs were evaluated on")
    records = []
    for metric in metric_names:
        if metric not in per_user.columns:
            continue
        result = paired_comparison(b[metric], a[metric])
        # the means shown beside the difference are over the same shared users, so B - A adds up
        shared = pd.concat({"a": a[metric], "b": b[metric]}, axis=1, join="inner").dropna()
        records.append({"metric": metric, "A": float(shared["a"].mean()), "B": float(shared["b"].mean()),
                        "difference": result.mean_difference, "ci_low": result.ci[0], "ci_high": result.ci[1],
                        "p_value": result.p_value, "n_users": result.n_users, "test": result.test})
    return pd.DataFrame(records, columns=["metric", "A", "B", "difference", "ci_low", "ci_high", "p_value",
                                          "n_users", "test"])


PAIRED_HEADERS = {"A": "A", "B": "B", "difference": "difference (B − A)", "ci_low": "95% CI low",
                  "ci_high": "95% CI high", "p_value": "p (Wilcoxon)", "n_users": "users"}
"""Reader-facing headers of `paired_table`'s columns, shown on the page and in the report; the test's name is in the
p-value's header, so its own column is not shown."""


def paired_display(table: pd.DataFrame) -> pd.DataFrame:
    """`paired_table` with readable headers, for the page and the report (charts keep reading the raw columns)."""
    return table[["metric", *PAIRED_HEADERS]].rename(columns=PAIRED_HEADERS)


def default_pair(per_user: pd.DataFrame, metrics: pd.DataFrame, metric_name: str,
                 slices: list[str]) -> tuple[int, int, str] | None:
    """(run A, run B, slice) the paired comparison opens on: the first slice, cold-start ones first, on which two
    runs of one experiment both kept per-user values, and there the two best of the leaderboard by `metric_name`
    (the better one as A). None when no two of the runs can be compared user by user."""
    if metric_name not in per_user.columns:
        return None
    for slice_name in cold_first(slices):
        rows = per_user.loc[(per_user["slice"] == slice_name) & per_user[metric_name].notna()]
        experiment = rows.groupby("run_id")["experiment_id"].first()
        quality = metrics.loc[(metrics["slice"] == slice_name) & (metrics["name"] == metric_name)]
        ranked = (quality.groupby("run_id")["mean"].first().reindex(experiment.index)
                  .sort_values(ascending=lower_is_better(metric_name), na_position="last", kind="stable"))
        best_of: dict[int, int] = {}
        for run_id in ranked.index:
            if experiment[run_id] in best_of:
                return best_of[experiment[run_id]], int(run_id), slice_name
            best_of[experiment[run_id]] = int(run_id)
    return None


def disagreements(per_user: pd.DataFrame, run_a: int, run_b: int, slice_name: str, metric_name: str,
                  n: int = 20) -> pd.DataFrame:
    """The `n` users on whom the two runs differ most on a metric (largest |B - A|), with their history length."""
    a, b = _paired_rows(per_user, run_a, run_b, slice_name)
    joined = pd.DataFrame({"history": a["history"], "A": a[metric_name], "B": b[metric_name]}).dropna(subset=["A", "B"])
    joined["difference"] = joined["B"] - joined["A"]
    order = joined["difference"].abs().sort_values(ascending=False, kind="stable").index
    return joined.loc[order[:n]].rename_axis("user_id").reset_index()
