"""Plotly figures and Streamlit blocks of the Data page: a dataset's profile, drawn from `engine.data.profile`.

Figure builders are pure functions of the profile, so tests can check them without a running app.
"""

from __future__ import annotations

import numpy as np
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from engine.data.profile import DatasetProfile

_HEIGHT = 340
TITLE_FITS = 56
"""Characters of a chart title that fit the half page each profile chart gets (wide layout, sidebar open); longer
titles are cut off by plotly rather than wrapped."""
TAIL_POINTS = 2000
"""Most ranks drawn per long-tail curve: 200k users would send 200k points to the browser, while on log-log axes
2,000 log-spaced ranks (the first and last included) draw the same curve."""


def long_tail_chart(profile: DatasetProfile) -> go.Figure:
    """Interactions per user and per item against their rank, both axes logarithmic: the long tail at a glance."""
    figure = go.Figure()
    for label, counts in (("items", profile.item_counts), ("users", profile.user_counts)):
        active = counts[counts > 0].to_numpy()
        ranks = np.arange(1, len(active) + 1)
        if len(active) > TAIL_POINTS:  # sampled, and the legend says so
            ranks = np.unique(np.geomspace(1, len(active), TAIL_POINTS).round().astype(np.int64))
            label = f"{label} ({len(ranks):,} of {len(active):,} ranks, log-spaced)"
        figure.add_trace(go.Scattergl(x=ranks, y=active[ranks - 1], mode="lines", name=label))
    figure.update_layout(title="Interactions per user and per item (rank, log-log)", height=_HEIGHT,
                         xaxis_title="rank (most active first)", yaxis_title="interactions", legend_title=None)
    # ticks at powers of ten only: plotly's default also labels 2 and 5 of each decade by their first digit, so the
    # y axis read 100, 5, 2, 10, 5, 2, 1 from the top, a '5' above the '10' that a reader took for five
    figure.update_xaxes(type="log", dtick=1)
    figure.update_yaxes(type="log", dtick=1)
    return figure


def rating_chart(profile: DatasetProfile) -> go.Figure | None:
    """Bars of how often each rating value occurs (None without ratings)."""
    if profile.ratings is None:
        return None
    figure = px.bar(profile.ratings, x="rating", y="interactions", title="Rating distribution", height=_HEIGHT)
    figure.update_xaxes(type="category")
    return figure


def count_chart(profile: DatasetProfile) -> go.Figure | None:
    """Bars of how many interactions have a count in each doubling range (None without counts)."""
    if profile.counts is None:
        return None
    figure = px.bar(profile.counts, x="count", y="interactions", height=_HEIGHT,
                    title="Counts per interaction (plays, views...)")
    figure.update_xaxes(type="category", title="count (weighs the row as implicit feedback)")
    return figure


def activity_chart(profile: DatasetProfile) -> go.Figure | None:
    """Interactions, first-time users and first-time items per period (None without timestamps)."""
    if profile.activity is None:
        return None
    long = profile.activity.melt(id_vars="period", var_name="series", value_name="count")
    long["series"] = long["series"].str.replace("_", " ")  # legend entries read as words: "new users"
    figure = px.line(long, x="period", y="count", color="series", height=_HEIGHT,
                     title=f"Activity per {profile.activity_period}: interactions, new users, new items")
    figure.update_layout(legend_title=None)
    return figure


def cold_bucket_chart(profile: DatasetProfile) -> go.Figure:
    """Users and items grouped by how many interactions they have: the cold part of the data on the left."""
    long = profile.cold_buckets.melt(id_vars="bucket", var_name="side", value_name="count")
    figure = px.bar(long, x="bucket", y="count", color="side", barmode="group", height=_HEIGHT, text="count",
                    title="Users and items by number of interactions")
    figure.update_xaxes(title="interactions", type="category")
    return figure


def _attribute_share_text(summary: dict) -> str:
    shares = [f"{summary[f'{side}s_with_attributes']:.0%} of the {side}s with interactions" for side in ("user", "item")
              if f"{side}s_with_attributes" in summary]
    return f" Attributes describe {' and '.join(shares)}." if shares else ""


def profile_caption(summary: dict) -> str:
    """The line under the key numbers. Users or items with attributes but no interactions are named only when there
    are some: a dataset without attribute tables read '0 users and 0 items have attributes but no interactions'."""
    counts = {side: summary[f"{side}s_without_interactions"] for side in ("user", "item")}
    unused = [f"{n:,} {side}{'' if n == 1 else 's'}" for side, n in counts.items() if n]
    verb = "has" if len(unused) == 1 and sum(counts.values()) == 1 else "have"
    return (f"Median interactions per user {summary['median_per_user']:g}, per item {summary['median_per_item']:g}; "
            f"the top 10% of items hold {summary['top_10pct_items_share']:.0%} of all interactions."
            + (f" {' and '.join(unused)} {verb} attributes but no interactions." if unused else "")
            + _attribute_share_text(summary))


def render_profile(profile: DatasetProfile, name: str) -> None:
    """The profile section of the Data page: key numbers, the long tail, ratings, activity, attributes, cold part."""
    st.subheader(f"Profile of {name}")
    summary = profile.summary
    cells = st.columns(5)
    cells[0].metric("Users", f"{summary['users']:,}")
    cells[1].metric("Items", f"{summary['items']:,}")
    cells[2].metric("Interactions", f"{summary['interactions']:,}")
    density = summary["density"]
    cells[3].metric("Density", f"{density:.2%}" if density >= 1e-4 else f"{density:.1e}")
    cells[4].metric("Positives", f"{summary['positive_share']:.0%}")
    st.caption(profile_caption(summary))
    left, right = st.columns(2)
    left.plotly_chart(long_tail_chart(profile), width="stretch")
    right.plotly_chart(cold_bucket_chart(profile), width="stretch")
    left, right = st.columns(2)
    feedback_chart, activity = rating_chart(profile) or count_chart(profile), activity_chart(profile)
    if feedback_chart is not None:
        left.plotly_chart(feedback_chart, width="stretch")
    elif profile.events is not None:
        left.plotly_chart(px.bar(profile.events, x="event", y="interactions", title="Event types", height=_HEIGHT),
                          width="stretch")
    else:
        left.info("No ratings: every interaction counts as implicit feedback.")
    if activity is not None:
        right.plotly_chart(activity, width="stretch")
    else:
        right.info("No timestamps: temporal protocols are not available for this dataset.")
    st.markdown("**Cold part of the data**: users and items by number of interactions")
    st.dataframe(profile.cold_buckets, hide_index=True)
    st.markdown("**Attributes**")
    if profile.attributes.empty:
        st.info("No user or item attributes: cold-start models that need attributes will be not applicable.")
    else:
        st.dataframe(profile.attributes, hide_index=True, column_config={
            "coverage": st.column_config.ProgressColumn("coverage", format="percent", min_value=0.0, max_value=1.0),
        })
