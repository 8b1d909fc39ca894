"""A SASRec-style self-attentive user encoder: a user is what a Transformer reads from the items they had.

Kang, McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018, adapted to sets: queries carry a user's
history as a sparse row without order, so there are no positional embeddings; a learned summary token attends
over the history items (key-padding masks the empty slots) and its output is the user vector, scored against item
embeddings by dot product. Training hides one positive of a user, shows the encoder a random subset of 1..max_len
of the remaining items, and asks it to rank the hidden item above sampled negatives (sampled softmax). Because
the encoder only ever reads items, a new user who reveals a few items is served with no retraining; short
training subsets are what prepare it for such few-shot users. Items unseen in training have no embedding.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from engine.core.data import ItemQuery, TrainData, UserQuery
from engine.core.model import Capabilities, FitContext
from engine.models._scoring import as_scores, require_known_items
from engine.training.loop import GradientConfig, tuned_default
from engine.training.recommender import TorchRecommender
from engine.training.sampler import NegativeSampler


class SASRecConfig(GradientConfig):
    """Hyper-parameters of the self-attentive user encoder."""

    dim: int = Field(64, ge=4, le=1024, title="Embedding size", description="Item embedding and model width.")
    heads: int = Field(2, ge=1, le=16, title="Attention heads", description="Must divide the embedding size.")
    layers: int = Field(2, ge=1, le=8, title="Layers", description="Stacked self-attention blocks.")
    max_len: int = Field(50, ge=1, le=1000, title="History length",
                         description="Most history items the encoder reads (a seeded subset of longer histories).")
    dropout: float = Field(0.2, ge=0.0, lt=1.0, title="Dropout", description="Dropout inside attention blocks.")
    n_negatives: int = Field(20, ge=1, le=1000, title="Negatives",
                             description="Sampled negatives per hidden positive in the sampled softmax.")
    epochs: int = tuned_default("epochs", 30)
    lr: float = tuned_default("lr", 0.001)


class SelfAttentiveUserEncoder(nn.Module):
    """Item embeddings plus a Transformer encoder whose summary token becomes the user vector."""

    def __init__(self, n_items: int, cfg: SASRecConfig) -> None:
        super().__init__()
        if cfg.dim % cfg.heads:
            raise ValueError(f"the embedding size ({cfg.dim}) must be a multiple of the attention heads "
                             f"({cfg.heads}); change one of them")
        self.padding = n_items
        self.items = nn.Embedding(n_items + 1, cfg.dim, padding_idx=n_items)
        nn.init.normal_(self.items.weight[:n_items], std=cfg.dim ** -0.5)
        self.summary = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        block = nn.TransformerEncoderLayer(cfg.dim, cfg.heads, dim_feedforward=2 * cfg.dim, dropout=cfg.dropout,
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(block, cfg.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.dim)

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        """(B, L) item indices, `padding` in empty slots -> (B, dim) user vectors."""
        tokens = torch.cat([self.summary.expand(len(history), -1, -1), self.items(history)], dim=1)
        empty = torch.cat([torch.zeros(len(history), 1, dtype=torch.bool, device=history.device),
                           history == self.padding], dim=1)
        return self.norm(self.encoder(tokens, src_key_padding_mask=empty)[:, 0])


def _training_histories(indptr: torch.Tensor, indices: torch.Tensor, users: torch.Tensor, hidden: torch.Tensor,
                        max_len: int, padding: int) -> torch.Tensor:
    """(B, max_len) random draws from each user's history, without the hidden item, cut at a random length."""
    start = indptr[users]
    degree = indptr[users + 1] - start
    draws = indices[start[:, None] + (torch.rand(len(users), max_len, device=users.device) * degree[:, None]).long()]
    length = 1 + (torch.rand(len(users), 1, device=users.device) * max_len).long()
    slot = torch.arange(max_len, device=users.device)[None, :]
    drop = (draws == hidden[:, None]) | (slot >= length)
    return torch.where(drop, torch.full_like(draws, padding), draws)


class SASRec(TorchRecommender):
    name: ClassVar[str] = "sasrec"
    label: ClassVar[str] = "SASRec (self-attentive)"
    family: ClassVar[str] = "deep"
    Config = SASRecConfig
    capabilities: ClassVar[Capabilities] = Capabilities(user_fold_in=True)
    search_space: ClassVar[dict[str, list]] = {"dim": [32, 64], "layers": [1, 2], "lr": [0.001, 0.003]}
    test_params: ClassVar[dict] = {"epochs": 6, "batch_size": 128, "lr": 0.003, "dim": 8, "layers": 1, "max_len": 10}
    """A small, fast configuration for the conformance suite."""

    config: SASRecConfig

    def module_sizes(self, data: TrainData) -> dict[str, int]:
        return {"n_items": data.n_items}

    def build_module(self, sizes: dict[str, int]) -> nn.Module:
        return SelfAttentiveUserEncoder(sizes["n_items"], self.config)

    def _fit(self, data: TrainData, context: FitContext) -> None:
        cfg = self.config
        net = self.init_module(data, context)
        history = sp.csr_matrix(data.matrix)
        indptr = torch.as_tensor(history.indptr, dtype=torch.int64, device=self.device)
        indices = torch.as_tensor(history.indices, dtype=torch.int64, device=self.device)
        sampler = NegativeSampler(data.matrix, batch_size=cfg.batch_size, n_negatives=cfg.n_negatives,
                                  kind=cfg.negative_sampling, alpha=cfg.popularity_alpha, seed=self.seed)

        def batch_loss(batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
            users, hidden, negatives, _ = batch
            shown = _training_histories(indptr, indices, users, hidden, cfg.max_len, net.padding)
            user_vectors = net(shown)
            candidates = net.items(torch.cat([hidden[:, None], negatives], dim=1))
            logits = torch.einsum("bd,bnd->bn", user_vectors, candidates)
            return F.cross_entropy(logits, torch.zeros(len(users), dtype=torch.int64, device=users.device))

        self.run_training(sampler, batch_loss, context)

    def _history_tensor(self, history: sp.csr_matrix) -> torch.Tensor:
        """(n, max_len) padded item indices; histories longer than max_len give a seeded subset."""
        history = sp.csr_matrix(history)
        rng = np.random.default_rng(self.seed)
        out = np.full((history.shape[0], self.config.max_len), self.fitted_module().padding, dtype=np.int64)
        for row in range(history.shape[0]):
            items = history.indices[history.indptr[row]:history.indptr[row + 1]]
            if len(items) > self.config.max_len:
                items = rng.choice(items, self.config.max_len, replace=False)
            out[row, :len(items)] = items
        return torch.from_numpy(out).to(self.device)

    @torch.no_grad()
    def score(self, users: UserQuery, items: ItemQuery) -> torch.Tensor:
        """User vectors read from each user's history, dotted with the candidates' embeddings."""
        item_index = torch.as_tensor(require_known_items(self, items), device=self.device)
        # a user without history reads only the summary token: the encoder's learned generic user
        net = self.fitted_module().eval()
        user_vectors = net(self._history_tensor(users.history))
        return as_scores(user_vectors @ net.items.weight[item_index].T)
