"""Specifications of the cold-start protocols: what each split guarantees, for any seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.data.dataset import Dataset
from engine.data.synthetic import generate_synthetic
from engine.protocols import ProtocolError, split_parts, split_sizes
from engine.runs.protocol_catalog import PROTOCOLS, get_protocol, make_split, protocol_summaries
from engine.protocols.split import Split

SEEDED_PROTOCOLS = ["warm", "cold-item", "cold-user", "cold-both", "few-shot-user", "few-shot-item", "onboarding"]
ALL_PROTOCOLS = SEEDED_PROTOCOLS + ["temporal"]


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return generate_synthetic(n_users=160, n_items=90, n_interactions=5000, seed=3)


def keys(frame: pd.DataFrame) -> set[tuple[str, str]]:
    return set(zip(frame["user_id"], frame["item_id"]))


def held_out_rows(split: Split, part: str) -> pd.DataFrame:
    return getattr(split_parts(split), part)


@pytest.mark.parametrize("protocol", ALL_PROTOCOLS)
def test_train_valid_and_test_are_pairwise_disjoint(dataset, protocol):
    split = make_split(dataset, protocol, seed=1)
    train, valid, test = keys(split.train), keys(held_out_rows(split, "valid")), keys(held_out_rows(split, "test"))
    assert valid and test
    assert not train & valid and not train & test and not valid & test


@pytest.mark.parametrize("protocol", ALL_PROTOCOLS)
def test_same_seed_gives_the_same_split(dataset, protocol):
    first, second = make_split(dataset, protocol, seed=5), make_split(dataset, protocol, seed=5)
    assert first.fingerprint == second.fingerprint
    pd.testing.assert_frame_equal(first.train, second.train)
    assert [s.name for s in first.test] == [s.name for s in second.test]


@pytest.mark.parametrize("protocol", SEEDED_PROTOCOLS)
def test_different_seeds_give_different_splits(dataset, protocol):
    first, second = make_split(dataset, protocol, seed=1), make_split(dataset, protocol, seed=2)
    assert first.fingerprint != second.fingerprint
    assert keys(first.train) != keys(second.train)


@pytest.mark.parametrize("protocol", ALL_PROTOCOLS)
def test_splits_hold_positives_only_and_keep_ratings(dataset, protocol):
    split = make_split(dataset, protocol, seed=1)
    for frame in (split.train, held_out_rows(split, "test")):
        assert "rating" in frame.columns
        assert (frame["rating"] >= dataset.feedback.positive_threshold).all()


def test_cold_item_split_never_leaks_test_items_into_training(dataset):
    split = make_split(dataset, "cold-item", seed=1)
    train_items = set(split.train["item_id"])
    assert split.cold_items and not train_items & set(split.cold_items)
    cold = next(s for s in split.test if s.name == "cold-item")
    assert set(cold.truth["item_id"]) <= set(split.cold_items)
    assert set(cold.truth["user_id"]) <= set(split.train["user_id"]), "cold rows of unknown users are dropped"


def test_cold_item_candidates_are_all_cold_items_and_the_all_view_adds_training_items(dataset):
    split = make_split(dataset, "cold-item", seed=1)
    valid_cold = set(split.valid_slice("cold-item").truth["item_id"])
    test_cold = next(s for s in split.test if s.name == "cold-item")
    every_view = next(s for s in split.test if s.name == "cold-item-all")
    assert set(test_cold.candidate_items) == set(test_cold.truth["item_id"]) | valid_cold
    assert set(every_view.candidate_items) == set(test_cold.candidate_items) | set(split.train["item_id"])
    assert test_cold.new_items and not test_cold.new_users


def test_cold_entities_are_split_by_entity_between_valid_and_test(dataset):
    split = make_split(dataset, "cold-user", seed=1)
    valid_users = set(split.valid_slice("cold-user").truth["user_id"])
    test_users = set(next(s for s in split.test if s.name == "cold-user").truth["user_id"])
    assert valid_users and test_users and not valid_users & test_users
    assert not (valid_users | test_users) & set(split.train["user_id"])
    cold_user = next(s for s in split.test if s.name == "cold-user")
    assert set(cold_user.candidate_items) == set(split.train["item_id"])


def test_cold_user_split_holds_out_the_requested_share_of_users(dataset):
    split = make_split(dataset, "cold-user", seed=1, params={"cold_fraction": 0.3})
    n_users = dataset.positives()["user_id"].nunique()
    assert len(split.cold_users) == round(0.3 * n_users)


def test_cold_both_slice_pairs_new_users_with_new_items(dataset):
    split = make_split(dataset, "cold-both", seed=1)
    both = next(s for s in split.test if s.name == "cold-both")
    assert both.new_users and both.new_items
    assert not set(both.truth["user_id"]) & set(split.train["user_id"])
    assert not set(both.truth["item_id"]) & set(split.train["item_id"])
    assert {s.name for s in split.test} >= {"warm", "cold-user", "cold-item", "cold-item-all", "cold-both", "overall"}


def test_warm_split_holds_out_only_entities_seen_in_training(dataset):
    split = make_split(dataset, "warm", seed=1)
    test = held_out_rows(split, "test")
    assert set(test["user_id"]) <= set(split.train["user_id"])
    assert set(test["item_id"]) <= set(split.train["item_id"])
    counts = dataset.positives().groupby("user_id").size()
    light = set(counts.index[counts < 5])
    assert not light & (set(test["user_id"]) | set(held_out_rows(split, "valid")["user_id"]))


@pytest.mark.parametrize("side", ["user", "item"])
def test_few_shot_entities_reveal_exactly_k_rows_and_nothing_reaches_training(dataset, side):
    split = make_split(dataset, f"few-shot-{side}", seed=1)
    own = f"{side}_id"
    held = set(split.cold_users if side == "user" else split.cold_items)
    assert held and not held & set(split.train[own])
    truth_by_k = {}
    for evaluation_slice in (s for s in split.test if s.name.startswith(f"few-shot-{side}-k")):
        per_entity = evaluation_slice.revealed.groupby(own).size()
        assert (per_entity == evaluation_slice.shots).all()
        assert not keys(evaluation_slice.revealed) & keys(evaluation_slice.truth)
        truth_by_k[evaluation_slice.shots] = keys(evaluation_slice.truth)
    assert sorted(truth_by_k) == [1, 2, 3, 5, 10]
    assert len({frozenset(t) for t in truth_by_k.values()}) == 1, "every k is scored on the same rows"


def test_few_shot_reveals_the_earliest_rows_and_counts_excluded_users(dataset):
    split = make_split(dataset, "few-shot-user", seed=1, params={"shots": "1,2", "overall_shots": 2})
    k2 = next(s for s in split.test if s.name == "few-shot-user-k2")
    last_revealed = k2.revealed.groupby("user_id")["timestamp"].max()
    first_test = k2.truth.groupby("user_id")["timestamp"].min()
    assert (last_revealed <= first_test.reindex(last_revealed.index)).all()
    assert split.valid[0].name == "few-shot-user-k2", "the protocol validates on its own slice first"


def test_few_shot_counts_the_held_out_users_too_light_to_reveal_k_rows(dataset):
    # with k up to 20, many held-out users have too few rows: they vanish from every part and are counted
    split = make_split(dataset, "few-shot-user", seed=1, params={"shots": "1,20", "overall_shots": 1})
    parts = split_parts(split)
    appearing = set(pd.concat([parts.train, parts.valid, parts.test, parts.valid_revealed, parts.test_revealed])
                    ["user_id"])
    vanished = dataset.positives()["user_id"].astype(str).nunique() - len(appearing)
    assert vanished > 0 and split.params["excluded_users"] == vanished


def test_temporal_split_trains_strictly_before_test_time_and_marks_later_newcomers(dataset):
    split = make_split(dataset, "temporal", seed=0)
    test = held_out_rows(split, "test")
    assert split.train["timestamp"].max() < test["timestamp"].min()
    first_seen = pd.concat([split.train, held_out_rows(split, "valid"), test]).groupby("user_id")["timestamp"].min()
    newcomers = set(first_seen.index[first_seen >= split.params["valid_from"]])
    assert set(split.cold_users) == newcomers
    assert {s.name for s in split.test} >= {"temporal", "overall"}


def test_temporal_protocol_needs_timestamps(dataset):
    no_time = Dataset(dataset.interactions.drop(columns="timestamp"), feedback=dataset.feedback)
    with pytest.raises(ProtocolError, match="timestamp"):
        make_split(no_time, "temporal")


def test_few_shot_without_timestamps_reveals_in_a_seeded_order(dataset):
    no_time = Dataset(dataset.interactions.drop(columns="timestamp"), feedback=dataset.feedback)
    first = make_split(no_time, "few-shot-item", seed=4)
    assert first.fingerprint == make_split(no_time, "few-shot-item", seed=4).fingerprint


@pytest.mark.parametrize("protocol, params, message", [
    ("cold-items", {}, "unknown protocol 'cold-items'; known protocols: warm"),
    ("cold-item", {"cold_share": 0.2}, "has no parameter cold_share"),
    ("cold-item", {"cold_fraction": 1.5}, r"cold_fraction=1.5 must be a fraction"),
    ("cold-item", {"cold_fraction": "many"}, "must be like 0.2"),
    ("few-shot-user", {"overall_shots": 4}, "overall_shots=4 must be one of shots"),
    ("few-shot-user", {"shots": "1,2,x"}, r"shots='1,2,x' of protocol 'few-shot-user' must be like 1,2,3,5,10"),
    ("warm", {"valid_fraction": 0}, r"valid_fraction=0 must be a fraction in \(0, 1\)"),
    ("warm", {"min_positives": 2}, "min_positives=2 must be at least 3"),
    ("temporal", {"valid_fraction": 0.5, "test_fraction": 0.5}, "must sum below 1"),
])
def test_bad_protocol_requests_name_what_is_wrong(dataset, protocol, params, message):
    with pytest.raises(ProtocolError, match=message):
        make_split(dataset, protocol, seed=0, params=params)


def test_slice_sizes_count_users_candidates_and_rows(dataset):
    split = make_split(dataset, "cold-item", seed=1)
    sizes = split_sizes(split)
    cold = next(s for s in split.test if s.name == "cold-item")
    assert sizes["test"]["cold-item"] == {"users": cold.truth["user_id"].nunique(),
                                          "candidates": len(cold.candidate_items),
                                          "interactions": len(cold.truth), "revealed": 0}
    assert sizes["train"]["interactions"] == len(split.train)
    assert sizes["cold_items"] == len(split.cold_items)


def test_every_protocol_has_one_line_of_plain_text_for_the_form_options():
    # selectbox options and --help show text as typed: markdown marks would appear raw
    summaries = protocol_summaries()
    assert list(summaries) == list(PROTOCOLS)
    for name, text in summaries.items():
        assert text and "`" not in text and "*" not in text and "\n" not in text, name


@pytest.mark.parametrize("protocol", ALL_PROTOCOLS)
def test_every_protocol_parameter_is_declared_with_a_title_and_a_description_and_recorded(dataset, protocol):
    declaration = get_protocol(protocol)
    assert declaration.name == protocol
    for name, info in declaration.Params.model_fields.items():
        assert info.title and info.description, f"{protocol}.{name} needs a title and a description for the form"
    split = make_split(dataset, protocol, seed=1)
    recorded = {k: tuple(v) if isinstance(v, list) else v for k, v in split.params.items()}
    assert declaration.defaults().items() <= recorded.items(), "a split records every parameter it was made with"


def test_form_strings_parse_to_the_declared_types(dataset):
    params = get_protocol("few-shot-item").parse({"shots": "1, 4", "overall_shots": "4", "cold_fraction": "0.3"})
    assert (params.shots, params.overall_shots, params.cold_fraction) == ((1, 4), 4, 0.3)
    assert make_split(dataset, "few-shot-item", seed=1, params={"shots": "1, 4", "overall_shots": "4"}).params[
        "shots"] == [1, 4]


def test_reference_protocol_on_movielens_keeps_ratings_of_four_and_above(ml100k_dir):
    from engine.data.canonical import read_canonical_folder

    movielens = read_canonical_folder(ml100k_dir)
    split = make_split(movielens, "cold-item", seed=1)
    positives = movielens.positives()
    assert (positives["rating"] >= 4).all()
    n_items = positives["item_id"].nunique()
    assert len(split.cold_items) == round(0.2 * n_items)
    every_row = pd.concat([split.train, held_out_rows(split, "valid"), held_out_rows(split, "test")])
    assert (every_row["rating"] >= 4).all()
    warm_rows = every_row.loc[~every_row["item_id"].isin(split.cold_items)]
    assert np.isclose(len(split.train) / len(warm_rows), 0.8, atol=0.02), "warm records split 80/10/10"


@pytest.mark.parametrize("protocol", ALL_PROTOCOLS)
def test_every_slice_a_protocol_builds_is_a_declared_kind(dataset, protocol):
    from engine.protocols.slices import few_shot_k, slice_kind

    split = make_split(dataset, protocol, seed=1)
    for evaluation_slice in split.valid + split.test:
        kind = slice_kind(evaluation_slice.name)
        assert kind is not None, f"{protocol} builds slice {evaluation_slice.name!r}, which no SliceKind declares"
        shot = few_shot_k(evaluation_slice.name)
        assert (shot is not None) == (evaluation_slice.shots is not None and evaluation_slice.name != "overall")
