"""What a form shows for a typed declaration: a model's hyper-parameters (and what it can serve), a protocol's
parameters.

Pages build widgets from these descriptions, so a new model or protocol gets a form without page code: numbers
become number inputs with their bounds, `Literal` fields become select boxes, booleans checkboxes, lists of whole
numbers a text input (`1,2,3`), lists of named choices (a tuple of a `Literal`) a multi-select, a list of registered
model names (auto's candidates) a multi-select of the models the config accepts, any other list a text input of
comma-separated values that `parse_field` checks with the config's own rules, and descriptions become help.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from engine.core.model import Capabilities
from engine.core.search_space import describe, grid_points
from engine.models.registry import get_model_class, model_names

FieldKind = Literal["int", "float", "bool", "choice", "several", "models", "list", "text", "whole_numbers", "fixed"]

CAPABILITY_LABELS = {
    "new_users": "new users (attributes)",
    "new_items": "new items (attributes)",
    "user_fold_in": "new users (a few interactions)",
    "item_fold_in": "new items (a few interactions)",
    "needs_ratings": "needs ratings",
}
WITHOUT_ATTRIBUTES = {
    "new_users": ("uses_user_features", "new users (without attributes, not personalised)"),
    "new_items": ("uses_item_features", "new items (without attributes)"),
}
"""How serving new users (items) reads for a model that does not read their attributes (MostPopular, Random)."""


@dataclass(frozen=True)
class ParamField:
    """One parameter as a form field."""

    name: str
    label: str
    kind: FieldKind
    default: Any
    help: str
    choices: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None


class ParamError(ValueError):
    """A value a typed declaration refuses for one field: `given` as the person wrote it, `reason` in pydantic's
    (or the config's own validator's) words. Forms and the command line add how to write it their way."""

    def __init__(self, field: str, given: Any, reason: str) -> None:
        super().__init__(f"{field}: {given!r} is not valid: {reason}")
        self.field, self.given, self.reason = field, given, reason


def _strip_optional(annotation: Any) -> Any:
    """`int | None` -> int: the form always holds a value, the default may be None only for fixed fields."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _bounds(info: FieldInfo) -> tuple[float | None, float | None]:
    low = high = None
    for item in info.metadata:
        if isinstance(item, (Ge, Gt)):
            low = item.ge if isinstance(item, Ge) else item.gt
        elif isinstance(item, (Le, Lt)):
            high = item.le if isinstance(item, Le) else item.lt
    return low, high


def list_item(annotation: Any) -> Any | None:
    """The item type of `list[X]` or `tuple[X, ...]` (optional or not); None for anything else."""
    annotation = _strip_optional(annotation)
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is list and len(args) == 1:
        return args[0]
    if typing.get_origin(annotation) is tuple and len(args) == 2 and args[1] is Ellipsis:
        return args[0]
    return None


def comma_values(text: str) -> list[str]:
    """`"content, mostpop"` -> ["content", "mostpop"]; empty parts are dropped."""
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_field(config: type[BaseModel], name: str, raw: Any) -> Any:
    """`raw` as field `name` of `config` holds it, checked with the config's own rules (bounds, validators);
    comma-separated text for a list field is split first. A refused value is a `ParamError`."""
    info = config.model_fields[name]
    value = comma_values(raw) if isinstance(raw, str) and list_item(info.annotation) is not None else raw
    try:
        checked = config.model_validate({name: value})
    except ValidationError as error:
        own = [e for e in error.errors() if e["loc"][:1] == (name,)] or error.errors()
        reasons = "; ".join(_reason(e) for e in own)
        raise ParamError(name, raw, reasons) from None
    return getattr(checked, name)


def _reason(error: Any) -> str:
    """One pydantic error in words, naming the list position it is about ("item 2: ...")."""
    message = str(error["msg"]).removeprefix("Value error, ")
    positions = [p for p in error["loc"][1:] if isinstance(p, int)]
    return f"item {positions[0] + 1}: {message}" if positions else message


def _model_names_accepted(config: type[BaseModel], name: str, default: Any) -> tuple[str, ...]:
    """The registered models `config` accepts in list field `name`, when its default lists only registered models
    (auto's candidates); () when the field is not a list of model names."""
    if not isinstance(default, (list, tuple)) or not default or not set(default) <= set(model_names()):
        return ()
    accepted = []
    for candidate in model_names():
        try:
            config.model_validate({name: [candidate]})
        except ValidationError:
            continue
        accepted.append(candidate)
    return tuple(accepted)


def param_fields(model: str) -> list[ParamField]:
    """The form fields of `model`'s config, in declaration order."""
    return declared_fields(get_model_class(model).Config)


def declared_fields(config: type[BaseModel]) -> list[ParamField]:
    """The form fields of a typed declaration (a model config, a protocol's parameters), in declaration order."""
    result = []
    for name, info in config.model_fields.items():
        annotation = _strip_optional(info.annotation)
        default = info.get_default(call_default_factory=True)
        label = info.title or name.replace("_", " ")
        help_text = info.description or ""
        low, high = _bounds(info)
        if typing.get_origin(annotation) is Literal:
            kind, choices = "choice", tuple(typing.get_args(annotation))
        elif annotation is bool:
            kind, choices = "bool", ()
        elif annotation is int:
            kind, choices = "int", ()
        elif annotation is float:
            kind, choices = "float", ()
        elif annotation is str:
            kind, choices = "text", ()
        elif typing.get_origin(annotation) is tuple and typing.get_args(annotation) == (int, Ellipsis):
            kind, choices = "whole_numbers", ()
        elif typing.get_origin(annotation) is tuple and typing.get_origin(typing.get_args(annotation)[0]) is Literal:
            kind, choices = "several", tuple(typing.get_args(typing.get_args(annotation)[0]))
        elif list_item(annotation) is str and (accepted := _model_names_accepted(config, name, default)):
            kind, choices = "models", accepted
        elif list_item(annotation) in (str, int, float):
            kind, choices = "list", ()
        else:
            kind, choices = "fixed", ()
        if default is None and kind != "fixed":
            kind = "fixed"  # "None" means "let the model decide"; there is no widget value for it
        result.append(ParamField(name, label, kind, default, help_text, choices, low, high))
    return result


def _capability_label(caps: Capabilities, key: str) -> str:
    if key in WITHOUT_ATTRIBUTES and not getattr(caps, WITHOUT_ATTRIBUTES[key][0]):
        return WITHOUT_ATTRIBUTES[key][1]
    return CAPABILITY_LABELS[key]


def capability_summary(model: str) -> str:
    """What a model can serve, in words for the model picker, e.g. "new items (attributes) · needs ratings";
    new users or items served without attributes say so."""
    caps: Capabilities = get_model_class(model).capabilities
    served = [_capability_label(caps, key) for key in CAPABILITY_LABELS if getattr(caps, key)]
    return " · ".join(served) or "known users and items only"


def model_choices(names: list[str]) -> dict[str, str]:
    """Registry key -> "Label (family)" for a picker."""
    out = {}
    for name in names:
        cls = get_model_class(name)
        out[name] = f"{cls.label} ({cls.family})"
    return out


def search_space_summary(model: str) -> str:
    """'factors 8 to 256 (log), regularization 0.01 to 1000 (log)' or 'nothing (no settings to tune)'."""
    space = get_model_class(model).search_space
    return "; ".join(f"{name} {describe(dimension)}" for name, dimension in space.items()) or \
        "nothing (no settings to tune: one trial)"


def suggested_grid(model: str) -> dict[str, list[Any]]:
    """A few values per dimension of the model's search space (ends and middle of a range), for a grid by hand."""
    return {name: grid_points(dimension) for name, dimension in get_model_class(model).search_space.items()}

