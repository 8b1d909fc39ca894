"""List-valued settings on the Train form: auto's candidate models as a multi-select of model names, other lists
(layer widths) as comma-separated text checked by the model's own config; what is chosen is what the run stores."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from engine.jobs.queue import list_runs
from tests.unit.jobs_support import empty_experiment


def _panel(experiment_id: int) -> None:
    from ui.training import training_panel

    training_panel(experiment_id)


@pytest.fixture
def experiment(coldstart_home) -> int:
    return empty_experiment()


def _open(experiment_id: int) -> AppTest:
    return AppTest.from_function(_panel, args=(experiment_id,), default_timeout=60).run()


def test_auto_queued_with_two_chosen_candidates_stores_exactly_those(experiment):
    app = _open(experiment)
    candidates = app.multiselect(key="train-auto-candidates")
    assert "Content (attributes) (content)" in candidates.options  # model names read as their labels
    assert not any("fixed at its default" in caption.value for caption in app.caption)
    for name in list(candidates.value):
        candidates.unselect(name)
    candidates.select("content").select("mostpop")
    app.button[0].click().run()
    assert not app.exception
    (run,) = list_runs(experiment)
    assert (run.model, run.params["candidates"]) == ("auto", ["content", "mostpop"])


def test_auto_with_no_candidate_left_is_refused_under_the_field_and_nothing_is_queued(experiment):
    app = _open(experiment)
    candidates = app.multiselect(key="train-auto-candidates")
    for name in list(candidates.value):
        candidates.unselect(name)
    app.button[0].click().run()
    assert "Candidate models: List should have at least 1 item" in app.error[0].value
    assert list_runs(experiment) == []


def test_layer_widths_are_typed_as_comma_separated_numbers_and_reach_the_run(experiment):
    app = _open(experiment)
    app.multiselect[0].unselect("auto").select("deepfm").run()
    layers = app.text_input(key="train-deepfm-mlp_layers")
    assert layers.value == "128, 64"
    layers.set_value("32, 16")
    app.button[0].click().run()
    assert not app.exception
    (run,) = list_runs(experiment)
    assert run.params["mlp_layers"] == [32, 16]


def test_a_layer_width_that_is_not_a_number_is_refused_saying_which_and_how_to_write_it(experiment):
    app = _open(experiment)
    app.multiselect[0].unselect("auto").select("deepfm").run()
    app.text_input(key="train-deepfm-mlp_layers").set_value("32, wide")
    app.button[0].click().run()
    message = app.error[0].value
    assert "MLP layers: item 2: Input should be a valid integer" in message
    assert "Write the values separated by commas, e.g. 128, 64." in message
    assert list_runs(experiment) == []
