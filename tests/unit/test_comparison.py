"""Leaderboards, seed spreads, cold-start curves and the Pareto view are read from recorded runs, never recomputed."""

from __future__ import annotations

import math

import pytest

from engine.analysis import comparison
from tests.comparison_seed import SeededRun, seed_runs

label = comparison.model_label


@pytest.fixture
def seeded(coldstart_home):
    return seed_runs([
        SeededRun("mostpop", {"cold-user": {"ndcg@10": 0.10, "recall@10": 0.20}, "warm": {"ndcg@10": 0.15}},
                  fit_seconds=0.1),
        SeededRun("content", {"cold-user": {"ndcg@10": 0.14, "recall@10": 0.18}, "warm": {"ndcg@10": 0.12}},
                  seed=0, fit_seconds=2.0, losses=[0.9, 0.5, 0.4]),
        SeededRun("content", {"cold-user": {"ndcg@10": 0.18, "recall@10": 0.24}, "warm": {"ndcg@10": 0.14}},
                  seed=1, fit_seconds=4.0),
        SeededRun("itemknn", {"warm": {"ndcg@10": 0.30}}, fit_seconds=3.0,
                  not_applicable={"cold-user": "ItemKNN cannot score users it never saw in training"}),
    ])


def test_list_runs_filters_by_model_and_status_and_labels_seed_groups_as_one_variant(seeded):
    runs = comparison.list_runs()
    assert len(runs) == 4
    assert runs.loc[runs["model"] == "content", "variant"].nunique() == 1
    only = comparison.list_runs(models=["itemknn"], statuses=["done"])
    assert only["run_id"].tolist() == seeded["itemknn"]
    assert comparison.list_runs(statuses=["failed"]).empty


def test_leaderboard_averages_seeds_and_reports_their_standard_deviation(seeded):
    runs = comparison.list_runs()
    board = comparison.leaderboard(comparison.load_metrics(runs), comparison.load_not_applicable(runs),
                                   "cold-user", ["ndcg@10", "recall@10"])
    assert board.value.at[label("content"), "ndcg@10"] == pytest.approx(0.16)
    spread = math.sqrt(((0.14 - 0.16) ** 2 + (0.18 - 0.16) ** 2) / 1)
    content = label("content")
    assert board.high.at[content, "ndcg@10"] - board.value.at[content, "ndcg@10"] == pytest.approx(spread)
    assert board.n_runs[label("content")] == 2
    assert board.display().at[label("content"), "ndcg@10"] == f"0.1600 ± {spread:.4f} (2 seeds)"


def test_single_run_keeps_its_recorded_confidence_interval(seeded):
    runs = comparison.list_runs()
    board = comparison.leaderboard(comparison.load_metrics(runs), comparison.load_not_applicable(runs),
                                   "cold-user", ["ndcg@10"])
    mostpop = label("mostpop")
    assert (board.low.at[mostpop, "ndcg@10"], board.high.at[mostpop, "ndcg@10"]) == pytest.approx((0.09, 0.11))
    assert board.display().at[label("mostpop"), "ndcg@10"] == "0.1000 [0.0900, 0.1100]"


def test_leaderboard_marks_the_best_per_column_and_explains_not_applicable(seeded):
    runs = comparison.list_runs()
    board = comparison.leaderboard(comparison.load_metrics(runs), comparison.load_not_applicable(runs),
                                   "cold-user", ["ndcg@10", "recall@10"])
    assert board.best == {"ndcg@10": [label("content")], "recall@10": [label("content")]}
    assert "ItemKNN cannot score users" in board.not_applicable[label("itemknn")]
    assert board.display().at[label("itemknn"), "ndcg@10"].startswith("not applicable: ItemKNN cannot")
    warm = comparison.leaderboard(comparison.load_metrics(runs), comparison.load_not_applicable(runs),
                                  "warm", ["ndcg@10"])
    assert warm.best == {"ndcg@10": [label("itemknn")]}


def test_lower_is_better_metrics_crown_the_smallest_value(coldstart_home):
    seed_runs([SeededRun("als", {"warm": {"rmse": 0.95}}), SeededRun("svd", {"warm": {"rmse": 0.90}})])
    runs = comparison.list_runs()
    board = comparison.leaderboard(comparison.load_metrics(runs), comparison.load_not_applicable(runs), "warm",
                                   ["rmse"])
    assert board.best["rmse"] == [label("svd")]


def test_cold_start_curve_starts_at_the_fully_cold_slice_and_follows_k(coldstart_home):
    seed_runs([SeededRun("bpr", {"cold-user": {"ndcg@10": 0.05}, "few-shot-user-k1": {"ndcg@10": 0.08},
                                 "few-shot-user-k5": {"ndcg@10": 0.12}, "few-shot-item-k1": {"ndcg@10": 0.5}})])
    runs = comparison.list_runs()
    curve = comparison.cold_start_curve(comparison.load_metrics(runs), "ndcg@10", "user")
    assert curve["k"].tolist() == [0, 1, 5]
    assert curve["mean"].tolist() == pytest.approx([0.05, 0.08, 0.12])


def test_cold_start_sides_are_those_with_a_cold_or_few_shot_slice():
    assert comparison.cold_start_sides(["overall", "warm", "cold-item", "cold-item-all"]) == ["item"]
    assert comparison.cold_start_sides(["few-shot-user-k3", "few-shot-item-k1"]) == ["user", "item"]
    assert comparison.cold_start_sides(["warm", "cold-both", "temporal"]) == []


def test_leaderboard_rows_run_best_first_by_the_headline_metric_and_not_applicable_last(seeded):
    runs = comparison.list_runs()
    metrics, refused = comparison.load_metrics(runs), comparison.load_not_applicable(runs)
    cold = comparison.leaderboard(metrics, refused, "cold-user", ["recall@10", "ndcg@10"])
    # content (mean recall 0.21) before mostpop (0.20), though alphabetically it is the other way round
    assert cold.display().index.tolist() == [label("content"), label("mostpop"), label("itemknn")]
    warm = comparison.leaderboard(metrics, refused, "warm", ["ndcg@10"])
    assert warm.display().index.tolist() == [label("itemknn"), label("mostpop"), label("content")]
    assert warm.to_csv_frame().index.tolist() == warm.display().index.tolist()


def test_a_lower_is_better_headline_sorts_the_smallest_value_first(coldstart_home):
    seed_runs([SeededRun("svd", {"warm": {"rmse": 0.95}}), SeededRun("als", {"warm": {"rmse": 0.90}}),
               SeededRun("mostpop", {"warm": {"rmse": 1.20}})])
    runs = comparison.list_runs()
    board = comparison.leaderboard(comparison.load_metrics(runs), comparison.load_not_applicable(runs), "warm",
                                   ["rmse"])
    assert board.display().index.tolist() == [label("als"), label("svd"), label("mostpop")]


def test_pareto_front_keeps_only_models_no_other_beats_on_both_speed_and_quality(seeded):
    runs = comparison.list_runs()
    frame = comparison.quality_vs_cost(runs, comparison.load_metrics(runs), "ndcg@10", "warm")
    front = dict(zip(frame["variant"], frame["pareto"]))
    # mostpop is fastest, itemknn is best; content is slower than itemknn on average and worse
    assert front == {label("mostpop"): True, label("content"): False, label("itemknn"): True}


def test_slices_are_ordered_overall_warm_cold_then_few_shot_by_k():
    names = ["temporal", "few-shot-user-k10", "few-shot-user-k2", "cold-item", "warm", "overall"]
    assert sorted(names, key=comparison.slice_sort_key) == [
        "overall", "warm", "cold-item", "few-shot-user-k2", "few-shot-user-k10", "temporal"]


def test_training_curves_take_the_last_event_of_each_epoch(seeded):
    runs = comparison.list_runs()
    curves = comparison.load_training_curves(runs)
    assert curves["loss"].tolist() == pytest.approx([0.9, 0.5, 0.4])
    assert curves["epoch"].tolist() == [1, 2, 3]


def test_variants_with_different_parameters_get_distinct_labels(coldstart_home):
    seed_runs([SeededRun("als", {"warm": {"ndcg@10": 0.2}}, params={"factors": 16}),
               SeededRun("als", {"warm": {"ndcg@10": 0.3}}, params={"factors": 64})])
    assert sorted(comparison.list_runs()["variant"]) == [f"{label('als')} · factors=16",
                                                         f"{label('als')} · factors=64"]


def test_a_variant_is_named_by_what_differs_from_its_siblings_and_its_settings_are_listed_apart(coldstart_home):
    # runs store the model's full config, so every hyper-parameter is there and all but one agree
    full = {"factors": 64, "regularization": 0.05, "alpha": 2.0, "iterations": 15, "fold_in_regularization": 1.0}
    seed_runs([SeededRun("als", {"warm": {"ndcg@10": 0.2}}, params=full, seed=0),
               SeededRun("als", {"warm": {"ndcg@10": 0.25}}, params=full, seed=1),
               SeededRun("als", {"warm": {"ndcg@10": 0.3}}, params=full | {"factors": 128}),
               SeededRun("mostpop", {"warm": {"ndcg@10": 0.1}}, params={"window_days": None})])
    seed_runs([SeededRun("als", {"warm": {"ndcg@10": 0.1}}, params=full)], dataset="other shop")
    runs = comparison.list_runs()
    assert sorted(runs["variant"].unique()) == sorted([
        f"{label('als')} · toy, factors=64", f"{label('als')} · toy, factors=128",
        f"{label('als')} · other shop, factors=64", label("mostpop")])
    settings = comparison.variant_settings(runs).set_index("model")
    row = settings.loc[f"{label('als')} · toy, factors=64"]
    assert (row["runs"], row["seeds"]) == (2, "0, 1")
    assert row["hyper-parameters"] == "alpha=2.0, factors=64, fold_in_regularization=1.0, iterations=15, " \
                                      "regularization=0.05"
    assert row["data and protocol"] == "toy / cold-user"


def test_every_slice_says_what_it_ranks_against_from_the_protocols_one_declaration():
    assert "ranked among the new items only" in comparison.slice_description("cold-item")
    assert "ranked among all training items plus the new items" in comparison.slice_description("cold-item-all")
    assert "much harder" in comparison.slice_description("cold-item-all")
    assert "revealed 3 of their interactions" in comparison.slice_description("few-shot-user-k3")
    assert comparison.slice_description("few-shot-item-k1").startswith("held-out interactions with new items")
    assert comparison.slice_description("no such slice") == ""


def test_a_selection_is_labelled_among_itself_and_a_protocol_change_is_named_not_its_parameters(coldstart_home):
    seed_runs([SeededRun("als", {"warm": {"ndcg@10": 0.2}}, params={"factors": 16}),
               SeededRun("als", {"warm": {"ndcg@10": 0.3}}, params={"factors": 64})])
    seed_runs([SeededRun("als", {"warm": {"ndcg@10": 0.1}}, params={"factors": 16})], protocol="warm",
              dataset="toy 2", experiment="warm split")
    runs = comparison.list_runs()
    runs["protocol_params"] = [{"valid_fraction": 0.2}, {}, {}]  # newest first: only the warm split has parameters
    assert sorted(comparison.variant_labels(runs)) == [f"{label('als')} · toy 2, warm, factors=16",
                                                       f"{label('als')} · toy, cold-user, factors=16",
                                                       f"{label('als')} · toy, cold-user, factors=64"]
    assert comparison.variant_labels(runs.iloc[1:2]).tolist() == [label("als")]
