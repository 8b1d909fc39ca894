"""Onboarding on the Compare page: the cold-start curve of each sign-up strategy, models side by side.

The figure builder is a pure function of `engine.onboarding.curves.recorded_curves`, so tests and the HTML report
get exactly the chart the page shows; its subtitle is the plain-words reading a non-programmer needs. The curves
bootstrap every strategy and step, so the section is computed only once it is opened, and once per selection
(`engine.analysis.comparison.results_key`).
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from engine.onboarding import BASELINE, STRATEGIES
from engine.onboarding.curves import recorded_curves
from engine.onboarding.protocol import parse_slice_name
from ui.charts import subtitled

_HEIGHT = 420
OPEN_KEY = "compare-onboarding-open"


def onboarding_sentence(curves: pd.DataFrame, metric: str) -> str:
    """What the curves say, in words: the best strategy per model and whether it beats random questions."""
    if curves.empty:
        return "No selected run used the onboarding protocol."
    parts = []
    for variant, frame in curves.groupby("variant", sort=True):
        rivals = frame.loc[(frame["strategy"] != BASELINE) & (frame["step"] > 0)]
        if rivals.empty:
            continue
        last = int(rivals["step"].max())
        best = rivals.loc[rivals["step"] == last].sort_values("mean", ascending=False).iloc[0]
        label = STRATEGIES[best["strategy"]].label if best["strategy"] in STRATEGIES else best["strategy"]
        verdict = ("better than asking about random items, beyond chance" if best["beats_baseline"] else
                   "not clearly better than asking about random items")
        parts.append(f"for {variant}, after {last} questions '{label}' gives the best recommendations "
                     f"({metric} {best['mean']:.3f}), {verdict}")
    return ("Each line shows how good the recommendations for a brand-new user become after answering k sign-up "
            "questions chosen in one way (higher is better); " + "; ".join(parts) + ".")


def onboarding_chart(curves: pd.DataFrame, metric: str) -> go.Figure:
    """One panel per model: the metric after 0..k questions per strategy, with 95% intervals; random is dashed."""
    title = f"Onboarding: {metric} of new users after k sign-up questions"
    if curves.empty:
        figure = go.Figure()
        figure.add_annotation(text="No selected run used the onboarding protocol.", showarrow=False, x=0.5, y=0.5,
                              xref="paper", yref="paper")
        figure.update_layout(title=title, height=_HEIGHT, xaxis_visible=False, yaxis_visible=False)
        return figure
    variants = sorted(curves["variant"].unique())
    figure = make_subplots(rows=1, cols=len(variants), subplot_titles=variants, shared_yaxes=True)
    colours = {name: qualitative.Plotly[i % len(qualitative.Plotly)] for i, name in enumerate(STRATEGIES)}
    for column, variant in enumerate(variants, start=1):
        for strategy, frame in curves.loc[curves["variant"] == variant].groupby("strategy", sort=False):
            frame = frame.sort_values("step")
            label = STRATEGIES[strategy].label if strategy in STRATEGIES else strategy
            figure.add_trace(go.Scatter(
                x=frame["step"], y=frame["mean"], mode="lines+markers", name=label, legendgroup=strategy,
                showlegend=column == 1, line={"color": colours.get(strategy), "dash": "dash" if strategy == BASELINE
                                              else "solid"},
                error_y={"type": "data", "symmetric": False, "array": frame["ci_high"] - frame["mean"],
                         "arrayminus": frame["mean"] - frame["ci_low"]},
                customdata=frame[["answered", "difference", "difference_ci_low", "difference_ci_high"]],
                hovertemplate=("%{x} questions: %{y:.4f}<br>answered %{customdata[0]:.2f} on average<br>"
                               "minus random %{customdata[1]:+.4f} [%{customdata[2]:+.4f}, %{customdata[3]:+.4f}]"
                               "<extra>" + label + "</extra>")), row=1, col=column)
        figure.update_xaxes(title_text="questions asked (k)", row=1, col=column,
                            tickvals=sorted(curves["step"].unique()))
    figure.update_yaxes(title_text=metric, row=1, col=1)
    return subtitled(figure, title, onboarding_sentence(curves, metric), _HEIGHT)


def difference_table(curves: pd.DataFrame) -> pd.DataFrame:
    """The paired differences against random, one row per model, strategy and k, for the page's table."""
    rows = curves.loc[(curves["strategy"] != BASELINE) & (curves["step"] > 0)]
    table = rows[["variant", "strategy", "step", "mean", "answered", "difference", "difference_ci_low",
                  "difference_ci_high", "p_value", "beats_baseline"]]
    return table.rename(columns={"variant": "model", "step": "questions", "answered": "answered (mean)",
                                 "difference": "minus random", "difference_ci_low": "95% CI low",
                                 "difference_ci_high": "95% CI high", "p_value": "p (Wilcoxon)",
                                 "beats_baseline": "beats random"})


@st.cache_data(show_spinner=False, max_entries=32)
def _curves(run_key: tuple, metric: str, _per_user: pd.DataFrame) -> pd.DataFrame:
    """`recorded_curves` once per selection and metric (`_per_user` is what `run_key` recorded)."""
    return recorded_curves(_per_user, metric)


def used_onboarding(per_user: pd.DataFrame) -> bool:
    """Whether any selected run recorded onboarding slices."""
    return "slice" in per_user.columns and any(parse_slice_name(name) for name in per_user["slice"].unique())


def onboarding_figures(run_key: tuple, per_user: pd.DataFrame, metric: str) -> dict[str, go.Figure]:
    """The section's chart by name, for the report when the section was left closed; {} without onboarding runs."""
    curves = _curves(run_key, metric, per_user) if used_onboarding(per_user) else pd.DataFrame()
    return {"onboarding": onboarding_chart(curves, metric)} if not curves.empty else {}


def onboarding_section(run_key: tuple, per_user: pd.DataFrame, metric: str) -> dict[str, go.Figure] | None:
    """The Compare page's onboarding part, offered when a selected run used the onboarding protocol and computed
    when opened: the curves and the paired differences against random. Returns the chart it drew by name (for the
    report), or None when it was not drawn open."""
    if not used_onboarding(per_user):
        return None
    with st.expander("Onboarding: which sign-up questions to ask", key=OPEN_KEY, on_change="rerun",
                     icon=":material/how_to_reg:") as section:
        if not section.open:
            return None
        curves = _curves(run_key, metric, per_user)
        figure = onboarding_chart(curves, metric)
        st.plotly_chart(figure, key="chart-onboarding")
        st.caption(onboarding_sentence(curves, metric))
        st.caption("Each strategy is compared with asking about random items on the same users (paired bootstrap "
                   "95% CI of the difference); 'answered' counts the questions a user could answer (items they "
                   "knew).")
        st.dataframe(difference_table(curves), hide_index=True, key="onboarding-differences")
    return {"onboarding": figure}
