"""DeepFM: a factorization machine and a deep network sharing one set of field embeddings.

Guo, Tang, Ye, Li, He, "DeepFM: A Factorization-Machine based Neural Network for CTR Prediction", IJCAI 2017.
Fields are the user id, the item id and every user and item attribute (a multi-valued or text field is the
value-weighted sum of its columns' embeddings). logit = w0 + first-order terms + sum of pairwise field
interactions <e_f, e_g> + MLP(concat of all field embeddings), trained with binary cross-entropy on positives and
sampled negatives. Users and items unseen in training are served through their attribute fields; `id_dropout`
(blanking id fields in training, as for an unseen entity) teaches the model to use them, a cold-start adaptation
not in the paper and off by default (0 is the paper's model).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import Field
from torch import nn

from engine.core.data import ItemQuery, TrainData, UserQuery
from engine.core.model import Capabilities, FitContext
from engine.core.search_space import FloatRange, IntRange
from engine.training.distinct import distinct
from engine.training.feature_modules import (Attributes, FeatureBag, FeatureTable, FieldEmbeddings, SparseRows,
                                             attribute_rows, query_rows, training_table)
from engine.training.fm_fields import field_terms
from engine.training.fm_pairs import HiddenLayer, PairDropout, PairTerms, pair_bce
from engine.training.loop import GradientConfig, tuned_default
from engine.training.pair_mlp import PairMLP
from engine.training.recommender import TorchRecommender
from engine.training.sampler import NegativeSampler
from engine.training.scoring import index_tensor, pairwise_scores


class DeepFMConfig(GradientConfig):
    """DeepFM hyper-parameters (the shared training settings plus the architecture)."""

    n_factors: int = Field(16, ge=1, le=256, title="Field embedding size",
                           description="Dimension of every field's embedding (shared by the FM and the MLP).")
    mlp_layers: list[int] = Field([128, 64], min_length=1, max_length=6, title="MLP layers",
                                  description="Widths of the deep component's hidden layers.")
    dropout: float = Field(0.1, ge=0, lt=1, title="Dropout", description="Dropout between MLP layers.")
    n_negatives: int = Field(4, ge=1, le=64, title="Negatives per positive",
                             description="Sampled negatives per positive for the cross-entropy.")
    id_dropout: float = Field(0.0, ge=0, le=1, title="Id dropout",
                              description="Chance of blanking a training example's id fields, so attribute fields "
                                          "learn to stand in for ids of new users and items (0 = the paper's model).")
    epochs: int = tuned_default("epochs", 30)
    # four times the shared batch at four times the learning rate: on MovieLens 100K (seeds 1-3 and 4-6) validation
    # NDCG@20 within the paired CI of 1,024 at 0.001, and a step's fixed costs (the distinct entities' terms, the
    # optimizer, dispatch) shared by four times the pairs: a 1M synthetic epoch a quarter shorter (docs/results.md)
    batch_size: int = tuned_default("batch_size", 4096)
    lr: float = tuned_default("lr", 0.004)
    patience: int = tuned_default("patience", 4)


class FieldSide(nn.Module):
    """One side's fields: [id] + attribute fields, each a (n, dim) embedding, plus first-order weights."""

    def __init__(self, n_ids: int, n_features: int, n_fields: int, dim: int, sparse_ids: bool) -> None:
        super().__init__()
        # sparse: each step updates only the batch's id rows (lazy Adam), not the whole tables and their moments;
        # weight decay touches every row, so it keeps them dense
        self.ids = nn.Embedding(n_ids, dim, sparse=sparse_ids)
        self.id_weight = nn.Embedding(n_ids, 1, sparse=sparse_ids)
        nn.init.normal_(self.ids.weight, std=0.01)
        nn.init.zeros_(self.id_weight.weight)
        # the column -> field map is a buffer: set from the data after construction, restored with the state
        self.fields = FieldEmbeddings(np.zeros(n_features, dtype=np.int64), n_fields, dim) if n_features else None
        self.feature_weight = FeatureBag(n_features, 1, init_std=0.0) if n_features else None
        self.n_fields = 1 + (n_fields if n_features else 0)

    def forward(self, index: torch.Tensor, rows: SparseRows | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(field embeddings (n, n_fields, dim), first-order term (n,)); index -1 blanks the id field."""
        known = (index >= 0).unsqueeze(1)
        safe = index.clamp(min=0)
        fields = [(self.ids(safe) * known).unsqueeze(1)]
        first = (self.id_weight(safe) * known).squeeze(1)
        if self.fields is not None:
            fields.append(self.fields(rows))
            first = first + self.feature_weight(rows).squeeze(1)
        return torch.cat(fields, dim=1), first

    def terms(self, index: torch.Tensor, rows: Attributes | None, deep_in: nn.Linear,
              blanks: bool = True) -> tuple[torch.Tensor, ...]:
        """What pairs need from each entity: the field sum, its own first + second order term, and its half of the
        deep component's first layer (`deep_in`), each computed once per entity rather than once per pair, with
        the backward written by hand (`engine.training.fm_fields`). `rows`: the entities' attribute rows
        (`FeatureTable.attributes`, `attribute_rows`); `blanks`: whether `index` may hold -1 (False skips the
        masking, and its backward, on every training batch without id dropout)."""
        if blanks:
            known = (index >= 0).unsqueeze(1)
            safe = index.clamp(min=0)
            id_rows, id_first = self.ids(safe) * known, (self.id_weight(safe) * known).squeeze(1)
        else:
            id_rows, id_first = self.ids(index), self.id_weight(index).squeeze(1)
        if self.fields is None:
            return field_terms(id_rows, id_first, None, None, None, None, deep_in.weight, deep_in.bias)
        return field_terms(id_rows, id_first, rows, self.fields.embedding.weight, self.feature_weight.bag.weight,
                           self.fields.column_field, deep_in.weight, deep_in.bias)


def fm_self(fields: torch.Tensor) -> torch.Tensor:
    """Pairwise interactions among one side's fields: 0.5 * (||sum e||^2 - sum ||e||^2)."""
    return 0.5 * (fields.sum(dim=-2).pow(2).sum(dim=-1) - fields.pow(2).sum(dim=(-2, -1)))


class DeepFMNetwork(nn.Module):
    """The FM and deep components over user-side and item-side fields."""

    def __init__(self, sizes: dict[str, int], config: DeepFMConfig) -> None:
        super().__init__()
        dim = config.n_factors
        sparse_ids = not config.weight_decay
        self.users = FieldSide(sizes["n_users"], sizes["n_user_features"], sizes["n_user_fields"], dim, sparse_ids)
        self.items = FieldSide(sizes["n_items"], sizes["n_item_features"], sizes["n_item_fields"], dim, sparse_ids)
        self.deep = PairMLP(self.users.n_fields * dim, self.items.n_fields * dim, config.mlp_layers, config.dropout)
        self.deep_out = nn.Linear(self.deep.out_dim, 1)
        self.global_bias = nn.Parameter(torch.zeros(()))

    def user_terms(self, index: torch.Tensor, rows: Attributes | None, blanks: bool = True) -> tuple[torch.Tensor, ...]:
        """What pairs need from each user (`FieldSide.terms`)."""
        return self.users.terms(index, rows, self.deep.user_in, blanks)

    def item_terms(self, index: torch.Tensor, rows: Attributes | None, blanks: bool = True) -> tuple[torch.Tensor, ...]:
        """What pairs need from each item (`FieldSide.terms`)."""
        return self.items.terms(index, rows, self.deep.item_in, blanks)

    def logits(self, user: tuple[torch.Tensor, ...], item: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Logits of every user x every item, from their terms (`user_terms`, `item_terms`)."""
        user_sum, user_own, user_half = user
        item_sum, item_own, item_half = item
        deep = self.deep_out(self.deep.combine(user_half.unsqueeze(1), item_half.unsqueeze(0))).squeeze(-1)
        return self.global_bias + user_own.unsqueeze(1) + item_own.unsqueeze(0) + user_sum @ item_sum.T + deep

    def pair_loss(self, user: tuple[torch.Tensor, ...], item: tuple[torch.Tensor, ...], user_slot: torch.Tensor,
                  item_slot: torch.Tensor) -> torch.Tensor:
        """The training loss: binary cross-entropy of the logits of distinct user `user_slot[b]` (B,) with distinct
        item `item_slot[b, j]` (B, n), column 0 the positive, from the distinct entities' terms; the pairs' part
        has its backward written by hand (`engine.training.fm_pairs`)."""
        linears, dropouts = self.deep.hidden_layers()
        seeds = [dropout.draw_seed() for dropout in dropouts]
        layers = [HiddenLayer(linear.weight, linear.bias, seed) for linear, seed in zip(linears, seeds[1:])]
        return pair_bce(PairTerms(*user), PairTerms(*item), user_slot, item_slot, seeds[0], layers,
                        PairDropout(dropouts[0].drop_below, dropouts[0].scale), self.deep_out.weight,
                        self.deep_out.bias, self.global_bias)


class DeepFMRecommender(TorchRecommender):
    """DeepFM over id and attribute fields: serves warm, new users and new items."""

    name = "deepfm"
    label = "DeepFM"
    family = "deep"
    Config = DeepFMConfig
    capabilities = Capabilities(new_users=True, new_items=True, uses_user_features=True, uses_item_features=True)
    search_space = {"n_factors": IntRange(4, 64, log=True), "lr": FloatRange(0.0002, 0.01, log=True),
                    "id_dropout": FloatRange(0.0, 0.8)}
    test_params = {"epochs": 8, "batch_size": 128, "lr": 0.01, "n_factors": 8, "mlp_layers": [32, 16]}
    config: DeepFMConfig

    def module_sizes(self, data: TrainData) -> dict[str, int]:
        sizes = {"n_users": data.n_users, "n_items": data.n_items}
        for side, features in (("user", data.user_features), ("item", data.item_features)):
            present = features is not None and features.n_features > 0
            sizes[f"n_{side}_features"] = features.n_features if present else 0
            sizes[f"n_{side}_fields"] = len(features.field_names) if present else 0
        return sizes

    def build_module(self, sizes: dict[str, int]) -> DeepFMNetwork:
        return DeepFMNetwork(sizes, self.config)

    def _fit(self, data: TrainData, context: FitContext) -> None:
        module = self.init_module(data, context)
        for side, features in ((module.users, data.user_features), (module.items, data.item_features)):
            if side.fields is not None:
                side.fields.column_field.copy_(torch.as_tensor(features.column_field, dtype=torch.int64))
        user_table = training_table(data.user_features, data.user_ids, self.device)
        item_table = training_table(data.item_features, data.item_ids, self.device)
        sampler = NegativeSampler(data.matrix, batch_size=self.config.batch_size, n_negatives=self.config.n_negatives,
                                  kind=self.config.negative_sampling, alpha=self.config.popularity_alpha,
                                  seed=self.seed)
        id_dropout = self.config.id_dropout

        def blank_ids(index: torch.Tensor) -> torch.Tensor:
            if id_dropout <= 0:
                return index
            return torch.where(torch.rand(index.shape, device=index.device) < id_dropout, -1, index)

        def attributes(table: FeatureTable | None, index: torch.Tensor) -> Attributes | None:
            return table.attributes(index) if table is not None else None

        def batch_loss(batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
            users, positives, negatives, _ = batch
            # each distinct user and item of the batch is embedded once; its occurrences share the terms (and,
            # with id dropout, one draw of it per batch)
            users, user_slot = distinct(users, data.n_users)
            user = module.user_terms(blank_ids(users), attributes(user_table, users), blanks=id_dropout > 0)
            items, item_slot = distinct(torch.cat([positives.unsqueeze(1), negatives], dim=1), data.n_items)
            item = module.item_terms(blank_ids(items), attributes(item_table, items), blanks=id_dropout > 0)
            return module.pair_loss(user, item, user_slot, item_slot)

        self.run_training(sampler, batch_loss, context)

    def score(self, users: UserQuery, items: ItemQuery) -> torch.Tensor:
        module = self.fitted_module()
        with torch.no_grad():
            user_rows = query_attributes(users.features, self.sizes["n_user_features"], self.device)
            item_rows = query_attributes(items.features, self.sizes["n_item_features"], self.device)
            user = module.user_terms(index_tensor(users.index, self.device), user_rows)
            item = module.item_terms(index_tensor(items.index, self.device), item_rows)
            return pairwise_scores(len(users), len(items),
                                   lambda rows: module.logits(tuple(t[rows] for t in user), item))


def query_attributes(features: sp.csr_matrix | None, n_features: int, device: torch.device) -> Attributes | None:
    """A query's attribute rows (UserQuery.features / ItemQuery.features) for `FieldSide.terms`, None when the side
    has no attributes."""
    rows = query_rows(features, device, use=n_features > 0)
    return attribute_rows(rows, n_features) if rows is not None else None
