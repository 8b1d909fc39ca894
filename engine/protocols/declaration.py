"""How a protocol is declared: a name, one line for a newcomer, typed parameters and the function that splits.

The parameters are a pydantic model like a model's config: each field has a type, bounds, a title and a
description, so the Experiments form, the CLI's `--split-param` and the checks all read one declaration. Adding a
protocol is one new file under `engine/protocols/` that declares a `ProtocolDeclaration`, plus one line in
`engine.runs.protocol_catalog.PROTOCOLS`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from annotated_types import Ge, Gt, Lt
import pandas as pd
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from engine.core.data import TrainData
from engine.core.model import Recommender
from engine.data.dataset import Dataset
from engine.protocols.assemble import SplitParts
from engine.protocols.common import ProtocolError
from engine.protocols.split import Split


class ProtocolParams(BaseModel):
    """Base of every protocol's parameters: unknown names are refused, values are immutable once parsed."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def fraction(default: float, title: str, description: str, *, allow_zero: bool = True) -> Any:
    """A share in [0, 1) (or (0, 1) without `allow_zero`), declared like every other parameter."""
    low = {"ge": 0.0} if allow_zero else {"gt": 0.0}
    return Field(default, lt=1.0, title=title, description=description, **low)


def _comma_separated(value: Any) -> Any:
    """'1,2,3' (a form or command line) -> ['1', '2', '3']; lists and tuples pass through."""
    return [part.strip() for part in value.split(",")] if isinstance(value, str) else value


WholeNumbers = Annotated[tuple[int, ...], BeforeValidator(_comma_separated)]
"""A list of whole numbers, written `1,2,3` in a form or on the command line."""

ParamsT = TypeVar("ParamsT", bound=ProtocolParams)
ExtraSlices = Callable[[Recommender, TrainData, Dataset, Split, Sequence[int], int],
                       tuple[dict[str, Any], pd.DataFrame]]


@dataclass(frozen=True)
class ProtocolDeclaration(Generic[ParamsT]):
    """One protocol: `split(dataset, seed, params)` assigns the dataset's rows to train / valid / test."""

    name: str
    summary: str
    """One line of plain text for a newcomer (form options and CLI help show no markdown)."""
    Params: type[ParamsT]
    split: Callable[[Dataset, int, ParamsT], SplitParts]
    extra_slices: ExtraSlices | None = None
    """Slices a run adds beyond the split's own, measured with the fitted model (the onboarding protocol's
    simulation): `extra_slices(model, train, dataset, split, ks, seed)` -> (results.json entries by slice name,
    per-user rows with `slice`, `user_id`, `history` and metric columns). None for every protocol whose split
    holds all its slices."""

    def defaults(self) -> dict[str, Any]:
        """The parameters with their defaults, in declaration order."""
        return self.Params().model_dump()

    def parse(self, raw: dict[str, Any]) -> ParamsT:
        """Typed parameters from `raw` (strings from a form or command line, or values); a bad one is a
        `ProtocolError` naming the parameter, its value and what it must be."""
        fields = self.Params.model_fields
        unknown = sorted(set(raw) - set(fields))
        if unknown:
            raise ProtocolError(f"protocol {self.name!r} has no parameter {', '.join(unknown)}; "
                                f"its parameters are: {', '.join(fields)}")
        try:
            return self.Params(**raw)
        except ValidationError as error:
            first = error.errors()[0]
            key = str(first["loc"][0])
            raise ProtocolError(self._problem(key, raw[key], first["type"])) from None

    def _problem(self, key: str, value: Any, kind: str) -> str:
        """What is wrong with one parameter, in the words of the form and the command line."""
        info = self.Params.model_fields[key]
        bounds = {type(m): m for m in info.metadata}
        if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
            if Lt in bounds and bounds[Lt].lt == 1:
                interval = "(0, 1)" if Gt in bounds else "[0, 1)"
                return f"parameter {key}={value!r} must be a fraction in {interval}"
            if Ge in bounds:
                return f"parameter {key}={value!r} must be at least {bounds[Ge].ge} ({info.description})"
        default = info.get_default()
        example = ",".join(str(v) for v in default) if isinstance(default, tuple) else repr(default)
        return f"parameter {key}={value!r} of protocol {self.name!r} must be like {example}"
