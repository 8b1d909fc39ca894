"""The fairness view on planted runs: it flags exactly the group served worse by construction, and its exposure
figures are the hand-computed ones."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.analysis.fairness import (attribute_exposure_table, exposure_table, gap_table, groupable,
                                      user_group_gaps)
from engine.protocols.split import EvalSlice, Split
from ui.fairness_view import (attribute_chart, gap_sentence, group_gap_chart, long_tail_chart, new_item_chart,
                               served_slices)


def planted_runs() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two models' per-user ndcg@20 on cold-user; model 'fair' serves every age band alike, model 'unfair' serves
    the 60+ band worse by construction (0.1 against 0.5)."""
    rng = np.random.default_rng(7)
    bands = np.repeat(["18-29", "30-44", "45-59", "60+"], 30)
    users = pd.DataFrame({"user_id": [f"u{j}" for j in range(len(bands))], "band": bands,
                          "zip": [f"{j:05d}" for j in range(len(bands))]})
    fair = 0.5 + rng.normal(0, 0.05, len(bands))
    unfair = np.where(bands == "60+", 0.1, 0.5) + rng.normal(0, 0.05, len(bands))
    per_user = pd.concat([pd.DataFrame({"variant": name, "slice": "cold-user", "user_id": users["user_id"],
                                        "ndcg@20": values}) for name, values in (("fair", fair), ("unfair", unfair))],
                         ignore_index=True)
    return per_user, users


def test_the_view_flags_exactly_the_group_served_worse_by_construction():
    per_user, users = planted_runs()
    gaps = user_group_gaps(per_user, "ndcg@20", "cold-user", users, "band")
    assert gaps["unfair"].flagged == ["60+"]
    assert gaps["unfair"].worst == "60+"
    assert gaps["unfair"].gap == pytest.approx(0.4, abs=0.05)
    assert gaps["fair"].flagged == []
    sentence = gap_sentence(gaps, "band", "ndcg@20")
    assert "unfair serves band '60+' (by 0.4" in sentence and "worse than the rest of its users" in sentence
    assert "fair serves no band group worse than the rest beyond chance" in sentence
    assert "'60+' the gap is 0.4" in sentence and "a real gap" in sentence
    figure = group_gap_chart(gap_table(gaps), gaps, "band", "ndcg@20")
    starred = {label for trace in figure.data for label in trace.x if label.endswith("★")}
    assert starred == {"60+ ★"}
    outlined = [colour for trace in figure.data for colour in trace.marker.line.color if colour == "red"]
    assert len(outlined) == 1


def test_user_groups_skip_free_text_and_ignored_attributes_and_put_categories_first():
    kinds = {"age": "numeric", "zip_code": "ignore", "gender": "categorical", "bio": "text", "genres": "multi"}
    assert groupable(kinds, ("categorical", "multi", "numeric", "date")) == ["gender", "genres", "age"]


def planted_split() -> Split:
    """Four training users: a is had by 4, b by 3, c by 2, d by 1; e is new. The test slice ranks all five."""
    train = pd.DataFrame({"user_id": ["t1", "t2", "t3", "t4", "t1", "t2", "t3", "t1", "t2", "t1"],
                          "item_id": ["a", "a", "a", "a", "b", "b", "b", "c", "c", "d"], "weight": 1.0})
    truth = pd.DataFrame({"user_id": ["u1"], "item_id": ["e"], "weight": [1.0]})
    test = [EvalSlice("overall", truth, np.array(list("abcde"), dtype=object))]
    return Split("cold-item", 0, {}, train, [], test)


def test_exposure_table_reads_the_hand_computed_figures_from_a_runs_lists():
    lists = pd.DataFrame({"variant": "M", "experiment_id": 1, "slice": "overall",
                          "user_id": ["u1", "u1", "u1", "u2", "u2", "u3", "u3"],
                          "item_id": ["a", "b", "d", "a", "c", "e", "d"], "rank": [1, 2, 3, 1, 2, 1, 2]})
    table = exposure_table(lists, {1: planted_split()}, "overall", 2).set_index("variant")
    assert table.loc["M", "new_item_share"] == pytest.approx(1 / 6)
    assert table.loc["M", "gini"] == pytest.approx(2 * 20 / 30 - 6 / 5)
    assert table.loc["M", "long_tail_share"] == pytest.approx(4 / 6)
    assert table.loc["M", "popularity_lift"] == pytest.approx(3.5 / 6 / 0.5)
    items = pd.DataFrame({"item_id": list("abcde"), "studio": ["x", "x", "y", "z", None]})
    shares = attribute_exposure_table(lists, {1: planted_split()}, "overall", 2, items, "studio")
    assert shares.set_index("value").loc["x", "exposure_share"] == pytest.approx(3 / 6)
    assert shares.set_index("value").loc["x", "catalogue_share"] == pytest.approx(2 / 5)


def test_the_view_offers_only_slices_some_run_was_evaluated_on():
    """Fold-in models (ItemKNN, ALS) are 'not applicable' on overall and cold-user, which contain users with no
    history: grouping them there found nobody, and the exposure part blamed old runs for the missing lists."""
    per_user, _ = planted_runs()
    assert served_slices(["overall", "warm", "cold-user"], per_user.assign(slice="warm")) == ["warm"]
    assert served_slices(["overall", "cold-user"], per_user) == ["cold-user"]
    assert served_slices(["overall"], pd.DataFrame()) == []


def test_exposure_sentences_say_what_a_slice_without_new_items_or_a_sliver_of_long_tail_means():
    warm = pd.DataFrame({"variant": ["ItemKNN"], "new_item_share": [0.0], "new_item_catalogue_share": [0.0],
                         "long_tail_share": [0.003], "long_tail_catalogue_share": [0.8]})
    empty = new_item_chart(warm, 20)
    assert not empty.data and "No candidate on this slice is a new item" in empty.layout.title.subtitle.text
    assert "gives it 0.3% of the places (it is 80% of the candidates)" in \
        long_tail_chart(warm, 20).layout.title.subtitle.text.replace("<br>", " ")
    cold = warm.assign(new_item_share=0.05, new_item_catalogue_share=0.25)
    assert "gives them 5% of the top-20 places" in new_item_chart(cold, 20).layout.title.subtitle.text.replace(
        "<br>", " ")
    shares = pd.DataFrame({"variant": ["M"], "value": ["Drama"], "exposure_share": [0.3], "catalogue_share": [0.3],
                           "ratio": [1.0]})
    assert attribute_chart(shares, "genres", 20).layout.title.text.startswith("Which values of genres get shown?")
