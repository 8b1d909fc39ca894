"""The paired comparison on the Compare page: two runs user by user on one slice, their difference with a paired
bootstrap interval and a Wilcoxon test, and the users on whom they disagree most.

It is an expander computed only when opened, like the onboarding and fairness sections: its test imports SciPy's
statistics (0.7 s on a quiet machine, 3 s on a loaded one) and bootstraps every metric, seconds of a fresh server's
first draw spent on a section below the charts. The report carries it either way, at the pair it opens on when it
was left closed.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from engine.analysis import comparison
from ui import charts
from ui.compare_charts import show_chart

OPEN_KEY = "compare-paired-open"
NO_PAIR = ("No two of the selected runs can be compared user by user: that needs two runs of one experiment that "
           "both kept per-user values on a slice (runs the model cannot serve on a slice, and runs recorded without "
           "per-user values, have none). Select two such runs.")


def _run_names(runs: pd.DataFrame, per_user: pd.DataFrame) -> dict[str, int]:
    """`#12 ItemKNN` -> 12 for the runs that kept per-user values."""
    kept = set(per_user["run_id"])
    return {f"#{r} {v}": int(r) for r, v in zip(runs["run_id"], runs["variant"]) if r in kept}


def _title(name_a: str, name_b: str, slice_name: str) -> str:
    return f"{name_b} minus {name_a} on {slice_name}"


def paired_section(runs: pd.DataFrame, per_user: pd.DataFrame, metrics: pd.DataFrame, metric_names: list[str],
                   slices: list[str]) -> tuple[bool, go.Figure | None, dict[str, pd.DataFrame]]:
    """The section, opening on a pair that can be compared; returns whether it was drawn open, its chart and its
    table for the report (None and none when no pair is shown)."""
    st.subheader("Paired comparison of two runs")
    if len(runs) < 2:
        st.info("Select at least two runs to compare them user by user.")
        return False, None, {}
    with st.expander("Run B minus run A, user by user: paired bootstrap interval and Wilcoxon test", key=OPEN_KEY,
                     on_change="rerun", icon=":material/compare_arrows:") as section:
        if not section.open:
            return False, None, {}
        pair = comparison.default_pair(per_user, metrics, metric_names[0], slices)
        if pair is None:
            st.info(NO_PAIR)
            return True, None, {}
        names = _run_names(runs, per_user)
        ids = list(names.values())
        left, middle, right = st.columns(3)
        name_a = left.selectbox("Run A", list(names), index=ids.index(pair[0]), key="paired-a")
        name_b = middle.selectbox("Run B", list(names), index=ids.index(pair[1]), key="paired-b")
        paired_slice = right.selectbox("Slice", slices, index=slices.index(pair[2]), key="paired-slice")
        st.caption(f"**{paired_slice}**: {comparison.slice_description(paired_slice)}")
        if name_a == name_b:
            st.info("Pick two different runs.")
            return True, None, {}
        try:
            table = comparison.paired_table(per_user, names[name_a], names[name_b], paired_slice, metric_names)
        except comparison.ComparisonError as error:
            st.info(str(error))
            return True, None, {}
        st.caption("Difference = B − A on the users both runs evaluated; 95% paired bootstrap interval; "
                   "Wilcoxon signed-rank p-value. An interval that excludes 0 means the difference is unlikely "
                   "chance.")
        shown = comparison.paired_display(table)
        st.dataframe(shown, hide_index=True, column_config={
            comparison.PAIRED_HEADERS[c]: st.column_config.NumberColumn(format="%.4f")
            for c in ("A", "B", "difference", "ci_low", "ci_high")})
        figure = charts.paired_difference_chart(table, name_a, name_b)
        show_chart(figure, "paired")
        metric = table["metric"].iloc[0]
        worst = comparison.disagreements(per_user, names[name_a], names[name_b], paired_slice, metric)
        st.markdown(f"**Users where they disagree most** on {metric}")
        st.dataframe(worst, hide_index=True)
    return True, figure, {_title(name_a, name_b, paired_slice): shown}


def paired_report(runs: pd.DataFrame, per_user: pd.DataFrame, metrics: pd.DataFrame, metric_names: list[str],
                  slices: list[str]) -> tuple[go.Figure | None, dict[str, pd.DataFrame]]:
    """The chart and table of the pair the section opens on, for the report when it was left closed."""
    pair = comparison.default_pair(per_user, metrics, metric_names[0], slices) if len(runs) > 1 else None
    if pair is None:
        return None, {}
    names = {run_id: name for name, run_id in _run_names(runs, per_user).items()}
    table = comparison.paired_table(per_user, pair[0], pair[1], pair[2], metric_names)
    name_a, name_b = names[pair[0]], names[pair[1]]
    return (charts.paired_difference_chart(table, name_a, name_b),
            {_title(name_a, name_b, pair[2]): comparison.paired_display(table)})
