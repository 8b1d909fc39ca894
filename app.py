"""Cold-Start Lab: the router. Sets up the page, the database and the shared sidebar, then runs the chosen page."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from engine.jobs.supervisor import SupervisorStartError, ensure_supervisor
from engine.settings import get_settings
from engine.store.db import get_engine
from ui.router import run_page

st.set_page_config(page_title="Cold-Start Lab", page_icon=":material/ac_unit:", layout="wide")


@st.cache_resource
def _database_ready() -> bool:
    """Create or migrate the schema once per server process."""
    get_engine()
    return True


_database_ready()


@st.cache_resource
def _background_worker() -> str | None:
    """Start the training worker once per server process when none is alive; what went wrong, if anything."""
    if not get_settings().autostart_worker:
        return None
    try:
        ensure_supervisor()
    except (SupervisorStartError, OSError, SQLAlchemyError) as error:
        return f"Training runs will wait in the queue: the background worker did not start ({error})."
    return None


if (worker_problem := _background_worker()) is not None:
    st.sidebar.warning(worker_problem, icon=":material/warning:")

HOME = st.Page("pages/home.py", title="Home", icon=":material/home:", url_path="", default=True)


def _home_alias() -> None:
    """Send /home to Home at the root URL: Streamlit serves the default page only at `/`, and an unknown path first
    shows a 'Page not found' dialog."""
    st.switch_page(HOME)


PAGES = [
    HOME,
    st.Page(_home_alias, title="Home", url_path="home", visibility="hidden"),
    st.Page("pages/data.py", title="Data", icon=":material/table:", url_path="data"),
    st.Page("pages/experiments.py", title="Experiments", icon=":material/science:", url_path="experiments"),
    st.Page("pages/runs.py", title="Runs", icon=":material/model_training:", url_path="runs"),
    st.Page("pages/compare.py", title="Compare", icon=":material/leaderboard:", url_path="compare"),
    st.Page("pages/explore.py", title="Explore", icon=":material/travel_explore:", url_path="explore"),
]

run_page(st.navigation(PAGES))
