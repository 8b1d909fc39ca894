"""The protocols by name, their parameters with defaults, and `make_split`: the one entry point to split data."""

from __future__ import annotations

import inspect
from typing import Any, Callable

from engine.data.dataset import Dataset
from engine.protocols.assemble import SplitParts, assemble_split
from engine.protocols.cold import cold_both_split, cold_item_split, cold_user_split
from engine.protocols.common import ProtocolError
from engine.protocols.few_shot import few_shot_item_split, few_shot_user_split
from engine.protocols.split import Split
from engine.protocols.temporal import temporal_split
from engine.protocols.warm import warm_split

PROTOCOLS: dict[str, Callable[..., SplitParts]] = {
    "warm": warm_split,
    "cold-item": cold_item_split,
    "cold-user": cold_user_split,
    "cold-both": cold_both_split,
    "few-shot-user": few_shot_user_split,
    "few-shot-item": few_shot_item_split,
    "temporal": temporal_split,
}

PROTOCOL_DESCRIPTIONS: dict[str, str] = {
    "warm": "each user's positives are split into training, validation and test (nobody and nothing is new)",
    "cold-item": "a share of the items has no training interaction, like items just added to a catalogue",
    "cold-user": "a share of the users has no training interaction, like people who just signed up",
    "cold-both": "a share of the users and of the items is new, and new users meet new items too",
    "few-shot-user": "held-out users reveal only k of their interactions (k = 1, 2, 3, 5, 10 by default)",
    "few-shot-item": "held-out items reveal only k of their interactions and are ranked among the held-out items",
    "temporal": "train on the oldest interactions, validate on the next ones, test on the newest (the seed is unused)",
}
"""One line of plain text per protocol for a newcomer (form options and CLI help show no markdown); the details,
with parameter names, are in each protocol function's docstring."""


def protocol_function(name: str) -> Callable[..., SplitParts]:
    """The protocol registered under `name`, with the list of known names when it is not."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ProtocolError(f"unknown protocol {name!r}; known protocols: {', '.join(PROTOCOLS)}") from None


def protocol_parameters(name: str) -> dict[str, Any]:
    """The tunable parameters of a protocol with their defaults (what the app's form and the CLI offer)."""
    signature = inspect.signature(protocol_function(name))
    return {p.name: p.default for p in signature.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY}


def coerce_parameters(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Check parameter names and convert values (strings from a form or command line) to the defaults' types."""
    defaults = protocol_parameters(name)
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ProtocolError(f"protocol {name!r} has no parameter {', '.join(unknown)}; "
                            f"its parameters are: {', '.join(defaults)}")
    out: dict[str, Any] = {}
    for key, value in params.items():
        default = defaults[key]
        try:
            if isinstance(default, tuple):
                items = value.split(",") if isinstance(value, str) else value
                out[key] = tuple(int(v) for v in items)
            elif isinstance(default, bool):
                out[key] = value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
            else:
                out[key] = type(default)(value)
        except (TypeError, ValueError):
            raise ProtocolError(f"parameter {key}={value!r} of protocol {name!r} must be like {default!r}") from None
    return out


def make_split(dataset: Dataset, protocol: str, seed: int = 0, params: dict[str, Any] | None = None) -> Split:
    """Split `dataset` with a named protocol, seed and (partial) parameters into a fingerprinted `Split`."""
    function = protocol_function(protocol)
    return assemble_split(function(dataset, int(seed), **coerce_parameters(protocol, params or {})))
