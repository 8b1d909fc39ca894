"""A two-tower's tower, forward and backward written by hand: ids + attributes -> MLP -> unit vectors.

Under autograd a tower's batch was some forty small operations (the id lookup and its sorting embedding
backward, the attribute bag, a concatenation, the layers, ReLU, dropout, normalisation and each one's backward).
Here the forward keeps what the backward needs (the id rows, the dropped-out hidden layer, the unit vectors and
their norms) and the backward is the layers' products plus the id rows' gradient handed to lazy Adam as it is:
each entity of a batch goes through the tower once (the caller passes distinct entities), so its rows need no
summing.

The attribute bag is folded into the first layer: concat(ids, rows @ E) @ W1.T equals ids @ W_ids.T +
rows @ (E @ W_attributes.T), and an entity has a few attribute values out of dozens or a hundred, so the sparse
rows times the (attributes x width) product replace a (rows x dim) bag and a (dim x width) part of the layer
(on a CPU with numba through compiled loops over the rows' stored entries, `feature_modules.rows_product`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.training.feature_modules import Attributes, rows_product, rows_transposed_product

_EPS = 1e-12  # F.normalize's floor on a vector's norm


@dataclass(frozen=True)
class TowerWeights:
    """One tower's weights: the id table (sparse: its gradient is the batch's rows), the attribute embeddings
    (None without attributes), the hidden layer over concat(id, attributes) and the output layer."""

    ids: torch.Tensor
    sparse_ids: bool
    attributes: torch.Tensor | None
    hidden_weight: torch.Tensor
    hidden_bias: torch.Tensor
    out_weight: torch.Tensor
    out_bias: torch.Tensor


def tower_vectors(weights: TowerWeights, index: torch.Tensor, rows: Attributes | None,
                  mask: torch.Tensor | None) -> torch.Tensor:
    """Unit vectors (n, dim) of the entities at training `index` (distinct; -1 = no id part: unseen, or its id
    dropped out) with attribute `rows` (None without attributes); `mask` (n, width) multiplies the hidden layer
    after its ReLU (dropout: 0 or 1 / (1 - p); None: nothing dropped). Differentiable in the weights."""
    return _TowerPass.apply(weights.ids, weights.attributes, weights.hidden_weight, weights.hidden_bias,
                            weights.out_weight, weights.out_bias, index, rows, mask, weights.sparse_ids)


class _TowerPass(torch.autograd.Function):
    @staticmethod
    def forward(ctx, ids, attributes, hidden_weight, hidden_bias, out_weight, out_bias, index, rows, mask,
                sparse_ids):
        # in float32 under mixed precision (a GPU's autocast): the backward's products take the saved tensors as
        # they are, and half-precision ones beside float32 weights would not multiply
        with torch.autocast(ids.device.type, enabled=False):
            return _TowerPass._forward(ctx, ids, attributes, hidden_weight, hidden_bias, out_weight, out_bias,
                                       index, rows, mask, sparse_ids)

    @staticmethod
    def _forward(ctx, ids, attributes, hidden_weight, hidden_bias, out_weight, out_bias, index, rows, mask,
                 sparse_ids):
        dim = ids.shape[1]
        # the id part only for entities with an id (a third of a batch's ids drop out): products of known rows
        known = torch.nonzero(index >= 0).squeeze(1)
        known_index = index.index_select(0, known)
        id_rows = ids.index_select(0, known_index)
        if attributes is not None:
            hidden = rows_product(rows, attributes @ hidden_weight[:, dim:].t()).add_(hidden_bias)
        else:
            hidden = hidden_bias.expand(len(index), -1).clone()
        hidden.index_add_(0, known, id_rows @ hidden_weight[:, :dim].t())
        hidden.relu_()
        if mask is not None:
            hidden.mul_(mask)
        out = torch.addmm(out_bias, hidden, out_weight.t())
        norms = torch.linalg.vector_norm(out, dim=1, keepdim=True).clamp_(min=_EPS)
        vectors = out.div_(norms)
        ctx.save_for_backward(ids, attributes, hidden_weight, out_weight, known, known_index, id_rows, hidden, mask,
                              vectors, norms)
        ctx.rows, ctx.sparse_ids = rows, sparse_ids
        return vectors

    @staticmethod
    def backward(ctx, d_vectors):
        ids, attributes, hidden_weight, out_weight, known, known_index, id_rows, hidden, mask, vectors, norms = \
            ctx.saved_tensors
        dim = ids.shape[1]
        # v = o / max(|o|, eps): d o = (d v - v <v, d v>) / |o|, without the projection where the floor applied
        along = (vectors * d_vectors).sum(dim=1, keepdim=True).masked_fill_(norms <= _EPS, 0)
        d_out = (d_vectors - vectors * along).div_(norms)
        d_out_weight = d_out.t() @ hidden
        d_out_bias = d_out.sum(dim=0)
        # ReLU then the mask: a unit kept and active passes its gradient times the mask, the others none
        d_hidden = torch.ops.aten.threshold_backward(d_out @ out_weight, hidden, 0)
        if mask is not None:
            d_hidden.mul_(mask)
        d_hidden_bias = d_hidden.sum(dim=0)
        d_known = d_hidden.index_select(0, known)
        d_id_part = d_known.t() @ id_rows
        d_ids = _id_gradient(ids, known_index, d_known @ hidden_weight[:, :dim], ctx.sparse_ids)
        d_attributes = None
        d_hidden_weight = d_id_part
        if attributes is not None:
            # hidden += rows @ (E @ W_a.T): d (E @ W_a.T) = rows.T @ d hidden, then to E and to W_a
            d_product = rows_transposed_product(ctx.rows, d_hidden, len(attributes))
            d_attributes = d_product @ hidden_weight[:, dim:]
            d_hidden_weight = torch.cat([d_id_part, d_product.t() @ attributes], dim=1)
        return (d_ids, d_attributes, d_hidden_weight, d_hidden_bias, d_out_weight, d_out_bias, None, None, None,
                None)


def _id_gradient(ids: torch.Tensor, rows: torch.Tensor, values: torch.Tensor, sparse: bool) -> torch.Tensor:
    """The id table's gradient: `values` at `rows`, as sparse rows (lazy Adam) or a dense table (repeated rows
    add up)."""
    if sparse:
        return torch.sparse_coo_tensor(rows.unsqueeze(0), values, ids.shape, check_invariants=False)
    return ids.new_zeros(ids.shape).index_add_(0, rows, values)
