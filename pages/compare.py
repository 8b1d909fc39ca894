"""Compare: pick runs, then read them side by side on every cold-start slice, with uncertainty and cost."""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from engine.analysis import comparison
from engine.metrics.names import BEYOND_ACCURACY
from ui import compare_charts, fairness_view, onboarding_view, paired_view
from ui.report import ComparisonReport, comparison_report_html
from ui.router import require_router
from ui.serving_panel import serving_panel

require_router()

RUNS_PARAM = "runs"
DEFAULT_FAMILIES = ("ndcg", "recall")


def _ids_from_url() -> list[int]:
    """Run ids of a shared link (`?runs=3,5,8`); anything that is not a number is ignored."""
    raw = st.query_params.get(RUNS_PARAM, "")
    return [int(part) for part in raw.split(",") if part.strip().isdigit()]


def _filter(runs: pd.DataFrame) -> pd.DataFrame:
    """The run table narrowed by the four pickers (all runs when a picker is left empty)."""
    columns = st.columns(4)
    chosen = {}
    for column, (field, label) in zip(columns, (("dataset", "Dataset"), ("experiment", "Experiment"),
                                                ("label", "Model"), ("status", "Status"))):
        options = sorted(runs[field].unique())
        default = ["done"] if field == "status" and "done" in options else []
        chosen[field] = column.multiselect(label, options, default=default, key=f"filter-{field}")
    mask = pd.Series(True, index=runs.index)
    for field, values in chosen.items():
        if values:
            mask &= runs[field].isin(values)
    return runs.loc[mask].reset_index(drop=True)


def _pick_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The run table with row selection; the selection is mirrored into the URL so the link can be shared."""
    shown = _filter(runs)
    wanted = _ids_from_url()
    positions = [int(p) for p in shown.index[shown["run_id"].isin(wanted)]]
    # a new key whenever the rows change, so the URL's selection is re-applied to the rows now shown
    digest = hashlib.sha1(",".join(map(str, shown["run_id"])).encode()).hexdigest()[:10]
    # at 1280 px the seconds a comparison is about were cut off behind a scroll bar: models are named among the runs
    # of their own data and protocol, short columns are narrow, a long experiment name is cut in its cell (which
    # names the dataset unless renamed; the Dataset filter above picks by it), and the creation time (the run number
    # orders them) and device (each run's card has it) are left to the Runs page; a long model name ("Attribute
    # mapper (DeepMusic-style)") is cut in its cell too, or with more rows than the table shows its scroll bar took
    # the last column's room
    narrow = {"width": 56}
    event = st.dataframe(
        shown.assign(variant=comparison.labels_within_settings(shown))[
            ["run_id", "variant", "experiment", "protocol", "seed", "status", "fit_seconds", "eval_seconds"]],
        key=f"run-table-{digest}", on_select="rerun", selection_mode="multi-row", hide_index=True,
        selection_default={"selection": {"rows": positions}},
        column_config={"run_id": st.column_config.NumberColumn("run", format="%d", **narrow),
                       "variant": st.column_config.TextColumn("model", width="medium"),
                       "seed": st.column_config.NumberColumn("seed", **narrow),
                       "experiment": st.column_config.TextColumn("experiment", width="medium"),
                       "status": st.column_config.TextColumn("status", **narrow),
                       "fit_seconds": st.column_config.NumberColumn("fit s", format="%.2f", **narrow),
                       "eval_seconds": st.column_config.NumberColumn("eval s", format="%.2f", **narrow)})
    selected = shown.iloc[list(event.selection.rows)]
    # runs of the link that the table does not show now (filtered out, or still training) stay in the link;
    # ids of deleted runs drop out
    hidden = [r for r in wanted if r in set(runs["run_id"]) and r not in set(shown["run_id"])]
    ids = ",".join(str(r) for r in [*selected["run_id"], *hidden])
    if ids != st.query_params.get(RUNS_PARAM, ""):
        if ids:
            st.query_params[RUNS_PARAM] = ids
        elif RUNS_PARAM in st.query_params:
            del st.query_params[RUNS_PARAM]
    return selected.reset_index(drop=True)


def _styled(board: comparison.Leaderboard):
    """The leaderboard's text cells with each column's winner(s) highlighted."""
    table = board.display()

    def highlight(column: pd.Series) -> list[str]:
        winners = set(board.best.get(column.name, []))
        return ["background-color: #c8e6c9; font-weight: bold" if row in winners else "" for row in column.index]

    return table.style.apply(highlight, axis=0)


def _markdown_text(text: str) -> str:
    """`text` shown as written in Markdown (hyper-parameter values hold brackets, underscores, dollars)."""
    return re.sub(r"([\\`*_{}\[\]<>()#+\-.!|$~])", r"\\\1", text)


def _settings_table(settings: pd.DataFrame) -> None:
    """Each variant's runs, seeds and how its settings were chosen as a table, and its data, protocol and
    hyper-parameters below as wrapped lines (a protocol's parameters or a list of candidate models are too long
    for a table cell)."""
    st.dataframe(settings.drop(columns=["data and protocol", "hyper-parameters"]), hide_index=True)
    lines = [f"- **{_markdown_text(row['model'])}** on {_markdown_text(row['data and protocol'])}; hyper-parameters: "
             + (_markdown_text(row["hyper-parameters"]) or "the model's defaults") for _, row in settings.iterrows()]
    st.markdown("\n".join(lines))


@st.fragment(run_every="3s")
def _training_notice(run_ids: list[int]) -> None:
    """While linked runs are queued or running, say so; rerun the page when one finishes so it joins the tables.

    `run_ids` are all the linked runs, so the counts add up to what the page shows below."""
    states = comparison.list_runs(run_ids=run_ids)
    waiting = states.loc[states["status"].isin(["queued", "running"])]
    if waiting.empty:
        st.rerun()
    done = int((states["status"] == "done").sum())
    # a queued run is not training yet: say how many wait for the worker and how many it is training now
    queued, running = (int((waiting["status"] == status).sum()) for status in ("queued", "running"))
    st.info(f"{len(waiting)} of the {len(states)} linked runs are waiting or training ({queued} queued, {running} "
            f"running: {', '.join(waiting['variant'])}); {done} finished. Finished runs appear below as they "
            "complete.", icon=":material/hourglass_top:")
    if done != st.session_state.get("finished-linked-runs", done):
        st.session_state["finished-linked-runs"] = done
        st.rerun()
    st.session_state["finished-linked-runs"] = done


st.title("Compare runs")
all_runs = comparison.list_runs()
if all_runs.empty:
    st.info("No runs yet. Define an experiment and train a few models, or run the demo from the Home page.")
    st.page_link("pages/home.py", label="Home: run the demo", icon=":material/home:")
    st.stop()

st.caption("Select rows to compare. The address bar keeps the selection: copy it to share this comparison.")
linked = all_runs.loc[all_runs["run_id"].isin(_ids_from_url())]
linked_unfinished = linked.loc[linked["status"].isin(["queued", "running"]), "run_id"].tolist()
if linked_unfinished:
    _training_notice([int(r) for r in linked["run_id"]])
runs = _pick_runs(all_runs)
if runs.empty:
    if not linked_unfinished:
        st.info("Select one or more runs in the table above.")
    st.stop()
runs = runs.assign(variant=comparison.variant_labels(runs))  # named by what differs among the runs compared
serving_panel(runs, key="compare")

metrics = comparison.load_metrics(runs)
recorded = comparison.run_results(runs)  # each selected run's results, read and parsed once per draw
refused = comparison.load_not_applicable(runs, recorded)
if metrics.empty and refused.empty:
    st.warning("The selected runs have no recorded results yet (they may still be queued or running).")
    st.stop()

families, cutoffs = comparison.metric_catalogue(metrics)
accuracy_families = [f for f in families if f not in BEYOND_ACCURACY]
left, right = st.columns([3, 1])
default_families = [f for f in DEFAULT_FAMILIES if f in accuracy_families] or accuracy_families[:2]
chosen_families = left.multiselect("Metrics", accuracy_families, default=default_families, key="metric-families")
k = right.selectbox("K", cutoffs, index=cutoffs.index(20) if 20 in cutoffs else 0, key="cutoff") if cutoffs else None
metric_names = comparison.metric_columns(metrics, chosen_families, k)
headline = metric_names[0] if metric_names else None
slices = comparison.available_slices(metrics, refused)

st.subheader("Leaderboard per slice")
st.caption("One run: mean [95% bootstrap CI]. Several seeds: mean ± standard deviation. Best per column in green. "
           "Settings: tuned on the validation slice with the same budget, the model's defaults, or set by hand.")
settings = comparison.variant_tuning(runs)
boards = [comparison.leaderboard(metrics, refused, name, metric_names, settings) for name in slices]
# opened on the experiment's cold-start slice, what it was made to measure, as the charts are; overall and warm
# stay first, in the order every page lists slices
opened = slices[comparison.first_cold_slice(slices)] if slices else None
for tab, board in zip(st.tabs(slices, default=opened), boards):
    with tab:
        st.caption(f"**{board.slice}**: {comparison.slice_description(board.slice)}")
        st.table(_styled(board))
        users = board.n_users.max(axis=1).dropna()
        if not users.empty:
            st.caption(f"Users evaluated on {board.slice}: {int(users.min())}"
                       + (f" to {int(users.max())}" if users.max() != users.min() else ""))
with st.expander("What each model name stands for"):
    st.caption("A model with several settings among the selected runs is named by what differs; here is the rest.")
    _settings_table(comparison.variant_settings(runs))
    for variant, lines in comparison.fit_reports(runs, recorded).items():
        st.markdown(f"**What {variant} chose**, on the validation slices only:")
        st.text("\n".join(lines))
export = pd.concat([b.to_csv_frame() for b in boards]) if boards else pd.DataFrame()
st.download_button("Download leaderboards (CSV)", data=export.to_csv().encode(), file_name="leaderboard.csv",
                   mime="text/csv", key="download-csv", on_click="ignore")

figures: dict[str, go.Figure] = {}
if headline is not None:
    st.subheader("Charts")
    per_user = comparison.load_per_user(runs)
    chart_data = compare_charts.CompareData(runs, metrics, per_user, recorded, headline, families, k, slices)
    figures |= compare_charts.chart_tabs(chart_data)
    run_key = comparison.results_key(runs)
    onboarding_drawn = onboarding_view.onboarding_section(run_key, per_user, headline)
    fairness_drawn = fairness_view.fairness_section(run_key, runs, per_user, headline, k, slices)
    figures |= (onboarding_drawn or {}) | (fairness_drawn or {})
    paired_open, paired_figure, paired = paired_view.paired_section(runs, per_user, metrics, metric_names, slices)
    if paired_figure is not None:
        figures["paired"] = paired_figure
else:
    paired_open, paired = False, {}

report = ComparisonReport(runs=runs, leaderboards=boards, figures=figures, paired=paired)
kept = compare_charts.kept_choices()


def _report_html() -> str:
    """The report, with the charts of closed tabs and sections computed now, at the reader's last choices (a section
    never opened at its first ones)."""
    if headline is None:
        return comparison_report_html(report)
    shown = compare_charts.report_figures(chart_data, figures, kept) | figures
    if onboarding_drawn is None:
        shown |= onboarding_view.onboarding_figures(run_key, per_user, headline)
    if fairness_drawn is None:
        shown |= fairness_view.fairness_figures(run_key, runs, per_user, headline, k, slices)
    tables = report.paired
    if not paired_open:
        figure, tables = paired_view.paired_report(runs, per_user, metrics, metric_names, slices)
        shown |= {"paired": figure} if figure is not None else {}
    return comparison_report_html(replace(report, figures=shown, paired=tables))


st.download_button("Download the whole comparison (HTML report)", data=_report_html,
                   file_name="comparison.html", mime="text/html", key="download-report", on_click="ignore")
