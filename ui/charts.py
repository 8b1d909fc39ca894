"""Plotly figures of the Compare page, as pure functions of the frames engine/analysis/comparison.py returns.

They take no Streamlit state, so tests and the HTML report build exactly the figures the page shows.
"""

from __future__ import annotations

import math
import textwrap

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from engine.metrics.names import split_metric_name

_HEIGHT = 380


def _error_bars(frame: pd.DataFrame) -> dict:
    """Asymmetric error bars from `ci_low` / `ci_high` around `mean`, or none when the runs recorded no interval."""
    if frame[["ci_low", "ci_high"]].isna().all().all():
        return {}
    return {"error_y": (frame["ci_high"] - frame["mean"]).clip(lower=0),
            "error_y_minus": (frame["mean"] - frame["ci_low"]).clip(lower=0)}


def _empty(title: str, reason: str) -> go.Figure:
    figure = go.Figure()
    figure.add_annotation(text=reason, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    figure.update_layout(title=title, height=_HEIGHT, xaxis_visible=False, yaxis_visible=False)
    return figure


def subtitled(figure: go.Figure, title: str, sentence: str, height: int) -> go.Figure:
    """`title` over `sentence` broken into lines (a plotly subtitle never wraps by itself), with room above the
    plot for every line, so a long sentence does not run into the panels' titles; the plot area stays the same."""
    lines = textwrap.wrap(sentence, 120)
    room = 18 * len(lines)  # a subtitle line's height, added to the figure so its plot keeps `height`'s size
    figure.update_layout(title={"text": title, "subtitle": {"text": "<br>".join(lines)}, "yref": "container", "y": 1,
                                "yanchor": "top", "pad": {"t": 16}},  # hung from the top, the lines below it
                         height=height + room, margin={"t": 80 + room})
    return figure


_FACETS_PER_ROW = 3


def slice_bars(overview: pd.DataFrame, metric: str, left_out: int = 0) -> go.Figure:
    """Grouped bars: one group per slice, one bar per model, with each bar's confidence interval. Slices of several
    groups (`comparison.slice_group`: the protocol's, each onboarding strategy's) get a panel per group, a shared
    metric axis and each panel's own slices; `left_out` slices not drawn are said in the subtitle."""
    title = f"{metric} by slice"
    if overview.empty:
        return _empty(title, f"No run recorded {metric}." if not left_out else "Pick slices to draw.")
    groups = list(dict.fromkeys(overview["group"]))
    faceted = len(groups) > 1
    rows = math.ceil(len(groups) / _FACETS_PER_ROW) if faceted else 1
    height = _HEIGHT + 260 * (rows - 1)
    figure = px.bar(overview, x="label" if faceted else "slice", y="mean", color="variant", barmode="group",
                    facet_col="group" if faceted else None, facet_col_wrap=_FACETS_PER_ROW if faceted else 0,
                    facet_row_spacing=0.15 if faceted else None, category_orders={"group": groups},
                    hover_data=["slice"], labels={"mean": metric, "variant": "model", "label": "", "slice": "slice"},
                    **_error_bars(overview))
    order = list(dict.fromkeys(overview["label" if faceted else "slice"]))
    figure.update_xaxes(categoryorder="array", categoryarray=order)
    if faceted:
        figure.update_xaxes(matches=None, showticklabels=True)
        figure.for_each_annotation(lambda a: a.update(text=a.text.removeprefix("group=")))
    shown = overview["slice"].nunique()
    sentence = (f"{shown} of the {shown + left_out} recorded slices are drawn; pick the others in the Slices box "
                "of the Compare page." if left_out else "")
    return subtitled(figure, title, sentence, height) if sentence else figure.update_layout(title=title,
                                                                                          height=height)


def cold_start_curve_chart(curve: pd.DataFrame, metric: str, side: str) -> go.Figure:
    """Quality against k, the number of interactions a new user (item) revealed; k = 0 means attributes only."""
    title = f"Cold-start curve: {metric} against known interactions of a new {side}"
    if curve.empty:
        return _empty(title, f"The selected runs have no cold or few-shot {side} slices.")
    figure = px.line(curve, x="k", y="mean", color="variant", markers=True, title=title, height=_HEIGHT,
                     labels={"k": f"interactions revealed per new {side} (k)", "mean": metric, "variant": "model"})
    figure.update_xaxes(tickvals=sorted(curve["k"].unique()))
    return figure


def bucket_chart(buckets: pd.DataFrame, metric: str) -> go.Figure:
    """Quality against how many training interactions a user has (history-length buckets)."""
    title = f"{metric} by user history length"
    if buckets.empty:
        return _empty(title, "No per-user values for these runs.")
    return px.bar(buckets, x="bucket", y="mean", color="variant", barmode="group", title=title, height=_HEIGHT,
                  hover_data=["n_users"],
                  labels={"bucket": "training interactions of the user", "mean": metric, "variant": "model"})


def distribution_chart(per_user: pd.DataFrame, metric: str, kind: str = "box") -> go.Figure:
    """Per-user values of one metric per model (box or violin), so a mean hiding many zeros shows up."""
    title = f"Per-user {metric}"
    if per_user.empty:
        return _empty(title, "No per-user values for these runs.")
    draw = px.violin if kind == "violin" else px.box
    return draw(per_user, x="variant", y="value", color="variant", title=title, height=_HEIGHT,
                labels={"value": metric, "variant": "model"})


def pareto_chart(frame: pd.DataFrame, metric: str) -> go.Figure:
    """Quality against training seconds; the Pareto front (nothing else is both faster and better) is joined."""
    title = f"{metric} against training time"
    if frame.empty:
        return _empty(title, "No finished run has both a training time and this metric.")
    figure = px.scatter(frame, x="fit_seconds", y="quality", color="variant", title=title, height=_HEIGHT,
                        symbol="pareto", symbol_map={True: "star", False: "circle"},
                        labels={"fit_seconds": "training seconds (mean over seeds)", "quality": metric,
                                "variant": "model", "pareto": "on the Pareto front"})
    front = frame.loc[frame["pareto"]].sort_values("fit_seconds")
    figure.add_trace(go.Scatter(x=front["fit_seconds"], y=front["quality"], mode="lines", name="Pareto front",
                                line={"dash": "dot", "color": "grey"}))
    figure.update_traces(marker={"size": 12}, selector={"mode": "markers"})
    # plotly names a colour-and-symbol trace "variant, True": the star already says which runs are on the front
    figure.for_each_trace(lambda trace: trace.update(name=trace.name.rsplit(", ", 1)[0]),
                          selector={"mode": "markers"})
    figure.update_layout(legend_title_text="model (star: on the Pareto front)")
    return figure


def training_curves_chart(curves: pd.DataFrame) -> go.Figure:
    """Training loss and validation metric per epoch, every selected run overlaid; a panel only for what some run
    recorded, since models fitted in alternating steps (ALS, the attribute mapper) report no validation score and
    an empty half would read as a failed validation."""
    title = "Training and validation curves"
    panels = {column: label for column, label in (("loss", "training loss"), ("metric", "validation metric"))
              if curves[column].notna().any()}
    if not panels:
        return _empty(title, "The selected runs reported no epochs (non-iterative models train in one step).")
    figure = make_subplots(rows=1, cols=len(panels), subplot_titles=list(panels.values()))
    palette = px.colors.qualitative.Plotly
    for position, (name, run) in enumerate(curves.groupby("variant", sort=True)):
        color = palette[position % len(palette)]
        drawn = [column for column in panels if run[column].notna().any()]
        for col, column in enumerate(panels, start=1):
            points = run.dropna(subset=[column])
            if points.empty:
                continue
            figure.add_trace(go.Scatter(x=points["epoch"], y=points[column], mode="lines+markers", name=name,
                                        legendgroup=name, showlegend=column == drawn[0], line={"color": color}),
                             row=1, col=col)
    figure.update_xaxes(title_text="epoch")
    figure.update_layout(title=title, height=_HEIGHT)
    if "metric" not in panels:
        figure.update_layout(title={"text": "Training loss", "subtitle": {
            "text": "No validation score during training: models fitted in alternating steps (ALS) report only "
                    "their loss."}})
    return figure


def _kept_sentence(name: str, kept: pd.Series, note: str) -> str:
    """Why `name` kept its defaults, from the note tuning recorded: 'the best trial (#5, 0.2345) beat them by
    +0.0012, within one standard error (0.0020) over 300 validation users'."""
    reason = note.removeprefix("defaults kept: ").rstrip(".")
    return (f"{name} kept its defaults (trial {int(kept['trial'])}, {kept['score']:.4f}): {reason}, so the gain may "
            "be luck.")


def tuning_trials_chart(trials: pd.DataFrame, metric_name: str, notes: dict[str, str] | None = None) -> go.Figure:
    """Validation score of every tuning trial (dots; pruned and failed ones at the bottom as crosses) and the best
    so far (a line), per tuned run: how fast each model's search found its settings, with the same budget. The
    trial whose settings a run kept (`kept`) is a star; a run that kept its defaults because no trial beat them
    by more than one standard error (its entry in `notes`, the recorded reason) gets a dotted line at the
    defaults' score and a sentence saying so, since its best-so-far line ends above what it kept."""
    title = f"Tuning: validation {metric_name} per trial"
    if trials.empty:
        return _empty(title, "None of the selected runs was tuned: turn on 'Tune every model' in the Train panel.")
    figure = go.Figure()
    palette = px.colors.qualitative.Plotly
    floor = float(trials["score"].min()) if trials["score"].notna().any() else 0.0
    sentences = []
    for position, (name, run) in enumerate(trials.groupby("variant", sort=True)):
        color = palette[position % len(palette)]
        scored = run.dropna(subset=["score"])
        figure.add_trace(go.Scatter(x=scored["trial"], y=scored["score"], mode="markers", name=name, legendgroup=name,
                                    marker={"color": color}, customdata=scored["params"],
                                    hovertemplate="trial %{x}: %{y:.4f}<br>%{customdata}<extra></extra>"))
        figure.add_trace(go.Scatter(x=run["trial"], y=run["best_so_far"], mode="lines", name=f"{name}: best so far",
                                    legendgroup=name, showlegend=False, line={"color": color, "shape": "hv"}))
        dropped = run.loc[run["score"].isna()]
        if not dropped.empty:
            figure.add_trace(go.Scatter(x=dropped["trial"], y=[floor] * len(dropped), mode="markers",
                                        name=f"{name}: stopped", legendgroup=name, showlegend=False,
                                        marker={"color": color, "symbol": "x"}, customdata=dropped["state"],
                                        hovertemplate="trial %{x}: %{customdata}<extra></extra>"))
        kept = scored.loc[scored["kept"].astype(bool)] if "kept" in scored.columns else scored.iloc[:0]
        if kept.empty:
            continue
        note = (notes or {}).get(name)
        row = kept.iloc[0]
        what = "the defaults, kept" if note else "kept"
        figure.add_trace(go.Scatter(x=[row["trial"]], y=[row["score"]], mode="markers", name=f"{name}: kept",
                                    legendgroup=name, showlegend=False,
                                    marker={"color": color, "symbol": "star", "size": 17,
                                            "line": {"color": "black", "width": 1}},
                                    hovertemplate=f"trial %{{x}}, {what}: %{{y:.4f}}<extra>{name}</extra>"))
        if note:
            figure.add_trace(go.Scatter(x=[run["trial"].min(), run["trial"].max()], y=[row["score"]] * 2,
                                        mode="lines", name=f"{name}: defaults kept", legendgroup=name,
                                        showlegend=False, line={"color": color, "dash": "dot"}, hoverinfo="skip"))
            sentences.append(_kept_sentence(name, row, note))
    if "kept" in trials.columns and trials["kept"].astype(bool).any():
        # one legend entry explains the stars of every run
        figure.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name="kept trial (scored on test)",
                                    marker={"color": "lightgrey", "symbol": "star", "size": 14,
                                            "line": {"color": "black", "width": 1}}))
    figure.update_layout(xaxis_title="trial", yaxis_title=f"validation {metric_name}")
    figure.update_xaxes(tick0=1, dtick=max(1, math.ceil(trials["trial"].max() / 10)))  # whole trials only
    if sentences:
        return subtitled(figure, title, " ".join(sentences), _HEIGHT)
    return figure.update_layout(title=title, height=_HEIGHT)


_ZERO_BECAUSE = {"popularity": "every recommended item is new, so none has a training popularity"}
"""Why a beyond-accuracy measure can be 0 for every model, said in place of its empty panel."""
_UNITS = {"coverage": "share of candidates", "popularity": "share of training users", "novelty": "bits",
          "diversity": "cosine distance"}
"""What each beyond-accuracy measure's axis counts (engine/metrics/beyond.py)."""


def _with_unit(name: str) -> str:
    """'novelty@10 (bits)': a panel's title with what its axis counts."""
    unit = _UNITS.get(split_metric_name(name)[0])
    return f"{name} ({unit})" if unit else name


def _blank_measure_notes(rows: pd.DataFrame) -> dict[str, str]:
    """Per measure with nothing to draw (no value, or 0 for every model), the sentence saying so."""
    notes = {}
    for name, values in rows.groupby("name", sort=True)["mean"]:
        if values.isna().all():
            notes[name] = f"{name} was not recorded on this slice"
        elif values.fillna(0).eq(0).all():
            reason = _ZERO_BECAUSE.get(split_metric_name(name)[0])
            notes[name] = f"{name} is 0 for every model" + (f" ({reason})" if reason else "")
    return notes


def beyond_accuracy_chart(rows: pd.DataFrame) -> go.Figure:
    """Coverage, popularity bias, novelty and diversity side by side, one small panel per measure, with horizontal
    bars so model names read level on the shared axis; a measure with nothing to draw is named with the reason."""
    title = "Beyond accuracy"
    if rows.empty:
        return _empty(title, "The selected runs recorded no beyond-accuracy measures on this slice.")
    notes = _blank_measure_notes(rows)
    note = "Not drawn: " + "; ".join(notes.values()) + "." if notes else ""
    drawn = rows.loc[~rows["name"].isin(list(notes))]
    if drawn.empty:
        return _empty(title, note)
    height = max(_HEIGHT, 160 + 30 * drawn["variant"].nunique())
    figure = px.bar(drawn, x="mean", y="variant", color="variant", orientation="h", facet_col="name", height=height,
                    facet_col_spacing=0.06, labels={"mean": "", "variant": "", "name": ""})
    figure.update_xaxes(matches=None, showticklabels=True)
    figure.update_layout(title={"text": title, "subtitle": {"text": note}}, showlegend=False)
    figure.for_each_annotation(lambda a: a.update(text=_with_unit(a.text.split("=")[-1])))
    return figure


def group_chart(groups: pd.DataFrame, metric: str, attribute: str) -> go.Figure:
    """Quality per user group (values of one user attribute), so a model that fails one group is visible."""
    title = f"{metric} by {attribute}"
    if groups.empty:
        return _empty(title, f"No per-user values or no {attribute} attribute for these users.")
    return px.bar(groups, x="group", y="mean", color="variant", barmode="group", title=title, height=_HEIGHT,
                  hover_data=["n_users"], labels={"group": attribute, "mean": metric, "variant": "model"})


def paired_difference_chart(paired: pd.DataFrame, name_a: str, name_b: str) -> go.Figure:
    """Difference B - A per metric with its confidence interval; bars crossing zero are not significant."""
    title = f"{name_b} minus {name_a}"
    if paired.empty:
        return _empty(title, "No shared users to compare.")
    figure = go.Figure(go.Bar(
        x=paired["metric"], y=paired["difference"],
        error_y={"type": "data", "symmetric": False, "array": paired["ci_high"] - paired["difference"],
                 "arrayminus": paired["difference"] - paired["ci_low"]},
        marker_color=["seagreen" if lo > 0 else "indianred" if hi < 0 else "grey"
                      for lo, hi in zip(paired["ci_low"], paired["ci_high"])]))
    figure.add_hline(y=0, line_color="black", line_width=1)
    figure.update_layout(title=title, height=_HEIGHT, yaxis_title="difference (B - A)")
    return figure


def figure_html(figure: go.Figure) -> str:
    """The figure as a standalone HTML page with plotly.js embedded, so the downloaded file opens offline."""
    return figure.to_html(full_html=True, include_plotlyjs=True)
