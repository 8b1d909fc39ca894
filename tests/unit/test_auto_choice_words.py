"""Auto's fit report says plainly which kinds of users and items were chosen on validation and which took a
fallback, and why: a kind no validation slice holds read like a choice among candidates ("-> mapper (not validated
here; best on the primary validation slice among those reading ...)")."""

from __future__ import annotations

import re

from engine.core.model import FitContext
from engine.data.indexing import build_train_data
from engine.data.synthetic_kinds import generate_kind
from engine.metrics.evaluation import make_validator
from engine.models.auto import describe_choice
from engine.models.registry import create_model
from engine.runs.protocol_catalog import make_split

CHOICE = {"metric": "ndcg@20", "not_fitted": {}, "kinds": {
    "new users, known items": {"use": {"hybridmf": 1.0}, "slice": "cold-user", "valid": 0.1615,
                               "scores": {"mapper": 0.0198, "hybridmf": 0.1615, "mostpop": 0.1599},
                               "held_out": {"folds": 3, "of": "users", "count": 177}},
    "few-shot users, known items": {"use": {"mostpop": 1.0}, "slice": None, "valid": None, "scores": {},
                                    "why": "the best on the primary validation slice of the candidates that read "
                                           "their revealed interactions"},
    "new users, new items": {"use": {}, "slice": None, "valid": None, "scores": {},
                             "why": "no candidate serves it: MostPopular cannot score items it never saw"},
}}


def test_a_validated_kind_gives_its_scores_and_a_fallback_kind_says_it_was_not_validated_and_why() -> None:
    validated, fallback, unserved = describe_choice(CHOICE)
    assert validated == ("new users, known items -> hybridmf (valid 0.1615 on cold-user and 3 held-out folds "
                         "(177 training users) vs mapper 0.0198, mostpop 0.1599)")
    assert fallback == ("few-shot users, known items -> mostpop by fallback, not validated (no validation slice "
                        "holds these users and items): the best on the primary validation slice of the candidates "
                        "that read their revealed interactions (cold-user 0.1599)")
    assert unserved.startswith("new users, new items -> not served (no candidate serves it")


def test_a_fitted_autos_unvalidated_kinds_name_their_fallback_and_the_score_that_ranked_it() -> None:
    dataset = generate_kind("genres", n_users=200, n_items=200, n_interactions=5000, seed=0)
    split = make_split(dataset, "cold-item", seed=1)
    train = build_train_data(split.train, dataset)
    auto = create_model("auto", {"candidates": ["content", "itemknn", "mostpop"], "blend_size": 1,
                                 "held_out_folds": 0}).fit(train, FitContext(validator=make_validator(train, split)))
    lines = auto.fit_report()
    validated = [line for line in lines if "(valid " in line]
    fallbacks = [line for line in lines if " by fallback, not validated " in line]
    assert validated and fallbacks and len(validated) + len(fallbacks) <= len(lines)
    assert all("fallback" not in line for line in validated)
    # no candidate but content serves new items: nothing to compare it with, said so rather than "vs nothing else"
    assert re.fullmatch(r"known users, new items -> content \(valid 0\.\d{4} on cold-item; no other candidate can "
                        r"serve them\)", lines[0])
    # a few-shot kind's fallback prefers the candidates that read the revealed interactions, ranked by their score on
    # the primary slice; mostpop, the one reading revealed items, cannot serve cold-item's new items, so has none
    reading_users = next(line for line in fallbacks if line.startswith("few-shot users, known items -> "))
    assert re.search(r"-> content by fallback, .*: the best on the primary validation slice of the candidates that "
                     r"read their revealed interactions \(cold-item 0\.\d{4}\)$", reading_users)
    reading_items = next(line for line in fallbacks if line.startswith("known users, few-shot items -> "))
    assert reading_items.endswith("-> mostpop by fallback, not validated (no validation slice holds these users and "
                                  "items): the first in the list of the candidates that read their revealed "
                                  "interactions, none of them scored on the primary validation slice")
