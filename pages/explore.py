"""Explore: the recommendations themselves, for a test user, a made-up new user and a made-up new item."""

from __future__ import annotations

import streamlit as st

from engine.analysis import explore
from engine.analysis.comparison import list_runs, slice_description, variant_labels
from engine.analysis.explain import REASON_KINDS
from engine.data.errors import DataError
from engine.protocols.common import ProtocolError
from engine.runs.experiments import ExperimentError
from engine.settings import get_settings
from ui import onboarding_explore
from ui.router import require_router
from ui.serving_panel import serving_panel

require_router()

LOAD_ERRORS = (explore.ExploreError, DataError, ExperimentError, ProtocolError)
NOT_SET = "(not set)"


# Cached per database as well as per id: tests and users who switch COLDSTART_HOME reuse small ids; a run's creation
# time tells apart a re-created run that got the id of a deleted one.
@st.cache_resource(show_spinner="Loading the experiment's data…", max_entries=4)
def _context(experiment_id: int, database: str) -> explore.ExploreContext:
    return explore.load_context(experiment_id)


@st.cache_resource(show_spinner="Loading fitted models…", max_entries=32)
def _fitted(run_id: int, database: str, created_at: str) -> explore.FittedRun:
    return explore.load_fitted_run(run_id)


def _show_answers(answers: list[explore.ModelAnswer], label_column: str | None) -> None:
    """Each model's ranked table, or why it cannot answer; then what the reasons mean. Tables with a reason per row
    (an item's, or why a user fits a new item) take the page's width, so a title or user and the whole reason can be
    read side by side (half a page cut the reason short)."""
    per_row = 1 if any("why" in a.table.columns for a in answers) else 2
    for first in range(0, len(answers), per_row):
        for column, answer in zip(st.columns(per_row), answers[first:first + per_row]):
            with column:
                st.markdown(f"**{answer.run.label}** · run {answer.run.run_id}")
                if answer.not_applicable is not None:
                    st.info(f"Not applicable: {answer.not_applicable}")
                    continue
                table = answer.table
                if table.empty:
                    st.info("Nothing left to list: every item it could recommend is already among the liked "
                            "(or answered) ones.")
                    continue
                shown = [c for c in ("rank", "new", label_column, "user_id", "hit", "why", "item_id")
                         if c and c in table.columns]
                shown += [c for c in table.columns if c not in shown and c != "score"]
                st.dataframe(table[shown], hide_index=True, column_config={
                    "hit": st.column_config.CheckboxColumn("test hit", help="A held-out positive of this user"),
                    "new": st.column_config.CheckboxColumn("new", help="Entered this list with the last answer"),
                    "why": st.column_config.TextColumn("why", width="large",
                                                       help=REASON_KINDS.get(answer.reason_kind or ""))})
    kinds = sorted({kind for a in answers for kind in (a.reason_kinds or ((a.reason_kind,) if a.reason_kind else ()))})
    for kind in kinds:
        st.caption(REASON_KINDS[kind])


def _attribute_inputs(context: explore.ExploreContext, side: str, key: str) -> dict[str, object]:
    """One input per attribute of users or items; unset inputs are left out (as a missing value would be)."""
    values: dict[str, object] = {}
    choices = explore.attribute_choices(context, side)
    kinds = context.dataset.attribute_kinds(side)
    for name, options in choices.items():
        if kinds[name] == "multi":
            picked = st.multiselect(name, options, key=f"{key}-{name}")
            if picked:
                values[name] = "|".join(picked)
        else:
            picked = st.selectbox(name, [NOT_SET, *options], key=f"{key}-{name}")
            if picked != NOT_SET:
                values[name] = picked
    for name, (low, middle, high) in explore.numeric_attributes(context, side).items():
        number = st.number_input(f"{name} ({low:g} to {high:g})", value=None, placeholder=f"e.g. {middle:g}",
                                 key=f"{key}-{name}")
        if number is not None:
            values[name] = number
    for name, (earliest, middle, latest) in explore.date_attributes(context, side).items():
        date = st.date_input(f"{name} ({earliest:%Y-%m-%d} to {latest:%Y-%m-%d})", value=None, key=f"{key}-{name}",
                             min_value=earliest, max_value=latest.replace(year=latest.year + 10, day=28),
                             help=f"For example {middle:%Y-%m-%d}")
        if date is not None:
            values[name] = date.isoformat()
    for name, kind in kinds.items():
        if kind == "text":
            text = st.text_input(name, key=f"{key}-{name}")
            if text.strip():
                values[name] = text
    return values


st.title("Explore recommendations")
finished = list_runs(statuses=["done"])
if finished.empty:
    st.info("No finished runs yet. Train a few models on the Experiments page, or run the demo from Home.")
    st.stop()

experiments = finished.drop_duplicates("experiment_id")
labels = {int(r.experiment_id): f"{r.experiment} ({r.dataset}, {r.protocol})" for r in experiments.itertuples()}
experiment_id = st.selectbox("Experiment", list(labels), format_func=labels.get, key="explore-experiment")
candidates = finished.loc[finished["experiment_id"] == experiment_id]
candidates = candidates.assign(variant=variant_labels(candidates))  # named by what differs within the experiment
serving_panel(candidates, key="explore")
try:
    database = get_settings().database_url
    context = _context(experiment_id, database)
except LOAD_ERRORS as error:
    st.error(str(error))
    st.stop()

run_names = {int(r.run_id): f"#{r.run_id} {r.variant}" for r in candidates.itertuples()}
models = {int(r.run_id): r.model for r in candidates.itertuples()}
chosen = st.multiselect("Models (finished runs)", list(run_names), default=explore.default_runs(context, models),
                        format_func=run_names.get, key=f"explore-runs-{experiment_id}")
if not chosen:
    st.info("Pick at least one run.")
    st.stop()

# each run loaded on its own: one saved model that no longer loads (an older version's) is named with what to do,
# and the others still answer; it used to stop the whole page, every other model with it
created = dict(zip(candidates["run_id"], candidates["created_at"].astype(str)))
runs = []
for run_id in chosen:
    try:
        runs.append(_fitted(run_id, database, created[run_id]))
    except LOAD_ERRORS as error:
        st.error(str(error))
if not runs:
    st.stop()

label_column = next((c for c in ("title", "name") if context.dataset.items is not None
                     and c in context.dataset.items.columns), None)
item_names = explore.training_item_names(context)
k = st.number_input("How many recommendations (K)", min_value=1, max_value=50, value=10, key="explore-k")
test_tab, user_tab, item_tab, onboard_tab = st.tabs(["A test user", "Try a new user", "Try a new item",
                                                     "Onboard a new user"])

with test_tab:
    slice_names = explore.slice_names(context)
    opening = slice_names.index(explore.opening_slice(context, [models[r] for r in chosen]))
    # keyed per experiment (and the user per slice too): a kept 'overall' of a warm experiment opened a cold-user
    # one on 'overall' instead of the slice it was made for
    slice_name = st.selectbox("Slice", slice_names, index=opening, key=f"explore-slice-{experiment_id}")
    st.caption(f"**{slice_name}**: {slice_description(slice_name)}")
    users = explore.slice_users(context, slice_name)
    if not users:
        st.info("This slice has no test users.")
    else:
        user_id = st.selectbox("User (most held-out positives first)", users,
                               key=f"explore-user-{experiment_id}-{slice_name}")
        history = explore.user_history(context, slice_name, user_id)
        st.markdown(f"**What the models know about {user_id}**: {len(history)} interactions")
        if history.empty:
            st.caption("None: on this slice the user is new, so only attributes (if any) can help.")
        else:
            st.dataframe(history, hide_index=True, height=min(300, 40 + 35 * len(history)))
        _show_answers(explore.recommend_for_test_user(context, runs, slice_name, user_id, int(k)), label_column)

with user_tab:
    with st.form("new-user"):
        st.markdown("Describe a user the models never saw, and optionally a few items they liked.")
        if "user" not in context.dataset.described_sides():
            st.caption(f"'{context.dataset.name}' has no user attributes, so a new user is known only by the items "
                       "they liked: with none, every model shows anyone new the same list.")
        values = _attribute_inputs(context, "user", "new-user")
        liked = st.multiselect("Items they liked", list(item_names), format_func=item_names.get, key="new-user-liked")
        asked = st.form_submit_button("Recommend")
    if asked:
        try:
            _show_answers(explore.recommend_for_new_user(context, runs, values, liked, int(k)), label_column)
        except explore.ExploreError as error:
            st.error(str(error))

with item_tab:
    with st.form("new-item"):
        st.markdown("Describe an item that is not in the catalogue yet: who would each model show it to?")
        item_values = _attribute_inputs(context, "item", "new-item")
        audience = st.form_submit_button("Find its audience")
    if audience:
        if not item_values:
            st.info("Set at least one attribute: without any, a new item is indistinguishable from nothing.")
        else:
            try:
                _show_answers(explore.audience_for_new_item(context, runs, item_values, int(k)), None)
            except explore.ExploreError as error:
                st.error(str(error))

with onboard_tab:
    onboarding_explore.onboarding_tab(context, runs, int(k), label_column, _show_answers)

st.caption(f"Models shown: {', '.join(r.label for r in runs)}. Scores come from each run's saved model.")
