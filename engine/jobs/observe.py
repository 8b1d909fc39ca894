"""A run's recorded progress read back for people: one line of time, with one estimate of training left, and its
curve: loss and validation metric per epoch, or, for a tuned run, validation score per trial.

The estimate is the rate of progress between the most recent progress events, not the time since the run started
scaled by the fraction done: that time includes starting a process, loading the data and building the model, which
say nothing about how fast training goes, and early in a run it made estimates ten times too long.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import pandas as pd

from engine.jobs.progress import format_seconds, training_fraction
from engine.metrics.document import RunResults, TuningRecord, params_text
from engine.models.registry import UnknownModelError, get_model_class
from engine.runs.curves import progress_events, training_curve
from engine.runs.results import CLI_WORKER
from engine.store.tables import RunRow

RATE_EVENTS = 20
"""The latest progress events the rate is measured over, so a slow first epoch or a change of pace fades out."""
MIN_RATE_EVENTS = 3
"""No estimate before this many progress events: the first only starts the clock, two intervals make a rate."""
LOG_LINES_SHOWN = 4
"""The latest log lines on a run's card: what it is doing now, or how it ended."""


def _fraction(event) -> float:
    """How much of training was done at a progress event (a row of the events frame)."""
    step, n_steps = (int(v) if pd.notna(v) else None for v in (event.step, event.n_steps))
    return training_fraction(int(event.epoch), int(event.n_epochs), step, n_steps)


def training_seconds_left(events: pd.DataFrame, now: datetime) -> float | None:
    """Seconds of training left from the rate of progress over the latest events of one run; None until there are
    `MIN_RATE_EVENTS` events that moved progress forward, and None once the estimate has run out."""
    recent = progress_events(events).tail(RATE_EVENTS)
    if len(recent) < MIN_RATE_EVENTS:
        return None
    fractions = [_fraction(event) for event in recent.itertuples()]
    gained = fractions[-1] - fractions[0]
    spent = (recent["at"].iloc[-1] - recent["at"].iloc[0]).total_seconds()
    if gained <= 0 or spent <= 0:
        return None
    left = (1 - fractions[-1]) * spent / gained - (now - recent["at"].iloc[-1]).total_seconds()
    return left if left > 0 else None


def run_timing(run: RunRow, events: pd.DataFrame, now: datetime) -> str:
    """The one line of time on a run's card: waiting, elapsed with the time of training left when it can be said,
    or how long the run took. The estimate is an upper bound: early stopping can end training sooner."""
    if run.started_at is None:
        return "waiting for a worker" if run.status == "queued" else "never started"
    if run.finished_at is not None:
        return f"took {format_seconds((run.finished_at - run.started_at).total_seconds())}"
    text = f"elapsed {format_seconds((now - run.started_at).total_seconds())}"
    left = training_seconds_left(events, now) if run.status == "running" else None
    if left is not None:
        text += f" · up to about {format_seconds(left)} of training left"
    return text


def trial_curve(events: pd.DataFrame, record: TuningRecord | None = None) -> pd.DataFrame:
    """Validation score per finished trial of a tuned run and the best so far (columns trial, score, best_so_far,
    state, params, kept: the frame `ui.charts.tuning_trials_chart` draws). A finished run's `record` holds every
    trial with its settings and state, and which one it kept; it is the only source for a run tuned from the CLI
    (`evaluate --tune`), which records no progress events. While a run tunes, its progress events give each
    finished trial's score; a trial without one was pruned or failed."""
    if record is not None and record.trials:
        trials = pd.DataFrame([{"trial": t.number + 1, "score": t.score, "state": t.state,
                                "params": params_text(t.params)} for t in record.trials])
        return _trials_frame(trials["trial"], trials["score"].astype("float64"), trials["state"], trials["params"],
                             record.kept_trial())
    trials = progress_events(events).drop_duplicates("epoch", keep="last")
    score = trials["metric"].astype(float).reset_index(drop=True)
    return _trials_frame(trials["epoch"].astype(int).reset_index(drop=True), score,
                         score.notna().map({True: "complete", False: "pruned or failed"}), pd.Series([""] * len(score)),
                         None)


def _trials_frame(trial: pd.Series, score: pd.Series, state: pd.Series, params: pd.Series,
                  kept: int | None) -> pd.DataFrame:
    """The trial curve's frame; `kept` is the number (from 0) of the trial whose settings the run kept."""
    return pd.DataFrame({"trial": trial, "score": score, "best_so_far": score.cummax().ffill(), "state": state,
                         "params": params, "kept": trial == (kept + 1 if kept is not None else -1)})


CurveKind = Literal["epochs", "trials"]


@dataclass(frozen=True)
class RunCurve:
    """What a run's card draws and how its progress is counted: a tuned run reports each finished trial where an
    untuned run reports what its model counts (`Recommender.progress_unit`: an epoch, a model fitted for auto)."""

    kind: CurveKind
    points: pd.DataFrame
    note: str | None = None
    """A tuned run's recorded reason for keeping its defaults (`TuningRecord.note`), said under its chart."""
    counted: str = "epoch"
    """What an untuned run's progress events count."""

    @property
    def unit(self) -> str:
        """What one progress event counts, as the card's progress bar says it ("Trial 3 of 4")."""
        return "Trial" if self.kind == "trials" else self.counted.capitalize()


def run_curve(run: RunRow, events: pd.DataFrame) -> RunCurve:
    """The curve of one run from its events: score per trial when it was tuned, loss and metric per epoch else."""
    if run.tuning:
        recorded = RunResults.from_json(run.results) if run.status == "done" else None
        record = recorded.tuning if recorded is not None else None
        return RunCurve("trials", trial_curve(events, record), record.note if record is not None else None)
    return RunCurve("epochs", training_curve(events), counted=_progress_unit(run))


def _progress_unit(run: RunRow) -> str:
    try:
        return get_model_class(run.model).progress_unit
    except UnknownModelError:  # a run of a model no longer registered: its events count epochs
        return "epoch"


def no_curve_reason(run: RunRow, events: pd.DataFrame) -> str:
    """Why a finished run has no training curve, in one line."""
    epochs = progress_events(events)
    if epochs.empty and run.worker_id == CLI_WORKER:
        return ("Run from the command line (python -m engine evaluate), which records results but not the progress "
                "of a fit: no training curve.")
    if epochs.empty:
        return "Fitted in one step: no training curve."
    if _progress_unit(run) != "epoch":
        return (f"Fitted {int(epochs['epoch'].max())} models and compared them on validation: no training curve; "
                "what it chose and why is below.")
    return (f"Trained {int(epochs['epoch'].max())} epochs without recording a loss or a validation score: "
            "no training curve.")


@dataclass(frozen=True)
class CardLog:
    """What a run's card shows of its log: a heading (empty for plain log lines) and the lines."""

    heading: str
    lines: list[str]


def card_log(run: RunRow, events: pd.DataFrame) -> CardLog:
    """A finished run's fit report in full when its fit decided something (auto's choice per kind of user and item,
    with the scores compared), else the latest log lines. The log's last lines of such a run are the tail of that
    report, the kinds it did not validate, which read as if they were all it chose."""
    report = (run.results or {}).get("fit_report") if run.status == "done" else None
    if report:
        return CardLog("What it chose and why (validation slices only):", list(report))
    return CardLog("", events.loc[events["kind"] == "log", "message"].tail(LOG_LINES_SHOWN).tolist())
