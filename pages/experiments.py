"""Experiments: define a split of a dataset (protocol, parameters, seed), see its slice sizes, export it, train."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

from engine.data.catalog import DatasetInfo, list_datasets, load_dataset
from engine.data.errors import DataError
from engine.jobs.params import declared_fields
from engine.protocols import ProtocolError, sizes_table, split_sizes
from engine.protocols.slices import COLD_BOTH, COLD_KINDS, few_shot_protocol
from engine.runs.protocol_catalog import get_protocol, make_split, protocol_summaries
from engine.runs.experiments import ExperimentError, ExperimentInfo, create_experiment, list_experiments, split_zip
from ui.forms import field_widget
from ui.naming import name_input
from ui.router import require_router
from ui.training import training_panel

require_router()

@st.cache_data(max_entries=8, show_spinner="Splitting to count the slices...")
def _preview_sizes(dataset_id: int, fingerprint: str, protocol: str, params_json: str, seed: int) -> dict:
    """Slice sizes of the split these settings would make (cached per dataset content and settings)."""
    split = make_split(load_dataset(dataset_id), protocol, seed, json.loads(params_json))
    return split_sizes(split)


@st.cache_data(max_entries=4, show_spinner="Packing the split...")
def _zip(experiment_id: int, fingerprint: str) -> bytes:
    """The experiment's split folder as a zip (cached per split content)."""
    return split_zip(experiment_id)


def _attribute_notice(dataset: DatasetInfo, protocol: str) -> None:
    """Warn before training when the protocol holds out new users (items) the dataset has no attributes for: then
    nothing tells them apart, and the slice measures one list shown to all of them, whatever the model."""
    described = dataset.described_sides()
    for side in ("user", "item"):
        if protocol in (COLD_KINDS[side].name, COLD_BOTH.name) and side not in described:
            st.warning(f"'{dataset.name}' has no {side} attributes, so nothing tells its new {side}s apart: every "
                       f"model can only rank the same items for all of them, and the {COLD_KINDS[side].name} slice "
                       f"measures how good that one list is (attribute models fall back to it, MostPopular's is hard "
                       f"to beat). Add a {side} attribute table on the Data page, or choose "
                       f"{few_shot_protocol(side)}, which reveals a few interactions of each new {side}.",
                       icon=":material/warning:")


def _sizes_view(sizes: dict) -> None:
    """Slice sizes as a table, plus the cold entity counts."""
    st.dataframe(sizes_table(sizes), hide_index=True)
    st.caption(f"Cold users: {sizes['cold_users']:,} · cold items: {sizes['cold_items']:,}. Candidates are the items "
               "each slice ranks for every user; training positives are always excluded.")


def _define(dataset: DatasetInfo) -> None:
    """The form for a new experiment: protocol, parameters, seed; preview sizes, then create."""
    summaries = protocol_summaries()
    protocol = st.selectbox("Protocol", list(summaries), format_func=lambda p: f"{p}: {summaries[p]}",
                            key="experiment-protocol")
    _attribute_notice(dataset, protocol)
    fields = declared_fields(get_protocol(protocol).Params)
    # a multi-select in a ninth of the page cuts its chips to an unreadable sliver: it gets the page's width
    narrow = [f for f in fields if f.kind not in ("several", "models")]
    columns = st.columns(len(narrow) + 1)
    params: dict[str, Any] = {}
    for field, column in zip(narrow, columns):
        with column:
            params[field.name] = field_widget(field, f"protocol-{protocol}-{field.name}")
    seed = int(columns[-1].number_input("Seed", min_value=0, value=0, step=1, key="experiment-seed"))
    for field in fields:
        if field not in narrow:
            params[field.name] = field_widget(field, f"protocol-{protocol}-{field.name}")
    name = name_input(f"{dataset.name} · {protocol} · seed {seed}", "experiment-name")
    preview, create = st.columns(2)
    try:
        if preview.button("Preview slice sizes", key="experiment-preview"):
            _sizes_view(_preview_sizes(dataset.id, dataset.fingerprint, protocol, json.dumps(params), seed))
        if create.button("Create experiment", type="primary", key="experiment-create"):
            with st.spinner("Splitting and storing..."):
                experiment_id = create_experiment(dataset.id, protocol, params, seed, name)
            st.session_state["experiment_id"] = experiment_id
            st.success(f"Experiment {experiment_id} created.", icon=":material/check_circle:")
    except (ProtocolError, DataError) as error:
        st.error(str(error), icon=":material/error:")


def _experiment_table(experiments: list[ExperimentInfo]) -> pd.DataFrame:
    # no fingerprint column: the chosen experiment's line gives it whole, and beside the rest it pushed the creation
    # time out of a 1280-pixel window
    return pd.DataFrame([{"id": e.id, "name": e.name, "protocol": e.protocol, "seed": e.seed,
                          "train rows": e.sizes.get("train", {}).get("interactions"),
                          "cold users": e.sizes.get("cold_users"), "cold items": e.sizes.get("cold_items"),
                          "created": e.created_at} for e in experiments])


def _experiments(dataset: DatasetInfo) -> None:
    """The dataset's experiments; the chosen one's sizes, split download and training panel."""
    experiments = list_experiments(dataset.id)
    if not experiments:
        st.info("No experiments on this dataset yet: define one above.")
        return
    # a long name is cut in its cell (the Experiment picker below gives it whole), not the creation time off the page
    st.dataframe(_experiment_table(experiments), hide_index=True,
                 column_config={"name": st.column_config.TextColumn("name", width="medium"),
                                "created": st.column_config.DatetimeColumn("created", format="YYYY-MM-DD HH:mm")})
    by_id = {e.id: e for e in experiments}
    current = st.session_state.get("experiment_id")
    ids = list(by_id)
    chosen = st.selectbox("Experiment", ids, index=ids.index(current) if current in by_id else 0,
                          format_func=lambda i: f"{by_id[i].name} (#{i})", key="experiment-chosen")
    st.session_state["experiment_id"] = chosen
    info = by_id[chosen]
    st.markdown(f"**{info.protocol}**, seed {info.seed}, parameters `{json.dumps(info.params)}`; "
                f"fingerprint `{info.fingerprint}`")
    _sizes_view(info.sizes)
    _attribute_notice(dataset, info.protocol)
    try:
        st.download_button("Export the split (zip of train.csv, valid.csv, test.csv, split.json)",
                           data=_zip(chosen, info.fingerprint), file_name=f"split-{chosen}.zip",
                           mime="application/zip", key=f"experiment-export-{chosen}")
    except (ExperimentError, ProtocolError, OSError) as error:
        st.error(f"The split of experiment {chosen} cannot be read: {error}", icon=":material/error:")
    st.divider()
    training_panel(chosen)


st.title("Experiments")
st.caption("An experiment is a dataset split with a cold-start protocol and a seed. Every model trained on it is "
           "compared on exactly the same slices and candidates.")
datasets = list_datasets()
if not datasets:
    st.info("No datasets yet: add one on the Data page first.")
    st.page_link("pages/data.py", label="Go to Data", icon=":material/table:")
    st.stop()
by_dataset = {d.id: d for d in datasets}
dataset_ids = list(by_dataset)
active = st.session_state.get("dataset_id")
dataset_id = st.selectbox("Dataset", dataset_ids, index=dataset_ids.index(active) if active in by_dataset else 0,
                          format_func=lambda i: f"{by_dataset[i].name} (#{i})", key="experiment-dataset")
st.session_state["dataset_id"] = dataset_id
with st.expander("New experiment", expanded=not list_experiments(dataset_id)):
    _define(by_dataset[dataset_id])
_experiments(by_dataset[dataset_id])
