"""Item2Vec: skip-gram with negative sampling over user histories; a user is the mean of their items' vectors.

Barkan, Koenigstein, "Item2Vec: Neural Item Embedding for Collaborative Filtering", MLSP 2016 (word2vec's SGNS,
Mikolov et al., NeurIPS 2013, with a user's item set as the sentence and every other item of the set as context).
Each training positive (u, i) is a centre item; a context item is drawn from the rest of u's history, and
negatives from the smoothed popularity distribution (count ** 0.75, as word2vec). A user's profile is the mean of
the normalised vectors of the items they had, so a new user who reveals a few items is folded in for free; items
unseen in training have no vector (warm items only).
"""

from __future__ import annotations

from typing import ClassVar

import scipy.sparse as sp
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from engine.models._backbone import history_mean
from engine.models._scoring import as_scores, require_known_items
from engine.models.base import Capabilities, FitContext, ItemQuery, TrainData, UserQuery
from engine.training.loop import GradientConfig, tuned_default
from engine.training.recommender import TorchRecommender
from engine.training.sampler import NegativeSampler, NegativeSampling


class Item2VecConfig(GradientConfig):
    """Item2Vec hyper-parameters (word2vec's defaults where they apply)."""

    dim: int = Field(64, ge=2, le=1024, title="Embedding size", description="Length of each item vector.")
    n_negatives: int = Field(5, ge=1, le=100, title="Negatives", description="Negative items per (centre, context).")
    negative_sampling: NegativeSampling = Field(
        "popularity", title="Negative sampling",
        description="popularity (word2vec's unigram ** alpha, the default) or uniform.")
    epochs: int = tuned_default("epochs", 20)
    lr: float = tuned_default("lr", 0.01)


class _SkipGram(nn.Module):
    def __init__(self, n_items: int, dim: int) -> None:
        super().__init__()
        self.centre = nn.Embedding(n_items, dim)
        self.context = nn.Embedding(n_items, dim)
        nn.init.normal_(self.centre.weight, std=dim ** -0.5)
        nn.init.zeros_(self.context.weight)


def _draw_context(indptr: torch.Tensor, indices: torch.Tensor, users: torch.Tensor,
                  centre: torch.Tensor) -> torch.Tensor:
    """Another item of each user's history (the centre itself only for users with a single item)."""
    start = indptr[users]
    degree = indptr[users + 1] - start
    context = indices[start + (torch.rand(len(users), device=users.device) * degree).long()]
    # one redraw makes a self-pair rare; the rest are harmless (a word's own context)
    redraw = context == centre
    context[redraw] = indices[start[redraw] + (torch.rand(int(redraw.sum()), device=users.device)
                                                 * degree[redraw]).long()]
    return context


class Item2Vec(TorchRecommender):
    name: ClassVar[str] = "item2vec"
    label: ClassVar[str] = "Item2Vec"
    family: ClassVar[str] = "deep"
    Config = Item2VecConfig
    capabilities: ClassVar[Capabilities] = Capabilities(user_fold_in=True)
    search_space: ClassVar[dict[str, list]] = {"dim": [32, 64, 128], "lr": [0.005, 0.01, 0.02]}
    test_params: ClassVar[dict] = {"epochs": 20, "batch_size": 128, "lr": 0.02, "dim": 8}
    """A small, fast configuration for the conformance suite."""

    config: Item2VecConfig

    def module_sizes(self, data: TrainData) -> dict[str, int]:
        return {"n_items": data.n_items}

    def build_module(self, sizes: dict[str, int]) -> nn.Module:
        return _SkipGram(sizes["n_items"], self.config.dim)

    def _fit(self, data: TrainData, context: FitContext) -> None:
        cfg = self.config
        net = self.init_module(data, context)
        history = sp.csr_matrix(data.matrix)
        indptr = torch.as_tensor(history.indptr, dtype=torch.int64, device=self.device)
        indices = torch.as_tensor(history.indices, dtype=torch.int64, device=self.device)
        sampler = NegativeSampler(data.matrix, batch_size=cfg.batch_size, n_negatives=cfg.n_negatives,
                                  kind=cfg.negative_sampling, alpha=cfg.popularity_alpha,
                                  reject_positives=False, seed=self.seed)

        def batch_loss(batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
            users, centre, negatives, _ = batch
            context_items = _draw_context(indptr, indices, users, centre)
            centre_vec = net.centre(centre)
            positive = (centre_vec * net.context(context_items)).sum(1)
            negative = torch.einsum("bd,bnd->bn", centre_vec, net.context(negatives))
            return (F.softplus(-positive) + F.softplus(negative).sum(1)).mean()

        self.run_training(sampler, batch_loss, context)

    def item_vectors(self) -> torch.Tensor:
        """Unit-length centre vectors: cosine similarity is what skip-gram embeddings are compared by."""
        return F.normalize(self.fitted_module().centre.weight.detach(), dim=1)

    def score(self, users: UserQuery, items: ItemQuery) -> torch.Tensor:
        """Cosine between the mean of the user's history vectors and each candidate's vector."""
        item_index = torch.as_tensor(require_known_items(self, items), device=self.device)
        vectors = self.item_vectors()
        # a user without any history has an all-zero profile: every candidate scores 0 (no information)
        profiles = history_mean(users.history, vectors)
        return as_scores(F.normalize(profiles, dim=1) @ vectors[item_index].T)
