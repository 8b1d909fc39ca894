"""Serving from the app: start a finished run as an API, watch it, swap its run, stop it (Compare and Explore);
feedback gathered per dataset, retrain with it and forget a user (Data); runs trained on forgotten data (Runs).

Servers are child processes of the app's server (`engine.serving.process`), so they stop with the app.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import streamlit as st

from engine.data.catalog import list_datasets
from engine.data.errors import DataError
from engine.privacy.forget import forget_user, runs_on_forgotten_data
from engine.serving.feedback_loop import FeedbackLoopError, feedback_by_dataset, retrain_with_feedback
from engine.serving.process import (ServeError, ServerStatus, list_servers, request_swap, start_server,
                                    stop_server, wait_until_serving)

START_TIMEOUT_S = 90.0


def forgotten_runs_notice(run_ids: Iterable[int] | None = None) -> None:
    """A warning naming the runs (of `run_ids`, or all) trained on data a user asked to forget."""
    marked = runs_on_forgotten_data(None if run_ids is None else [int(r) for r in run_ids])
    if marked:
        listed = ", ".join(f"#{run} (user forgotten {at})" for run, at in sorted(marked.items()))
        st.warning(f"Trained on forgotten data: {listed}. Their models still encode a user who asked to be "
                   "forgotten; they are not served any more. Retrain them (queue the model again on the experiment, "
                   "whose data no longer holds the user).", icon=":material/person_remove:")


def _carried(swapped: dict) -> str:
    """What the swap carried from the old run: added items (and those it could not carry, with why), feedback."""
    parts = []
    if swapped.get("items_carried"):
        parts.append(f"Added items carried: {', '.join(swapped['items_carried'])}.")
    for item, reason in (swapped.get("items_refused") or {}).items():
        parts.append(f"Item {item} not carried: {reason}.")
    parts.append(f"Feedback: {swapped.get('feedback_note', '')}.")
    return " ".join(parts)


def _server_row(status: ServerStatus, runs: dict[int, str], key: str) -> None:
    entry = status.entry
    left, right = st.columns([4, 1])
    if status.state == "serving":
        health = status.health or {}
        left.markdown(f":material/cloud_done: **Serving run {health.get('run_id')}** ({health.get('model_label')}, "
                      f"dataset {health.get('dataset')}) at [{entry.url}]({entry.url}) · "
                      f"[API docs]({entry.url}/docs) · pid {entry.pid}")
        others = {run: label for run, label in runs.items() if run != health.get("run_id")}
        if others:
            target = left.selectbox("Swap to run", list(others), format_func=others.get, key=f"{key}-swap-{entry.pid}")
            if left.button("Swap (no request dropped)", key=f"{key}-swap-button-{entry.pid}"):
                with st.spinner(f"Loading run {target}; the current run answers meanwhile…"):
                    try:
                        swapped = request_swap(entry.url, target)
                        st.success(f"Now serving run {swapped['run_id']} (was {swapped['previous_run_id']}). "
                                   + _carried(swapped))
                    except ServeError as error:
                        st.error(str(error), icon=":material/error:")
    elif status.state == "starting":
        left.markdown(f":material/hourglass_top: Starting run {entry.run_id} at {entry.url} (loading the model)…")
    else:
        left.markdown(f":material/error: The server of run {entry.run_id} on port {entry.port} exited: "
                      f"{status.reason}")
    if right.button("Stop server" if status.state != "exited" else "Dismiss", key=f"{key}-stop-{entry.pid}"):
        stop_server(entry.pid)
        st.rerun()


def serving_panel(runs: pd.DataFrame, key: str) -> None:
    """Serve one of the finished runs of `runs` (columns `run_id`, `label` or `model`, `status`) as an HTTP API,
    and show, swap and stop the servers the app started."""
    forgotten_runs_notice(runs["run_id"].tolist())
    finished = runs.loc[runs["status"] == "done"] if "status" in runs.columns else runs
    names = finished["label"] if "label" in finished.columns else finished["model"]
    choices = {int(run): f"#{run} {name}" for run, name in zip(finished["run_id"], names)}
    with st.expander("Serve as an API", icon=":material/api:"):
        for status in list_servers():
            _server_row(status, choices, key)
        if not choices:
            st.caption("Only finished runs can be served.")
            return
        run_id = st.selectbox("Run to serve", list(choices), format_func=choices.get, key=f"{key}-serve-run")
        if st.button("Serve", key=f"{key}-serve-button", icon=":material/play_arrow:"):
            entry = start_server(run_id)
            with st.spinner(f"Starting run {run_id} on {entry.url}…"):
                status = wait_until_serving(entry, START_TIMEOUT_S)
            if status.state == "exited":
                stop_server(entry.pid)
                st.error(f"Run {run_id} cannot be served: {status.reason}", icon=":material/error:")
            else:
                st.rerun()
        st.caption("Servers listen on this machine only and stop with the app. curl examples: README, Serving.")


def feedback_panel() -> None:
    """Feedback gathered per dataset by its served runs, "retrain with feedback", and forgetting a user."""
    tallies = feedback_by_dataset()
    datasets = {d.id: d for d in list_datasets()}
    with st.expander("Served feedback and privacy", icon=":material/feedback:"):
        if tallies:
            st.dataframe(pd.DataFrame([{"dataset": datasets[t.dataset_id].name if t.dataset_id in datasets else
                                        t.dataset_id, "feedback events": t.events,
                                        "served runs": ", ".join(map(str, t.runs))} for t in tallies.values()]),
                         hide_index=True)
            served = {run: f"run {run} (dataset {datasets[t.dataset_id].name})" for t in tallies.values()
                      for run in t.runs if t.dataset_id in datasets}
            run_id = st.selectbox("Retrain the models of", list(served), format_func=served.get,
                                  key="feedback-retrain-run")
            if st.button("Retrain with feedback", key="feedback-retrain", icon=":material/autorenew:"):
                try:
                    made = retrain_with_feedback(run_id)
                except (FeedbackLoopError, DataError) as error:
                    st.error(str(error), icon=":material/error:")
                else:
                    link = ",".join(map(str, made.compare_run_ids))
                    st.success(f"New version '{made.dataset_name}' (#{made.dataset_id}) with {made.feedback_rows} "
                               f"feedback rows; {len(made.run_ids)} runs queued. "
                               f"[Compare old and new](/compare?runs={link})")
        else:
            st.caption("No served feedback yet: serve a run (Compare or Explore) and POST /feedback to it.")
        _forget_form(datasets)


def _forget_form(datasets: dict) -> None:
    if not datasets:
        return
    with st.form("forget-user"):
        st.markdown("**Forget a user**: erase their interactions and attributes from a dataset, its versions, "
                    "splits and served feedback; runs trained on them are marked, servers stop answering them.")
        dataset_id = st.selectbox("Dataset", list(datasets), format_func=lambda i: f"{datasets[i].name} (#{i})",
                                  key="forget-dataset")
        user_id = st.text_input("User id", key="forget-user-id")
        sure = st.checkbox("Yes, erase this user's data (it cannot be undone)", key="forget-confirm")
        if st.form_submit_button("Forget this user"):
            if not sure or not user_id.strip():
                st.info("Type the user id and tick the box to confirm.")
                return
            try:
                st.success(forget_user(dataset_id, user_id.strip()).describe())
            except DataError as error:
                st.error(str(error), icon=":material/error:")
