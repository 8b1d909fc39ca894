"""The Explore page with finished runs: a test user's lists side by side, a new user, a new item."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.databases import isolated_database
from tests.explore_seed import finished_runs

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch, isolated_database(patch, tmp_path_factory.mktemp("explore-page")):
        yield finished_runs(("mostpop", "itemknn", "content"))


def _open() -> AppTest:
    return AppTest.from_file(APP, default_timeout=90).switch_page("pages/explore.py").run()


def test_without_finished_runs_the_page_says_where_to_train(coldstart_home):
    app = _open()
    assert not app.exception
    assert "No finished runs yet" in app.info[0].value


def test_test_user_shows_history_and_one_list_per_model_with_not_applicable_explained(runs):
    app = _open()
    assert not app.exception
    assert [t.label for t in app.tabs] == ["A test user", "Try a new user", "Try a new item", "Onboard a new user"]
    # the page opens on the cold slice, where ItemKNN cannot answer and says why
    assert app.selectbox(key="explore-slice").value == "cold-user"
    assert any("Not applicable: ItemKNN cannot score users" in i.value for i in app.tabs[0].info)
    assert len([d for d in app.tabs[0].dataframe if "rank" in d.value.columns]) == 2
    app.selectbox(key="explore-slice").select("warm").run()
    assert not app.exception
    lists = [d.value for d in app.tabs[0].dataframe if "rank" in d.value.columns]
    assert len(lists) == 3 and all(len(t) == 10 for t in lists)


def test_new_user_form_answers_with_models_that_serve_new_users(runs):
    app = _open()
    app.selectbox(key="new-user-occupation").select("student")
    app.tabs[1].button[0].click().run()
    assert not app.exception
    lists = [d.value for d in app.tabs[1].dataframe if "rank" in d.value.columns]
    assert len(lists) == 2 and all(len(t) == 10 for t in lists)


def test_new_item_form_lists_the_users_a_content_model_would_show_it_to(runs):
    app = _open()
    app.selectbox(key="new-item-category").select("toys")
    app.tabs[2].button[0].click().run()
    assert not app.exception
    audiences = [d.value for d in app.tabs[2].dataframe if "user_id" in d.value.columns]
    assert len(audiences) == 1 and len(audiences[0]) == 10
    assert sum("Not applicable" in i.value for i in app.tabs[2].info) == 2
