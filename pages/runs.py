"""Runs: every training run of every experiment, live, with failure reasons and the traceback behind each."""

from __future__ import annotations

import streamlit as st

from ui.router import require_router
from ui.serving_panel import forgotten_runs_notice
from ui.training import live_runs_view

require_router()

st.title("Runs")
st.caption("Everything queued, running or finished, newest first; the view follows running runs by itself. "
           "Closing the browser stops nothing: training happens in background workers.")
forgotten_runs_notice()
live_runs_view()
