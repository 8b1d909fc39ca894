"""Explore: a person onboards a made-up user, one question at a time, and the lists change after each answer."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.analysis.explore import ExploreError, FittedRun, load_context, load_fitted_run
from engine.analysis.onboard import cannot_ask, next_question, recommendations_after
from engine.core.model import Capabilities
from engine.onboarding import LIKED, NEVER_SEEN, NOT_LIKED
from tests.databases import isolated_database
from tests.explore_seed import finished_runs

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch, isolated_database(patch, tmp_path_factory.mktemp("onboard-page")):
        yield finished_runs(("mostpop", "itemknn"))


def test_popularity_asks_the_most_liked_training_item_first_and_never_asks_twice(runs):
    experiment_id, (_, itemknn) = runs
    context = load_context(experiment_id)
    fitted = load_fitted_run(itemknn)
    first = next_question(context, fitted, "popularity", {})
    counts = context.split.train.groupby("item_id")["user_id"].nunique()
    assert counts[first] == counts.max()
    second = next_question(context, fitted, "popularity", {first: NEVER_SEEN})
    assert second != first and counts[second] <= counts[first]
    lists = recommendations_after(context, [fitted], {first: LIKED}, k=5)
    assert lists[0].not_applicable is None and first not in set(lists[0].table["item_id"])
    # an item the user did not like is not recommended back, even by a model that ranks it first for everybody
    mostpop = load_fitted_run(runs[1][0])
    assert first in set(recommendations_after(context, [mostpop], {}, k=5)[0].table["item_id"])
    assert first not in set(recommendations_after(context, [mostpop], {first: NOT_LIKED}, k=5)[0].table["item_id"])


def test_a_model_that_cannot_fold_in_new_users_cannot_ask_model_driven_questions(runs):
    experiment_id, (_, itemknn) = runs
    context = load_context(experiment_id)
    fitted = load_fitted_run(itemknn)

    class WarmOnly(type(fitted.model)):
        capabilities = Capabilities()

    blind = FittedRun(fitted.run_id, "warm-only", "Warm only", fitted.family, WarmOnly(fitted.model.config))
    with pytest.raises(ExploreError, match="pick a model that folds in new users"):
        next_question(context, blind, "ranking-impact", {})
    with pytest.raises(ExploreError, match="not training items"):
        next_question(context, fitted, "popularity", {"no-such-item": LIKED})


def test_answering_a_question_updates_the_lists_and_marks_what_is_new(runs):
    app = AppTest.from_file(APP, default_timeout=90).switch_page("pages/explore.py").run()
    assert not app.exception
    tab = app.tabs[3]
    assert tab.label == "Onboard a new user"
    app.selectbox(key="onboard-strategy").select("popularity").run()
    assert "Question 1" in "".join(m.value for m in app.tabs[3].markdown)
    # before any answer ItemKNN has no history to fold in and says so; MostPop answers
    assert any("Not applicable" in i.value for i in app.tabs[3].info)
    app.button(key="onboard-answer-1").click().run()
    assert not app.exception
    texts = "".join(m.value for m in app.tabs[3].markdown)
    assert "Question 2" in texts and "Answers so far** (1 of 1" in texts
    lists = [d.value for d in app.tabs[3].dataframe if "rank" in d.value.columns]
    assert len(lists) == 2
    # each list marks what entered it with the answer: ItemKNN had no list before, so all of its items are new
    assert all("new" in table.columns for table in lists)
    assert any(table["new"].all() for table in lists)


def test_the_asking_model_opens_on_the_first_run_that_can_fold_in_answers(tmp_path):
    with pytest.MonkeyPatch.context() as patch, isolated_database(patch, tmp_path):
        experiment_id, (itemknn, neumf) = finished_runs(("itemknn", "neumf"), protocol="warm")  # newest first
        context = load_context(experiment_id)
        assert cannot_ask(context, load_fitted_run(neumf)) == "NeuMF cannot fold in new users from a few interactions"
        assert cannot_ask(context, load_fitted_run(itemknn)) is None
        app = AppTest.from_file(APP, default_timeout=90).switch_page("pages/explore.py").run()
        assert not app.exception
        assert app.multiselect(key=f"explore-runs-{experiment_id}").value == [neumf, itemknn]  # NeuMF is listed first...
        assert app.selectbox(key="onboard-asker").value == itemknn  # ...but cannot ask, so ItemKNN does
        assert "Question 1" in "".join(m.value for m in app.tabs[3].markdown)
        assert not app.tabs[3].error
