"""Fairness, bias and exposure on the Compare page: one chart per question, each read out in one plain sentence.

Figure builders and sentences are pure functions of `engine.analysis.fairness`'s frames, so tests and the HTML
report get exactly what the page shows; each figure carries its sentence as its subtitle, so the report does too.
The frames read every top-K list and the experiment's split, so the section is computed only once it is opened,
and each frame once per selection (`engine.analysis.comparison.results_key`) and choice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from engine.analysis import fairness
from engine.data.catalog import get_dataset_info, load_dataset
from engine.data.errors import DataError
from engine.metrics.fairness import SHORT_HEAD_SHARE, GroupGaps
from engine.protocols.split import Split
from engine.runs.experiments import get_experiment, load_split
from ui.charts import subtitled

_HEIGHT = 420
OPEN_KEY = "compare-fairness-open"


def _titled(figure: go.Figure, title: str, sentence: str) -> go.Figure:
    return subtitled(figure, title, sentence, _HEIGHT)


def _empty(title: str, reason: str) -> go.Figure:
    """A chart with nothing to draw: its question, and why there is no answer as its sentence (the report's too)."""
    figure = go.Figure()
    figure.update_layout(xaxis_visible=False, yaxis_visible=False)
    return subtitled(figure, title, reason, _HEIGHT // 3)


def gap_sentence(gaps: dict[str, GroupGaps], attribute: str, metric: str) -> str:
    """Which group each model serves worse than the rest of its users beyond chance, and the best-to-worst gap,
    in words."""
    parts = []
    for variant, result in gaps.items():
        if result.worst is None:
            parts.append(f"{variant}: too few users per {attribute} group to judge")
            continue
        spread = (f"from the best-served '{result.best}' to the worst-served '{result.worst}' the gap is "
                  f"{result.gap:.3f} {metric} (95% CI {result.gap_ci[0]:.3f} to {result.gap_ci[1]:.3f}, "
                  + ("a real gap" if result.gap_significant else "possibly chance") + ")")
        if result.flagged:
            rows = result.table.set_index("group")
            named = ", ".join(f"'{g}' (by {rows.loc[g, 'gap_to_rest']:.3f})" for g in result.flagged)
            parts.append(f"{variant} serves {attribute} {named} worse than the rest of its users, more than "
                         f"chance explains; {spread}")
        else:
            parts.append(f"{variant} serves no {attribute} group worse than the rest beyond chance; {spread}")
    return "Bars show how good the recommendations are for each group of users; " + "; ".join(parts) + "."


def group_gap_chart(table: pd.DataFrame, gaps: dict[str, GroupGaps], attribute: str, metric: str) -> go.Figure:
    """Quality per group and model with 95% intervals; a flagged group's bar is outlined in red and starred."""
    title = f"Is some group of users served worse? {metric} by {attribute}"
    if table.empty:
        return _empty(title, f"No per-user values with a {attribute} for the selected runs on this slice.")
    table = table.assign(label=[f"{g} ★" if f else str(g) for g, f in zip(table["group"], table["flagged"])])
    figure = px.bar(table, x="label", y="mean", color="variant", barmode="group", hover_data=["n_users",
                    "gap_to_rest", "gap_ci_low", "gap_ci_high"], labels={"label": attribute, "mean": metric,
                                                                          "variant": "model"},
                    error_y=(table["ci_high"] - table["mean"]).clip(lower=0),
                    error_y_minus=(table["mean"] - table["ci_low"]).clip(lower=0))
    for trace in figure.data:
        flagged = table.loc[table["variant"] == trace.name, "flagged"].tolist()
        trace.marker.line = {"color": ["red" if f else "rgba(0,0,0,0)" for f in flagged], "width": 3}
    return _titled(figure, title, gap_sentence(gaps, attribute, metric) + " ★ marks a flagged group.")


def _share_chart(frame: pd.DataFrame, title: str, shown: str, reference: str, shown_label: str,
                 reference_label: str, sentence: str, percent: bool = True) -> go.Figure:
    """Bars of a share per model beside a reference bar (the catalogue's share) per model."""
    if frame.empty:
        return _empty(title, "The selected runs kept no top-K lists on this slice (runs recorded before lists "
                             "were kept have none: train them again).")
    long = pd.concat([frame[["variant", shown]].rename(columns={shown: "value"}).assign(what=shown_label),
                      frame[["variant", reference]].rename(columns={reference: "value"}).assign(what=reference_label)])
    figure = px.bar(long, x="variant", y="value", color="what", barmode="group",
                    labels={"variant": "model", "value": "", "what": ""})
    if percent:
        figure.update_yaxes(tickformat=".0%", rangemode="tozero")
    return _titled(figure, title, sentence)


def _per_model(frame: pd.DataFrame, phrase: Callable[[pd.Series], str]) -> str:
    return "; ".join(f"{row['variant']} {phrase(row)}" for _, row in frame.iterrows())


def _percent(share: float) -> str:
    """A share as a percentage, with a decimal below 1% so a sliver does not read as none at all."""
    return f"{share:.1%}" if 0 < share < 0.01 else f"{share:.0%}"


def new_item_chart(table: pd.DataFrame, k: int) -> go.Figure:
    title = f"Do new items get shown? Share of top-{k} places"
    if not table.empty and (table["new_item_catalogue_share"] == 0).all():
        return _empty(title, "No candidate on this slice is a new item (every one had interactions in training): "
                             "pick a slice or protocol with new items, such as cold-item.")
    sentence = ("New items (no interactions yet) are " + (_percent(table['new_item_catalogue_share'].iloc[0])
                if not table.empty else "a share") + " of the candidates; an item never shown never gets data. "
                + _per_model(table, lambda r: f"gives them {_percent(r['new_item_share'])} of the top-{k} places")
                + ".")
    return _share_chart(table, title, "new_item_share", "new_item_catalogue_share", "share of top-K places",
                        "share of the candidates", sentence)


def gini_chart(table: pd.DataFrame, k: int) -> go.Figure:
    title = f"Is exposure concentrated on a few items? Gini of top-{k} exposure"
    if table.empty:
        return _empty(title, "The selected runs kept no top-K lists on this slice.")
    sentence = ("0 means every item is shown equally often, near 1 means a few items take every place; "
                + _per_model(table, lambda r: f"{r['gini']:.2f}") + ".")
    figure = px.bar(table, x="variant", y="gini", labels={"variant": "model", "gini": "Gini of exposure"},
                    range_y=[0, 1])
    return _titled(figure, title, sentence)


def long_tail_chart(table: pd.DataFrame, k: int) -> go.Figure:
    head = f"{SHORT_HEAD_SHARE:.0%}"
    sentence = (f"The long tail is every item outside the {head} most popular; "
                + _per_model(table, lambda r: f"gives it {_percent(r['long_tail_share'])} of the places (it is "
                             f"{_percent(r['long_tail_catalogue_share'])} of the candidates)") + ".")
    return _share_chart(table, f"Does the long tail get shown? Share of top-{k} places", "long_tail_share",
                        "long_tail_catalogue_share", "share of top-K places", "share of the candidates", sentence)


def popularity_chart(table: pd.DataFrame, k: int) -> go.Figure:
    sentence = ("Popularity is the share of users who had an item; "
                + _per_model(table, lambda r: f"recommends items {r['popularity_lift']:.1f} times as popular as "
                             "the average candidate") + ".")
    return _share_chart(table, f"Do the lists favour popular items? Average popularity in the top {k}",
                        "recommended_popularity", "catalogue_popularity", "recommended items",
                        "average candidate", sentence)


def attribute_chart(table: pd.DataFrame, attribute: str, k: int) -> go.Figure:
    title = f"Which values of {attribute} get shown? Share of top-{k} places against share of the candidates"
    if table.empty:
        return _empty(title, "The selected runs kept no top-K lists on this slice.")
    under = table.loc[table["ratio"] < 0.5]
    sentence = (f"A bar above its grey mark means that value of {attribute} is shown more often than its share of "
                "the candidates warrants, below it less" + (
                    "; under half their fair share: " + ", ".join(f"{r.value} ({r.variant})" for r in
                                                                under.head(6).itertuples())
                    if not under.empty else "; every value gets at least half its fair share") + ".")
    figure = px.bar(table, x="value", y="exposure_share", color="variant", barmode="group",
                    labels={"value": attribute, "exposure_share": "share of top-K places", "variant": "model"})
    reference = table.drop_duplicates("value")
    figure.add_trace(go.Scatter(x=reference["value"], y=reference["catalogue_share"], mode="markers",
                                marker={"symbol": "line-ew-open", "size": 24, "color": "grey"},
                                name="share of the candidates"))
    figure.update_yaxes(tickformat=".0%")
    return _titled(figure, title, sentence)


def _show(figure: go.Figure, name: str, figures: dict[str, go.Figure]) -> None:
    figures[name] = figure
    st.plotly_chart(figure, key=f"chart-{name}")


@st.cache_data(show_spinner=False)
def _tables(dataset_id: int, fingerprint: str) -> tuple[pd.DataFrame | None, pd.DataFrame | None, list[str],
                                                        list[str]]:
    """A stored dataset's users and items tables and the attributes to group each by, cached per content (an id
    can name another dataset later)."""
    dataset = load_dataset(dataset_id)
    return (dataset.users, dataset.items, fairness.groupable(dataset.user_kinds, fairness.USER_GROUP_KINDS),
            fairness.groupable(dataset.item_kinds, fairness.ITEM_GROUP_KINDS))


@st.cache_resource(show_spinner=False, max_entries=4)
def _split(experiment_id: int, fingerprint: str) -> Split:
    """An experiment's split, shared read-only (a cached copy per read would cost as much as the figures)."""
    return load_split(experiment_id)


@st.cache_resource(show_spinner=False, max_entries=4)
def _top_k(run_key: tuple, _runs: pd.DataFrame) -> pd.DataFrame:
    """The selection's recorded top-K lists, shared read-only (`_runs` is what `run_key` names)."""
    return fairness.load_top_k(_runs)


def _lists(run_key: tuple, runs: pd.DataFrame, slice_name: str) -> tuple[pd.DataFrame, dict[int, Split]]:
    """The top-K lists on one slice and the splits of their experiments."""
    top_k = _top_k(run_key, runs)
    top_k = top_k.loc[top_k["slice"] == slice_name]
    return top_k, {int(e): _split(int(e), get_experiment(int(e)).fingerprint) for e in top_k["experiment_id"].unique()}


@st.cache_data(show_spinner=False, max_entries=64)
def _gaps(run_key: tuple, metric: str, slice_name: str, attribute: str, _per_user: pd.DataFrame,
          _users: pd.DataFrame) -> dict[str, GroupGaps]:
    return fairness.user_group_gaps(_per_user, metric, slice_name, _users, attribute)


@st.cache_data(show_spinner=False, max_entries=64)
def _exposure(run_key: tuple, slice_name: str, k: int, _runs: pd.DataFrame) -> pd.DataFrame:
    top_k, splits = _lists(run_key, _runs, slice_name)
    return fairness.exposure_table(top_k, splits, slice_name, k)


@st.cache_data(show_spinner=False, max_entries=64)
def _attribute_exposure(run_key: tuple, slice_name: str, k: int, attribute: str, _runs: pd.DataFrame,
                        _items: pd.DataFrame) -> pd.DataFrame:
    top_k, splits = _lists(run_key, _runs, slice_name)
    return fairness.attribute_exposure_table(top_k, splits, slice_name, k, _items, attribute)


@dataclass(frozen=True)
class _Attributes:
    """The one dataset of a selection: its users and items tables and the attributes each can be grouped by."""

    users: pd.DataFrame | None
    items: pd.DataFrame | None
    user: list[str]
    item: list[str]


def _attributes(runs: pd.DataFrame) -> _Attributes:
    """The selection's dataset tables; a `DataError` when it cannot be read."""
    dataset_id = int(runs["dataset_id"].iloc[0])
    return _Attributes(*_tables(dataset_id, get_dataset_info(dataset_id).fingerprint))


def _group_figure(run_key: tuple, per_user: pd.DataFrame, metric: str, slice_name: str, tables: _Attributes,
                  attribute: str) -> tuple[go.Figure, str]:
    gaps = _gaps(run_key, metric, slice_name, attribute, per_user, tables.users)
    return group_gap_chart(fairness.gap_table(gaps), gaps, attribute, metric), gap_sentence(gaps, attribute, metric)


def _exposure_figures(table: pd.DataFrame, cut: int) -> dict[str, go.Figure]:
    return {name: build(table, cut) for name, build in (
        ("exposure-new-items", new_item_chart), ("exposure-gini", gini_chart),
        ("exposure-long-tail", long_tail_chart), ("exposure-popularity", popularity_chart))}


def served_slices(slices: list[str], per_user: pd.DataFrame) -> list[str]:
    """The `slices` some selected run was evaluated on (has per-user values): on a slice every run was 'not
    applicable' on there is no user to group and no top-K list to read."""
    evaluated = set(per_user["slice"]) if "slice" in per_user.columns else set()
    return [name for name in slices if name in evaluated]


def fairness_figures(run_key: tuple, runs: pd.DataFrame, per_user: pd.DataFrame, metric: str, k: int | None,
                     slices: list[str]) -> dict[str, go.Figure]:
    """The section's charts with its first choices (first slice and attributes), for the report when the section
    was left closed; {} where the section would show none."""
    slices = served_slices(slices, per_user)
    if runs["dataset_id"].nunique() != 1 or not slices:
        return {}
    try:
        tables = _attributes(runs)
    except DataError:
        return {}
    figures, cut = {}, k or 10
    if tables.user:
        figures["fairness-groups"] = _group_figure(run_key, per_user, metric, slices[0], tables, tables.user[0])[0]
    table = _exposure(run_key, slices[0], cut, runs)
    if not table.empty:
        figures |= _exposure_figures(table, cut)
        if tables.item:
            figures["exposure-attribute"] = attribute_chart(
                _attribute_exposure(run_key, slices[0], cut, tables.item[0], runs, tables.items), tables.item[0],
                cut)
    return figures


def fairness_section(run_key: tuple, runs: pd.DataFrame, per_user: pd.DataFrame, metric: str, k: int | None,
                     slices: list[str]) -> dict[str, go.Figure] | None:
    """The Compare page's fairness part, computed when opened: user groups, then item exposure. Returns the charts
    it drew by name (for the report), or None when it was not drawn open."""
    with st.expander("Fairness, bias and exposure", key=OPEN_KEY, on_change="rerun",
                     icon=":material/balance:") as section:
        if not section.open:
            return None
        figures: dict[str, go.Figure] = {}
        _fairness_body(run_key, runs, per_user, metric, k, slices, figures)
    return figures


def _fairness_body(run_key: tuple, runs: pd.DataFrame, per_user: pd.DataFrame, metric: str, k: int | None,
                   slices: list[str], figures: dict[str, go.Figure]) -> None:
    """The section's body; each chart drawn is also put in `figures`, the section's own."""
    if runs["dataset_id"].nunique() != 1:
        st.info("Fairness and exposure need runs of one dataset: narrow the selection to a single dataset.")
        return
    try:
        tables = _attributes(runs)
    except DataError as error:
        st.warning(f"Cannot read the dataset's attributes: {error}")
        return
    served = served_slices(slices, per_user)
    if not served:
        st.info("None of the selected runs could serve any slice (every slice is 'not applicable' for them), so "
                "there is nobody to group and no list to read.")
        return
    if len(served) < len(slices):
        st.caption("Slices no selected run could serve are left out: " + ", ".join(s for s in slices
                                                                                   if s not in served) + ".")
    chosen_slice = st.selectbox("Slice", served, key="fairness-slice")
    st.markdown("**Users: is some group served worse?**")
    if tables.user:
        attribute = st.selectbox("User attribute", tables.user, key="fairness-user-attribute")
        figure, sentence = _group_figure(run_key, per_user, metric, chosen_slice, tables, attribute)
        _show(figure, "fairness-groups", figures)
        st.caption(sentence)
    else:
        st.info("This dataset has no user attributes (such as gender or age) to group users by.")
    st.markdown("**Items: what gets shown?**")
    cut = k or 10
    table = _exposure(run_key, chosen_slice, cut, runs)
    if table.empty:
        st.info(f"None of the selected runs kept its top-K lists on {chosen_slice}: runs recorded before lists were "
                "kept have none. Train the models again to see what their lists expose.")
        return
    for name, figure in _exposure_figures(table, cut).items():
        _show(figure, name, figures)
    if tables.item:
        attribute = st.selectbox("Item attribute (provider, category...)", tables.item,
                                 key="fairness-item-attribute")
        shares = _attribute_exposure(run_key, chosen_slice, cut, attribute, runs, tables.items)
        _show(attribute_chart(shares, attribute, cut), "exposure-attribute", figures)
