"""Data: upload tables or load a sample, check how they are read, save them as a dataset, and profile datasets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import pandas as pd
import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from engine.data.canonical import read_canonical_result
from engine.data.catalog import (check_dataset_name, delete_dataset, list_datasets, load_dataset, rename_dataset,
                                 save_dataset)
from engine.data.columns import ROLES, RoleMapping, detect_roles, guess_id_column
from engine.data.dataset import ATTRIBUTE_KINDS, COUNT_WEIGHTS, Feedback
from engine.data.errors import DataError, DataWarning
from engine.data.profile import DatasetProfile, profile_dataset
from engine.data.read import RawTable
from engine.data.stream import read_streamed
from engine.data.synthetic_kinds import DATA_KINDS, generate_kind
from engine.data.validate import (DUPLICATE_POLICIES, AttributeInput, IntakeOptions, IntakeResult, attribute_kinds,
                                  build_dataset, counts_note, default_feedback, other_side_columns, other_side_note,
                                  smallest_count)
from engine.settings import get_settings
from ui.data_widgets import render_profile
from ui.naming import name_input
from ui.router import require_router
from ui.serving_panel import feedback_panel

require_router()

UPLOAD_TYPES = ["csv", "tsv", "txt", "tab", "dat", "json", "jsonl", "ndjson", "parquet", "pq", "gz", "zip"]
NONE = "(none)"
ROLE_LABELS = {"user": "User id", "item": "Item id", "rating": "Rating", "timestamp": "Timestamp",
               "event": "Event type"}
COUNT_WEIGHT_LABELS = {None: "none (every row weighs 1)", "log": "log(1 + count)", "capped": "count, capped"}
SYNTHETIC_SIZES = {  # label: (users, items, interactions)
    "tiny (50 users, 500 interactions)": (50, 40, 500),
    "small (1k users, 20k interactions)": (1_000, 500, 20_000),
    "medium (5k users, 100k interactions)": (5_000, 2_000, 100_000),
    "large (20k users, 1M interactions)": (20_000, 5_000, 1_000_000),
}
ML100K = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ml-100k"
MAX_EVENT_TYPES = 20
# keys (after 'upload-') of the choices drawn for an interactions file, forgotten when another file replaces it (a
# comment: a page's bare string under a constant is drawn on the page by Streamlit's magic)
INTERACTION_SETTINGS = ("feedback", "threshold", "count-weight", "count-threshold", "weight-", "duplicates")


@st.cache_resource(max_entries=4, show_spinner="Reading the file...")
def _read_upload(file_id: str, name: str, _upload: BinaryIO) -> RawTable:
    """Read an upload once per file (the file id changes with every new upload). Kept as a resource, not as data:
    st.cache_data would keep a pickled copy of a table of millions of rows and unpickle another on every rerun.
    CSV and TSV are streamed to disk a block at a time and mapped back (`engine.data.stream`), so the upload's
    bytes are never copied and the table lives in a file-backed mapping rather than in the process's memory."""
    _upload.seek(0)
    return read_streamed(_upload, name, get_settings().home / "uploads")


@st.cache_data(max_entries=4, show_spinner="Profiling the dataset...")
def _profile(dataset_id: int, fingerprint: str) -> DatasetProfile:
    """Profile a stored dataset once per content (the fingerprint changes whenever its content does)."""
    return profile_dataset(load_dataset(dataset_id))


def _uploaded_table(label: str, key: str, settings: tuple[str, ...]) -> RawTable | None:
    """An uploader, and the table as read or the reason it cannot be read (shown right under the uploader).

    A new file forgets the choices made for the one before (widget keys starting with one of `settings`), so its
    columns are mapped afresh: replacing a file without a rating column by one with 'stars' kept Rating at '(none)'
    (a choice still valid for the new columns) and saved the ratings away unseen."""
    upload = st.file_uploader(label, type=UPLOAD_TYPES, key=key)
    if upload is None:
        return None
    _forget_choices_of_other_files(key, (upload.file_id,), settings)
    try:
        return _read_upload(upload.file_id, upload.name, upload)
    except DataError as error:
        st.error(str(error), icon=":material/error:")
        return None


def _uploaded_attribute_tables(label: str, key: str, settings: tuple[str, ...]) -> list[tuple[str, RawTable]]:
    """An uploader of one or several attribute tables of a side, joined on the id when saved (MovieLens' movies.csv
    with genres and tags.csv with a row per tag): (file id, table) of each file read; each file that cannot be read
    says why under the uploader. Another set of files forgets the choices made for the one before."""
    uploads = st.file_uploader(f"{label} (optional, one or several files)", type=UPLOAD_TYPES, key=key,
                               accept_multiple_files=True) or []
    _forget_choices_of_other_files(key, tuple(u.file_id for u in uploads), settings)
    tables = []
    for upload in uploads:
        try:
            tables.append((upload.file_id, _read_upload(upload.file_id, upload.name, upload)))
        except DataError as error:
            st.error(f"{upload.name}: {error}", icon=":material/error:")
    return tables


def _forget_choices_of_other_files(key: str, file_ids: tuple[str, ...], settings: tuple[str, ...]) -> None:
    if st.session_state.get(f"{key}-files") != file_ids:
        for stale in [name for name in st.session_state if str(name).startswith(settings)]:
            del st.session_state[stale]
        st.session_state[f"{key}-files"] = file_ids


def _preview(raw: RawTable, expanded: bool) -> None:
    """The first rows exactly as they will be read, under a line saying how the file was understood."""
    with st.expander(raw.describe(), expanded=expanded, icon=":material/table_view:"):
        st.dataframe(raw.frame.head(8), hide_index=True)


def _choice(label: str, options: list[str], default: str | None, key: str) -> str | None:
    """A selectbox over columns with a '(none)' option, pre-set to `default`."""
    choices = [NONE] + options
    value = st.selectbox(label, choices, index=choices.index(default) if default in choices else 0, key=key)
    return None if value == NONE else value


def _role_mapping(raw: RawTable, key: str) -> RoleMapping:
    """Selectboxes pre-filled by detection, one per role."""
    detected = detect_roles(raw.frame).as_dict()
    columns = [str(c) for c in raw.frame.columns]
    cells = st.columns(len(ROLES))
    chosen = {}
    for cell, role in zip(cells, ROLES):
        with cell:
            chosen[role] = _choice(ROLE_LABELS[role], columns, detected[role], f"{key}-role-{role}")
    return RoleMapping(**chosen)


@st.cache_data(max_entries=8, show_spinner="Reading the attribute table...")
def _inferred_kinds(file_id: str, id_column: str, side: str, _frame: pd.DataFrame) -> dict[str, str]:
    """Attribute kinds of an uploaded table as saving will infer them, once per file and id column (not on every
    rerun of the page)."""
    return attribute_kinds(_frame, id_column, side)


def _attribute_inputs(tables: list[tuple[str, RawTable]], roles: RoleMapping, side: str, key: str
                      ) -> list[AttributeInput]:
    """Id column and attribute kinds of each item or user table (widget keys `items-...`, `items-2-...`, ...)."""
    inputs = []
    for position, (file_id, raw) in enumerate(tables):
        if len(tables) > 1:
            st.caption(f"{raw.name}: joined with the other {side} tables on the {side} id")
        inputs.append(_attribute_input(raw, file_id, getattr(roles, side), side,
                                       key if position == 0 else f"{key}-{position + 1}"))
    return inputs


def _attribute_input(raw: RawTable, file_id: str, interactions_column: str | None, side: str, key: str
                     ) -> AttributeInput:
    """Id column and attribute kinds of an item or user table, kinds pre-set by inference."""
    columns = [str(c) for c in raw.frame.columns]
    default = guess_id_column(side, columns, interactions_column)
    id_column = st.selectbox(f"{side.title()} id column", columns, index=columns.index(default), key=f"{key}-id")
    inferred = _inferred_kinds(file_id, id_column, side, raw.frame)
    kinds = {}
    cells = st.columns(4)
    for position, (column, kind) in enumerate(inferred.items()):
        with cells[position % 4]:
            kinds[column] = st.selectbox(f"`{column}`", ATTRIBUTE_KINDS, index=ATTRIBUTE_KINDS.index(kind),
                                         key=f"{key}-kind-{column}")
    other_side = other_side_columns(raw.frame, id_column, side)
    if other_side:
        st.caption(f"{other_side_note(other_side, side)} by default.")
    return AttributeInput(raw.frame, id_column, kinds, label=raw.name, first_row=raw.first_row)


def _feedback(raw: RawTable, roles: RoleMapping, key: str) -> Feedback:
    """Explicit ratings with a threshold, or implicit feedback: counts with a weighting, events with weights."""
    ratings = raw.frame[roles.rating] if roles.rating else None
    default = default_feedback(ratings)
    if default.count_weight is not None:
        st.info(f"{counts_note(ratings, roles.rating)}: read as {default.describe()}. Choose explicit if they are "
                "ratings.", icon=":material/lightbulb:")
    kinds = ["explicit", "implicit"] if roles.rating else ["implicit"]
    kind = st.radio("Feedback", kinds, index=kinds.index(default.kind), horizontal=True, key=f"{key}-feedback",
                    help="Explicit: ratings, positive at or above a threshold. Implicit: every interaction (or "
                         "event, with a weight per type) signals interest; a count column (plays, views) can weigh "
                         "each row.")
    if kind == "explicit":
        threshold = st.number_input("A rating counts as positive from", value=float(default.positive_threshold or 1.0),
                                    step=0.5, key=f"{key}-threshold")
        return Feedback("explicit", float(threshold))
    threshold, count_weight = None, None
    if roles.rating:
        weights = [None, *COUNT_WEIGHTS]
        left, right = st.columns(2)
        count_weight = left.radio(f"Weight of a row by its '{roles.rating}' count", weights,
                                  index=weights.index(default.count_weight), format_func=COUNT_WEIGHT_LABELS.get,
                                  horizontal=True, key=f"{key}-count-weight")
        threshold = float(right.number_input("Smallest count that signals interest", value=smallest_count(ratings),
                                             min_value=0.0, step=1.0, key=f"{key}-count-threshold"))
    return Feedback("implicit", threshold, _event_weights(raw, roles, key), count_weight)


def _event_weights(raw: RawTable, roles: RoleMapping, key: str) -> dict[str, float]:
    """A weight per event type (the most frequent ones), 1 by default; none without an event column."""
    if not roles.event:
        return {}
    events = raw.frame[roles.event].dropna().astype(str).str.strip().value_counts().index.tolist()
    if len(events) > MAX_EVENT_TYPES:
        st.warning(f"{len(events)} event types: only the {MAX_EVENT_TYPES} most frequent get a weight here; "
                   "the others count as 0.")
    weights = {}
    cells = st.columns(4)
    for position, event in enumerate(events[:MAX_EVENT_TYPES]):
        with cells[position % 4]:
            weights[event] = float(st.number_input(f"weight of '{event}'", value=1.0, min_value=0.0, step=0.5,
                                                   key=f"{key}-weight-{event}"))
    return weights


def _duplicate_policy(roles: RoleMapping, feedback: Feedback) -> str:
    """How several rows of one (user, item) merge, offering only choices that differ for these columns: 'sum' needs
    a rating or count column, 'keep the strongest row' a rating or event column, and 'count the rows' (a log of
    listens or clicks, where repeats are the signal) implicit feedback without a rating column."""
    latest = "keep the latest row" if roles.timestamp else "keep the last row of the file"
    values = "ratings" if feedback.kind == "explicit" else "counts"
    labels = {"last": latest, "sum": f"sum the {values}", "max": "keep the strongest row",
              "count": "count the rows: a pair weighs log(1 + its rows)"}
    offered = {"last": True, "sum": roles.rating is not None, "max": roles.rating is not None or roles.event is not None,
               "count": roles.rating is None and feedback.kind == "implicit"}
    policies = [p for p in DUPLICATE_POLICIES if offered[p]]
    return st.radio("Several rows for one (user, item)", policies, horizontal=True, format_func=labels.get,
                    key="upload-duplicates")


def _show_warnings(warnings: list[DataWarning]) -> None:
    for warning in warnings:
        st.warning(str(warning), icon=":material/warning:")


def _store(make: Callable[[], IntakeResult], name: str, source: str, details: dict) -> None:
    """Validate and save; show what went wrong or what was saved. Nothing is stored on failure."""
    try:
        name = check_dataset_name(name)
        with st.spinner("Validating and saving..."):
            result = make()
            details = {**details, "warnings": [str(w) for w in result.warnings]}
            dataset_id = save_dataset(result.dataset, name, source, details)
    except DataError as error:
        st.error(str(error), icon=":material/error:")
        return
    except (OSError, SQLAlchemyError) as error:
        st.error(f"The dataset could not be stored ({type(error).__name__}: {error}). Nothing was saved. "
                 "Check that the data folder is writable and has free space.", icon=":material/error:")
        return
    st.session_state["dataset_id"] = dataset_id
    frame = result.dataset.interactions
    st.success(f"Saved '{name}': {frame['user_id'].nunique():,} users, {frame['item_id'].nunique():,} items, "
               f"{len(frame):,} interactions; {result.dataset.feedback.describe()}. Its profile is under Datasets.",
               icon=":material/check_circle:")
    _show_warnings(result.warnings)


def _upload_section() -> None:
    st.markdown("Upload an interactions table, and optionally item and user attribute tables (several per side, "
                "such as MovieLens' movies.csv and tags.csv, are joined on the id): CSV, TSV, JSON lines or Parquet, "
                f"also .gz or .zip, up to {get_settings().max_upload_mb} MB each.")
    cells = st.columns(3)
    with cells[0]:
        interactions = _uploaded_table("Interactions", "upload-interactions",
                                       settings=("map-role-", *(f"upload-{s}" for s in INTERACTION_SETTINGS)))
    with cells[1]:
        items = _uploaded_attribute_tables("Item attributes", "upload-items", settings=("items-",))
    with cells[2]:
        users = _uploaded_attribute_tables("User attributes", "upload-users", settings=("users-",))
    if interactions is not None:
        _preview(interactions, expanded=True)
    for _, raw in (*items, *users):
        _preview(raw, expanded=False)
    if interactions is None:
        return
    st.markdown("**Columns of the interactions**")
    roles = _role_mapping(interactions, "map")
    if items:
        st.markdown("**Item attributes** (kinds: categorical, multi `a|b`, numeric, text, ignore)")
    item_inputs = _attribute_inputs(items, roles, "item", "items")
    if users:
        st.markdown("**User attributes**")
    user_inputs = _attribute_inputs(users, roles, "user", "users")
    feedback = _feedback(interactions, roles, "upload")
    duplicates = _duplicate_policy(roles, feedback)
    name = name_input(Path(interactions.name).name.split(".")[0], "upload-name", label="Dataset name")
    if st.button("Save dataset", type="primary", key="upload-save"):
        options = IntakeOptions(feedback=feedback, duplicates=duplicates)
        _store(lambda: build_dataset(interactions.frame, roles, options, items=item_inputs, users=user_inputs,
                                     name=name, label=interactions.name, first_row=interactions.first_row),
               name, "upload", {"files": [t.name for t in (interactions, *(raw for _, raw in (*items, *users)))],
                                "roles": roles.as_dict(), "duplicates": duplicates})


def _samples_section() -> None:
    st.markdown("**Synthetic data**: the shop (users' tastes follow their age and occupation, items' appeal their "
                "category, tags and price; timestamps and 1..5 ratings), or another kind of data, shaped like a "
                "real data set, whose attributes carry the taste signal.")
    kind_column, size_column, middle, right = st.columns([2, 2, 1, 2])
    kind = kind_column.selectbox("Kind", list(DATA_KINDS), key="synthetic-kind",
                                 format_func=lambda k: f"{DATA_KINDS[k].label} (like {DATA_KINDS[k].imitates})")
    size = size_column.selectbox("Size", list(SYNTHETIC_SIZES), index=1, key="synthetic-size")
    seed = int(middle.number_input("Seed", value=0, min_value=0, step=1, key="synthetic-seed"))
    n_users, n_items, n_interactions = SYNTHETIC_SIZES[size]
    prefix = "synthetic" if kind == "shop" else kind
    name = name_input(f"{prefix}-{size.split()[0]}-seed{seed}", "synthetic-name", where=right)
    if st.button("Create synthetic dataset", key="synthetic-create"):
        _store(lambda: IntakeResult(generate_kind(kind, n_users, n_items, n_interactions, seed), []), name,
               "synthetic", {"kind": kind, "n_users": n_users, "n_items": n_items, "n_interactions": n_interactions,
                             "seed": seed})
    st.divider()
    st.markdown("**A folder in the canonical layout**: `interactions.csv` (user_id, item_id[, rating][, timestamp]"
                "[, event]) and optional `items.csv` / `users.csv` keyed by item_id / user_id.")
    left, right = st.columns([3, 2])
    folder = left.text_input("Folder", value=str(ML100K) if ML100K.is_dir() else "", key="folder-path")
    name = name_input(Path(folder).name if folder else "", "folder-name", where=right)
    if st.button("Load folder", key="folder-load"):
        _store(lambda: read_canonical_result(folder), name, "folder", {"folder": folder})


def _datasets_section() -> None:
    datasets = list_datasets()
    if not datasets:
        st.info("No datasets yet: upload tables or load a sample.")
        return
    st.dataframe([{"id": d.id, "name": d.name, "source": d.source, "users": d.n_users, "items": d.n_items,
                   "interactions": d.n_interactions, "feedback": d.feedback.describe(), "created": d.created_at}
                  for d in datasets], hide_index=True)
    by_id = {d.id: d for d in datasets}
    current = st.session_state.get("dataset_id")
    ids = list(by_id)
    chosen = st.selectbox("Dataset", ids, index=ids.index(current) if current in by_id else 0,
                          format_func=lambda i: f"{by_id[i].name} (#{i})")
    st.session_state["dataset_id"] = chosen
    info = by_id[chosen]
    with st.expander("Rename or delete"):
        new_name = st.text_input("New name", value=info.name, key=f"rename-{chosen}")
        if st.button("Rename", key=f"rename-button-{chosen}"):
            try:
                rename_dataset(chosen, new_name)
                st.rerun()
            except DataError as error:
                st.error(str(error), icon=":material/error:")
        confirm = st.checkbox(f"Yes, delete '{info.name}' with its files, experiments and runs",
                              key=f"delete-confirm-{chosen}")
        if st.button("Delete", disabled=not confirm, key=f"delete-button-{chosen}"):
            try:
                delete_dataset(chosen)
            except DataError as error:
                st.error(str(error), icon=":material/error:")
            else:
                st.session_state.pop("dataset_id", None)
                st.rerun()
    for warning in info.details.get("warnings", []):
        st.caption(f":material/warning: {warning}")
    try:
        render_profile(_profile(chosen, info.fingerprint), info.name)
    except DataError as error:
        st.error(str(error), icon=":material/error:")
    except Exception as error:  # noqa: BLE001  a profile bug must not take the page (and every dataset) down
        st.error(f"The profile of '{info.name}' could not be drawn ({type(error).__name__}: {error}). The dataset "
                 "itself is stored and can be used in experiments; please report this with the dataset's shape.",
                 icon=":material/error:")


st.title("Data")
upload_tab, samples_tab, datasets_tab = st.tabs(["Upload", "Samples", "Datasets"])
with upload_tab:
    _upload_section()
with samples_tab:
    _samples_section()
with datasets_tab:
    _datasets_section()
    feedback_panel()
