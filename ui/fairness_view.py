"""Fairness, bias and exposure on the Compare page: one chart per question, each read out in one plain sentence.

Figure builders and sentences are pure functions of `engine.analysis.fairness`'s frames, so tests and the HTML
report get exactly what the page shows; each figure carries its sentence as its subtitle, so the report does too.
"""

from __future__ import annotations

from collections.abc import Callable

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
from ui.onboarding_view import wrapped

_HEIGHT = 420


def _titled(figure: go.Figure, title: str, sentence: str) -> go.Figure:
    figure.update_layout(title={"text": title, "subtitle": {"text": wrapped(sentence)}}, height=_HEIGHT,
                         margin={"t": 130})
    return figure


def _empty(title: str, reason: str) -> go.Figure:
    figure = go.Figure()
    figure.add_annotation(text=reason, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    figure.update_layout(title=title, height=_HEIGHT, xaxis_visible=False, yaxis_visible=False)
    return figure


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
        figure.update_yaxes(tickformat=".0%")
    return _titled(figure, title, sentence)


def _per_model(frame: pd.DataFrame, phrase: Callable[[pd.Series], str]) -> str:
    return "; ".join(f"{row['variant']} {phrase(row)}" for _, row in frame.iterrows())


def new_item_chart(table: pd.DataFrame, k: int) -> go.Figure:
    sentence = ("New items (no interactions yet) are " + (f"{table['new_item_catalogue_share'].iloc[0]:.0%}"
                if not table.empty else "a share") + " of the candidates; an item never shown never gets data. "
                + _per_model(table, lambda r: f"gives them {r['new_item_share']:.0%} of the top-{k} places") + ".")
    return _share_chart(table, f"Do new items get shown? Share of top-{k} places", "new_item_share",
                        "new_item_catalogue_share", "share of top-K places", "share of the candidates", sentence)


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
                + _per_model(table, lambda r: f"gives it {r['long_tail_share']:.0%} of the places (it is "
                             f"{r['long_tail_catalogue_share']:.0%} of the candidates)") + ".")
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
    title = f"Which {attribute} values get shown? Share of top-{k} places against share of the candidates"
    if table.empty:
        return _empty(title, "The selected runs kept no top-K lists on this slice.")
    under = table.loc[table["ratio"] < 0.5]
    sentence = (f"A bar above the grey mark means a {attribute} is shown more than its size in the catalogue "
                "warrants, below it less" + (
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


@st.cache_data(show_spinner=False)
def _split(experiment_id: int, fingerprint: str) -> Split:
    return load_split(experiment_id)


def fairness_section(runs: pd.DataFrame, per_user: pd.DataFrame, metric: str, k: int | None, slices: list[str],
                     figures: dict[str, go.Figure]) -> None:
    """The Compare page's fairness part: user groups, then item exposure; every chart joins `figures` (the report)."""
    st.subheader("Fairness, bias and exposure")
    if runs["dataset_id"].nunique() != 1:
        st.info("Fairness and exposure need runs of one dataset: narrow the selection to a single dataset.")
        return
    try:
        dataset_id = int(runs["dataset_id"].iloc[0])
        users, items, attributes, item_attributes = _tables(dataset_id, get_dataset_info(dataset_id).fingerprint)
    except DataError as error:
        st.warning(f"Cannot read the dataset's attributes: {error}")
        return
    chosen_slice = st.selectbox("Slice", slices, key="fairness-slice")
    st.markdown("**Users: is some group served worse?**")
    if attributes:
        attribute = st.selectbox("User attribute", attributes, key="fairness-user-attribute")
        gaps = fairness.user_group_gaps(per_user, metric, chosen_slice, users, attribute)
        _show(group_gap_chart(fairness.gap_table(gaps), gaps, attribute, metric), "fairness-groups", figures)
        st.caption(gap_sentence(gaps, attribute, metric))
    else:
        st.info("This dataset has no user attributes (such as gender or age) to group users by.")
    st.markdown("**Items: what gets shown?**")
    top_k = fairness.load_top_k(runs)
    top_k = top_k.loc[top_k["slice"] == chosen_slice]
    if top_k.empty:
        st.info(f"None of the selected runs kept its top-K lists on {chosen_slice}: runs recorded before lists were "
                "kept have none. Train the models again to see what their lists expose.")
        return
    cut = k or 10
    splits = {int(e): _split(int(e), get_experiment(int(e)).fingerprint) for e in top_k["experiment_id"].unique()}
    table = fairness.exposure_table(top_k, splits, chosen_slice, cut)
    for name, build in (("exposure-new-items", new_item_chart), ("exposure-gini", gini_chart),
                        ("exposure-long-tail", long_tail_chart), ("exposure-popularity", popularity_chart)):
        _show(build(table, cut), name, figures)
    if item_attributes:
        attribute = st.selectbox("Item attribute (provider, category...)", item_attributes,
                                 key="fairness-item-attribute")
        shares = fairness.attribute_exposure_table(top_k, splits, chosen_slice, cut, items, attribute)
        _show(attribute_chart(shares, attribute, cut), "exposure-attribute", figures)
