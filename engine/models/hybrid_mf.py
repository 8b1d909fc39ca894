"""Hybrid feature factorization: the LightFM model, in PyTorch.

Kula, "Metadata Embeddings for User and Item Cold-start Recommendations", CBRecSys@RecSys 2015. A user (item) is
the sum of the embeddings of its id and of its attribute values; score(u, i) = u . i + b_i, where the item bias
is likewise the sum of id and attribute biases. Trained with BPR or a WARP-style loss (Weston et al., IJCAI 2011)
over sampled negatives. Because attributes carry part of every representation, users and items never seen in
training are scored from their attributes alone; `use_item_ids=False` drops the item ids, which is LightFM's
strongest variant for new items (everything learned about items then transfers to new ones).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import Field
from torch import nn

from engine.core.data import ItemQuery, TrainData, UserQuery
from engine.core.model import Capabilities, FitContext
from engine.core.search_space import FloatRange, IntRange
from engine.training import cpu_kernels
from engine.training.distinct import distinct
from engine.training.feature_modules import (Attributes, CompiledRows, FeatureTable, IdAndFeatureEmbedding,
                                             SparseRows, query_rows, training_features, whole_table_dense)
from engine.training.loop import GradientConfig, HandGradients, tuned_default
from engine.training.losses import bpr_loss_gradient, warp_loss_gradient
from engine.training.recommender import TorchRecommender
from engine.training.row_gradients import RowGradients
from engine.training.sampler import NegativeSampler
from engine.training.scoring import dot_scores, index_tensor


class HybridMFConfig(GradientConfig):
    """Hybrid factorization hyper-parameters (the shared training settings plus LightFM's own)."""

    n_factors: int = Field(64, ge=1, le=1024, title="Factors", description="Dimension of every embedding.")
    loss: Literal["warp", "bpr"] = Field("warp", title="Loss",
                                         description="warp pushes low-ranked positives hardest; bpr treats all alike.")
    n_negatives: int = Field(16, ge=1, le=512, title="Negatives per positive",
                             description="Sampled negatives per positive (WARP estimates the rank from them).")
    use_user_ids: bool = Field(True, title="User id embeddings",
                               description="Off: users are their attributes only.")
    use_item_ids: bool = Field(True, title="Item id embeddings",
                               description="Off: items are their attributes only (LightFM's best for new items).")
    use_user_features: bool = Field(True, title="Use user attributes",
                                    description="Add user attribute embeddings (needed to serve new users).")
    use_item_features: bool = Field(True, title="Use item attributes",
                                    description="Add item attribute embeddings (needed to serve new items).")
    average: bool = Field(True, title="Average features",
                          description="Divide a representation by its total feature weight (id + attribute values), "
                                      "as LightFM's normalised feature rows do; off: plain sum.")
    l2: float = Field(1e-5, ge=0, title="L2 regularisation",
                      description="Penalty on the squared norms of the representations in each batch.")
    epochs: int = tuned_default("epochs", 60)
    lr: float = tuned_default("lr", 0.005)
    patience: int = tuned_default("patience", 5)


class HybridFactorization(nn.Module):
    """User and item encoders (id + attributes); items also carry a bias."""

    def __init__(self, sizes: dict[str, int], n_factors: int, average: bool, sparse_ids: bool = False) -> None:
        super().__init__()
        self.users = IdAndFeatureEmbedding(sizes["n_user_ids"], sizes["n_user_features"], n_factors, average=average,
                                           sparse_ids=sparse_ids)
        self.items = IdAndFeatureEmbedding(sizes["n_item_ids"], sizes["n_item_features"], n_factors, with_bias=True,
                                           average=average, sparse_ids=sparse_ids)


class LinearSide:
    """One side's training representations as the linear map they are, with its gradient written by hand.

    Entity r of the training data is scale_r * (id_r + sum_j w_rj * feature_j) (`IdAndFeatureEmbedding` with
    `average`, scale_r = 1 / (1 + sum |w_rj|); without it scale_r = 1), and so is its bias. The scales and the
    scaled attribute rows are fixed for the training entities, so they are computed once per fit; a batch's
    forward is a gather of id rows plus its attribute rows times the attribute tables, and its backward the
    transposed product and an `index_add_` of the id rows (LightFM's normalised feature rows).
    """

    def __init__(self, encoder: IdAndFeatureEmbedding, features: sp.csr_matrix | None, n_entities: int,
                 device: torch.device) -> None:
        self.encoder = encoder
        features = features if encoder.features is not None else None
        total = np.full(n_entities, 1.0 if encoder.ids is not None else 0.0)
        if features is not None:
            total += np.asarray(abs(features).sum(axis=1)).ravel()
        scale = 1.0 / np.maximum(total, 1e-12) if encoder.average else np.ones(n_entities)
        self.scale = torch.as_tensor(scale, dtype=torch.float32, device=device)
        self.table: FeatureTable | None = None
        self.dense: torch.Tensor | None = None
        self.csr: CompiledRows | None = None
        if features is not None:
            scaled = sp.csr_matrix(sp.diags(scale.astype(np.float32)) @ features, dtype=np.float32)
            if device.type == "cpu" and cpu_kernels.available():
                # a few attribute values per entity: multiplying the set ones beats a dense product of every
                # column (30% of a step on 10M interactions) and EmbeddingBag's sorting backward alike
                self.csr = CompiledRows(scaled.indptr.astype(np.int64), scaled.indices.astype(np.int64),
                                        scaled.data, np.arange(n_entities), scaled.shape[1])
            elif whole_table_dense(*scaled.shape):
                # one matrix product each way, where sparse rows take a gather with a repeat per row, an
                # EmbeddingBag per table and a scatter of one gradient row per stored entry
                self.dense = torch.as_tensor(scaled.toarray(), device=device)
            else:
                self.table = FeatureTable(scaled, device)

    def attributes(self, index: torch.Tensor | None) -> Attributes | None:
        """The scaled attribute rows of the entities at `index` (None: all), or None for a side without them."""
        if self.csr is not None:
            return self.csr if index is None else replace(self.csr, rows=index.numpy())
        if self.dense is not None:
            return self.dense if index is None else self.dense.index_select(0, index)
        if self.table is not None:
            return self.table.all_rows if index is None else self.table.rows(index)
        return None

    def _attribute_tables(self) -> torch.Tensor:
        """The attribute embeddings, with the attribute biases as one more column when the side has a bias."""
        encoder = self.encoder
        if encoder.with_bias:
            return torch.cat([encoder.features.bag.weight, encoder.feature_bias.bag.weight], dim=1)
        return encoder.features.bag.weight

    def forward(self, index: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None, Attributes | None]:
        """(vectors (n, dim), biases (n,) or None, the attribute rows used) of training entities at `index`, or of
        all of them (None: a batch that samples most of a small catalogue, encoded without gathers)."""
        encoder = self.encoder
        every = index is None
        n = len(self.scale) if every else len(index)
        vectors = torch.zeros((n, encoder.dim), device=self.scale.device)
        bias = torch.zeros(n, device=self.scale.device) if encoder.with_bias else None
        if encoder.ids is not None:
            scale = (self.scale if every else self.scale.index_select(0, index)).unsqueeze(1)
            ids = encoder.ids.weight if every else encoder.ids.weight.index_select(0, index)
            torch.mul(ids, scale, out=vectors)
            if bias is not None:
                id_bias = encoder.id_bias.weight if every else encoder.id_bias.weight.index_select(0, index)
                torch.mul(id_bias, scale, out=bias.unsqueeze(1))
        rows = self.attributes(index)
        if rows is not None:
            tables = self._attribute_tables()
            if isinstance(rows, CompiledRows):
                both = torch.zeros((n, tables.shape[1]))
                cpu_kernels.csr_rows_product(rows.indptr, rows.indices, rows.data, rows.rows,
                                             tables.detach().numpy(), both.numpy())
            elif isinstance(rows, SparseRows):
                both = nn.functional.embedding_bag(rows.indices, tables, rows.offsets[:-1], mode="sum",
                                                   per_sample_weights=rows.weights)
            else:
                both = rows @ tables
            vectors += both[:, :encoder.dim]
            if bias is not None:
                bias += both[:, encoder.dim]
        return vectors, bias, rows

    def backward(self, index: torch.Tensor, d_vectors: torch.Tensor, d_bias: torch.Tensor | None,
                 gradients: RowGradients, rows: Attributes | None = None) -> None:
        """Add d loss / d tables for d loss / d (vectors, biases) of the training entities at `index`: only the
        entities given here are handed to the optimizer (lazy Adam moves exactly these rows). `rows`: their
        attribute rows when the caller has them (else gathered here)."""
        encoder = self.encoder
        if encoder.ids is not None:
            scale = self.scale.index_select(0, index)
            gradients.add(encoder.ids.weight, index, d_vectors * scale.unsqueeze(1))
            if d_bias is not None:
                gradients.add(encoder.id_bias.weight, index, (d_bias * scale).unsqueeze(1))
        rows = rows if rows is not None else self.attributes(index)
        if rows is None:
            return
        both = d_vectors if d_bias is None else torch.cat([d_vectors, d_bias.unsqueeze(1)], dim=1)
        if isinstance(rows, CompiledRows):
            columns = torch.arange(rows.n_features)
            grad = torch.zeros((rows.n_features, both.shape[1]))
            cpu_kernels.csr_rows_transposed_product(rows.indptr, rows.indices, rows.data, rows.rows,
                                                    both.contiguous().numpy(), grad.numpy())
        elif isinstance(rows, SparseRows):
            columns = rows.indices
            grad = both.index_select(0, rows.row_of_entry()).mul_(rows.weights.unsqueeze(1))
        else:  # every column's gradient at once, the rows' transposed product
            columns = torch.arange(rows.shape[1], device=rows.device)
            grad = rows.T @ both
        gradients.add(encoder.features.bag.weight, columns, grad[:, :encoder.dim])
        if d_bias is not None:
            gradients.add(encoder.feature_bias.bag.weight, columns, grad[:, encoder.dim:])


class HybridMFRecommender(TorchRecommender):
    """LightFM-style hybrid: serves warm, new users and new items with one model."""

    name = "hybridmf"
    label = "Hybrid MF (LightFM-style)"
    family = "hybrid"
    Config = HybridMFConfig
    capabilities = Capabilities(new_users=True, new_items=True, uses_user_features=True, uses_item_features=True)
    search_space = {"n_factors": IntRange(16, 128, log=True), "lr": FloatRange(0.001, 0.05, log=True),
                    "loss": ["warp", "bpr"],
                    "use_item_ids": [True, False], "use_user_ids": [True, False]}
    test_params = {"epochs": 8, "batch_size": 128, "lr": 0.01, "n_factors": 8}
    config: HybridMFConfig

    def module_sizes(self, data: TrainData) -> dict[str, int]:
        config = self.config
        sizes: dict[str, int] = {}
        for side, features, n_ids, use_ids, use_features in (
                ("user", data.user_features, data.n_users, config.use_user_ids, config.use_user_features),
                ("item", data.item_features, data.n_items, config.use_item_ids, config.use_item_features)):
            n_features = features.n_features if features is not None and use_features else 0
            if not use_ids and n_features == 0:
                raise ValueError(f"{self.label} with use_{side}_ids off needs {side} attributes, and this dataset has "
                                 f"none (or use_{side}_features is off): turn use_{side}_ids on")
            sizes[f"n_{side}_ids"] = n_ids if use_ids else 0
            sizes[f"n_{side}_features"] = n_features
        return sizes

    def build_module(self, sizes: dict[str, int]) -> HybridFactorization:
        # sparse ids: each step updates only the batch's id rows (lazy Adam), not the whole tables and their
        # moments (a third of an epoch on 1M interactions); weight decay touches every row, so it keeps them dense
        return HybridFactorization(sizes, self.config.n_factors, self.config.average,
                                   sparse_ids=not self.config.weight_decay)

    def _fit(self, data: TrainData, context: FitContext) -> None:
        module = self.init_module(data, context)
        config = self.config
        users = LinearSide(module.users, training_features(data.user_features, data.user_ids), data.n_users,
                           self.device)
        items = LinearSide(module.items, training_features(data.item_features, data.item_ids), data.n_items,
                           self.device)
        sampler = NegativeSampler(data.matrix, batch_size=config.batch_size, n_negatives=config.n_negatives,
                                  kind=config.negative_sampling, alpha=config.popularity_alpha, seed=self.seed)
        gradients = RowGradients(module)
        self.run_training(sampler, HandGradients(lambda batch: self.batch_gradients(batch, users, items, gradients)),
                          context)

    def batch_gradients(self, batch: tuple[torch.Tensor, ...], users: LinearSide, items: LinearSide,
                        gradients: RowGradients) -> float:
        """The batch's WARP (or BPR) loss plus the L2 penalty of its user and positive vectors, differentiated by
        hand: scores s = u . v + c over (positive, negatives) slots, then back through each side's linear map."""
        config = self.config
        user_index, positives, negatives, _ = batch
        slots = torch.cat([positives.unsqueeze(1), negatives], dim=1)
        n_items = len(items.scale)
        if slots.numel() >= n_items:  # nearly every item is in the batch: encode them all, no sort
            batch_items = torch.arange(n_items, device=slots.device)
            v, c, _ = items.forward(None)
        else:
            batch_items, slots = distinct(slots, n_items)
            v, c, _ = items.forward(batch_items)
        u, _, user_rows = users.forward(user_index)
        flat_slots = slots.reshape(-1)
        q = v.index_select(0, flat_slots).view(*slots.shape, -1)
        scores = torch.bmm(q, u.unsqueeze(2)).squeeze(2) + c.index_select(0, flat_slots).view(slots.shape)
        if config.loss == "warp":
            loss, d_positive, d_negative = warp_loss_gradient(scores[:, 0], scores[:, 1:], n_items)
        else:
            loss, d_positive, d_negative = bpr_loss_gradient(scores[:, 0], scores[:, 1:])
        d_scores = torch.cat([d_positive.unsqueeze(1), d_negative], dim=1)
        # only the slots with a gradient (WARP: the positive and its hardest violator) are spread back
        flat_d = d_scores.reshape(-1)
        entry = torch.nonzero(flat_d).squeeze(1)
        row = torch.div(entry, slots.shape[1], rounding_mode="floor")
        weight = flat_d.index_select(0, entry).unsqueeze(1)
        decay = 2.0 * config.l2 / len(user_index)
        d_u = torch.bmm(d_scores.unsqueeze(1), q).squeeze(1).add_(u, alpha=decay)
        # the items with a gradient: those at slots with one, and the positives (their L2 term); the others of the
        # batch (WARP: all but a positive and its hardest violator per row) go to no optimizer, so lazy Adam
        # moves only these rows, as LightFM's per-sample updates do
        target = flat_slots.index_select(0, entry)
        has = torch.zeros(len(batch_items), dtype=torch.bool, device=slots.device)
        has[target] = True
        has[slots[:, 0]] = True
        moved = torch.nonzero(has).squeeze(1)
        position = torch.cumsum(has, dim=0).sub_(1)  # batch item -> its row among the moved
        d_v = v.new_zeros((len(moved), v.shape[1]))
        d_v.index_add_(0, position.index_select(0, target), weight * u.index_select(0, row))
        d_v.index_add_(0, position.index_select(0, slots[:, 0]), q[:, 0], alpha=decay)
        d_c = c.new_zeros(len(moved)).index_add_(0, position.index_select(0, target), weight.squeeze(1))
        users.backward(user_index, d_u, None, gradients, rows=user_rows)
        items.backward(batch_items.index_select(0, moved), d_v, d_c, gradients)
        gradients.finish()
        penalty = config.l2 * float(u.pow(2).sum() + q[:, 0].pow(2).sum()) / len(user_index)
        return loss + penalty

    def score(self, users: UserQuery, items: ItemQuery) -> torch.Tensor:
        module = self.fitted_module()
        user_rows = query_rows(users.features, self.device, use=self.sizes["n_user_features"] > 0)
        item_rows = query_rows(items.features, self.device, use=self.sizes["n_item_features"] > 0)
        with torch.no_grad():
            user_vectors, _ = module.users(index_tensor(users.index, self.device), user_rows)
            item_vectors, item_bias = module.items(index_tensor(items.index, self.device), item_rows)
            return dot_scores(user_vectors, item_vectors, item_bias)
