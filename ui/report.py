"""The whole comparison as one self-contained HTML file: runs, leaderboards per slice, charts, paired tests.

plotly.js is embedded once, so the file opens offline and can be mailed or archived next to a paper draft.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pandas as pd
import plotly.graph_objects as go

from engine.analysis.comparison import Leaderboard

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.3rem 0.6rem; text-align: left; }
th { background: #f4f4f4; }
td.best { background: #c8e6c9; font-weight: bold; }
td.na { color: #888; font-style: italic; }
"""


@dataclass
class ComparisonReport:
    """What the Compare page shows: the chosen runs, a leaderboard per slice, charts, optional paired tables."""

    runs: pd.DataFrame
    leaderboards: list[Leaderboard]
    figures: dict[str, go.Figure] = field(default_factory=dict)
    paired: dict[str, pd.DataFrame] = field(default_factory=dict)


def _leaderboard_table(board: Leaderboard) -> str:
    cells = board.display()
    header = "".join(f"<th>{html.escape(c)}</th>" for c in ["model", *cells.columns])
    rows = []
    for variant, row in cells.iterrows():
        tds = [f"<th>{html.escape(str(variant))}</th>"]
        for metric, text in row.items():
            css = "best" if variant in board.best.get(metric, []) else "na" if variant in board.not_applicable else ""
            tds.append(f'<td class="{css}">{html.escape(str(text))}</td>')
        rows.append(f"<tr>{''.join(tds)}</tr>")
    return f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def comparison_report_html(report: ComparisonReport) -> str:
    """Render `report` as a standalone HTML page (plotly.js inline once, tables as plain HTML)."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    runs = report.runs[["run_id", "variant", "dataset", "experiment", "protocol", "seed", "device", "fit_seconds",
                        "eval_seconds"]]
    parts = [f"<h1>Cold-Start Lab comparison</h1><p>Generated {stamp}. Each number was read from the run's "
             "recorded evaluation. One run: mean [95% bootstrap CI]; several seeds: mean ± standard deviation.</p>",
             "<h2>Runs</h2>", runs.to_html(index=False, float_format=lambda v: f"{v:.3f}", border=0)]
    parts.append("<h2>Leaderboards</h2>")
    for board in report.leaderboards:
        parts.append(f"<h3>{html.escape(board.slice)}</h3>{_leaderboard_table(board)}")
    if report.paired:
        parts.append("<h2>Paired comparisons</h2>")
        for title, table in report.paired.items():
            parts.append(f"<h3>{html.escape(title)}</h3>"
                         + table.to_html(index=False, float_format=lambda v: f"{v:.4f}", border=0))
    if report.figures:
        parts.append("<h2>Charts</h2>")
        for position, figure in enumerate(report.figures.values()):
            parts.append(figure.to_html(full_html=False, include_plotlyjs=position == 0))
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Cold-Start Lab comparison</title>"
            f"<style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>")
