"""Auto: for the data and protocol at hand, pick the candidate model (or blend) that validates best per cold-start kind.

Which model wins depends on what is cold: attributes carry new items, collaborative filtering carries warm users,
popularity among similar users carries new ones. Auto fits a small, diverse set of registered models with their
default settings, scores each on every validation slice of the split (never the test part), one slice per serving
kind (known, new or few-shot users x known, new or few-shot items), and per kind keeps the best one, or a blend of
the best few when one beats it on that slice by more than one standard error (users and held-out items both
counted as samples, `paired_gain`: a blend tried among a dozen wins a few hundred users or a hundred new items
partly by luck): each candidate's scores are z-scored per user and summed with weights
from a small grid (the linear stacking of the Netflix-prize blends, Töscher, Jahrer & Bell 2009, here without a
second-level learner, since a validation slice of a few hundred users affords a grid, not a regression). Kinds the
split does not validate are served by the candidate ranked best on the protocol's primary validation slice among
those that can serve them (preferring one that reads revealed interactions for few-shot kinds); without a
validator, by the order of the candidate list. The choice, with the scores compared, is logged and saved
(`choice`), so a user sees what was chosen and why.

A new-users or new-items slice of a hundred users or items rarely separates the candidates, so for those two kinds
folds of training users (items) are held out as if new, the candidates refitted without each fold, and the folds'
users counted with the slice's (`engine.models._held_out`): the choice rests on several hundred users instead of
one slice's luck. A refit that stops early stops on the validation slice, so a fold scores every candidate out of
sample. A warm protocol's slice holds a few positives of each user, and its choice between a blend and a
single model can turn on a change of 0.0002 in one candidate's score; folds of every training user's positives back
it the same way. There a blend is judged by nested cross-validation: each slice (the validation slice and every
fold) is scored by the blend best on the others, and so is choosing one model; the blend is kept when it scores
higher that way. That score carries no optimism of the choice, so no further margin is asked of it: on generator
splits outside the bars' seeds a margin of one standard error on top tested lower than none
(`benchmarks/blend_gate.py`). Kinds validated on one slice alone keep the margin.

A model's capabilities are a class attribute; auto's are the union of its candidates', so an instance built with
a candidate list that cannot serve new items is an instance of a subclass that says so (`__new__`), and the
evaluator reports "not applicable, because" instead of calling it.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from pydantic import Field, field_validator

from engine.core.data import ItemQuery, TrainData, UserQuery
from engine.core.model import Capabilities, FitContext, ModelConfig, ProgressReporter, Recommender, Validator
from engine.metrics.evaluation import SliceValidator, make_validator
from engine.metrics.statistics import ValidationTerms, paired_gain, pooled_terms
from engine.models._blend_scale import ScaleReference, per_user_z, same_items
from engine.models._held_out import HeldOutFold, HeldOutRows, HeldOutSide, held_out_count, held_out_folds
from engine.models._scoring import as_scores
from engine.models.registry import create_model, get_model_class, model_names
from engine.protocols.slices import WARM
from engine.protocols.split import EvalSlice

Side = Literal["known", "new", "few-shot"]
DEFAULT_CANDIDATES = ("mapper", "attrridge", "content", "hybridmf", "ease", "itemknn", "segmentpop", "mostpop")
"""Fast with default settings on a laptop, and diverse: attribute maps, attribute regressions, attributes, a hybrid
factorization, two item-to-item models, popularity among similar users and overall."""
BLEND_STEPS = 4
"""Blend weights are multiples of 1/4 summing to one: 3 blends of two models, 12 among three."""
_CHOICE_TENSOR = "choice.json"
_REFERENCE_PREFIX = "scale_reference"
"""Not a candidate's name (`NAME.` prefixes the candidates' tensors), so the two never collide."""


@dataclass(frozen=True)
class ServingKind:
    """Who is scored against what: known, new (attributes only) or few-shot (a few revealed interactions)."""

    users: Side
    items: Side

    @property
    def key(self) -> str:
        return f"{self.users} users, {self.items} items"

    def cannot_serve(self, model_class: type[Recommender], ratings: bool) -> str | None:
        """Why `model_class` cannot serve this kind, or None."""
        return model_class.cannot_serve(new_users=self.users != "known", new_items=self.items != "known",
                                        revealed_users=self.users == "few-shot",
                                        revealed_items=self.items == "few-shot", ratings=ratings)

    @property
    def few_shot(self) -> bool:
        return "few-shot" in (self.users, self.items)

    def reads_revealed(self, caps: Capabilities) -> bool:
        """Whether a model with `caps` uses the revealed interactions of this kind (a few-shot kind wants that)."""
        return (self.users != "few-shot" or caps.user_fold_in) and (self.items != "few-shot" or caps.item_fold_in)


SIDES: tuple[Side, ...] = ("known", "new", "few-shot")
KINDS = tuple(ServingKind(users, items) for users, items in itertools.product(SIDES, SIDES))
FOLDED_KINDS: dict[ServingKind, HeldOutSide] = {ServingKind("new", "known"): "users",
                                                 ServingKind("known", "new"): "items",
                                                 ServingKind("known", "known"): "interactions"}
"""Kinds whose validation slice is backed by held-out folds: of training users for new users, of training items for
new items, of every training user's positives for warm users and items."""
FOLDS_BELOW = 2_000
"""A slice of this many held-out users (items; users for a warm slice) already separates candidates 0.01 NDCG
apart; folds would only add refits."""


def _union_capabilities(names: tuple[str, ...]) -> Capabilities:
    """What at least one candidate serves; ratings are needed only when every candidate needs them."""
    every = [get_model_class(name).capabilities for name in names]
    served = {field: any(getattr(caps, field) for caps in every)
              for field in ("new_users", "new_items", "user_fold_in", "item_fold_in", "uses_user_features",
                            "uses_item_features")}
    return Capabilities(**served, needs_ratings=all(caps.needs_ratings for caps in every))


class AutoConfig(ModelConfig):
    """Which models auto compares, and whether it may blend them."""

    candidates: list[str] = Field(list(DEFAULT_CANDIDATES), min_length=1, title="Candidate models",
                                  description="Registered models fitted with their default settings and compared on "
                                              "the validation slices; auto serves what at least one of them serves.")
    blend_size: int = Field(3, ge=1, le=4, title="Models per blend",
                            description="Blend the scores of up to this many of the best candidates per kind of "
                                        "user and item, kept only when the blend beats the best single model on "
                                        "validation; 1: choose one model.")
    held_out_folds: int = Field(3, ge=0, le=5, title="Held-out folds",
                                description="For new users and for new items, also hold out this many folds of "
                                            "training users (items), each the size of the validation slice, refit "
                                            "the candidates without them and count them in the comparison, so the "
                                            "choice does not rest on one small slice; 0: the validation slice only.")

    @field_validator("candidates")
    @classmethod
    def _registered_candidates(cls, names: list[str]) -> list[str]:
        unknown = [name for name in names if name not in model_names() or name == AutoRecommender.name]
        if unknown:
            raise ValueError(f"auto cannot compare {', '.join(unknown)}; candidates are registered models other "
                             f"than auto: {', '.join(n for n in model_names() if n != AutoRecommender.name)}")
        return list(dict.fromkeys(names))


class AutoRecommender(Recommender):
    """The best candidate (or blend) per serving kind, chosen on the validation slices."""

    name = "auto"
    label = "Auto (validated choice)"
    family = "hybrid"
    Config = AutoConfig
    capabilities = _union_capabilities(DEFAULT_CANDIDATES)
    progress_unit = "model fit"  # its candidates, then their refits on held-out folds (`_Steps`)
    test_params = {"candidates": ["content", "itemknn", "mostpop"]}
    """A smaller candidate list that keeps the conformance suite fast."""

    def __new__(cls, config: ModelConfig | dict | None = None, seed: int = 0) -> "AutoRecommender":
        """An instance of the class whose capabilities are those of the configured candidates."""
        if config is None:
            config = cls.Config()
        elif isinstance(config, dict):
            config = cls.Config(**config)
        return super().__new__(_serving_class(tuple(config.candidates)))

    def _fit(self, data: TrainData, context: FitContext) -> None:
        """Fit every candidate, validate them per serving kind, and keep what each kind uses."""
        slices = _kind_slices(context.validator, data)
        primary = next(iter(slices), None)
        folds = {kind: self._held_out_folds(kind, evaluation_slice, data, kind == primary)
                 for kind, evaluation_slice in slices.items()}
        ratings = data.ratings is not None

        def fold_refits(names: Iterable[str]) -> int:
            return sum(len(kind_folds) * sum(kind.cannot_serve(get_model_class(name), ratings) is None
                                             for name in names) for kind, kind_folds in folds.items())

        steps = _Steps(context, len(self.config.candidates) + fold_refits(self.config.candidates))
        self.models, failed = _fit_candidates(self.config.candidates, data, context, self.seed, steps)
        self.reference = ScaleReference.sample(data, self.seed)
        steps.total -= fold_refits(failed)  # a candidate set aside is not refitted on the folds
        if not self.models:
            raise ValueError("auto could fit none of its candidates: " +
                             "; ".join(f"{name}: {reason}" for name, reason in failed.items()))
        self.choice: dict[str, Any] = {"metric": getattr(context.validator, "metric_name", None), "kinds": {},
                                       "not_fitted": failed}
        for kind, evaluation_slice in slices.items():
            panels = {evaluation_slice.name: _Panel(_slice_validator(context.validator, data, evaluation_slice),
                                                    self.models, self.reference)}
            panels.update(self._held_out_panels(kind, evaluation_slice, folds[kind], data, context, steps))
            self.choice["kinds"][kind.key] = self._validated_choice(kind, panels, data)
        reference = self._reference_scores(slices, context.validator)
        for kind in KINDS:
            if kind.key not in self.choice["kinds"]:
                self.choice["kinds"][kind.key] = self._fallback_choice(kind, data, reference)
        used = {name for entry in self.choice["kinds"].values() for name in entry["use"]}
        self.models = {name: model for name, model in self.models.items() if name in used}
        self.choice["configs"] = {name: model.config.model_dump(mode="json") for name, model in self.models.items()}
        for line in describe_choice(self.choice):
            _log(context.progress, line)

    def _held_out_folds(self, kind: ServingKind, evaluation_slice: EvalSlice, data: TrainData,
                        primary: bool) -> list[HeldOutFold] | list[HeldOutRows]:
        """Folds of training users for the new-users kind, of training items for the new-items kind, of training
        positives for the warm kind, while the validation slice is small enough to need them.

        Warm folds only where warm is what the protocol is about (its primary slice, drawn at random): every protocol
        validates warm users beside its own kind, and their refits would multiply each protocol's fits; a temporal
        slice is the next interactions in time, which no random fold stands in for."""
        side = FOLDED_KINDS.get(kind)
        if side == "interactions" and not (primary and evaluation_slice.name == WARM.name):
            return []
        if side is None or held_out_count(evaluation_slice, "users" if side == "interactions" else side) \
                >= FOLDS_BELOW:
            return []
        return held_out_folds(data, evaluation_slice, side, self.config.held_out_folds, self.seed)

    def _held_out_panels(self, kind: ServingKind, evaluation_slice: EvalSlice,
                         folds: list[HeldOutFold] | list[HeldOutRows],
                         data: TrainData, context: FitContext, steps: _Steps) -> dict[str, _Panel]:
        """Per fold, the candidates serving `kind` refitted without the fold, and a validator on it; a fold where
        a candidate could not be refitted is left out, so every candidate is compared on the same users.

        A refit that stops early stops on the kind's validation slice, not on its fold: a model that keeps its best
        epoch on the slice it is then scored on carries that choice's optimism, the more so the noisier its epochs,
        while a model without epochs carries none, so the fold would favour the gradient models."""
        servers = self._servers(kind, data)
        panels = {}
        for fold in folds:
            if context.progress is not None and context.progress.should_stop():
                break
            held_out = fold.split(data, evaluation_slice)
            if held_out is None:
                steps.advance(len(servers))
                continue
            fold_data, fold_slice = held_out
            stopping = replace(context, validator=_slice_validator(context.validator, fold_data, evaluation_slice))
            models, failed = _fit_candidates(servers, fold_data, stopping, self.seed, steps,
                                             label=f"held-out fold {fold.number}")
            if len(models) < len(servers):  # a refit failed, or the run was stopped
                _log(context.progress, f"{fold_slice.name} left out: " + "; ".join(
                    f"{name}: {reason}" for name, reason in failed.items()))
                continue
            reference = ScaleReference.sample(fold_data, self.seed)
            panels[fold_slice.name] = _Panel(_slice_validator(context.validator, fold_data, fold_slice), models,
                                             reference)
        return panels

    def _servers(self, kind: ServingKind, data: TrainData) -> list[str]:
        """Fitted candidates that can serve `kind`, in candidate order."""
        ratings = data.ratings is not None
        return [name for name, model in self.models.items() if kind.cannot_serve(type(model), ratings) is None]

    def _validated_choice(self, kind: ServingKind, panels: dict[str, _Panel], data: TrainData) -> dict[str, Any]:
        """The best single candidate on this kind's validation slice and held-out folds together, or the best blend
        when blending beats choosing one model: cross-fitted with held-out folds, else by more than one standard
        error."""
        evaluation_slice = next(iter(panels))
        entry: dict[str, Any] = {"slice": evaluation_slice, "held_out": _held_out_summary(kind, panels)}

        def per_panel(weights: dict[str, float]) -> dict[str, ValidationTerms]:
            return {name: panel.validator.terms(self._serving(panel, kind, weights))
                    for name, panel in panels.items()}

        servers = self._servers(kind, data)
        singles = {name: per_panel({name: 1.0}) for name in servers}
        scores = {name: pooled_terms(terms).score for name, terms in singles.items()}
        scores = {name: score for name, score in scores.items() if math.isfinite(score)}
        entry["scores"] = _rounded(scores)
        if not scores:
            return {**entry, "use": {}, "valid": None,
                    "why": self._unserved_reason(kind, data) if not servers
                    else f"no candidate could be scored on validation slice {evaluation_slice}"}
        best = max(scores, key=scores.__getitem__)  # the first in candidate order wins a tie
        entry.update(use={best: 1.0}, valid=round(scores[best], 6), why="best single model on validation")
        ranked = sorted(scores, key=scores.__getitem__, reverse=True)[:self.config.blend_size]
        blends = {_blend_label(weights): (weights, per_panel(weights)) for weights in _blend_grid(ranked)} \
            if len(ranked) > 1 else {}
        blend_scores = {label: pooled_terms(terms).score for label, (_, terms) in blends.items()}
        blend_scores = {label: score for label, score in blend_scores.items() if math.isfinite(score)}
        if not blend_scores:
            return entry
        label = max(blend_scores, key=blend_scores.__getitem__)
        weights = blends[label][0]
        entry["best_blend"] = {"weights": weights, "valid": round(blend_scores[label], 6)}
        if blend_scores[label] <= scores[best]:
            return entry
        blending = _cross_fitted({label: blends[label][1] for label in blend_scores})
        choosing = _cross_fitted({name: singles[name] for name in scores})
        paired = paired_gain(blending, choosing)
        entry["best_blend"].update(standard_error=round(paired.standard_error, 6))
        if len(panels) > 1:  # cross-fitted: neither side carries its choice's optimism, so no margin is asked
            entry["best_blend"].update(cross_fitted=round(blending.score, 6),
                                       single_cross_fitted=round(choosing.score, 6))
            kept = paired.gain > 0
            why = (f"blending beats choosing one model ({best} {scores[best]:.4f}) on slices it was not chosen on: "
                   f"each slice scored by choices made on the others, {blending.score:.4f} vs {choosing.score:.4f} "
                   f"(standard error {paired.standard_error:.4f})")
        else:
            kept = paired.gain > paired.standard_error
            why = (f"blend beats the best single model ({best} {scores[best]:.4f}) on validation by more than one "
                   f"standard error ({paired.standard_error:.4f})")
        if kept:
            entry.update(use=weights, valid=round(blend_scores[label], 6), why=why)
        return entry

    def _serving(self, panel: _Panel, kind: ServingKind, weights: dict[str, float]) -> Recommender:
        """What serves `kind` with these weights over the panel's models (this auto's own, or a fold's refits): the
        one model, or a copy of this auto that blends them."""
        if len(weights) == 1:
            return panel.models[next(iter(weights))]
        blend = copy.copy(self)
        blend.models, blend.reference = panel.models, panel.reference
        blend.choice = {"kinds": {kind.key: {"use": weights}}}
        return blend

    def _reference_scores(self, slices: dict[ServingKind, EvalSlice], validator: Validator | None) -> dict[str, float]:
        """Per candidate, the score that ranks it for kinds without a validation slice: on the primary slice."""
        if slices:
            return self.choice["kinds"][next(iter(slices)).key]["scores"]
        if validator is None:
            return {}
        return _rounded({name: float(validator(model)) for name, model in self.models.items()})

    def _fallback_choice(self, kind: ServingKind, data: TrainData, reference: dict[str, float]) -> dict[str, Any]:
        """A kind the split does not validate: the candidate that reads its revealed interactions, if any, ranked
        by the reference score, then by candidate order."""
        servers = self._servers(kind, data)
        if not servers:
            return {"use": {}, "slice": None, "valid": None, "scores": {}, "why": self._unserved_reason(kind, data)}

        def rank(name: str) -> tuple[bool, float]:
            score = reference.get(name, math.nan)
            ignores_revealed = not kind.reads_revealed(type(self.models[name]).capabilities)
            return ignores_revealed, -score if math.isfinite(score) else math.inf

        best = min(servers, key=rank)  # min is stable: the first in candidate order wins a tie
        reads = kind.few_shot and kind.reads_revealed(type(self.models[best]).capabilities)
        among = "the candidates that " + ("read their revealed interactions" if reads else "can serve them")
        why = (f"the best on the primary validation slice of {among}"
               if math.isfinite(reference.get(best, math.nan))
               else f"the first in the list of {among}, none of them scored on the primary validation slice")
        return {"use": {best: 1.0}, "slice": None, "valid": None, "scores": {}, "why": why}

    def _unserved_reason(self, kind: ServingKind, data: TrainData) -> str:
        """Why no fitted candidate serves `kind`: each candidate's own reason."""
        ratings = data.ratings is not None
        reasons = [kind.cannot_serve(type(model), ratings) for model in self.models.values()]
        return "no candidate serves it: " + "; ".join(r for r in reasons if r) if reasons else \
            "no candidate could be fitted"

    def fit_report(self) -> list[str]:
        """One line per serving kind: what auto uses and the validation scores it compared."""
        return describe_choice(self.choice)

    # -- scoring -------------------------------------------------------------------------------------------------
    def score(self, users: UserQuery, items: ItemQuery) -> torch.Tensor:
        """Each group of users (known, new, few-shot) scored by what its kind uses against these candidates; the
        candidates are of the hardest kind among them, whose model can score the easier ones too."""
        item_sides = set(_sides(items.is_new, items.history))
        item_side = next(side for side in reversed(SIDES) if side in item_sides) if item_sides else "known"
        user_sides = _sides(users.is_new, users.history)
        scores = torch.empty((len(users), len(items)), dtype=torch.float32)
        for side in SIDES:
            rows = np.flatnonzero(user_sides == side)
            if len(rows):
                scores[torch.from_numpy(rows)] = self._score_kind(ServingKind(side, item_side),
                                                                  users.take(rows), items)
        return scores

    def _score_kind(self, kind: ServingKind, users: UserQuery, items: ItemQuery) -> torch.Tensor:
        """One model's scores, or the weighted sum of a blend's per-user z-scores, each model's scaled per user on
        the reference items (`engine.models._blend_scale`)."""
        entry = self.choice["kinds"][kind.key]
        weights: dict[str, float] = entry["use"]
        if not weights:
            raise ValueError(f"{self.label} cannot serve {kind.key}: {entry.get('why', '')}")
        if len(weights) == 1:
            return as_scores(self.models[next(iter(weights))].score(users, items))
        reference = self.reference.for_items(new_items=kind.items == "new")
        total = torch.zeros((len(users), len(items)), dtype=torch.float64)
        for name, weight in weights.items():
            scores = self.models[name].score(users, items)
            reference_scores = scores if same_items(items, reference) else self.models[name].score(users, reference)
            total += weight * per_user_z(scores, reference_scores)
        return as_scores(total)

    # -- persistence ---------------------------------------------------------------------------------------------
    def state_tensors(self) -> dict[str, torch.Tensor]:
        """The used candidates' tensors under `NAME.`, and the choice as a UTF-8 JSON byte tensor."""
        state = {f"{name}.{key}": value for name, model in self.models.items()
                 for key, value in model.state_tensors().items()}
        state[_CHOICE_TENSOR] = torch.tensor(list(json.dumps(self.choice).encode()), dtype=torch.uint8)
        if self.reference is not None:
            state.update(self.reference.state_tensors(_REFERENCE_PREFIX))
        return state

    def load_state_tensors(self, state: dict[str, torch.Tensor]) -> None:
        """Rebuild the choice, then each used candidate from its saved settings and tensors."""
        self.choice = json.loads(bytes(state[_CHOICE_TENSOR].tolist()).decode())
        self.reference = ScaleReference.from_state(_REFERENCE_PREFIX, state, self.item_ids)
        if self.reference is None and any(len(entry["use"]) > 1 for entry in self.choice["kinds"].values()):
            raise ValueError("its blends were saved without the items that scale them (an auto fitted before "
                             "December 2026)")
        self.models = {}
        for name, config in self.choice["configs"].items():
            model = create_model(name, config, seed=self.seed)
            model.user_ids, model.item_ids = self.user_ids, self.item_ids
            prefix = f"{name}."
            model.load_state_tensors({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
            self.models[name] = model


@lru_cache(maxsize=None)
def _serving_class(candidates: tuple[str, ...]) -> type[AutoRecommender]:
    """AutoRecommender itself when the candidates serve what the defaults serve, else a subclass declaring less."""
    capabilities = _union_capabilities(candidates)
    if capabilities == AutoRecommender.capabilities:
        return AutoRecommender
    return type(AutoRecommender.__name__, (AutoRecommender,), {"capabilities": capabilities, "__module__": __name__,
                                                              "__doc__": AutoRecommender.__doc__})


@dataclass(frozen=True)
class _Panel:
    """One place where candidates are compared for a kind: a validation slice (or a held-out fold standing in for
    one), through its validator, and the candidates fitted without it."""

    validator: SliceValidator
    models: dict[str, Recommender]
    reference: ScaleReference
    """The items that scale a blend of these models per user: from the data they were fitted on."""

    @property
    def slice(self) -> EvalSlice:
        return self.validator.split.valid[0]


class _Steps:
    """Auto's fits (its candidates, then their refits on held-out folds) counted on its training curve, and the
    time budget shared among them."""

    def __init__(self, context: FitContext, total: int) -> None:
        self.progress = context.progress
        self.total = total
        self.done = 0
        self.deadline = None if context.time_budget_s is None else time.perf_counter() + context.time_budget_s

    def budget(self) -> float | None:
        """The next fit's share of what is left of the time budget."""
        if self.deadline is None:
            return None
        return max(self.deadline - time.perf_counter(), 0.0) / max(self.total - self.done, 1)

    def advance(self, fits: int = 1) -> None:
        self.done += fits
        if self.progress is not None:
            self.progress.report(epoch=min(self.done, self.total), n_epochs=self.total)


@dataclass
class _CandidateProgress:
    """A candidate's progress inside auto's fit: its log lines named, its epochs kept off auto's curve."""

    outer: ProgressReporter | None
    candidate: str

    def report(self, **_: Any) -> None:
        """Auto's curve counts candidates, not a candidate's epochs."""

    def log(self, message: str) -> None:
        _log(self.outer, f"{self.candidate}: {message}")

    def should_stop(self) -> bool:
        return self.outer is not None and self.outer.should_stop()


def _log(progress: ProgressReporter | None, message: str) -> None:
    if progress is not None:
        progress.log(f"auto: {message}")


def _fit_candidates(names: list[str], data: TrainData, context: FitContext, seed: int, steps: _Steps,
                    label: str = "") -> tuple[dict[str, Recommender], dict[str, str]]:
    """Each candidate fitted with its defaults (a share of what is left of the time budget); those that cannot be
    fitted on this data (no attributes, too many items) are set aside with their reason."""
    fitted: dict[str, Recommender] = {}
    failed: dict[str, str] = {}
    for name in names:
        if context.progress is not None and context.progress.should_stop():
            break
        named = f"{name} ({label})" if label else name
        try:
            fitted[name] = create_model(name, seed=seed).fit(data, replace(
                context, progress=_CandidateProgress(context.progress, named), time_budget_s=steps.budget()))
        except ValueError as error:
            failed[name] = str(error)
            _log(context.progress, f"{named} set aside: {error}")
        steps.advance()
    return fitted, failed


def _slice_validator(validator: Validator | None, data: TrainData, evaluation_slice: EvalSlice) -> SliceValidator:
    """A validator on `evaluation_slice` alone, with the protocol validator's metric and seed."""
    return make_validator(data, replace(getattr(validator, "split"), valid=[evaluation_slice]),
                          getattr(validator, "metric_name"), seed=getattr(validator, "seed", 0))


def _held_out_summary(kind: ServingKind, panels: dict[str, _Panel]) -> dict[str, Any]:
    """How many held-out folds joined the validation slice, and how many training users (items) they held out."""
    side = FOLDED_KINDS.get(kind, "users")
    folds = list(panels.values())[1:]
    return {"folds": len(folds), "of": side, "count": sum(held_out_count(panel.slice, side) for panel in folds)}


def _kind_slices(validator: Validator | None, data: TrainData) -> dict[ServingKind, EvalSlice]:
    """The first validation slice of each serving kind, the protocol's primary one first; none when the validator
    does not expose its split (then only its one score per candidate is known)."""
    split = getattr(validator, "split", None)
    if split is None:
        return {}
    slices: dict[ServingKind, EvalSlice] = {}
    for evaluation_slice in split.valid:
        kind = _slice_kind(evaluation_slice, data)
        if kind is not None:
            slices.setdefault(kind, evaluation_slice)
    return slices


def _slice_kind(evaluation_slice: EvalSlice, data: TrainData) -> ServingKind | None:
    """The serving kind of a slice, or None when it mixes known and new users (as `overall` may)."""
    new_users = ~evaluation_slice.truth["user_id"].isin(data.user_ids).to_numpy()
    if new_users.any() and not new_users.all():
        return None
    revealed = evaluation_slice.revealed if evaluation_slice.revealed is not None else pd.DataFrame(
        columns=["user_id", "item_id"])
    users: Side = "known"
    if new_users.all():
        users = "few-shot" if (~revealed["user_id"].isin(data.user_ids)).any() else "new"
    items: Side = "known"
    if evaluation_slice.new_items:
        items = "few-shot" if (~revealed["item_id"].isin(data.item_ids)).any() else "new"
    return ServingKind(users, items)


def _sides(is_new: np.ndarray, history: sp.spmatrix) -> np.ndarray:
    """Per user (item): known, new, or few-shot when new with revealed interactions."""
    revealed = np.diff(sp.csr_matrix(history).indptr) > 0
    return np.where(~is_new, "known", np.where(revealed, "few-shot", "new")).astype(object)


def _blend_grid(names: list[str]) -> list[dict[str, float]]:
    """Weights in multiples of 1/BLEND_STEPS summing to one over `names`, at least two of them non-zero."""
    grid = []
    for steps in itertools.product(range(BLEND_STEPS + 1), repeat=len(names)):
        if sum(steps) == BLEND_STEPS and sum(1 for s in steps if s) >= 2:
            grid.append({name: s / BLEND_STEPS for name, s in zip(names, steps) if s})
    return grid


def _cross_fitted(options: dict[str, dict[str, ValidationTerms]]) -> ValidationTerms:
    """What choosing among `options` scores on panels it did not choose on: each panel scored by the option best on
    the other panels (nested cross-validation). The chosen option's own pooled score is biased up by the choice,
    the more so the more options there are (a dozen blends against a handful of single models); with one panel
    there is nothing to hold out, and that is the score."""
    panels = list(next(iter(options.values())))

    def best_without(panel: str | None) -> str:
        return max(options, key=lambda option: pooled_terms(
            {name: terms for name, terms in options[option].items() if name != panel}).score)

    if len(panels) == 1:
        return pooled_terms(options[best_without(None)])
    return pooled_terms({panel: options[best_without(panel)][panel] for panel in panels})


def _blend_label(weights: dict[str, float]) -> str:
    return " + ".join(f"{weight:g} {name}" for name, weight in weights.items())


def _rounded(scores: dict[str, float]) -> dict[str, float]:
    return {name: round(score, 6) for name, score in scores.items() if math.isfinite(score)}


def _held_out_words(entry: dict[str, Any]) -> str:
    """" and 3 held-out folds (285 training users)", or nothing when no fold joined the validation slice."""
    held_out = entry.get("held_out") or {}
    if not held_out.get("folds"):
        return ""
    folds = "fold" if held_out["folds"] == 1 else "folds"
    return f" and {held_out['folds']} held-out {folds} ({held_out['count']} training {held_out['of']})"


FALLBACK = "by fallback, not validated (no validation slice holds these users and items)"
"""What a kind the split does not validate says before why its model was taken."""


def describe_choice(choice: dict[str, Any]) -> list[str]:
    """One line per serving kind, the validated ones first: what it uses and the validation scores compared, e.g.
    "known users, new items -> mapper (valid 0.1800 on cold-item vs content 0.1500, hybridmf 0.1600)"; a kind the
    split does not validate says it took a fallback and which, e.g. "few-shot users, new items -> mapper by
    fallback, not validated (...): the best on the primary validation slice of the candidates that read their
    revealed interactions (cold-item 0.1800)"."""
    lines = []
    primary = next((entry for entry in choice["kinds"].values() if entry["slice"] is not None), None)
    for key, entry in choice["kinds"].items():
        if not entry["use"]:
            lines.append(f"{key} -> not served ({entry['why']})")
            continue
        used = _blend_label(entry["use"]) if len(entry["use"]) > 1 else next(iter(entry["use"]))
        if entry["slice"] is None:
            reference = primary["scores"].get(used) if primary is not None else None
            where = f" ({primary['slice']} {reference:.4f})" if reference is not None else ""
            lines.append(f"{key} -> {used} {FALLBACK}: {entry['why']}{where}")
            continue
        others = ", ".join(f"{name} {score:.4f}" for name, score in entry["scores"].items()
                           if entry["use"] != {name: 1.0})
        blend = entry.get("best_blend")
        if blend is not None and len(entry["use"]) == 1:
            others += f"; best blend {_blend_label(blend['weights'])} {blend['valid']:.4f}"
            if "cross_fitted" in blend:
                others += (f"; each slice scored by choices made on the others, blending {blend['cross_fitted']:.4f} "
                           f"vs choosing one model {blend['single_cross_fitted']:.4f}: not better")
            elif "standard_error" in blend:
                others += f", within one standard error ({blend['standard_error']:.4f}) of it"
        compared = f" vs {others}" if others else "; no other candidate can serve them"
        lines.append(f"{key} -> {used} (valid {entry['valid']:.4f} on {entry['slice']}{_held_out_words(entry)}"
                     f"{compared})")
    for name, reason in choice.get("not_fitted", {}).items():
        lines.append(f"{name} not compared: {reason}")
    return lines
