"""The protocols by name and `make_split`: the one entry point to split data.

Adding a protocol is one new file that declares a `ProtocolDeclaration` (see `engine.protocols.declaration`) plus
one line in `PROTOCOLS`, as adding a model is one file plus one line in `engine.models.registry`. The catalog sits
in the runs layer, above every package that declares a protocol: the split protocols (`engine.protocols`) and the
onboarding protocol, whose simulation needs models and metrics (`engine.onboarding`). Its entries are imported by
name, when first asked for, and the architecture test counts them as imports.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from engine.data.dataset import Dataset
from engine.protocols.assemble import assemble_split
from engine.protocols.common import ProtocolError
from engine.protocols.declaration import ProtocolDeclaration
from engine.protocols.split import Split

PROTOCOLS: dict[str, str] = {
    # name: "engine.protocols.<module>:<declaration>"   (the order of the form's options)
    "warm": "engine.protocols.warm:PROTOCOL",
    "cold-item": "engine.protocols.cold:COLD_ITEM",
    "cold-user": "engine.protocols.cold:COLD_USER",
    "cold-both": "engine.protocols.cold:COLD_BOTH",
    "few-shot-user": "engine.protocols.few_shot:FEW_SHOT_USER",
    "few-shot-item": "engine.protocols.few_shot:FEW_SHOT_ITEM",
    "temporal": "engine.protocols.temporal:PROTOCOL",
    "onboarding": "engine.onboarding.protocol:PROTOCOL",
}


def get_protocol(name: str) -> ProtocolDeclaration:
    """The protocol registered under `name`, with the list of known names when it is not."""
    try:
        module, _, attribute = PROTOCOLS[name].partition(":")
    except KeyError:
        raise ProtocolError(f"unknown protocol {name!r}; known protocols: {', '.join(PROTOCOLS)}") from None
    declaration: ProtocolDeclaration = getattr(import_module(module), attribute)
    if declaration.name != name:
        raise ProtocolError(f"protocol {name!r} is registered as {PROTOCOLS[name]}, which declares {declaration.name!r}")
    return declaration


def protocol_summaries() -> dict[str, str]:
    """Name -> one line of plain text, for form options and CLI help."""
    return {name: get_protocol(name).summary for name in PROTOCOLS}


def make_split(dataset: Dataset, protocol: str, seed: int = 0, params: dict[str, Any] | None = None) -> Split:
    """Split `dataset` with a named protocol, seed and (partial) parameters into a fingerprinted `Split`."""
    declaration = get_protocol(protocol)
    return assemble_split(declaration.split(dataset, int(seed), declaration.parse(params or {})))
