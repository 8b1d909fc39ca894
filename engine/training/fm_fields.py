"""DeepFM's per-entity terms from its fields, forward and backward written by hand.

Each distinct user (item) of a batch has fields e_0 (its id embedding) and e_f = sum of w_c T_c over its attribute
values c in field f (T the attribute table), and the pairs need three terms of them: the field sum, its own
first- and second-order term (0.5 * (||sum e||^2 - sum ||e||^2)) and its half of the deep component's first layer
(W concat(e) + b). Under autograd that was a dozen nodes per side (products per field, a stack, a cat, powers,
sums, a Linear), each kept and walked back over thousands of items per batch: on a CPU the walk cost more than its
matrix products. The backward here is closed-form: d e_f = d_half-part_f + d_sum + d_own * (sum e - e_f).

On a CPU with numba one compiled pass per direction walks each entity's CSR attribute row in place (no gathered
rows, no dense (entities x columns) matrix): forward it sums the fields, the first-order weights, the field sum
and the own term; back it forms d e_f and scatters it onto the attribute rows. There the first layer's half
multiplies only the id field's columns of W as a matrix product: the attribute fields' part is sum over the
entity's values c of w_c (W_f T_c), with the table projected through W once per batch (columns x width, a few
hundred rows) and the same pass adding each value's projected row; back, the pass gathers d_half onto the values
(R^T d_half) and two small products give d W and d T from it. A product over every field cost (fields x dim)
multiply-adds per unit of width and entity, against (values set) here: 80 against 8 on the synthetic items. Its torch twin (GPU, no numba)
multiplies dense or sparse rows by the table laid out per field (`_field_blocks`). Any width of table and any
numbering of fields either way; tests compare both with autograd.
"""

from __future__ import annotations

import numpy as np
import torch

from engine.training import fm_pairs
from engine.training.feature_modules import Attributes, CompiledRows, rows_product, rows_transposed_product


def field_terms(id_rows: torch.Tensor, id_first: torch.Tensor, rows: Attributes | None, table: torch.Tensor | None,
                feature_weight: torch.Tensor | None, column_field: torch.Tensor | None, weight: torch.Tensor,
                bias: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(field sum (m, dim), own term (m,), first-layer half (m, width)) of m entities.

    `id_rows` (m, dim) and `id_first` (m,) are the id field's embedding and first-order weight (zero for a blank
    id); `rows` the entities' attribute rows, `table` (columns, dim) and `feature_weight` (columns, 1) their
    embeddings and first-order weights, `column_field` each column's attribute field (0-based; None, None, None
    and None without attributes); `weight` (width, fields * dim) and `bias` the first layer's part for this side,
    fields = the id field + the attribute fields.
    """
    return _FieldTerms.apply(id_rows, id_first, table, feature_weight, weight, bias, rows, column_field)


def _field_blocks(table: torch.Tensor, column_field: torch.Tensor, n_fields: int) -> torch.Tensor:
    """(columns, n_fields * dim): column c's embedding in its field's block, zero elsewhere, so that attribute
    rows times it are the per-field sums side by side."""
    blocks = table.new_zeros((len(table), n_fields, table.shape[1]))
    blocks[torch.arange(len(table), device=table.device), column_field] = table
    return blocks.view(len(table), -1)


class _FieldTerms(torch.autograd.Function):
    @staticmethod
    @torch.amp.custom_fwd(device_type="cuda")
    def forward(ctx, id_rows, id_first, table, feature_weight, weight, bias, rows, column_field):
        n_rows, dim = id_rows.shape
        n_fields = weight.shape[1] // dim
        blocks = None
        if isinstance(rows, CompiledRows):
            # the attribute fields' part of the first layer through the table projected once per batch: a few
            # projected rows per entity instead of every field's columns of the layer
            blocks = _field_blocks(table, column_field, n_fields - 1)
            projected = blocks @ weight[:, dim:].t()
            half = _first_layer_part(id_rows, weight[:, :dim], bias)
            fields = id_rows.new_empty((n_rows, n_fields, dim))  # the loop writes every field
            sums, own = id_rows.new_empty((n_rows, dim)), id_first.clone()
            _fields_forward(rows.indptr, rows.indices, rows.data, rows.rows, column_field.numpy(),
                            table.detach().numpy(), feature_weight.detach().numpy(), projected.numpy(),
                            id_rows.detach().contiguous().numpy(), fields.numpy(), sums.numpy(), own.numpy(),
                            half.numpy())
        else:
            fields = id_rows.new_zeros((n_rows, n_fields, dim))
            fields[:, 0] = id_rows
            if rows is None:
                sums, own = id_rows.clone(), id_first.clone()  # one field: no pairs among the entity's own fields
            else:
                attributes = rows_product(rows, torch.cat([_field_blocks(table, column_field, n_fields - 1),
                                                           feature_weight], dim=1))
                fields[:, 1:] = attributes[:, :-1].view(n_rows, -1, dim)
                sums = fields.sum(dim=1)
                own = id_first + attributes[:, -1] + 0.5 * (sums.pow(2).sum(dim=-1) - fields.pow(2).sum(dim=(1, 2)))
            half = _first_layer_part(fields.view(n_rows, -1), weight, bias)
        ctx.save_for_backward(fields, sums, weight, blocks)
        ctx.rows, ctx.column_field, ctx.n_features = rows, column_field, None if table is None else len(table)
        ctx.has_bias = bias is not None
        return sums, own, half

    @staticmethod
    @torch.amp.custom_bwd(device_type="cuda")
    def backward(ctx, d_sums, d_own, d_half):
        fields, sums, weight, blocks = ctx.saved_tensors
        rows, column_field, n_features = ctx.rows, ctx.column_field, ctx.n_features
        d_bias = d_half.sum(dim=0) if ctx.has_bias else None
        if isinstance(rows, CompiledRows):
            dim = fields.shape[2]
            d_weight = torch.empty_like(weight)
            torch.mm(d_half.t(), fields[:, 0], out=d_weight[:, :dim])
            d_id = d_half @ weight[:, :dim]
            d_projected = d_half.new_zeros((n_features, d_half.shape[1]))
            d_table = fields.new_zeros((n_features, dim))
            d_feature_weight = fields.new_zeros((n_features, 1))
            _fields_backward(rows.indptr, rows.indices, rows.data, rows.rows, column_field.numpy(), fields.numpy(),
                             sums.numpy(), d_sums.contiguous().numpy(), d_own.contiguous().numpy(),
                             d_half.contiguous().numpy(), d_id.numpy(), d_table.numpy(), d_feature_weight.numpy(),
                             d_projected.numpy())
            torch.mm(d_projected.t(), blocks, out=d_weight[:, dim:])
            d_blocks = (d_projected @ weight[:, dim:]).view(n_features, -1, dim)
            d_table += d_blocks[torch.arange(n_features), column_field]
            return d_id, d_own, d_table, d_feature_weight, d_weight, d_bias, None, None
        flat = fields.view(len(fields), -1)
        d_weight = d_half.t() @ flat.to(d_half.dtype)
        # the first layer's part of e_f is its slice of W; d own / d e_f = sum e - e_f; d sum / d e_f = identity
        d_fields = (d_half @ weight.to(d_half.dtype)).view(fields.shape)
        d_table = d_feature_weight = None
        d_fields += (d_sums + d_own.unsqueeze(1) * sums).unsqueeze(1)
        d_fields -= d_own.view(-1, 1, 1) * fields
        if rows is not None:
            values = torch.cat([d_fields[:, 1:].flatten(1), d_own.unsqueeze(1)], dim=1)
            gradient = rows_transposed_product(rows, values, n_features)
            d_table = gradient[:, :-1].view(n_features, -1, fields.shape[2])[
                torch.arange(n_features, device=gradient.device), column_field]
            d_feature_weight = gradient[:, -1:]
        return d_fields[:, 0], d_own, d_table, d_feature_weight, d_weight, d_bias, None, None


def _first_layer_part(inputs: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """inputs @ weight.T (+ bias): the first layer's part of the fields in `inputs`."""
    return torch.addmm(bias, inputs, weight.t()) if bias is not None else inputs @ weight.t()


@fm_pairs.compile_loop
def _fields_forward(indptr, indices, data, rows, column_field, table, feature_weight, projected, id_rows, fields,
                    sums, own, half):
    """Per entity k (CSR row rows[k]): fields[k, 0] = its id row, fields[k, 1 + f] = sum of w T[c] over its values
    c in field f (`fields` uninitialised), half[k] (holding the id field's part) += sum of w projected[c] (the first layer's part of
    the attribute fields), own[k] (holding the id's first-order weight) += sum of w feature_weight[c] and the
    pairwise term 0.5 * (||sum||^2 - sum of ||e_f||^2), sums[k] = the field sum."""
    half_ = np.float32(0.5)
    for k in range(len(rows)):
        entity, total, out = fields[k], sums[k], half[k]
        entity[0] = id_rows[k]
        entity[1:] = 0
        first = own[k]
        for e in range(indptr[rows[k]], indptr[rows[k] + 1]):
            c, w = indices[e], data[e]
            field, t, p = entity[1 + column_field[c]], table[c], projected[c]
            for j in range(len(field)):
                field[j] += w * t[j]
            for j in range(len(out)):
                out[j] += w * p[j]
            first += w * feature_weight[c, 0]
        squares = np.float32(0)
        for j in range(len(total)):
            total[j] = 0
        for f in range(len(entity)):
            field = entity[f]
            for j in range(len(total)):
                total[j] += field[j]
                squares += field[j] * field[j]
        square = np.float32(0)
        for j in range(len(total)):
            square += total[j] * total[j]
        own[k] = first + half_ * (square - squares)


@fm_pairs.compile_loop
def _fields_backward(indptr, indices, data, rows, column_field, fields, sums, d_sums, d_own, d_half, d_id, d_table,
                     d_feature_weight, d_projected):
    """d e_f = d_sum + d_own * (sum - e_f) (+ the first layer's part, which d_id holds for the id field and the
    projected table takes for the attribute fields): d_id += it, each attribute value takes its weighted share of
    its field's (d_table), of d_own (d_feature_weight) and of d_half (d_projected)."""
    for k in range(len(rows)):
        g, total, d_total, entity, d_entity_id, d_h = d_own[k], sums[k], d_sums[k], fields[k], d_id[k], d_half[k]
        own_field = entity[0]
        for j in range(len(total)):
            d_entity_id[j] += d_total[j] + g * (total[j] - own_field[j])
        for e in range(indptr[rows[k]], indptr[rows[k] + 1]):
            c, w = indices[e], data[e]
            field, d_t, d_p = entity[1 + column_field[c]], d_table[c], d_projected[c]
            for j in range(len(d_t)):
                d_t[j] += w * (d_total[j] + g * (total[j] - field[j]))
            for j in range(len(d_p)):
                d_p[j] += w * d_h[j]
            d_feature_weight[c, 0] += w * g
