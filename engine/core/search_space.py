"""A model's hyper-parameter search space: ranges (optionally log-scaled) and lists of choices.

Each model declares `search_space = {field: dimension}`. A plain list is a choice among its values; `FloatRange`
and `IntRange` let the tuner cover orders of magnitude (a regularisation from 0.01 to 100) where a grid would
either miss the right value on unlike data or cost a trial per point. The space always contains the model's
defaults (a conformance test checks it), so a tuned model can only do as well as its defaults or better on
validation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol, Union


@dataclass(frozen=True)
class FloatRange:
    """Any float from `low` to `high`; `log` samples evenly in orders of magnitude."""

    low: float
    high: float
    log: bool = False


@dataclass(frozen=True)
class IntRange:
    """Any whole number from `low` to `high`; `log` samples evenly in orders of magnitude."""

    low: int
    high: int
    log: bool = False


Dimension = Union[FloatRange, IntRange, list]
SearchSpace = dict[str, Dimension]


class Suggester(Protocol):
    """The part of an optuna trial that draws values (so this module needs no optuna import)."""

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float: ...

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False) -> int: ...

    def suggest_categorical(self, name: str, choices: list) -> Any: ...


def suggest(trial: Suggester, name: str, dimension: Dimension) -> Any:
    """Draw one value of `dimension` for the parameter `name`."""
    if isinstance(dimension, FloatRange):
        return trial.suggest_float(name, dimension.low, dimension.high, log=dimension.log)
    if isinstance(dimension, IntRange):
        return trial.suggest_int(name, dimension.low, dimension.high, log=dimension.log)
    return trial.suggest_categorical(name, list(dimension))


def contains(dimension: Dimension, value: Any) -> bool:
    """Whether `value` is one the dimension can produce (for enqueuing known settings, and the conformance test)."""
    if isinstance(dimension, (FloatRange, IntRange)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        whole = isinstance(dimension, FloatRange) or float(value).is_integer()
        return whole and dimension.low <= value <= dimension.high
    return value in dimension


def grid_points(dimension: Dimension) -> list:
    """A few values to try without a tuner (the Train form's "also try" grid): ends and middle of a range."""
    if not isinstance(dimension, (FloatRange, IntRange)):
        return list(dimension)
    low, high = dimension.low, dimension.high
    middle = math.sqrt(low * high) if dimension.log and low > 0 else (low + high) / 2
    if isinstance(dimension, IntRange):
        return sorted({int(low), int(round(middle)), int(high)})
    return sorted({float(low), float(f"{middle:.3g}"), float(high)})


def describe(dimension: Dimension) -> str:
    """'0.01 to 100 (log)' or '16, 32, 64': how the form and the docs show a dimension."""
    if isinstance(dimension, (FloatRange, IntRange)):
        return f"{dimension.low:g} to {dimension.high:g}" + (" (log)" if dimension.log else "")
    return ", ".join(str(value) for value in dimension)
