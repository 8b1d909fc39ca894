"""DeepFM's per-pair training loss, forward and backward written by hand.

A batch pairs each of B users with its positive and n - 1 sampled negatives: B x n pairs, each through the deep
component's hidden layers, against about a thousand distinct users and a few thousand distinct items whose terms
(field sum, own first- and second-order term, first-layer half) are computed once per entity (`FieldSide.terms`,
engine.training.fm_fields). Under autograd the pairs' part gathered every pair's halves, kept the sum, ReLU and
dropout outputs of each (B x n x width) layer, and sorted the pairs' indices to send the gathered rows' gradients
back (an embedding backward). Here the forward keeps each hidden layer's output only, the dropout scale rides on
the next product (ReLU commutes with a positive scale), and the backward is the layers' products plus one scatter
of the first layer's gradient onto the distinct users and items (a serial `index_add_`, deterministic on a CPU).
On a CPU the passes over the pairs' (B x n x width) activations are compiled loops (numba) that gather, add,
apply ReLU and dropout in one pass forward, and threshold and scatter in one pass back; the logits' FM part, the
cross-entropy and sigmoid - label are one more pass forward (one exp per pair), and the field sums' and own terms'
gradients one pass back. Each has a torch twin, the path elsewhere (GPU) and without numba. Tests compare both
with autograd.

Dropout masks are not drawn as arrays: each layer takes one seed from its `Dropout` per batch, and unit u of pair
r keeps or drops by a 16-bit uniform hashed from (seed, r, u) (`dropped_units`: splitmix64's finalizer over a
counter, four uniforms a word). The compiled loops hash as they go; numpy's generator had cost a millisecond a
batch for the two layers' million uniforms, and the bool masks a pass each. The torch twin hashes the same
counters, so both paths drop the same units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

try:
    import numba
except ImportError:  # the torch operations below do the same without it
    numba = None


@dataclass(frozen=True)
class PairTerms:
    """One side's terms per distinct entity: field sum (m, dim), own terms (m,), first-layer half (m, width)."""

    sum: torch.Tensor
    own: torch.Tensor
    half: torch.Tensor


@dataclass(frozen=True)
class HiddenLayer:
    """A hidden layer after the first: its weights and the seed of its output's dropout (None: nothing dropped)."""

    weight: torch.Tensor
    bias: torch.Tensor
    seed: int | None


@dataclass(frozen=True)
class PairDropout:
    """The hidden layers' dropout: a unit whose hashed 16-bit uniform is below `drop_below` is dropped, a kept one
    is multiplied by `scale` (`Dropout.drop_below`, `Dropout.scale`)."""

    drop_below: int
    scale: float


def pair_bce(user: PairTerms, item: PairTerms, user_slot: torch.Tensor, item_slot: torch.Tensor,
             first_seed: int | None, layers: list[HiddenLayer], dropout: PairDropout, out_weight: torch.Tensor,
             out_bias: torch.Tensor, global_bias: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy of DeepFM's logits over B x n pairs, column 0 the positive.

    Pair (b, j) is distinct user `user_slot[b]` (B,) with distinct item `item_slot[b, j]` (B, n); its logit is
    global_bias + own terms + <field sums> + out(MLP(user half + item half)). `first_seed` and each layer's `seed`
    (`Dropout.draw_seed`, None: nothing dropped) draw the dropout masks (`dropped_units`).
    """
    weights = [t for layer in layers for t in (layer.weight, layer.bias)]
    seeds = [first_seed, *(layer.seed for layer in layers)]
    return _PairBCE.apply(user.sum, user.own, user.half, item.sum, item.own, item.half, user_slot, item_slot, seeds,
                          dropout, global_bias, out_weight, out_bias, *weights)


_GOLDEN = 0x9E3779B97F4A7C15  # splitmix64's counter increment
_MIX = (0xBF58476D1CE4E5B9, 0x94D049BB133111EB)  # and its finalizer's multipliers
_GOLDEN64, _MIX64 = np.uint64(_GOLDEN), (np.uint64(_MIX[0]), np.uint64(_MIX[1]))  # as the compiled loops take them


def dropped_units(seed: int, n_rows: int, width: int, drop_below: int, device: torch.device) -> torch.Tensor:
    """(n_rows, width) bool: which units of a (n_rows, width) layer the dropout of `seed` drops. Word r * words + w
    (words = ceil(width / 4)) is splitmix64's finalizer of seed + index * golden; unit u of row r is dropped when
    16-bit part u % 4 of its row's word u // 4 is below `drop_below`. The compiled loops compute the same."""
    words = -(-width // 4)
    z = torch.arange(n_rows * words, dtype=torch.int64, device=device) * _signed(_GOLDEN) + seed
    for shift, multiplier in zip((30, 27), _MIX):  # int64 products wrap as uint64 ones do; >> is made logical
        z = (z ^ _logical_right(z, shift)) * _signed(multiplier)
    z = z ^ _logical_right(z, 31)
    uniforms = torch.stack([(z >> (16 * part)) & 0xFFFF for part in range(4)], dim=1)
    return uniforms.view(n_rows, words * 4)[:, :width] < drop_below


def _signed(value: int) -> int:
    """A uint64 constant as the int64 with the same bits."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _logical_right(z: torch.Tensor, shift: int) -> torch.Tensor:
    return (z >> shift) & ((1 << (64 - shift)) - 1)


def compile_loop(function):
    """`function` compiled by numba where it is installed (itself otherwise); DeepFM's loops (here and in
    engine.training.fm_fields) share it. numpy's error model and fastmath let LLVM vectorise the loops."""
    return numba.njit(cache=True, fastmath=True, nogil=True, error_model="numpy")(function) if numba else function


def runs_compiled(*tensors: torch.Tensor) -> bool:
    """Whether the compiled loops apply: numba present, float32 tensors on the CPU (DeepFM's pair and field
    loops alike, so one switch, `numba`, sends both down their torch twins)."""
    return numba is not None and all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors)


def _numpy(tensor: torch.Tensor | None) -> np.ndarray | None:
    """The CPU tensor's memory as an array for the loops (None passes through)."""
    return None if tensor is None else tensor.detach().numpy()


def _first_layer(user_half: torch.Tensor, item_half: torch.Tensor, user_slot: torch.Tensor, item_slot: torch.Tensor,
                 seed: int | None, drop_below: int) -> torch.Tensor:
    """(B * n, width) relu(user half + item half) of every pair, dropped units zeroed (unscaled)."""
    n_users, n_candidates = item_slot.shape
    flat = item_slot.reshape(-1)
    if runs_compiled(user_half, item_half):
        out = torch.empty((len(flat), user_half.shape[1]), dtype=torch.float32)
        _first_layer_loop(_numpy(user_half), _numpy(item_half), _numpy(user_slot), _numpy(flat), *_hash(seed),
                          drop_below, out.numpy())
        return out
    hidden = item_half.index_select(0, flat).view(n_users, n_candidates, -1)
    return _relu_drop(hidden.add_(user_half.index_select(0, user_slot).unsqueeze(1)).view(len(flat), -1), seed,
                      drop_below)


def _hash(seed: int | None) -> tuple[bool, np.uint64]:
    """(whether units are dropped, the seed as the loops take it)."""
    return seed is not None, np.uint64(seed or 0)


@compile_loop
def _kept_units(seed, row, drop_below, kept):
    """kept[u] = 1 for the units of row `row` its dropout keeps, 0 for those it drops (`dropped_units`), as floats
    (`kept` holds a whole number of words: width rounded up to 4): a product by them vectorises where a select on
    the 16-bit uniforms did not. Each word's four uniforms are taken by shifts as it is hashed: read back through
    a uint16 view of a word buffer, a 1M batch's first-layer pass took 0.55 ms and its second layer's ReLU-dropout
    0.23 (0.34 and 0.09 this way)."""
    n_words = len(kept) // 4
    base = np.uint64(row) * np.uint64(n_words)
    below, mask = np.uint64(drop_below), np.uint64(0xFFFF)
    for w in range(n_words):
        z = seed + (base + np.uint64(w)) * _GOLDEN64
        z = (z ^ (z >> np.uint64(30))) * _MIX64[0]
        z = (z ^ (z >> np.uint64(27))) * _MIX64[1]
        z = z ^ (z >> np.uint64(31))
        kept[4 * w] = np.float32((z & mask) >= below)
        kept[4 * w + 1] = np.float32(((z >> np.uint64(16)) & mask) >= below)
        kept[4 * w + 2] = np.float32(((z >> np.uint64(32)) & mask) >= below)
        kept[4 * w + 3] = np.float32((z >> np.uint64(48)) >= below)


@compile_loop
def _first_layer_loop(user_half, item_half, user_slot, item_slot, dropping, seed, drop_below, out):
    n_candidates = len(item_slot) // len(user_slot)
    zero = np.float32(0)
    kept = np.empty((out.shape[1] + 3) // 4 * 4, dtype=np.float32)
    for pair in range(len(item_slot)):
        user, item, row = user_half[user_slot[pair // n_candidates]], item_half[item_slot[pair]], out[pair]
        if dropping:
            _kept_units(seed, pair, drop_below, kept)
            for k in range(len(row)):
                row[k] = max(user[k] + item[k], zero) * kept[k]
        else:
            for k in range(len(row)):
                row[k] = max(user[k] + item[k], zero)


def _relu_drop(pre: torch.Tensor, seed: int | None, drop_below: int) -> torch.Tensor:
    """relu(pre) of a (rows, width) layer with the dropped units zeroed, in place (the scale is left to the next
    product)."""
    if runs_compiled(pre) and seed is not None:
        _relu_drop_loop(pre.numpy(), *_hash(seed), drop_below)
        return pre
    pre.clamp_(min=0)
    if seed is None:
        return pre
    return pre.masked_fill_(dropped_units(seed, len(pre), pre.shape[1], drop_below, pre.device), 0)


@compile_loop
def _relu_drop_loop(pre, dropping, seed, drop_below):
    zero = np.float32(0)
    kept = np.empty((pre.shape[1] + 3) // 4 * 4, dtype=np.float32)
    for r in range(len(pre)):
        row = pre[r]
        _kept_units(seed, r, drop_below, kept)
        for k in range(len(row)):
            row[k] = max(row[k], zero) * kept[k]


def _output_backward(hidden: torch.Tensor, d_logits: torch.Tensor,
                     weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Back through `logit = weight . hidden + bias` and the ReLU below it: (d pre-activation of the last hidden
    layer (pairs, width), d weight (width,))."""
    if runs_compiled(hidden, d_logits, weight):
        d_pre, d_weight = torch.empty_like(hidden), torch.zeros(hidden.shape[1])
        _output_backward_loop(hidden.numpy(), d_logits.numpy(), weight.numpy(), d_pre.numpy(), d_weight.numpy())
        return d_pre, d_weight
    d_logits = d_logits.to(hidden.dtype)  # the activations' dtype (bf16 under a GPU's autocast)
    d_pre = torch.ops.aten.threshold_backward(torch.outer(d_logits, weight.to(hidden.dtype)), hidden, 0)
    return d_pre, d_logits @ hidden


@compile_loop
def _output_backward_loop(hidden, d_logits, weight, d_pre, d_weight):
    zero = np.float32(0)
    for pair in range(len(hidden)):
        row, d_row, d = hidden[pair], d_pre[pair], d_logits[pair]
        for k in range(len(row)):
            d_row[k] = d * weight[k] if row[k] > zero else zero
            d_weight[k] += d * row[k]


def _first_backward(d_hidden: torch.Tensor, hidden: torch.Tensor, user_slot: torch.Tensor, item_slot: torch.Tensor,
                    n_distinct_users: int, n_distinct_items: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Back from the first layer's output (`d_hidden`, pairs x width) through its ReLU to the distinct users' and
    items' halves (a unit at zero passes nothing back, so a gradient already through that ReLU passes as it is)."""
    flat = item_slot.reshape(-1)
    if runs_compiled(d_hidden, hidden):
        d_user = torch.empty((n_distinct_users, hidden.shape[1]))
        d_item = torch.empty((n_distinct_items, hidden.shape[1]))
        _first_backward_loop(d_hidden.numpy(), hidden.numpy(), user_slot.numpy(), flat.numpy(), d_user.numpy(),
                             d_item.numpy())
        return d_user, d_item
    d_pre = torch.ops.aten.threshold_backward(d_hidden, hidden, 0)
    d_user = _scatter(n_distinct_users, user_slot, d_pre.view(*item_slot.shape, -1).sum(dim=1))
    return d_user, _scatter(n_distinct_items, flat, d_pre)


@compile_loop
def _first_backward_loop(d_hidden, hidden, user_slot, item_slot, d_user, d_item):
    """d_user and d_item (uninitialised) = the sums of the pairs' gradients through the ReLU: a row's first pair
    writes it and the others add, so no pass zeroes the two tables first (rows no pair names are zeroed last)."""
    n_candidates = len(item_slot) // len(user_slot)
    zero = np.float32(0)
    user_seen = np.zeros(len(d_user), dtype=np.bool_)
    item_seen = np.zeros(len(d_item), dtype=np.bool_)
    for pair in range(len(item_slot)):
        d_row, row = d_hidden[pair], hidden[pair]
        u, i = user_slot[pair // n_candidates], item_slot[pair]
        user, item = d_user[u], d_item[i]
        if not user_seen[u]:
            user[:] = zero
            user_seen[u] = True
        if not item_seen[i]:
            item[:] = zero
            item_seen[i] = True
        for k in range(len(row)):
            d = d_row[k] if row[k] > zero else zero
            user[k] += d
            item[k] += d
    for u in range(len(d_user)):
        if not user_seen[u]:
            d_user[u] = zero
    for i in range(len(d_item)):
        if not item_seen[i]:
            d_item[i] = zero


def _scatter(n_rows: int, index: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """(n_rows, ...) sums of `values` rows by `index` (the gradient of gathering those rows)."""
    return values.new_zeros((n_rows, *values.shape[1:])).index_add_(0, index, values)


def _logits_and_loss(user_sum: torch.Tensor, user_own: torch.Tensor, item_sum: torch.Tensor, item_own: torch.Tensor,
                     user_slot: torch.Tensor, item_slot: torch.Tensor, deep: torch.Tensor,
                     global_bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """((B, n) sigmoid(logit) - label of each pair, the logit being deep part + <field sums> + own terms + global
    bias; their mean cross-entropy), column 0 the positive."""
    n_users, n_candidates = item_slot.shape
    flat = item_slot.reshape(-1)
    if runs_compiled(user_sum, user_own, item_sum, item_own, deep):
        residuals = torch.empty((n_users, n_candidates))
        loss = _logits_loop(user_sum.numpy(), user_own.numpy(), item_sum.numpy(), item_own.numpy(), user_slot.numpy(),
                            flat.numpy(), deep.numpy(), np.float32(global_bias.item()), residuals.numpy())
        return residuals, torch.tensor(loss, dtype=torch.float32)
    user_sums = user_sum.index_select(0, user_slot)
    item_sums = item_sum.index_select(0, flat).view(n_users, n_candidates, -1)
    cross = torch.bmm(item_sums, user_sums.unsqueeze(2)).squeeze(2)
    logits = (deep + cross + user_own.index_select(0, user_slot).unsqueeze(1)
              + item_own.index_select(0, flat).view(n_users, n_candidates) + global_bias).float()
    labels = torch.zeros_like(logits)
    labels[:, 0] = 1.0
    return torch.sigmoid(logits) - labels, F.binary_cross_entropy_with_logits(logits, labels)


@compile_loop
def _logits_loop(user_sum, user_own, item_sum, item_own, user_slot, item_slot, deep, global_bias, residuals):
    """residuals[b, j] = sigmoid(logit) - label of each pair; returns the mean cross-entropy. One exp per pair, both
    from e = exp(-|x|): the loss's softplus(x) - label * x = max(x, 0) - label * x + log(1 + e), its logs taken
    over products of up to 64 factors (1 + e, at most 2: no overflow in float64), and sigmoid(x) = 1 / (1 + e)
    (x >= 0) or e / (1 + e)."""
    n_users, n_candidates = residuals.shape
    one = np.float32(1)
    total, product = 0.0, 1.0
    for b in range(n_users):
        user = user_slot[b]
        u, base = user_sum[user], user_own[user] + global_bias
        for j in range(n_candidates):
            item = item_slot[b * n_candidates + j]
            v = item_sum[item]
            x = base + item_own[item] + deep[b, j]
            for k in range(len(u)):
                x += u[k] * v[k]
            e = np.exp(-abs(x))
            label = one if j == 0 else np.float32(0)
            total += max(x, np.float32(0)) - label * x
            product *= 1.0 + e
            if (b * n_candidates + j) % 64 == 63:
                total += np.log(product)
                product = 1.0
            residuals[b, j] = (one if x >= 0 else e) / (one + e) - label
    return (total + np.log(product)) / residuals.size


def _logits_backward(grad: torch.Tensor, residuals: torch.Tensor, user_sum: torch.Tensor, item_sum: torch.Tensor,
                     user_slot: torch.Tensor, item_slot: torch.Tensor, n_distinct_users: int,
                     n_distinct_items: int) -> tuple[torch.Tensor, ...]:
    """(d logits (B, n), d user sums, d user own terms, d item sums, d item own terms) from the loss's `grad` and
    the pairs' sigmoid(logit) - label (`_logits_and_loss`)."""
    d_logits = residuals.mul(grad / residuals.numel())  # d loss / d logit = (sigmoid - label) / pairs
    if runs_compiled(d_logits, user_sum, item_sum):
        d_user_sum, d_user_own = torch.zeros_like(user_sum), torch.zeros(n_distinct_users)
        d_item_sum, d_item_own = torch.zeros_like(item_sum), torch.zeros(n_distinct_items)
        _logits_backward_loop(d_logits.numpy(), user_sum.numpy(), item_sum.numpy(), user_slot.numpy(),
                              item_slot.reshape(-1).numpy(), d_user_sum.numpy(), d_user_own.numpy(),
                              d_item_sum.numpy(), d_item_own.numpy())
        return d_logits, d_user_sum, d_user_own, d_item_sum, d_item_own
    n_users, n_candidates = item_slot.shape
    flat = item_slot.reshape(-1)
    d_user_own = _scatter(n_distinct_users, user_slot, d_logits.sum(dim=1))
    d_item_own = _scatter(n_distinct_items, flat, d_logits.view(-1))
    user_sums = user_sum.index_select(0, user_slot)
    item_sums = item_sum.index_select(0, flat).view(n_users, n_candidates, -1)
    d_user_sum = _scatter(n_distinct_users, user_slot, torch.bmm(d_logits.unsqueeze(1), item_sums).squeeze(1))
    d_item_sum = _scatter(n_distinct_items, flat, (d_logits.unsqueeze(2) * user_sums.unsqueeze(1)).flatten(0, 1))
    return d_logits, d_user_sum, d_user_own, d_item_sum, d_item_own


@compile_loop
def _logits_backward_loop(d_logits, user_sum, item_sum, user_slot, item_slot, d_user_sum, d_user_own, d_item_sum,
                          d_item_own):
    """Each pair's d logit onto its user's and item's own terms and, times the other side's, field sums."""
    n_users, n_candidates = d_logits.shape
    for b in range(n_users):
        user = user_slot[b]
        u, d_u = user_sum[user], d_user_sum[user]
        for j in range(n_candidates):
            item = item_slot[b * n_candidates + j]
            v, d_v, d = item_sum[item], d_item_sum[item], d_logits[b, j]
            d_user_own[user] += d
            d_item_own[item] += d
            for k in range(len(u)):
                d_u[k] += d * v[k]
                d_v[k] += d * u[k]


class _PairBCE(torch.autograd.Function):
    @staticmethod
    @torch.amp.custom_fwd(device_type="cuda")
    def forward(ctx, user_sum, user_own, user_half, item_sum, item_own, item_half, user_slot, item_slot, seeds,
                dropout, global_bias, out_weight, out_bias, *weights):
        n_users, n_candidates = item_slot.shape
        # each layer's output relu(.) with dropped units zeroed, kept unscaled: the next product multiplies by scale
        outputs = [_first_layer(user_half, item_half, user_slot, item_slot, seeds[0], dropout.drop_below)]
        for (weight, bias), seed in zip(zip(weights[::2], weights[1::2]), seeds[1:]):
            kept = 1.0 if seeds[len(outputs) - 1] is None else dropout.scale
            outputs.append(_relu_drop(torch.addmm(bias, outputs[-1], weight.t(), alpha=kept), seed,
                                      dropout.drop_below))
        last_scale = 1.0 if seeds[-1] is None else dropout.scale
        deep = torch.addmm(out_bias, outputs[-1], out_weight.t(), alpha=last_scale).view(n_users, n_candidates)
        residuals, loss = _logits_and_loss(user_sum, user_own, item_sum, item_own, user_slot, item_slot, deep,
                                           global_bias)
        ctx.save_for_backward(user_sum, item_sum, user_slot, item_slot, out_weight, residuals, *weights, *outputs)
        ctx.scales = [1.0 if seed is None else dropout.scale for seed in seeds]
        ctx.sizes = (len(user_own), len(item_own))
        return loss

    @staticmethod
    @torch.amp.custom_bwd(device_type="cuda")
    def backward(ctx, grad):
        user_sum, item_sum, user_slot, item_slot, out_weight, residuals, *rest = ctx.saved_tensors
        n_weights = len(rest) - len(ctx.scales)
        weights, outputs = rest[:n_weights], rest[n_weights:]
        scales = ctx.scales
        n_distinct_users, n_distinct_items = ctx.sizes
        d_logits, d_user_sum, d_user_own, d_item_sum, d_item_own = _logits_backward(
            grad, residuals, user_sum, item_sum, user_slot, item_slot, n_distinct_users, n_distinct_items)
        d_flat = d_logits.view(-1)
        d_global = d_flat.sum()
        # deep part: back through the output layer and the hidden layers, last first
        d_pre, d_out_weight = _output_backward(outputs[-1], d_flat, out_weight[0] * scales[-1])
        d_out_weight = d_out_weight.mul_(scales[-1]).unsqueeze(0)
        d_weights: list[torch.Tensor] = []
        for index in range(len(outputs) - 1, 0, -1):
            weight, below = weights[2 * (index - 1)], outputs[index - 1]
            d_weights[:0] = [(d_pre.t() @ below).mul_(scales[index - 1]), d_pre.sum(dim=0)]
            d_below = d_pre @ (weight * scales[index - 1])
            # the first layer's ReLU is gone back through in `_first_backward`, with its scatter
            d_pre = d_below if index == 1 else torch.ops.aten.threshold_backward(d_below, below, 0)
        d_user_half, d_item_half = _first_backward(d_pre, outputs[0], user_slot, item_slot, n_distinct_users,
                                                   n_distinct_items)
        return (d_user_sum, d_user_own, d_user_half, d_item_sum, d_item_own, d_item_half, None, None, None, None,
                d_global, d_out_weight, d_global.view(1).clone(), *d_weights)
