"""Keep every page behind app.py's router, even when a fresh server's first visitor opens a page's own URL."""

from __future__ import annotations

import runpy
from pathlib import Path

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

APP = Path(__file__).resolve().parents[1] / "app.py"


def require_router() -> None:
    """Run app.py's router in place of this page when Streamlit ran the page file on its own.

    A `pages/` folder beside the main script makes Streamlit start in its legacy mode, where a first visit to
    `/compare` runs `pages/compare.py` directly: no wide layout, no database check, no worker, file names in the
    sidebar. The first `st.navigation` call switches legacy mode off for every session. A page that finds it still on
    switches it off and runs app.py within this same script run (so a click or an upload that triggered the run is
    not lost), which renders this page through the router; then it stops, so the page is not drawn twice.
    """
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        runpy.run_path(str(APP), run_name="__main__")
        st.stop()
