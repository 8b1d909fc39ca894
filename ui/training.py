"""The train-and-watch panel of the Experiments page: queue runs, then watch them live from the database.

Nothing here trains: Train writes queued runs and returns at once; background workers do the work. The live view is
a fragment that re-reads the runs table every second while anything is queued or running, so closing the browser
loses nothing and the page stays responsive.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st

from engine.jobs.liveness import live_workers
from engine.jobs.params import ParamField, capability_summary, model_choices, param_fields, suggested_grid
from engine.jobs.progress import format_seconds
from engine.jobs.queue import (ACTIVE_STATES, JobError, cancel_run, delete_run, list_runs, parse_seeds, rerun_run,
                               run_events, submit_runs)
from engine.models.registry import model_names
from engine.store.tables import RunRow, utcnow
from ui.charts import training_curves_chart

POLL_EVERY = "1s"
FINISHED_SHOWN = 20
"""Finished runs listed under the live ones; the Compare page holds the rest."""
STATUS_ICONS = {"queued": ":material/schedule:", "running": ":material/progress_activity:",
                "done": ":material/check_circle:", "failed": ":material/error:", "cancelled": ":material/block:"}


def _field_widget(model: str, field: ParamField):
    """The widget for one hyper-parameter; returns its value (None for fields kept at their default)."""
    key = f"train-{model}-{field.name}"
    if field.kind == "choice":
        return st.selectbox(field.label, field.choices, index=field.choices.index(field.default), help=field.help,
                            key=key)
    if field.kind == "bool":
        return st.checkbox(field.label, value=bool(field.default), help=field.help, key=key)
    if field.kind == "int":
        low = int(field.minimum) if field.minimum is not None else None
        high = int(field.maximum) if field.maximum is not None else None
        return st.number_input(field.label, value=int(field.default), min_value=low, max_value=high, step=1,
                               help=field.help, key=key)
    if field.kind == "float":
        low = float(field.minimum) if field.minimum is not None else None
        high = float(field.maximum) if field.maximum is not None else None
        return st.number_input(field.label, value=float(field.default), min_value=low, max_value=high,
                               help=field.help, key=key, format="%g")
    if field.kind == "text":
        return st.text_input(field.label, value=str(field.default), help=field.help, key=key)
    st.caption(f"{field.label}: {field.default!r} (fixed at its default here)")
    return None


def _model_form(model: str) -> tuple[dict, dict]:
    """Hyper-parameter widgets and the optional grid of one model; returns (params, grid)."""
    params = {}
    columns = st.columns(3)
    for position, field in enumerate(param_fields(model)):
        with columns[position % 3]:
            value = _field_widget(model, field)
        if value is not None:
            params[field.name] = value
    grid = {}
    space = suggested_grid(model)
    if space:
        chosen = st.multiselect("Also try the suggested values of", list(space), key=f"train-{model}-grid",
                                format_func=lambda name: f"{name}: {', '.join(map(str, space[name]))}",
                                help="Every combination of the chosen values is queued as its own run.")
        grid = {name: space[name] for name in chosen}
    return params, grid


def _train_form(experiment_id: int) -> None:
    names = model_names()
    if not names:
        st.info("No models are registered yet.")
        return
    labels = model_choices(names)
    chosen = st.multiselect("Models", names, format_func=labels.get, key=f"train-models-{experiment_id}",
                            placeholder="Pick one or more models to train")
    for model in chosen:
        st.caption(f"**{labels[model]}** can serve: {capability_summary(model)}")
    if not chosen:
        return
    with st.form(f"train-form-{experiment_id}", border=False):
        settings = {}
        for model in chosen:
            with st.expander(f"{labels[model]} hyper-parameters", expanded=len(chosen) == 1):
                settings[model] = _model_form(model)
        seeds_text = st.text_input("Seeds", value="0", help="One run per seed: 0, or 0, 1, 2, or 0-4.")
        pressed = st.form_submit_button("Train", type="primary", icon=":material/play_arrow:")
    if pressed:
        _queue(experiment_id, settings, seeds_text)


def _queue(experiment_id: int, settings: dict[str, tuple[dict, dict]], seeds_text: str) -> None:
    try:
        seeds = parse_seeds(seeds_text)
        queued = [run_id for model, (params, grid) in settings.items()
                  for run_id in submit_runs(experiment_id, model, params, seeds=seeds, grid=grid)]
    except JobError as error:
        st.error(str(error))
        return
    st.toast(f"Queued {len(queued)} run(s); they start as soon as a worker is free.", icon=":material/schedule:")


def _elapsed_and_eta(run: RunRow, now: datetime) -> str:
    if run.started_at is None:
        return "waiting for a worker"
    end = run.finished_at or now
    elapsed = (end - run.started_at).total_seconds()
    text = f"elapsed {format_seconds(elapsed)}"
    if run.status == "running" and 0 < run.progress < 1:
        text += f" · about {format_seconds(elapsed * (1 - run.progress) / run.progress)} left"
    return text


def _curves(run: RunRow, events: pd.DataFrame) -> pd.DataFrame:
    """Epoch-end loss and validation metric of one run, in the shape the shared curves chart reads."""
    epochs = events[(events["kind"] == "progress") & events["step"].isna() & events["epoch"].notna()]
    epochs = epochs.drop_duplicates("epoch", keep="last")
    return pd.DataFrame({"variant": f"#{run.id} {run.model}", "epoch": epochs["epoch"].astype(int),
                         "loss": epochs["loss"].astype(float), "metric": epochs["metric"].astype(float)})


def _live_progress(run: RunRow, events: pd.DataFrame) -> None:
    st.progress(min(max(run.progress, 0.0), 1.0), text=f"Overall {run.progress:.0%}")
    latest = events[events["kind"] == "progress"].tail(1)
    if not latest.empty and pd.notna(latest["epoch"].iloc[0]):
        row = latest.iloc[0]
        within = row["step"] / row["n_steps"] if pd.notna(row["step"]) and pd.notna(row["n_steps"]) else 1.0
        st.progress(float(min(max(within, 0.0), 1.0)), text=f"Epoch {int(row['epoch'])} of {int(row['n_epochs'])}")


def _actions(run: RunRow) -> None:
    columns = st.columns(6)
    try:
        if run.status in ACTIVE_STATES and not run.cancel_requested:
            if columns[0].button("Cancel", key=f"cancel-{run.id}", icon=":material/stop:"):
                cancel_run(run.id)
                st.rerun(scope="fragment")
        if run.status not in ACTIVE_STATES:
            if columns[0].button("Re-run", key=f"rerun-{run.id}", icon=":material/replay:"):
                rerun_run(run.id)
                st.rerun()
            if columns[1].button("Delete", key=f"delete-{run.id}", icon=":material/delete:"):
                delete_run(run.id)
                st.rerun(scope="fragment")
    except JobError as error:
        st.warning(str(error))


def _run_card(run: RunRow, events: pd.DataFrame, now: datetime, show_experiment: bool) -> None:
    seconds = _elapsed_and_eta(run, now)
    title = f"{STATUS_ICONS.get(run.status, '')} **#{run.id} {run.model}** · seed {run.seed} · {run.status}"
    with st.container(border=True):
        st.markdown(title)
        live_message = f" · {run.message}" if run.status in ACTIVE_STATES and run.message else ""
        where = f"experiment #{run.experiment_id} · " if show_experiment else ""
        st.caption(f"{where}{run.device or 'device pending'} · {seconds}{live_message}")
        if run.status == "running":
            _live_progress(run, events)
        if run.status == "failed":
            st.error(run.error or "failed without a reason")
            if run.traceback:
                with st.expander("Traceback"):
                    st.code(run.traceback, language="text")
        curves = _curves(run, events)
        if not curves.empty:
            st.plotly_chart(training_curves_chart(curves), key=f"curves-{run.id}-{len(curves)}")
        logs = events[events["kind"] == "log"]["message"].tail(4)
        if not logs.empty:
            st.code("\n".join(logs), language="text")
        if run.status == "done":
            _results_table(run)
        _actions(run)


def _results_table(run: RunRow) -> None:
    """The run's headline numbers per slice, from the results it recorded."""
    rows = []
    for slice_name, metrics in (run.results.get("slices") or {}).items():
        if "not_applicable" in metrics:
            rows.append({"slice": slice_name, "result": f"not applicable: {metrics['not_applicable']}"})
            continue
        for name, value in metrics.items():
            if isinstance(value, dict) and "mean" in value:
                rows.append({"slice": slice_name, "metric": name, "mean": value["mean"]})
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, key=f"results-{run.id}")


def _runs_view(experiment_id: int | None, polling_key: str) -> None:
    runs = list_runs(experiment_id)
    if not runs:
        st.caption("No runs yet: pick an experiment and models on the Experiments page and press Train."
                   if experiment_id is None else "No runs yet for this experiment: pick models above and press Train.")
        return
    active = [r for r in runs if r.status in ACTIVE_STATES]
    finished = [r for r in runs if r.status not in ACTIVE_STATES][:FINISHED_SHOWN]
    events = run_events([r.id for r in active + finished])
    if active and not live_workers():
        st.warning("No background worker is running, so queued runs wait. Restart the app, or start one with "
                   "`python -m engine worker`.", icon=":material/warning:")
    now = utcnow()
    for run in active + finished:
        _run_card(run, events[events["run_id"] == run.id], now, show_experiment=experiment_id is None)
    if not active and st.session_state.get(polling_key):
        st.session_state[polling_key] = False
        st.rerun()  # a full rerun stops the polling timer now that nothing is left to watch


def live_runs_view(experiment_id: int | None = None) -> None:
    """Runs of one experiment (or of all), re-read from the database every second while any is queued or running."""
    polling_key = f"polling-{'all' if experiment_id is None else experiment_id}"
    polling = any(run.status in ACTIVE_STATES for run in list_runs(experiment_id))
    st.session_state[polling_key] = polling

    @st.fragment(run_every=POLL_EVERY if polling else None)
    def live_runs() -> None:
        _runs_view(experiment_id, polling_key)

    live_runs()


def training_panel(experiment_id: int) -> None:
    """Pick models and hyper-parameters for an experiment, queue runs, and watch them live."""
    st.subheader("Train")
    _train_form(experiment_id)
    st.subheader("Runs")
    live_runs_view(experiment_id)
