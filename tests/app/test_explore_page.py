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
    experiment_id = runs[0]
    assert app.selectbox(key=f"explore-slice-{experiment_id}").value == "cold-user"
    assert any("Not applicable: ItemKNN cannot score users" in i.value for i in app.tabs[0].info)
    assert len([d for d in app.tabs[0].dataframe if "rank" in d.value.columns]) == 2
    app.selectbox(key=f"explore-slice-{experiment_id}").select("warm").run()
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


def test_a_new_user_who_liked_every_item_is_told_nothing_is_left_to_list(runs):
    app = _open()
    liked = app.multiselect(key="new-user-liked")
    liked.set_value([option.rsplit("(", 1)[1].rstrip(")") for option in liked.options])  # "Select all": "title (id)"
    app.tabs[1].button[0].click().run()
    assert not app.exception
    left = [i.value for i in app.tabs[1].info if i.value.startswith("Nothing left to list")]
    assert len(left) == 3  # every model folds the likes in, and none has an item left to show
    assert not [d for d in app.tabs[1].dataframe if "rank" in d.value.columns]


def test_new_item_form_lists_the_users_a_content_model_would_show_it_to(runs):
    app = _open()
    app.selectbox(key="new-item-category").select("toys")
    app.tabs[2].button[0].click().run()
    assert not app.exception
    audiences = [d.value for d in app.tabs[2].dataframe if "user_id" in d.value.columns]
    assert len(audiences) == 1 and len(audiences[0]) == 10
    assert sum("Not applicable" in i.value for i in app.tabs[2].info) == 2


@pytest.fixture(scope="module")
def two_experiments(tmp_path_factory):
    from engine.data.synthetic import generate_synthetic

    with pytest.MonkeyPatch.context() as patch, isolated_database(patch, tmp_path_factory.mktemp("explore-two")):
        first = finished_runs(("mostpop", "content"), dataset=generate_synthetic(60, 40, 900, seed=1))
        other = generate_synthetic(60, 40, 900, seed=2)
        other.name = "another shop"
        second = finished_runs(("mostpop", "content"), protocol="cold-item", dataset=other)
        yield first, second


def test_switching_experiments_opens_the_other_experiments_runs(two_experiments):
    """The page opens on the newest experiment; picking another one left 'Models (finished runs)' empty and the page
    at 'Pick at least one run.', the runs of the first experiment being no options of the second."""
    (first, first_runs), (second, second_runs) = two_experiments
    def picked(app: AppTest) -> list[int]:
        return sorted(next(m for m in app.multiselect if m.label == "Models (finished runs)").value)

    app = _open()
    assert app.selectbox(key="explore-experiment").value == second
    assert picked(app) == sorted(second_runs)
    next(s for s in app.selectbox if s.label == "Slice").select("warm").run()
    app.selectbox(key="explore-experiment").select(first).run()
    assert not app.exception
    assert picked(app) == sorted(first_runs)
    assert not [i.value for i in app.info if "Pick at least one run" in i.value]
    # the first experiment (cold-user) opens on new users, not on the 'warm' picked in the other experiment
    assert next(s for s in app.selectbox if s.label == "Slice").value == "cold-user"


def test_a_run_whose_saved_model_does_not_load_is_named_and_the_other_models_still_answer(tmp_path):
    """One unloadable run among those picked stopped the page: no model answered at all."""
    import json

    from engine.settings import get_settings

    with pytest.MonkeyPatch.context() as patch, isolated_database(patch, tmp_path / "home"):
        experiment_id, (mostpop, content) = finished_runs(("mostpop", "content"))
        saved = get_settings().run_dir(mostpop) / "model.json"
        saved.write_text(json.dumps({**json.loads(saved.read_text()), "config": {"no_such_setting": 1}}))
        app = _open()
        assert not app.exception
        assert [e.value for e in app.error] == [next(e.value for e in app.error)]
        assert f"run {mostpop} (mostpop): its saved model does not load" in app.error[0].value
        lists = [d.value for d in app.tabs[0].dataframe if "rank" in d.value.columns]
        assert len(lists) == 1 and len(lists[0]) == 10  # Content answers for the test user


def test_a_new_user_on_data_without_user_attributes_is_told_so_and_given_the_evidence_there_is(tmp_path):
    """On data without user attributes the form asked to describe a user with nothing to describe them by, and a
    new user who liked nothing got lists whose every 'why' was empty."""
    import dataclasses

    from engine.data.synthetic_kinds import generate_kind

    with pytest.MonkeyPatch.context() as patch, isolated_database(patch, tmp_path / "home"):
        tags = dataclasses.replace(generate_kind("tags", 80, 60, 1500, seed=0), name="bookmarks")
        finished_runs(("mostpop", "content"), protocol="cold-item", dataset=tags)
        app = _open()
        assert not app.exception
        assert any(c.value.startswith("'bookmarks' has no user attributes, so a new user is known only by the items "
                                      "they liked") for c in app.tabs[1].caption)
        app.tabs[1].button[0].click().run()
        assert not app.exception
        lists = [d.value for d in app.tabs[1].dataframe if "rank" in d.value.columns]
        assert len(lists) == 2 and all(t["why"].str.startswith("liked by ").all() for t in lists)
