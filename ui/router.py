"""Keep every page behind app.py's router, even when a fresh server's first visitor opens a page's own URL."""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


def require_router() -> None:
    """Rerun through app.py when Streamlit ran this page file on its own.

    A `pages/` folder beside the main script makes Streamlit start in its legacy mode, where a first visit to
    `/compare` runs `pages/compare.py` directly: no wide layout, no database check, no worker, file names in the
    sidebar. The first `st.navigation` call switches legacy mode off for every session, so a page that finds it still
    on switches it off and reruns; the rerun keeps the page and its query parameters.
    """
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
