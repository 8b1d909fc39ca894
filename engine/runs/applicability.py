"""What a model can serve on one experiment, before it is trained: each test slice served or not and why, and where
it is served without what would tell new users (items) apart.

A model's capabilities say what it could serve anywhere; whether it serves this experiment's slices also depends
on the protocol (which slices hold new or few-shot users and items) and the dataset (ratings or not, user and item
attributes or not). Read from the experiment's recorded slice sizes and the dataset's catalogue entry, with the
model's own `cannot_serve`, the rule the evaluator applies: no split or data file is loaded, so the model picker
can say it on every rerun.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.core.model import Capabilities, Recommender
from engine.data.catalog import DatasetInfo, get_dataset_info
from engine.models.registry import get_model_class
from engine.protocols.slices import OVERALL, Side, few_shot_k, slice_kind
from engine.runs.experiments import ExperimentInfo, get_experiment


@dataclass(frozen=True)
class SliceShape:
    """What a test slice asks of a model: whether its users (items) are new, and whether it reveals a few of their
    interactions."""

    name: str
    new: frozenset[Side]
    revealed: frozenset[Side]


@dataclass(frozen=True)
class SliceServing:
    """One test slice for one model: served or not, the reason when not, and, when served, what it is served
    without (None when nothing is missing)."""

    name: str
    refused: str | None = None
    blind: str | None = None


def slice_shapes(experiment: ExperimentInfo) -> list[SliceShape]:
    """The experiment's test slices, in the order the protocol made them; `overall` holds every other slice's
    users and items, and reveals what the few-shot slices reveal when it reveals anything."""
    sizes: dict[str, dict] = experiment.sizes.get("test", {})
    shapes = []
    for name in sizes:
        kind = slice_kind(name)
        shot = few_shot_k(name)
        shapes.append(SliceShape(name, frozenset(kind.new_sides if kind is not None else ()),
                                 frozenset((shot[0],) if shot else ())))
    new = frozenset().union(*(shape.new for shape in shapes))
    revealed = frozenset().union(*(shape.revealed for shape in shapes))
    return [SliceShape(s.name, new, revealed if sizes[s.name].get("revealed") else frozenset())
            if s.name == OVERALL.name else s for s in shapes]


def _blind(model: type[Recommender], shape: SliceShape, dataset: DatasetInfo) -> str | None:
    """What a model serving `shape` lacks to tell its new users (items) apart, in words; None when nothing."""
    caps: Capabilities = model.capabilities
    described = dataset.described_sides()
    missing = []
    for side in ("user", "item"):
        if side not in shape.new:
            continue
        folds_in = caps.user_fold_in if side == "user" else caps.item_fold_in
        if side in shape.revealed and folds_in:
            continue  # told apart by the interactions they revealed
        reads = caps.uses_user_features if side == "user" else caps.uses_item_features
        ignored = " (it ignores their revealed interactions)" if side in shape.revealed else ""
        if not reads:
            missing.append(f"without telling new {side}s apart: it reads no {side} attributes{ignored}")
        elif side not in described:
            missing.append(f"without telling new {side}s apart: '{dataset.name}' has no {side} attributes{ignored}")
    return "; ".join(missing) or None


def serving_on(model: str, experiment_id: int) -> list[SliceServing]:
    """Per test slice of the experiment: whether `model` serves it (the evaluator's rule), and what it lacks there."""
    experiment = get_experiment(experiment_id)
    dataset = get_dataset_info(experiment.dataset_id)
    cls = get_model_class(model)
    ratings = dataset.feedback.kind == "explicit"
    served = []
    for shape in slice_shapes(experiment):
        refused = cls.cannot_serve(new_users="user" in shape.new, new_items="item" in shape.new,
                                   revealed_users="user" in shape.revealed, revealed_items="item" in shape.revealed,
                                   ratings=ratings)
        served.append(SliceServing(shape.name, refused, None if refused else _blind(cls, shape, dataset)))
    return served


def _named(names: list[str]) -> str:
    """Slice names, the few-shot slices of one side together: 'cold-user, few-shot-user (k1, k3, k5)'."""
    groups: list[tuple[str, list[str]]] = []
    for name in names:
        shot = few_shot_k(name)
        label = f"few-shot-{shot[0]}" if shot else name
        if shot and groups and groups[-1][0] == label:
            groups[-1][1].append(f"k{shot[1]}")
        else:
            groups.append((label, [f"k{shot[1]}"] if shot else []))
    return ", ".join(f"{label} ({', '.join(ks)})" if ks else label for label, ks in groups)


def serving_summary(model: str, experiment_id: int) -> str:
    """One line for the model picker: the slices of this experiment the model serves, those it serves without
    telling new users (items) apart and why, and those it cannot serve and why."""
    slices = serving_on(model, experiment_id)
    if not slices:
        return "nothing to say yet: this experiment recorded no test slices"
    plain = [s.name for s in slices if s.refused is None and s.blind is None]
    parts = [_named(plain)] if plain else [] if any(s.blind for s in slices) else ["none of this experiment's slices"]
    for reason in dict.fromkeys(s.blind for s in slices if s.blind):
        parts.append(f"{_named([s.name for s in slices if s.blind == reason])}, but {reason}")
    for reason in dict.fromkeys(s.refused for s in slices if s.refused):
        parts.append(f"not {_named([s.name for s in slices if s.refused == reason])}: {reason}")
    return " · ".join(parts)
