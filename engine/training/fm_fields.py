"""DeepFM's per-entity terms from its fields, forward and backward written by hand.

Each distinct user (item) of a batch has fields e_0 (its id embedding) and e_f = D_f T_f (its attribute values in
field f times that field's embedding table), and the pairs need three terms of them: the field sum, its own
first- and second-order term (0.5 * (||sum e||^2 - sum ||e||^2)) and its half of the deep component's first layer
(W concat(e) + b). Under autograd that was a dozen nodes per side (products per field, a stack, a cat, powers,
sums, a Linear), each kept and walked back over thousands of items per batch: on a CPU the walk cost more than its
matrix products. The backward here is closed-form: d e_f = d_half-part_f + d_sum + d_own * (sum e - e_f).
The same function on every device (torch operations only); a test compares it with autograd.
"""

from __future__ import annotations

import torch


def field_terms(id_rows: torch.Tensor, id_first: torch.Tensor, dense: torch.Tensor | None, table: torch.Tensor | None,
                feature_weight: torch.Tensor | None, sizes: list[int], weight: torch.Tensor,
                bias: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(field sum (m, dim), own term (m,), first-layer half (m, width)) of m entities.

    `id_rows` (m, dim) and `id_first` (m,) are the id field's embedding and first-order weight (zero for a blank
    id); `dense` (m, columns) the attribute rows, `table` (columns, dim) and `feature_weight` (columns, 1) their
    embeddings and first-order weights, `sizes` the columns of each field in order (None and [] without
    attributes); `weight` (width, fields * dim) and `bias` the first layer's part for this side.
    """
    return _FieldTerms.apply(id_rows, id_first, dense, table, feature_weight, weight, bias, sizes)


class _FieldTerms(torch.autograd.Function):
    @staticmethod
    @torch.amp.custom_fwd(device_type="cuda")
    def forward(ctx, id_rows, id_first, dense, table, feature_weight, weight, bias, sizes):
        n_rows, dim = id_rows.shape
        fields = id_rows.new_empty((n_rows, 1 + len(sizes), dim))
        fields[:, 0] = id_rows
        first = id_first
        if sizes:
            for field, (columns, rows) in enumerate(zip(dense.split(sizes, dim=1), table.split(sizes)), start=1):
                fields[:, field] = columns @ rows
            first = first + dense @ feature_weight[:, 0]
        sums = fields.sum(dim=1)
        own = first + 0.5 * (sums.pow(2).sum(dim=-1) - fields.pow(2).sum(dim=(1, 2)))
        flat = fields.view(n_rows, -1)
        half = torch.addmm(bias, flat, weight.t()) if bias is not None else flat @ weight.t()
        ctx.save_for_backward(dense, fields, sums, weight)
        ctx.sizes = sizes
        ctx.has_bias = bias is not None
        return sums, own, half

    @staticmethod
    @torch.amp.custom_bwd(device_type="cuda")
    def backward(ctx, d_sums, d_own, d_half):
        dense, fields, sums, weight = ctx.saved_tensors
        sizes = ctx.sizes
        flat = fields.view(len(fields), -1)
        d_weight = d_half.t() @ flat.to(d_half.dtype)
        d_bias = d_half.sum(dim=0) if ctx.has_bias else None
        # d own / d e_f = sum e - e_f; d sum / d e_f = identity; the first layer's part of e_f is its slice of W
        d_fields = (d_half @ weight.to(d_half.dtype)).view(fields.shape)
        d_fields += (d_sums + d_own.unsqueeze(1) * sums).unsqueeze(1)
        d_fields -= d_own.view(-1, 1, 1) * fields
        d_table = d_feature_weight = None
        if sizes:
            d_table = torch.cat([columns.t() @ d_fields[:, field]
                                 for field, columns in enumerate(dense.split(sizes, dim=1), start=1)])
            d_feature_weight = (dense.t() @ d_own).unsqueeze(1)
        return d_fields[:, 0], d_own, None, d_table, d_feature_weight, d_weight, d_bias, None
