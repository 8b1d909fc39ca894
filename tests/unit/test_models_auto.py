"""Auto: per kind of user and item, the candidate (or blend) that validates best, chosen on validation only."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pydantic
import pytest
import torch

from engine.core.data import TrainData
from engine.core.model import FitContext, Recommender
from engine.data.indexing import build_train_data, item_query, user_query
from engine.data.synthetic import generate_synthetic
from engine.data.synthetic_kinds import generate_kind
from engine.metrics.document import NotApplicable
from engine.metrics.evaluation import SliceValidator, evaluate, make_validator
from engine.models.auto import AutoRecommender, describe_choice
from engine.models.registry import create_model
from engine.runs.protocol_catalog import make_split
from engine.protocols.split import Split

CANDIDATES = ["random", "content", "itemknn", "mostpop"]
"""Random comes first, so a choice that is not random's was made on validation, not by the list's order."""
NEW_ITEMS = "known users, new items"
WARM = "known users, known items"


@dataclass
class PlantedSplit:
    split: Split
    train: TrainData
    validator: SliceValidator


@lru_cache(maxsize=None)
def planted(protocol: str = "cold-item") -> PlantedSplit:
    """Genres drive taste, so attributes find new items and co-occurrence finds warm ones."""
    dataset = generate_kind("genres", n_users=300, n_items=300, n_interactions=9000, seed=0)
    split = make_split(dataset, protocol, seed=1)
    train = build_train_data(split.train, dataset)
    return PlantedSplit(split, train, make_validator(train, split))


@lru_cache(maxsize=None)
def fitted_auto(blend_size: int = 3, candidates: tuple[str, ...] = tuple(CANDIDATES),
                held_out_folds: int = 3) -> Recommender:
    world = planted()
    config = {"candidates": list(candidates), "blend_size": blend_size, "held_out_folds": held_out_folds}
    return create_model("auto", config, seed=0).fit(world.train, FitContext(validator=world.validator))


def test_auto_serves_new_items_from_attributes_and_warm_users_from_collaborative_filtering() -> None:
    choice = fitted_auto(blend_size=1).choice["kinds"]
    assert choice[NEW_ITEMS]["use"] == {"content": 1.0}
    assert choice[NEW_ITEMS]["slice"] == "cold-item"
    assert choice[WARM]["use"] == {"itemknn": 1.0}
    assert choice[WARM]["slice"] == "warm"
    assert set(choice[WARM]["scores"]) == set(CANDIDATES)


def test_on_the_validation_slice_alone_auto_validates_at_least_as_well_as_its_best_candidate() -> None:
    world = planted()
    best = max(world.validator(create_model(name, seed=0).fit(world.train, FitContext(validator=world.validator)))
               for name in CANDIDATES)
    assert world.validator(fitted_auto(held_out_folds=0)) >= best - 1e-9


def test_new_items_are_compared_on_the_validation_slice_and_folds_of_training_items_held_out_as_new() -> None:
    world = planted()
    entry = fitted_auto(blend_size=1).choice["kinds"][NEW_ITEMS]
    slice_items = world.split.valid[0].truth["item_id"].nunique()
    assert entry["held_out"] == {"folds": 3, "of": "items", "count": 3 * slice_items}
    assert "on cold-item and 3 held-out folds (" in describe_choice(fitted_auto(blend_size=1).choice)[0]
    # each candidate's score pools the slice's users with the folds' users, so it is not the slice's score alone
    content = create_model("content", seed=0).fit(world.train, FitContext(validator=world.validator))
    assert entry["scores"]["content"] != pytest.approx(world.validator(content), abs=1e-6)
    alone = fitted_auto(blend_size=1, held_out_folds=0).choice["kinds"][NEW_ITEMS]
    assert alone["held_out"]["folds"] == 0
    assert alone["scores"]["content"] == pytest.approx(world.validator(content), abs=1e-6)
    assert entry["use"] == alone["use"] == {"content": 1.0}  # planted: attributes carry new items either way
    folded = {key for key, value in fitted_auto().choice["kinds"].items() if value.get("held_out", {}).get("folds")}
    assert WARM not in folded


def test_a_blend_is_kept_only_when_it_beats_choosing_one_model_out_of_sample_or_by_its_standard_error() -> None:
    validated = [(folds, entry) for folds in (3, 0)
                 for entry in fitted_auto(held_out_folds=folds).choice["kinds"].values() if entry["slice"] is not None]
    assert {folds for folds, entry in validated if entry["held_out"]["folds"]} == {3}
    for folds, entry in validated:
        blend = entry["best_blend"]
        lines = describe_choice(fitted_auto(held_out_folds=folds).choice)
        if "cross_fitted" in blend:
            # with held-out folds, blending and choosing one model are each scored on slices they did not choose
            # on, which leaves no optimism to guard against
            gain = blend["cross_fitted"] - blend["single_cross_fitted"]
            if len(entry["use"]) > 1:
                assert gain > 0 and "on slices it was not chosen on" in entry["why"]
            elif blend["valid"] > entry["valid"]:
                assert gain <= 0 and any("vs choosing one model" in line and "not better" in line for line in lines)
        elif len(entry["use"]) > 1:
            assert blend["valid"] - max(entry["scores"].values()) > blend["standard_error"] > 0
            assert "more than one standard error" in entry["why"]
        elif blend["valid"] > entry["valid"]:  # the better blend is kept out by the noise, and the report says so
            assert blend["valid"] - entry["valid"] <= blend["standard_error"]
            assert any("within one standard error" in line for line in lines)


def test_known_and_new_users_in_one_query_are_each_scored_by_their_kinds_choice() -> None:
    world = planted()
    auto = fitted_auto(blend_size=1)
    choice = auto.choice["kinds"]
    known = world.train.user_ids[:3]
    new = np.asarray(["someone new"], dtype=object)
    users = user_query(world.train, np.concatenate([known, new]))
    items = item_query(world.train, world.train.item_ids)
    scores = auto.score(users, items)
    warm_model = auto.models[next(iter(choice[WARM]["use"]))]
    new_user_model = auto.models[next(iter(choice["new users, known items"]["use"]))]
    assert torch.equal(scores[:3], warm_model.score(user_query(world.train, known), items))
    assert torch.equal(scores[3:], new_user_model.score(user_query(world.train, new), items))


def test_a_blends_score_for_a_user_and_an_item_is_the_same_whatever_else_the_query_asks_about() -> None:
    """One new item scored for every user (a made-up item's audience) or a shortlist re-ranked: the blend's scale per
    user comes from the reference items, so each score is what the full ranking gives it (over the query's items, a
    single item's z-score was every user's 0, and the audience came out in id order)."""
    world = planted()
    blend = copy.copy(fitted_auto())
    blend.models = {name: create_model(name, seed=0).fit(world.train, FitContext())
                    for name in ("content", "mapper", "itemknn", "mostpop")}
    blend.choice = {"kinds": {NEW_ITEMS: {"use": {"content": 0.5, "mapper": 0.5}},
                              WARM: {"use": {"itemknn": 0.75, "mostpop": 0.25}}}}
    cold = next(s for s in world.split.test if s.name == "cold-item")
    users = user_query(world.train, world.train.user_ids)
    for candidates in (np.asarray(cold.candidate_items, dtype=object), world.train.item_ids):
        full = blend.score(users, item_query(world.train, candidates))
        for position in (0, len(candidates) // 2):
            one = blend.score(users, item_query(world.train, candidates[position:position + 1]))
            assert torch.allclose(one[:, 0], full[:, position], atol=1e-5)
            assert one.std() > 0.1  # users differ in how much they would like the item
        shortlist = blend.score(user_query(world.train, world.train.user_ids[:5]),
                                item_query(world.train, candidates[::7]))
        assert torch.allclose(shortlist, full[:5, ::7], atol=1e-5)


def test_the_choice_is_saved_and_scores_are_identical_after_loading(tmp_path: Path) -> None:
    world = planted()
    auto = fitted_auto()
    auto.save(tmp_path / "auto")
    loaded = AutoRecommender.load(tmp_path / "auto")
    assert loaded.choice == auto.choice
    assert describe_choice(loaded.choice) == describe_choice(auto.choice)
    cold = next(s for s in world.split.test if s.name == "cold-item")
    users = user_query(world.train, cold.users)
    items = item_query(world.train, cold.candidate_items)
    assert torch.equal(loaded.score(users, items), auto.score(users, items))
    assert loaded.models.keys() == {name for entry in auto.choice["kinds"].values() for name in entry["use"]}
    for new in (False, True):  # the items a blend is scaled on, should the choice be one
        saved, restored = auto.reference.for_items(new), loaded.reference.for_items(new)
        assert np.array_equal(restored.ids, saved.ids) and np.array_equal(restored.index, saved.index)
        assert (restored.history != saved.history).nnz == 0 and (restored.features != saved.features).nnz == 0


def test_an_auto_saved_before_blends_kept_their_reference_loads_unless_it_blends(tmp_path: Path) -> None:
    """A single model per kind never reads the reference, so an older artifact without one still serves; one that
    blends cannot be scaled as it was validated, and says so (Explore and serving then ask for a re-run)."""
    world = planted()
    single = fitted_auto(blend_size=1)
    single.save(tmp_path / "single")
    state = torch.load(tmp_path / "single" / "state.pt", weights_only=True)
    older = {key: value for key, value in state.items() if not key.startswith("scale_reference.")}
    assert len(older) < len(state)
    torch.save(older, tmp_path / "single" / "state.pt")
    loaded = AutoRecommender.load(tmp_path / "single")
    users, items = user_query(world.train, world.train.user_ids[:10]), item_query(world.train, world.train.item_ids)
    assert torch.equal(loaded.score(users, items), single.score(users, items))

    choice = json.loads(bytes(older["choice.json"].tolist()).decode())
    choice["kinds"][WARM]["use"] = {name: 0.5 for name in list(loaded.models)[:2]}
    assert len(choice["kinds"][WARM]["use"]) == 2
    older["choice.json"] = torch.tensor(list(json.dumps(choice).encode()), dtype=torch.uint8)
    with pytest.raises(ValueError, match="saved without the items that scale them"):
        copy.copy(loaded).load_state_tensors(older)


def test_the_choice_is_logged_with_the_validation_scores_compared() -> None:
    world = planted()
    lines: list[str] = []

    class Recorder:
        def report(self, **_: object) -> None: ...
        def log(self, message: str) -> None: lines.append(message)
        def should_stop(self) -> bool: return False

    create_model("auto", {"candidates": CANDIDATES, "blend_size": 1}).fit(
        world.train, FitContext(validator=world.validator, progress=Recorder()))
    assert any(line.startswith(f"auto: {NEW_ITEMS} -> content (valid ") and "random" in line for line in lines)


def test_candidates_that_cannot_serve_new_items_make_auto_say_so() -> None:
    world = planted()
    auto = fitted_auto(candidates=("itemknn", "mostpop"))
    assert not type(auto).capabilities.new_items
    assert "cannot score items it never saw" in type(auto).cannot_serve(new_users=False, new_items=True)
    entry = auto.choice["kinds"][NEW_ITEMS]
    assert entry["use"] == {} and "ItemKNN cannot score items" in entry["why"]
    result = evaluate(auto, world.train, world.split.test, (20,), n_bootstrap=0, beyond=False)
    assert isinstance(result.slices["cold-item"], NotApplicable)
    assert result.slices["warm"]["ndcg@20"].mean > 0
    assert AutoRecommender.capabilities.new_items  # the default candidates still serve new items


def test_without_a_validator_each_kind_takes_the_first_candidate_that_serves_it() -> None:
    auto = create_model("auto", {"candidates": ["content", "itemknn", "mostpop"]}).fit(planted().train)
    choice = auto.choice["kinds"]
    assert choice[WARM]["use"] == {"content": 1.0}
    assert choice["known users, few-shot items"]["use"] == {"mostpop": 1.0}  # the one reading revealed items
    assert choice[NEW_ITEMS]["slice"] is None


def test_unknown_or_recursive_candidates_are_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="nope"):
        AutoRecommender.Config(candidates=["content", "nope"])
    with pytest.raises(pydantic.ValidationError, match="auto"):
        AutoRecommender.Config(candidates=["auto"])


def test_a_run_of_auto_records_what_it_chose_and_a_run_of_another_model_records_nothing_more() -> None:
    from engine.runs.runner import fit_and_evaluate

    dataset = generate_kind("genres", n_users=300, n_items=300, n_interactions=9000, seed=0)
    split = make_split(dataset, "cold-item", seed=1)
    auto = fit_and_evaluate(dataset, split, "auto", {"candidates": ["content", "mostpop"], "blend_size": 1}, seed=0)
    report = auto.results.to_json()["fit_report"]
    assert f"{NEW_ITEMS} -> content (valid " in report[0] and "on cold-item and 3 held-out folds" in report[0]
    assert report == auto.model.fit_report() == describe_choice(auto.model.choice)
    plain = fit_and_evaluate(dataset, split, "mostpop", {}, seed=0)
    assert plain.model.fit_report() == [] and "fit_report" not in plain.results.to_json()


def test_a_held_out_folds_refits_stop_early_on_the_kinds_validation_slice_not_on_the_fold_that_scores_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A gradient model keeping its best epoch on the slice it is scored on would carry that choice's optimism."""
    import engine.models.auto as auto_module

    stopped_on: dict[str, list[str]] = {}
    fit_candidates = auto_module._fit_candidates

    def recording(names, data, context, seed, steps, label=""):
        stopped_on[label] = [evaluation_slice.name for evaluation_slice in context.validator.split.valid]
        return fit_candidates(names, data, context, seed, steps, label)

    monkeypatch.setattr(auto_module, "_fit_candidates", recording)
    world = planted()
    auto = create_model("auto", {"candidates": CANDIDATES, "blend_size": 1}, seed=0).fit(
        world.train, FitContext(validator=world.validator))
    assert auto.choice["kinds"][NEW_ITEMS]["held_out"]["folds"] == 3
    assert stopped_on.pop("") == [s.name for s in world.split.valid]  # the candidates: the protocol's validator
    assert stopped_on == {f"held-out fold {number}": ["cold-item"] for number in (1, 2, 3)}


def test_blending_is_judged_on_each_slice_by_choices_made_on_the_others() -> None:
    from engine.metrics.statistics import ValidationTerms
    from engine.models.auto import _cross_fitted

    def terms(*values: float) -> ValidationTerms:
        return ValidationTerms(pd.Series(values, index=[f"u{i}" for i in range(len(values))]), None)

    # "lucky" wins one slice by far and loses the other two, and has the best pooled mean. Chosen without the slice
    # it wins, it is not the pick there (steady scores 0.3); chosen without either fold, it is the pick and scores
    # 0.1 there: the choice is worth less than either option's pooled mean says
    options = {"lucky": {"valid": terms(0.9, 0.9), "fold 1": terms(0.1, 0.1), "fold 2": terms(0.1, 0.1)},
               "steady": {"valid": terms(0.3, 0.3), "fold 1": terms(0.3, 0.3), "fold 2": terms(0.3, 0.3)}}
    assert pooled_mean(options["lucky"]) > pooled_mean(options["steady"])
    assert _cross_fitted(options).score == pytest.approx((2 * 0.3 + 4 * 0.1) / 6)
    alone = {name: {"valid": panels["valid"]} for name, panels in options.items()}
    assert _cross_fitted(alone).score == pytest.approx(0.9)  # one slice: nothing to hold out, the best is taken


def pooled_mean(panels: dict) -> float:
    return float(pd.concat([terms.per_user for terms in panels.values()]).mean())


def test_auto_counts_its_fits_to_the_end_when_candidates_are_set_aside() -> None:
    # without attributes, content, attrridge and mapper cannot be fitted: their held-out refits drop out of the count
    dataset = generate_kind("genres", n_users=300, n_items=300, n_interactions=9000, seed=0)
    split = make_split(dataset, "cold-user", seed=1)
    train = build_train_data(split.train, dataset, (None, None))
    reports: list[tuple[int, int]] = []

    class Recorder:
        def report(self, **progress: int) -> None: reports.append((progress["epoch"], progress["n_epochs"]))
        def log(self, message: str) -> None: ...
        def should_stop(self) -> bool: return False

    auto = create_model("auto", {"candidates": ["content", "attrridge", "mapper", "segmentpop", "mostpop"]}).fit(
        train, FitContext(validator=make_validator(train, split), progress=Recorder()))
    assert set(auto.choice["not_fitted"]) == {"content", "attrridge", "mapper"}
    folds = auto.choice["kinds"]["new users, known items"]["held_out"]["folds"]
    assert folds == 3 and reports[-1] == (5 + folds * 2,) * 2  # five candidates, then two refits per fold


def test_a_warm_protocols_choice_rests_on_folds_of_training_positives_too():
    world = planted("warm")
    auto = create_model("auto", {"candidates": CANDIDATES}, seed=0).fit(world.train,
                                                                        FitContext(validator=world.validator))
    entry = auto.choice["kinds"][WARM]
    assert entry["slice"] == "warm"
    assert entry["held_out"]["folds"] == 3 and entry["held_out"]["of"] == "interactions"
    # each fold holds out about as many positives as the validation slice (fewer: a user with few sits a fold out)
    slice_size = len(world.split.valid[0].truth)
    assert 3 * 0.6 * slice_size <= entry["held_out"]["count"] <= 3 * slice_size
    assert "on warm and 3 held-out folds (" in next(line for line in describe_choice(auto.choice)
                                                    if line.startswith(WARM))
    itemknn = create_model("itemknn", seed=0).fit(world.train, FitContext(validator=world.validator))
    assert entry["scores"]["itemknn"] != pytest.approx(world.validator(itemknn), abs=1e-6)  # pooled with the folds
    assert max(entry["use"], key=entry["use"].get) == "itemknn"  # planted: co-occurrence carries warm users


def test_a_temporal_protocols_known_users_keep_their_one_slice():
    """Its slice is the next interactions in time: no random fold of the past stands in for them."""
    dataset = generate_synthetic(n_users=200, n_items=150, n_interactions=5000, seed=3)
    split = make_split(dataset, "temporal", seed=1)
    train = build_train_data(split.train, dataset)
    auto = create_model("auto", {"candidates": CANDIDATES}, seed=0).fit(
        train, FitContext(validator=make_validator(train, split)))
    entry = auto.choice["kinds"][WARM]
    assert entry["slice"] == "temporal" and entry["held_out"]["folds"] == 0
