"""The slice kinds, declared once: each kind's name, what it measures in words, and the reading order pages use.

`engine.protocols.assemble` names the slices it builds from these, `split.json` records their candidate rules,
and Compare orders and describes slices from them. Few-shot kinds stand for one slice per K (`few-shot-user-k3`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Side = Literal["user", "item"]


@dataclass(frozen=True)
class SliceKind:
    """What one kind of test slice measures, in words for a reader: whose held-out rows, ranked among which
    candidates, and (when it is not obvious) why the slice is there."""

    name: str
    tested: str
    candidates: str
    why: str = ""
    new_sides: tuple[Side, ...] = ()
    """Whose held-out rows are of users (items) unseen in training: a model must serve new ones to score it."""

    def sentence(self) -> str:
        """One sentence: `<tested>, ranked among <candidates>; <why>` (why only when there is one)."""
        return f"{self.tested}, ranked among {self.candidates}" + (f"; {self.why}" if self.why else "")


OVERALL = SliceKind("overall", "every held-out interaction", "the training items, with the new or few-shot items the "
                    "protocol holds out, if any")
WARM = SliceKind("warm", "known users' held-out interactions with known items", "all training items",
                 "the classic setting, no cold start")
COLD_USER = SliceKind("cold-user", "held-out interactions of new users (no training rows)", "all training items",
                      "the model sees their attributes only", new_sides=("user",))
COLD_ITEM = SliceKind("cold-item", "known users' held-out interactions with new items (no training rows)",
                      "the new items only (every item of valid and test without training or revealed rows)",
                      "a new item only competes with other new items, as in the ColdRec protocol",
                      new_sides=("item",))
COLD_ITEM_ALL = SliceKind("cold-item-all", "the same interactions as cold-item", "all training items plus the new items",
                          "much harder and closer to what a user sees: a new item must outrank every established "
                          "one, so scores are far lower than on cold-item", new_sides=("item",))
COLD_BOTH = SliceKind("cold-both", "new users' held-out interactions with new items", "the new items only",
                      new_sides=("user", "item"))
FEW_SHOT_USER = SliceKind("few-shot-user-kK", "held-out interactions of new users who revealed K of their "
                          "interactions (the earliest) to the model", "all training items", new_sides=("user",))
FEW_SHOT_ITEM = SliceKind("few-shot-item-kK", "held-out interactions with new items that revealed K of their "
                          "interactions (the earliest)", "the few-shot items of the same part (valid or test)",
                          new_sides=("item",))
TEMPORAL = SliceKind("temporal", "known users' interactions with known items after the time cut", "all training items")

SLICE_KINDS: dict[str, SliceKind] = {kind.name: kind for kind in (
    OVERALL, WARM, COLD_USER, COLD_ITEM, COLD_ITEM_ALL, COLD_BOTH, FEW_SHOT_USER, FEW_SHOT_ITEM, TEMPORAL)}
"""Every slice kind the protocols produce (few-shot slices once, for any K), in the order a reader expects."""
FEW_SHOT_KINDS: dict[Side, SliceKind] = {"user": FEW_SHOT_USER, "item": FEW_SHOT_ITEM}
COLD_KINDS: dict[Side, SliceKind] = {"user": COLD_USER, "item": COLD_ITEM}
"""The fully cold slice of each side: k = 0 of its cold-start curve."""

_FEW_SHOT = re.compile(r"^few-shot-(user|item)-k(\d+)$")


def few_shot_name(side: Side, k: int) -> str:
    """The name of the few-shot slice of `side` that reveals `k` interactions, e.g. `few-shot-user-k3`."""
    return FEW_SHOT_KINDS[side].name.removesuffix("kK") + f"k{k}"


def few_shot_protocol(side: Side) -> str:
    """The protocol named after a side's few-shot slices (`few-shot-user`); it validates on one of them."""
    return FEW_SHOT_KINDS[side].name.removesuffix("-kK")


def few_shot_k(name: str) -> tuple[Side, int] | None:
    """(`user` or `item`, k) for a few-shot slice name such as `few-shot-user-k3`, else None."""
    match = _FEW_SHOT.match(name)
    return (match.group(1), int(match.group(2))) if match else None  # type: ignore[return-value]


def slice_kind(name: str) -> SliceKind | None:
    """The kind of a slice name (a few-shot name's kK kind), or None for a name no protocol produces."""
    shot = few_shot_k(name)
    return FEW_SHOT_KINDS[shot[0]] if shot else SLICE_KINDS.get(name)
