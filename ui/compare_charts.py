"""Compare's chart tabs: each tab's widgets and figure, written once for the page and for the HTML report.

The page computes and sends only the open tab (a fresh server's first draw was nine figures, most never looked at,
and the browser drew all of them); the report builds the other tabs' figures when it is downloaded. A tab draws
through a `TabView`: on the page its widgets are Streamlit widgets, for the report each widget answers with the
choice the reader last made in that tab (its first choice when the tab was never opened), so the report shows the
charts the reader saw.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from engine.analysis import comparison
from engine.data.catalog import get_dataset_info, load_dataset
from engine.data.errors import DataError
from engine.metrics.document import RunResults
from engine.metrics.names import BEYOND_ACCURACY
from ui import charts

TAB_KEY = "chart-tab"
CHOICES_KEY = "chart-choices"
"""Session-state entry holding each tab widget's last choice: Streamlit forgets a widget's value while its tab is
closed (the widget is not drawn), and the reader expects a tab to reopen as they left it."""

T = TypeVar("T")


@dataclass(frozen=True)
class CompareData:
    """What every chart tab reads: the selected runs, what they recorded, the headline metric and the slices."""

    runs: pd.DataFrame
    metrics: pd.DataFrame
    per_user: pd.DataFrame
    recorded: list[RunResults | None]
    headline: str
    families: list[str]
    k: int | None
    slices: list[str]


@dataclass
class TabView:
    """Where a tab draws: the page (`shown`), or nowhere when the report builds a closed tab's figure; `kept` are
    the choices remembered per widget key."""

    shown: bool
    kept: dict[str, Any] = field(default_factory=dict)

    def _choose(self, key: str, options: Sequence[T], index: int, widget: Callable[[int], T]) -> T:
        if self.kept.get(key) in options:
            index = list(options).index(self.kept[key])
        value = widget(index) if self.shown else options[index]
        self.kept[key] = value
        return value

    def _remember(self, key: str) -> None:
        """A widget's new value, kept as soon as it reaches the server: a rerun that the change starts can be cut
        short by the next click (another tab), which would not draw this widget and so never keep the value."""
        self.kept[key] = st.session_state[key]

    def selectbox(self, label: str, options: list[T], index: int, key: str) -> T:
        return self._choose(key, options, index, lambda i: st.selectbox(
            label, options, index=i, key=key, on_change=self._remember, args=(key,)))

    def radio(self, label: str, options: Sequence[T], index: int, key: str) -> T:
        return self._choose(key, options, index, lambda i: st.radio(
            label, options, index=i, horizontal=True, key=key, on_change=self._remember, args=(key,)))

    def multiselect(self, label: str, options: list[str], default: list[str], key: str, help: str) -> list[str]:
        kept = [o for o in self.kept.get(key) or [] if o in options]
        chosen = kept or default  # slices of another selection, or none left: the protocol's own again
        if self.shown:
            chosen = st.multiselect(label, options, default=chosen, key=key, help=help, on_change=self._remember,
                                    args=(key,))
        self.kept[key] = list(chosen)
        return list(chosen)

    def info(self, text: str) -> None:
        if self.shown:
            st.info(text)

    def chart(self, figure: go.Figure, name: str) -> None:
        if self.shown:
            show_chart(figure, name)


def show_chart(figure: go.Figure, name: str) -> None:
    """A chart plus its HTML download; PNG comes from the chart's own toolbar (camera icon), drawn by the browser."""
    st.plotly_chart(figure, key=f"chart-{name}")
    st.download_button("Download chart (HTML)", data=lambda: charts.figure_html(figure), file_name=f"{name}.html",
                       mime="text/html", key=f"download-{name}", on_click="ignore")


def _by_slice(data: CompareData, view: TabView) -> go.Figure:
    """The headline metric on the slices the reader picks, the protocol's own ones unless they add others: an
    onboarding run records a slice per strategy and number of questions, 33 groups of bars when all are drawn."""
    overview = comparison.slice_overview(data.metrics, data.headline)
    options = list(dict.fromkeys(overview["slice"]))
    primary = [name for name in data.slices if name in options] or options
    chosen = view.multiselect("Slices", options, primary, "by-slice-slices",
                              help="The protocol's slices are drawn first. Onboarding slices (a sign-up strategy "
                                   "after k questions) get a panel per strategy; the Onboarding section below draws "
                                   "them as curves.")
    figure = charts.slice_bars(overview.loc[overview["slice"].isin(chosen)], data.headline,
                               left_out=len(options) - len(chosen))
    view.chart(figure, "by-slice")
    return figure


def _cold_start_curve(data: CompareData, view: TabView) -> go.Figure:
    sides = comparison.cold_start_sides(data.slices)  # open on a side with data: a cold-item run has no user curve
    side = view.radio("New", comparison.CURVE_SIDES,
                      comparison.CURVE_SIDES.index(sides[0]) if sides else 0, "curve-side")
    curve = comparison.cold_start_curve(data.metrics, data.headline, side)
    if set(curve["k"]) == {0}:  # one point per model is no curve: say how to get one
        view.info(f"These runs were scored on new {side}s with no interactions only (k = 0), so each model is one "
                  f"point. To see how quality grows as a new {side} gets its first interactions, create an "
                  f"experiment with the few-shot-{side} protocol (Experiments page): it reveals k = 1, 2, 3, 5 and "
                  f"10 interactions per new {side}.")
    figure = charts.cold_start_curve_chart(curve, data.headline, side)
    view.chart(figure, "cold-start-curve")
    return figure


def _slice_choice(data: CompareData, view: TabView, key: str) -> str:
    """A tab's slice picker, opening on the first cold-start slice."""
    return view.selectbox("Slice", data.slices, comparison.first_cold_slice(data.slices), key)


def _history_length(data: CompareData, view: TabView) -> go.Figure:
    chosen = _slice_choice(data, view, "bucket-slice")
    figure = charts.bucket_chart(comparison.history_buckets(data.per_user, data.headline, chosen), data.headline)
    view.chart(figure, "history-length")
    return figure


def _per_user(data: CompareData, view: TabView) -> go.Figure:
    chosen = _slice_choice(data, view, "spread-slice")
    kind = view.radio("Draw as", ["box", "violin"], 0, "spread-kind")
    figure = charts.distribution_chart(comparison.per_user_values(data.per_user, data.headline, chosen),
                                       data.headline, kind)
    view.chart(figure, "per-user")
    return figure


def _cost(data: CompareData, view: TabView) -> go.Figure:
    chosen = _slice_choice(data, view, "cost-slice")
    figure = charts.pareto_chart(comparison.quality_vs_cost(data.runs, data.metrics, data.headline, chosen),
                                 data.headline)
    view.chart(figure, "quality-vs-time")
    return figure


def _training(data: CompareData, view: TabView) -> go.Figure:
    figure = charts.training_curves_chart(comparison.load_training_curves(data.runs))
    view.chart(figure, "training-curves")
    return figure


def _tuning(data: CompareData, view: TabView) -> go.Figure:
    """Every trial of the tuned runs: score against trial, the kept trial marked, the trials table and a CSV."""
    trials = comparison.load_trials(data.runs, data.recorded)
    metric = next((entry.tuning.metric for entry in data.recorded if entry is not None and entry.tuning is not None),
                  "score")
    figure = charts.tuning_trials_chart(trials, metric, comparison.tuning_notes(data.runs, data.recorded))
    view.chart(figure, "tuning")
    if view.shown and not trials.empty:
        st.caption("Each model searched its own space with the same budget, scored on the validation slice only; "
                   "the kept trial (a star; its settings in the leaderboard's details) was scored once on test: the "
                   "best one, or the model's defaults when no trial beat them by more than one standard error. "
                   "Stopped trials fell behind the median on their validation curve, or could not be fitted.")
        st.dataframe(trials, hide_index=True, key="tuning-trials")
        st.download_button("Download the trials (CSV)", data=trials.to_csv(index=False).encode(),
                           file_name="trials.csv", mime="text/csv", key="download-trials", on_click="ignore")
    return figure


def _beyond_accuracy(data: CompareData, view: TabView) -> go.Figure:
    chosen = _slice_choice(data, view, "beyond-slice")
    names = comparison.metric_columns(data.metrics, [f for f in data.families if f in BEYOND_ACCURACY], data.k)
    figure = charts.beyond_accuracy_chart(comparison.metrics_on_slice(data.metrics, names, chosen))
    view.chart(figure, "beyond-accuracy")
    return figure


@st.cache_data(show_spinner=False)
def _users_table(dataset_id: int, fingerprint: str) -> pd.DataFrame | None:
    """The users table of a stored dataset (for quality by user group); None when it has no user attributes.

    Cached per content: an id alone can name another dataset later (SQLite reuses the id of a deleted row)."""
    return load_dataset(dataset_id).users


def _user_groups(data: CompareData, view: TabView) -> go.Figure | None:
    """Quality by user attribute; runs of one dataset only, since groups come from that dataset's users table."""
    runs = data.runs
    if runs["dataset_id"].nunique() != 1:
        view.info("Quality by user group needs runs of one dataset: narrow the selection to a single dataset.")
        return None
    try:
        dataset_id = int(runs["dataset_id"].iloc[0])
        users = _users_table(dataset_id, get_dataset_info(dataset_id).fingerprint)
    except DataError as error:
        view.info(f"Cannot group users: {error}")
        return None
    attributes = [c for c in users.columns if c != "user_id"] if users is not None else []
    if not attributes:
        view.info("This dataset has no user attributes (such as gender or age) to group users by.")
        return None
    attribute = view.selectbox("User attribute", attributes, 0, "group-attribute")
    chosen = _slice_choice(data, view, "group-slice")
    figure = charts.group_chart(comparison.user_groups(data.per_user, data.headline, chosen, users, attribute),
                                data.headline, attribute)
    view.chart(figure, "user-groups")
    return figure


@dataclass(frozen=True)
class ChartTab:
    """One tab: its title, the name of its figure (file name, report key) and how it draws."""

    title: str
    name: str
    draw: Callable[[CompareData, TabView], go.Figure | None]


CHART_TABS = (ChartTab("By slice", "by-slice", _by_slice),
              ChartTab("Cold-start curve", "cold-start-curve", _cold_start_curve),
              ChartTab("History length", "history-length", _history_length),
              ChartTab("Per user", "per-user", _per_user),
              ChartTab("Cost", "quality-vs-time", _cost),
              ChartTab("Training", "training-curves", _training),
              ChartTab("Tuning", "tuning", _tuning),
              ChartTab("Beyond accuracy", "beyond-accuracy", _beyond_accuracy),
              ChartTab("User groups", "user-groups", _user_groups))


def chart_tabs(data: CompareData) -> dict[str, go.Figure]:
    """The tabs on the page, only the open one computed and drawn; returns its figure by name (none when it has
    nothing to draw)."""
    kept = st.session_state.setdefault(CHOICES_KEY, {})
    figures = {}
    for tab, chart in zip(st.tabs([c.title for c in CHART_TABS], key=TAB_KEY, on_change="rerun"), CHART_TABS):
        with tab:
            if tab.open:
                figure = chart.draw(data, TabView(shown=True, kept=kept))
                if figure is not None:
                    figures[chart.name] = figure
    return figures


def kept_choices() -> dict[str, Any]:
    """A copy of the tabs' remembered choices, for a report built later (at download) from this draw."""
    return dict(st.session_state.get(CHOICES_KEY, {}))


def report_figures(data: CompareData, drawn: dict[str, go.Figure], kept: dict[str, Any]) -> dict[str, go.Figure]:
    """Every tab's figure in tab order: the ones drawn on the page as they are, the others built now with the
    reader's last choices in them (`kept_choices`)."""
    figures = {}
    for chart in CHART_TABS:
        figure = drawn[chart.name] if chart.name in drawn else chart.draw(data, TabView(shown=False, kept=dict(kept)))
        if figure is not None:
            figures[chart.name] = figure
    return figures
