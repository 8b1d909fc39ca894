"""The one place models are registered: a registry key -> `module:Class`, imported only when asked for.

Adding a model is one new file under `engine/models/` plus one line here.
"""

from __future__ import annotations

from importlib import import_module

from engine.core.model import Recommender
from engine.settings import get_settings

MODELS: dict[str, str] = {
    # key: "engine.models.<module>:<Class>"   (keep grouped by family)
    "random": "engine.models.random_model:RandomRecommender",
    "mostpop": "engine.models.popularity:PopularityRecommender",
    "segmentpop": "engine.models.segment_popularity:SegmentPopularityRecommender",
    "itemknn": "engine.models.itemknn:ItemKNNRecommender",
    "userknn": "engine.models.userknn:UserKNNRecommender",
    "rp3beta": "engine.models.rp3beta:RP3betaRecommender",
    "ease": "engine.models.ease:EASERecommender",
    "als": "engine.models.als:ALSRecommender",
    "content": "engine.models.content:ContentRecommender",
    "attrridge": "engine.models.attribute_ridge:AttributeRidgeRecommender",
    "mapper": "engine.models.attribute_mapper:AttributeMapperRecommender",
    "bpr": "engine.models.bpr:BPRRecommender",
    "svdpp": "engine.models.svdpp:SVDPPRecommender",
    "hybridmf": "engine.models.hybrid_mf:HybridMFRecommender",
    "neumf": "engine.models.neumf:NeuMFRecommender",
    "deepfm": "engine.models.deepfm:DeepFMRecommender",
    "twotower": "engine.models.two_tower:TwoTowerRecommender",
    "item2vec": "engine.models.item2vec:Item2Vec",
    "sasrec": "engine.models.sasrec:SASRec",
    "dropoutnet": "engine.models.dropoutnet:DropoutNet",
    "heater": "engine.models.heater:Heater",
    "aldi": "engine.models.aldi:ALDI",
    "metaemb": "engine.models.metaemb:MetaEmb",
    "auto": "engine.models.auto:AutoRecommender",
}
DEFAULT_MODEL = "auto"
"""The model a user who does not know which to pick starts from (the Train form's selection, the demo's first run)."""


class UnknownModelError(KeyError):
    """Raised with the list of known names, so a typo gets a useful message."""

    def __str__(self) -> str:
        return self.args[0]


def _registered() -> dict[str, str]:
    """The product registry plus the models of any modules named in `COLDSTART_EXTRA_MODELS` (the tests' fault
    models), read at every lookup so job child processes, which inherit the environment, see the same models."""
    modules = get_settings().extra_model_modules
    if not modules:
        return MODELS
    merged = dict(MODELS)
    for module_name in modules:
        merged.update(import_module(module_name).MODELS)
    return merged


def model_names() -> list[str]:
    return list(_registered())


def get_model_class(name: str) -> type[Recommender]:
    """The model class registered under `name`."""
    registered = _registered()
    try:
        target = registered[name]
    except KeyError:
        known = ", ".join(registered) or "none"
        raise UnknownModelError(f"unknown model {name!r}; known models: {known}") from None
    module_name, class_name = target.split(":")
    return getattr(import_module(module_name), class_name)


def create_model(name: str, params: dict | None = None, seed: int = 0) -> Recommender:
    """Build an unfitted model from its name and (partial) hyper-parameters, validated by its typed config."""
    cls = get_model_class(name)
    return cls(cls.Config(**(params or {})), seed=seed)
