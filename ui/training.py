"""The train-and-watch panel of the Experiments page: queue runs, then watch them live from the database.

Nothing here trains: Train writes queued runs and returns at once; background workers do the work. While anything is
queued or running, fragments re-read the database every second (the runs table, and each running run's progress),
so closing the browser loses nothing; the buttons are drawn outside them and stay still.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from engine.analysis.comparison import cold_first
from engine.jobs.liveness import live_workers
from engine.jobs.observe import RunCurve, card_log, no_curve_reason, run_curve, run_timing
from engine.jobs.params import (ParamError, model_choices, param_fields, parse_field, search_space_summary,
                               suggested_grid)
from engine.jobs.queue import (ACTIVE_STATES, DuplicateRunError, JobError, cancel_run, delete_run, get_run, list_runs,
                               parse_seeds, rerun_run, run_events, submit_runs)
from engine.metrics.document import NotApplicable, RunResults
from engine.models.registry import DEFAULT_MODEL, get_model_class, model_names
from engine.runs.applicability import serving_summary
from engine.runs.tuning import DEFAULT_TRIAL_SECONDS, DEFAULT_TRIALS
from engine.store.tables import RunRow, utcnow
from ui.charts import training_curves_chart, tuning_trials_chart
from ui.forms import field_widget

POLL_EVERY = "1s"
FINISHED_SHOWN = 20
"""Finished runs listed under the live ones; the Compare page holds the rest."""
STATUS_ICONS = {"queued": ":material/schedule:", "running": ":material/progress_activity:",
                "done": ":material/check_circle:", "failed": ":material/error:", "cancelled": ":material/block:"}


def _model_form(model: str) -> tuple[dict, dict] | None:
    """Hyper-parameter widgets and the optional grid of one model; returns (params, grid), or None when a list
    field holds values the model's config refuses (said under the field)."""
    params, refused = {}, False
    fields = param_fields(model)
    # a choice of models takes the whole width, above the rest: in a third of it only one chosen model is readable
    places = {f.name: st.container() for f in fields if f.kind == "models"}
    columns = st.columns(3)
    places |= {f.name: columns[position % 3] for position, f in enumerate(f for f in fields if f.name not in places)}
    for field in fields:
        with places[field.name]:
            value = field_widget(field, f"train-{model}-{field.name}")
            if field.kind in ("list", "models"):
                try:
                    value = parse_field(get_model_class(model).Config, field.name, value)
                except ParamError as error:
                    example = ", ".join(str(v) for v in field.default)
                    how = f" Write the values separated by commas, e.g. {example}." if field.kind == "list" else ""
                    st.error(f"{field.label}: {error.reason}.{how}")
                    refused = True
        if value is not None:
            params[field.name] = value
    grid = {}
    space = suggested_grid(model)
    if space:
        chosen = st.multiselect("Also try the suggested values of", list(space), key=f"train-{model}-grid",
                                format_func=lambda name: f"{name}: {', '.join(map(str, space[name]))}",
                                help="Every combination of the chosen values is queued as its own run.")
        grid = {name: space[name] for name in chosen}
    return None if refused else (params, grid)


def _train_form(experiment_id: int) -> None:
    names = model_names()
    if not names:
        st.info("No models are registered yet.")
        return
    labels = model_choices(names)
    chosen = st.multiselect("Models", names, default=[DEFAULT_MODEL] if DEFAULT_MODEL in names else None,
                            format_func=labels.get, key=f"train-models-{experiment_id}",
                            placeholder="Pick one or more models to train",
                            help="Auto, selected to start with, fits fast candidates and keeps what validates best "
                                 "for each kind of user and item; add models to compare them side by side.")
    for model in chosen:  # on this experiment's slices and data, not what the model could serve elsewhere
        st.caption(f"**{labels[model]}** can serve: {serving_summary(model, experiment_id)}")
    if not chosen:
        return
    tune = st.toggle("Tune every model on the validation slice, with the same budget", key=f"train-tune-{experiment_id}",
                     help="A fair comparison: each model searches its own space (optuna, seeded), the best trial on "
                          "the validation slice is scored once on test. Without it, each model trains with the "
                          "settings below.")
    with st.form(f"train-form-{experiment_id}", border=False):
        settings: dict[str, tuple[dict, dict] | None] = {}
        tuning = None
        if tune:
            tuning = _tuning_form(experiment_id)
            for model in chosen:
                st.caption(f"**{labels[model]}** searches {search_space_summary(model)}")
                settings[model] = ({}, {})
        else:
            for model in chosen:
                with st.expander(f"{labels[model]} hyper-parameters", expanded=len(chosen) == 1):
                    settings[model] = _model_form(model)
        seeds_text = st.text_input("Seeds", value="0", help="One run per seed: 0, or 0, 1, 2, or 0-4.")
        pressed = st.form_submit_button("Tune and train" if tune else "Train", type="primary",
                                        icon=":material/play_arrow:")
    if pressed and all(entry is not None for entry in settings.values()):
        _queue(experiment_id, settings, seeds_text, tuning)


def _tuning_form(experiment_id: int) -> dict:
    """The budget every chosen model gets: trials, an optional time limit per model, a time limit per trial."""
    left, middle, right = st.columns(3)
    trials = left.number_input("Trials per model", min_value=1, max_value=500, value=DEFAULT_TRIALS, step=1,
                               key=f"train-tune-trials-{experiment_id}",
                               help="Each model fits this many settings; the first is its defaults.")
    minutes = middle.number_input("At most minutes per model (0: no limit)", min_value=0.0, value=0.0, step=1.0,
                                  key=f"train-tune-minutes-{experiment_id}",
                                  help="Stops a model's search after this wall time, whichever comes first.")
    seconds = right.number_input("Seconds per trial", min_value=1.0, value=DEFAULT_TRIAL_SECONDS, step=10.0,
                                 key=f"train-tune-seconds-{experiment_id}",
                                 help="A trial's training stops here (gradient models keep their best epoch so "
                                      "far), so one slow model cannot take the whole budget.")
    st.caption(f"Every model gets {int(trials)} trials, each stopped after {seconds:g} s of training"
               + (f", and at most {minutes:g} minutes in all." if minutes else ".")
               + " Trials that fall behind the median on the validation curve are stopped early. Only the "
                 "validation slice is read; the test slice is scored once, for the best trial.")
    return {"trials": int(trials), "minutes": float(minutes) or None, "trial_seconds": float(seconds)}


@dataclass(frozen=True)
class _Refused:
    """A model's submission refused as a duplicate, kept until the person queues the free seeds or trains again."""

    model: str
    params: dict
    grid: dict
    error: DuplicateRunError
    tuning: dict | None = None


def _refused_key(experiment_id: int) -> str:
    return f"train-refused-{experiment_id}"


def _queue(experiment_id: int, settings: dict[str, tuple[dict, dict]], seeds_text: str,
           tuning: dict | None = None) -> None:
    """Queue each model's runs; a model whose runs already stand is set aside with the seeds free instead."""
    try:
        seeds = parse_seeds(seeds_text)
    except JobError as error:
        st.error(str(error))
        return
    refused: list[_Refused] = []
    queued = 0
    for model, (params, grid) in settings.items():
        try:
            queued += len(submit_runs(experiment_id, model, params, seeds=seeds, grid=grid, tuning=tuning))
        except DuplicateRunError as error:
            refused.append(_Refused(model, params, grid, error, tuning))
        except JobError as error:
            st.error(str(error))
    st.session_state[_refused_key(experiment_id)] = refused
    if queued:
        st.toast(f"Queued {queued} run(s); they start as soon as a worker is free.", icon=":material/schedule:")


def _duplicates_notice(experiment_id: int) -> None:
    """Say which runs already exist, point to them, and offer to queue the free seeds instead."""
    refused: list[_Refused] = st.session_state.get(_refused_key(experiment_id), [])
    for position, entry in enumerate(refused):
        seeds = entry.error.free_seeds
        existing = "; ".join(run.describe() for run in entry.error.existing)
        st.warning(f"{existing}: see it under Runs. Nothing new was queued for {entry.model}.",
                   icon=":material/content_copy:")
        label = f"Queue {entry.model} with seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))} instead"
        if st.button(label, key=f"train-free-seeds-{experiment_id}-{position}", icon=":material/add:"):
            try:
                submit_runs(experiment_id, entry.model, entry.params, seeds=seeds, grid=entry.grid,
                            tuning=entry.tuning)
            except DuplicateRunError as error:  # another tab took these seeds meanwhile: offer the next ones
                refused[position] = _Refused(entry.model, entry.params, entry.grid, error, entry.tuning)
            except JobError as error:
                st.error(str(error))
                return
            else:
                refused.pop(position)
            st.rerun()


def _card_body(run: RunRow, events: pd.DataFrame, now: datetime, show_experiment: bool) -> None:
    """Everything on a run's card but its buttons: state, one line of time, progress, curve, logs, results."""
    st.markdown(f"{STATUS_ICONS.get(run.status, '')} **#{run.id} {run.model}** · seed {run.seed} · {run.status}")
    live_message = f" · {run.message}" if run.status in ACTIVE_STATES and run.message else ""
    where = f"experiment #{run.experiment_id} · " if show_experiment else ""
    device = f"{run.device} · " if run.device else "device pending · " if run.status in ACTIVE_STATES else ""
    st.caption(f"{where}{device}{run_timing(run, events, now)}{live_message}")
    curve = run_curve(run, events)
    if run.status == "running":
        _live_progress(run, events, curve.unit)
    if run.status == "failed":
        st.error(run.error or "failed without a reason")
        if run.traceback:
            with st.expander("Traceback"):
                st.code(run.traceback, language="text")
    if not curve.points.empty:
        st.plotly_chart(_curve_chart(run, curve), key=f"curves-{run.id}-{len(curve.points)}")
    elif run.status == "done":
        st.caption(no_curve_reason(run, events))
    log = card_log(run, events)
    if log.lines:
        if log.heading:
            st.caption(log.heading)
        # wrapped: auto's lines (a kind, the model it chose, every score compared) ran past the card sideways
        st.code("\n".join(log.lines), language="text", wrap_lines=True)
    if run.status == "done":
        _results_table(run)


def _curve_chart(run: RunRow, curve: RunCurve) -> go.Figure:
    """The run's curve as its kind says: validation score per trial for a tuned run, loss and metric per epoch."""
    name = f"#{run.id} {run.model}"
    points = curve.points.assign(variant=name)
    if curve.kind == "epochs":
        return training_curves_chart(points)
    return tuning_trials_chart(points, "score", {name: curve.note} if curve.note else None)


def _live_progress(run: RunRow, events: pd.DataFrame, unit: str) -> None:
    """Overall progress, and progress within the current epoch (or, tuning, the trials done: `unit` says which)."""
    st.progress(min(max(run.progress, 0.0), 1.0), text=f"Overall {run.progress:.0%}")
    latest = events[events["kind"] == "progress"].tail(1)
    if not latest.empty and pd.notna(latest["epoch"].iloc[0]):
        row = latest.iloc[0]
        within = row["step"] / row["n_steps"] if pd.notna(row["step"]) and pd.notna(row["n_steps"]) else 1.0
        st.progress(float(min(max(within, 0.0), 1.0)), text=f"{unit} {int(row['epoch'])} of {int(row['n_epochs'])}")


@st.fragment(run_every=POLL_EVERY)
def _live_card_body(run_id: int, show_experiment: bool) -> None:
    """A running run's card body, re-read every second; its buttons sit outside this fragment, so they stay put."""
    try:
        run = get_run(run_id)
    except JobError:
        return  # deleted meanwhile: the watcher redraws the list
    _card_body(run, run_events([run_id]), utcnow(), show_experiment)


def _actions(run: RunRow) -> None:
    """Cancel, Re-run and Delete; each redraws the whole list, the only place buttons are drawn."""
    columns = st.columns(6)
    try:
        if run.status in ACTIVE_STATES and not run.cancel_requested:
            if columns[0].button("Cancel", key=f"cancel-{run.id}", icon=":material/stop:"):
                cancel_run(run.id)
                st.rerun()
        if run.status not in ACTIVE_STATES:
            if columns[0].button("Re-run", key=f"rerun-{run.id}", icon=":material/replay:"):
                rerun_run(run.id)
                st.rerun()
            if columns[1].button("Delete", key=f"delete-{run.id}", icon=":material/delete:"):
                delete_run(run.id)
                st.rerun()
    except JobError as error:
        st.warning(str(error))


def _results_table(run: RunRow) -> None:
    """The run's headline numbers: one row per metric, one column per slice it could serve (cold-start slices
    first, as on Compare, since they are what the experiment is about); each slice it could not serve is named under
    the table with the whole reason, rather than as a row of empty cells whose reason the column cut off."""
    recorded = RunResults.from_json(run.results)
    slices = recorded.slices if recorded is not None else {}
    columns: dict[str, dict[str, float]] = {}
    refused: dict[str, list[str]] = {}
    for slice_name in cold_first(list(slices)):
        metrics = slices[slice_name]
        if isinstance(metrics, NotApplicable):
            refused.setdefault(metrics.not_applicable, []).append(slice_name)
        else:
            columns[slice_name] = {name: value.mean for name, value in metrics.items()}
    if columns:
        table = pd.DataFrame(columns).rename_axis("metric").reset_index()
        st.dataframe(table, hide_index=True, key=f"results-{run.id}")
    for reason, names in refused.items():
        st.caption(f"Not applicable to {', '.join(names)}: {reason}.")


def _drawn_state(runs: list[RunRow]) -> tuple[tuple[int, str, bool], ...]:
    """What the drawn list depends on beyond its figures: which runs exist, their states, pending cancels."""
    return tuple((run.id, run.status, run.cancel_requested) for run in runs)


@st.fragment(run_every=POLL_EVERY)
def _watch(experiment_id: int | None, drawn: tuple[tuple[int, str, bool], ...]) -> None:
    """Re-read the runs every second and redraw the whole list only when one appears, changes state or goes."""
    if _drawn_state(list_runs(experiment_id)) != drawn:
        st.rerun()
    if not live_workers():
        st.warning("No background worker is running, so queued runs wait. Restart the app, or start one with "
                   "`python -m engine worker`.", icon=":material/warning:")


def live_runs_view(experiment_id: int | None = None) -> None:
    """Runs of one experiment (or of all) as cards. While any is queued or running, a small fragment watches the
    runs table and each running card redraws its own figures every second; the buttons are drawn outside both, so
    they stay still and take the first click."""
    runs = list_runs(experiment_id)
    if not runs:
        st.caption("No runs yet: pick an experiment and models on the Experiments page and press Train."
                   if experiment_id is None else "No runs yet for this experiment: pick models above and press Train.")
        return
    active = [r for r in runs if r.status in ACTIVE_STATES]
    finished = [r for r in runs if r.status not in ACTIVE_STATES][:FINISHED_SHOWN]
    if active:
        _watch(experiment_id, _drawn_state(runs))
    events = run_events([r.id for r in active + finished if r.status != "running"])
    now = utcnow()
    show_experiment = experiment_id is None
    for run in active + finished:
        with st.container(border=True, key=f"run-{run.id}"):
            if run.status == "running":
                _live_card_body(run.id, show_experiment)
            else:
                _card_body(run, events[events["run_id"] == run.id], now, show_experiment)
            _actions(run)


def training_panel(experiment_id: int) -> None:
    """Pick models and hyper-parameters for an experiment, queue runs, and watch them live: two headings, Train and
    Runs, which the Experiments page does not repeat."""
    st.subheader("Train")
    _train_form(experiment_id)
    _duplicates_notice(experiment_id)
    st.subheader("Runs")
    live_runs_view(experiment_id)
