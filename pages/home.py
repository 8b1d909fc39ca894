"""Home: what cold start is, a one-button demo that lands on Compare, and what was done recently."""

from __future__ import annotations

import streamlit as st

from engine.analysis.comparison import labels_within_settings, list_runs
from engine.data.catalog import list_datasets
from engine.data.errors import DataError
from engine.jobs.demo import DemoPlan, demo_sizes, start_demo
from engine.jobs.queue import JobError
from engine.protocols.common import ProtocolError
from ui.router import require_router

require_router()

RECENT = 8

st.title("Cold-Start Lab")
st.markdown(
    "A recommender learns from what people did, so it struggles when a user or an item is **new**: there is "
    "little or no history to learn from. That is the *cold start*, and models handle it very differently: some "
    "need history, some lean on attributes such as age, occupation or genre, some improve with every click. "
    "Cold-Start Lab measures, on your own data, which model works for new users, new items, and those with only "
    "a few interactions."
)

plan = DemoPlan()
sizes = demo_sizes(plan)
with st.container(border=True):
    st.markdown(f"**See it in a few minutes.** The demo stores a synthetic shop ({sizes.users} users, "
                f"{sizes.items} items, {sizes.interactions:,} interactions), hides 20% of the users and reveals 1 to "
                "10 of their interactions, and trains in the background Auto, which picks the model that does best "
                "on held-out validation users, beside four kinds of model: popularity, collaborative filtering "
                "(ItemKNN), a hybrid (LightFM-style) and a cold-start specialist (DropoutNet). You land on Compare "
                "while they train.")
    if st.button("Run the demo", type="primary", icon=":material/play_arrow:", key="run-demo"):
        try:
            with st.spinner("Preparing the sample and queueing the runs…"):
                run_ids = start_demo(plan)
        except (JobError, DataError, ProtocolError) as error:
            st.error(f"The demo could not start: {error}")
        else:
            st.switch_page("pages/compare.py", query_params={"runs": ",".join(map(str, run_ids))})

# one above the other, each the page's width: side by side, half a page cut off the last columns of both tables
# behind a scroll bar (the runs' fit seconds, the datasets' dates) in a 1280-pixel window
st.subheader("Recent datasets")
datasets = list_datasets()[:RECENT]
if datasets:
    st.dataframe([{"name": d.name, "users": d.n_users, "items": d.n_items, "interactions": d.n_interactions,
                   "added": d.created_at} for d in datasets], hide_index=True,
                 column_config={"added": st.column_config.DatetimeColumn("added", format="YYYY-MM-DD HH:mm")})
else:
    st.caption("None yet.")
st.page_link("pages/data.py", label="Add data: upload your tables or load a sample", icon=":material/table:")
st.subheader("Recent runs")
runs = list_runs().head(RECENT)
if runs.empty:
    st.caption("None yet.")
else:
    # named among the runs of their own data and protocol, which have columns of their own: labelled among all
    # runs, 'MostPopular · genres kind, warm' repeated its dataset and protocol and pushed the protocol out of view
    runs = runs.assign(variant=labels_within_settings(runs))
    st.dataframe(runs[["run_id", "variant", "dataset", "protocol", "status", "fit_seconds"]], hide_index=True,
                 column_config={"run_id": st.column_config.NumberColumn("run", format="%d"),
                                "variant": "model",
                                "fit_seconds": st.column_config.NumberColumn("fit s", format="%.1f")})
st.page_link("pages/compare.py", label="Compare runs", icon=":material/leaderboard:")
