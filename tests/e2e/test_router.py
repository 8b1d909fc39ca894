"""A page's own URL, opened first on a fresh server, still goes through app.py's router."""

from __future__ import annotations

import pytest

from tests.databases import fresh_database_url
from tests.e2e.conftest import serve_app

pytestmark = pytest.mark.e2e


def test_first_visit_to_a_page_url_on_a_fresh_server_gets_the_router_and_keeps_the_query(browser, app_env, tmp_path):
    from playwright.sync_api import expect

    # a database of its own too: on PostgreSQL app_env's is shared with other tests, whose runs 4 and 7 the page
    # would select and put back into the link in its own order
    with fresh_database_url() as database, serve_app(
            app_env | {"COLDSTART_HOME": str(tmp_path / "home")} | ({"DATABASE_URL": database} if database else {}),
            tmp_path / "streamlit.log") as url:
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        context.set_default_timeout(60_000)
        tab = context.new_page()
        tab.goto(f"{url}/compare?runs=4,7")
        nav = tab.get_by_test_id("stSidebarNav")
        # the router's page titles, not the legacy page list of file names ("app", "compare", ...)
        expect(nav.get_by_text("Experiments", exact=True)).to_be_visible(timeout=60_000)
        expect(nav.get_by_text("app", exact=True)).to_have_count(0)
        expect(tab.get_by_role("heading", name="Compare runs")).to_be_visible()
        assert tab.url.endswith("/compare?runs=4,7")
        context.close()


def test_home_url_lands_on_home_at_the_root_without_a_page_not_found_dialog(page, app_url):
    from playwright.sync_api import expect

    page.goto(f"{app_url}/home")
    expect(page.get_by_role("heading", name="Cold-Start Lab")).to_be_visible()
    expect(page).to_have_url(f"{app_url}/")
    # one Home entry in the sidebar: the /home alias is hidden from the menu
    expect(page.get_by_test_id("stSidebarNav").get_by_text("Home", exact=True)).to_have_count(1)
    expect(page.get_by_text("Page not found")).to_have_count(0)
