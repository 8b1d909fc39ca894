"""Keep every page behind app.py's router, even when a fresh server's first visitor opens a page's own URL.

A `pages/` folder beside the main script makes Streamlit start in its legacy mode, where a first visit to `/compare`
runs `pages/compare.py` directly: no wide layout, no database check, no worker, file names in the sidebar. The first
`st.navigation` call ends legacy mode for every session. So app.py runs its pages through `run_page`, which marks
the script run as routed, and each page starts with `require_router`: a page that finds its run unmarked runs
app.py in its place, within this same script run (so a click or an upload that triggered the run is not lost);
app.py's `st.navigation` ends legacy mode and renders this page through the router; then the unrouted run stops, so
the page is not drawn twice. Only public Streamlit calls are used.
"""

from __future__ import annotations

import runpy
from contextvars import ContextVar
from pathlib import Path

import streamlit as st
from streamlit.navigation.page import StreamlitPage

APP = Path(__file__).resolve().parents[1] / "app.py"
_ROUTED: ContextVar[bool] = ContextVar("routed_by_app", default=False)
"""True while app.py's router runs a page; each script run starts without it."""


def run_page(page: StreamlitPage) -> None:
    """Run the page `st.navigation` chose, marked as routed (app.py's last line)."""
    token = _ROUTED.set(True)
    try:
        page.run()
    finally:
        _ROUTED.reset(token)


def require_router() -> None:
    """Run app.py's router in place of this page when Streamlit ran the page file on its own (see the module doc)."""
    if not _ROUTED.get():
        runpy.run_path(str(APP), run_name="__main__")
        st.stop()
