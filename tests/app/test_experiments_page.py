"""The Experiments page with a seeded database: sizes before training, experiments stored and listed, export."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.data.catalog import save_dataset
from engine.data.synthetic import generate_synthetic
from engine.runs.experiments import create_experiment, list_experiments, load_split

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")


@pytest.fixture
def dataset_id(coldstart_home, monkeypatch) -> int:
    monkeypatch.setenv("COLDSTART_AUTOSTART_WORKER", "0")
    return save_dataset(generate_synthetic(70, 45, 1800, seed=4), "tiny shop", "synthetic")


def _open() -> AppTest:
    return AppTest.from_file(APP, default_timeout=90).switch_page("pages/experiments.py").run()


def _button(app: AppTest, label: str):
    return next(b for b in app.button if b.label == label)


def test_without_datasets_the_page_points_to_the_data_page(coldstart_home, monkeypatch):
    monkeypatch.setenv("COLDSTART_AUTOSTART_WORKER", "0")
    app = _open()
    assert not app.exception
    assert any("No datasets yet" in i.value for i in app.info)


def test_preview_shows_slice_sizes_before_anything_is_stored(dataset_id):
    app = _open()
    app.selectbox(key="experiment-protocol").set_value("cold-item").run()
    _button(app, "Preview slice sizes").click().run()
    assert not app.exception and not app.error
    table = app.dataframe[0].value
    assert {"cold-item", "cold-item-all", "warm", "overall"} <= set(table["slice"])
    assert list_experiments(dataset_id) == []


def test_creating_an_experiment_stores_its_split_and_lists_it(dataset_id):
    app = _open()
    app.selectbox(key="experiment-protocol").set_value("cold-user").run()
    app.number_input(key="protocol-cold-user-cold_fraction").set_value(0.3)
    app.number_input(key="experiment-seed").set_value(7)
    _button(app, "Create experiment").click().run()
    assert not app.exception and not app.error
    (experiment,) = list_experiments(dataset_id)
    assert experiment.protocol == "cold-user" and experiment.seed == 7 and experiment.params["cold_fraction"] == 0.3
    assert experiment.name == "tiny shop · cold-user · seed 7", "the automatic name follows protocol and seed"
    assert load_split(experiment.id).fingerprint == experiment.fingerprint
    assert any("cold-user" in set(frame.value.get("slice", [])) for frame in app.dataframe
               if "slice" in frame.value.columns)


def test_a_name_the_user_typed_is_kept_whatever_the_protocol(dataset_id):
    app = _open()
    app.text_input(key="experiment-name").input("  my first split  ").run()
    app.selectbox(key="experiment-protocol").set_value("cold-item").run()
    _button(app, "Create experiment").click().run()
    assert not app.exception and not app.error
    assert [e.name for e in list_experiments(dataset_id)] == ["my first split"]

def test_bad_protocol_parameters_show_a_specific_error_and_store_nothing(dataset_id):
    app = _open()
    app.selectbox(key="experiment-protocol").set_value("few-shot-user").run()
    app.text_input(key="protocol-few-shot-user-shots").set_value("1,2,x")
    _button(app, "Create experiment").click().run()
    assert not app.exception
    assert any("shots" in e.value for e in app.error)
    assert list_experiments(dataset_id) == []


def test_chosen_experiment_shows_its_sizes_and_offers_its_split_for_download(dataset_id):
    experiment_id = create_experiment(dataset_id, "warm", {}, seed=1, name="warm one")
    app = _open()
    assert not app.exception and not app.error
    assert app.selectbox(key="experiment-chosen").value == experiment_id
    sizes = next(frame.value for frame in app.dataframe if "slice" in frame.value.columns)
    assert set(sizes["slice"]) == {"train", "warm", "overall"}
    (download,) = app.get("download_button")
    assert "Export the split" in download.proto.label and download.proto.url


def test_the_training_part_of_the_page_has_one_heading_per_part_not_a_heading_over_a_heading(dataset_id):
    create_experiment(dataset_id, "warm", {}, seed=1, name="warm one")
    app = _open()
    assert not app.exception
    assert [heading.value for heading in app.subheader] == ["Train", "Runs"]


def test_the_onboarding_strategies_pick_takes_the_form_s_width_and_reaches_the_experiment(dataset_id):
    app = _open()
    app.selectbox(key="experiment-protocol").set_value("onboarding").run()
    picker = app.multiselect(key="protocol-onboarding-strategies")
    # not squeezed into one of the narrow parameter columns, where six chips were cut to unreadable slivers
    assert any("protocol-onboarding-steps" in {w.key for w in column.text_input} for column in app.columns)
    assert all(picker.key not in {w.key for w in column.multiselect} for column in app.columns)
    picker.set_value(["random", "popularity"]).run()
    _button(app, "Create experiment").click().run()
    assert not app.exception and not app.error
    (experiment,) = list_experiments(dataset_id)
    assert load_split(experiment.id).params["strategies"] == ["random", "popularity"]


def test_new_users_without_user_attributes_are_flagged_before_training(coldstart_home, monkeypatch):
    """A dataset without a user table, split cold-user: the page offered SegmentPopular and Content as serving
    'new users (attributes)', and the leaderboard later showed them tied with MostPopular, with no word on why."""
    monkeypatch.setenv("COLDSTART_AUTOSTART_WORKER", "0")
    shop = generate_synthetic(70, 45, 1800, seed=4)
    shop.users, shop.user_kinds = None, {}
    dataset_id = save_dataset(shop, "shop without users", "synthetic")
    app = _open()
    app.selectbox(key="experiment-protocol").set_value("cold-item").run()
    assert not app.warning, "items have attributes: nothing to flag"
    app.selectbox(key="experiment-protocol").set_value("cold-user").run()
    assert [w.value for w in app.warning if "no user attributes" in w.value]
    create_experiment(dataset_id, "cold-both", None, 0)
    app = _open()
    notices = [w.value for w in app.warning]
    assert len(notices) == 1 and "no user attributes" in notices[0] and "few-shot-user" in notices[0]
