"""The train-and-watch panel of the Experiments page (owned by the job system)."""

from __future__ import annotations

import streamlit as st


def training_panel(experiment_id: int) -> None:
    """Pick models and hyper-parameters for an experiment, queue runs, and watch them live."""
    st.caption(f"Experiment {experiment_id}: training is being wired to the job system.")
