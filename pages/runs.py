"""Runs: every training run of every experiment, live, with failure reasons and the traceback behind each."""

from __future__ import annotations

import streamlit as st

from ui.training import live_runs_view

st.title("Runs")
st.caption("Everything queued, running or finished, newest first; the view follows running runs by itself. "
           "Closing the browser stops nothing: training happens in background workers.")
live_runs_view()
