"""Item2Vec: skip-gram with negative sampling over user histories; a user is the mean of their items' vectors.

Barkan, Koenigstein, "Item2Vec: Neural Item Embedding for Collaborative Filtering", MLSP 2016 (word2vec's SGNS,
Mikolov et al., NeurIPS 2013, with a user's item set as the sentence and every other item of the set as context).
Each training positive (u, i) is a centre item; a context item is drawn from the rest of u's history, and
negatives from the smoothed popularity distribution (count ** 0.75, as word2vec).
Scoring reads the trained network the way skip-gram's optimum is understood (Levy & Goldberg, "Neural Word
Embedding as Implicit Matrix Factorization", NeurIPS 2014): centre_h . context_j approximates
log P(j | h) - log Pn(j) - log k, with Pn the noise distribution the negatives came from. A candidate j scores the
mean over the user's items h of centre_h . context_j, plus log Pn(j): the average log-probability of j next to the
user's items. The plain cosine between item vectors leaves out the log Pn(j) term and with it how often items are
chosen at all; on MovieLens 100K warm validation it scored NDCG@20 0.122 against 0.194 (seeds 1-2). A new user who
reveals a few items is folded in for free; items unseen in training have no vector (warm items only).
"""

from __future__ import annotations

from typing import ClassVar

import scipy.sparse as sp
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from engine.core.data import ItemQuery, TrainData, UserQuery
from engine.core.model import Capabilities, FitContext
from engine.models._backbone import history_mean
from engine.models._scoring import as_scores, require_known_items
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
        self.register_buffer("log_noise", torch.zeros(n_items))
        """log Pn(j): each item's log-probability under the negative-sampling distribution, set at fit."""


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
        net.log_noise.copy_(torch.as_tensor(sampler.log_probabilities(), dtype=torch.float32))

        def batch_loss(batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
            users, centre, negatives, _ = batch
            context_items = _draw_context(indptr, indices, users, centre)
            centre_vec = net.centre(centre)
            positive = (centre_vec * net.context(context_items)).sum(1)
            negative = torch.einsum("bd,bnd->bn", centre_vec, net.context(negatives))
            return (F.softplus(-positive) + F.softplus(negative).sum(1)).mean()

        self.run_training(sampler, batch_loss, context)

    def score(self, users: UserQuery, items: ItemQuery) -> torch.Tensor:
        """Mean over the user's items h of centre_h . context_j, plus log Pn(j): see the module docstring."""
        item_index = torch.as_tensor(require_known_items(self, items), device=self.device)
        net = self.fitted_module()
        # a user without any history has an all-zero profile: candidates are ranked by log Pn(j) alone
        profiles = history_mean(users.history, net.centre.weight.detach())
        return as_scores(profiles @ net.context.weight.detach()[item_index].T + net.log_noise[item_index][None, :])
