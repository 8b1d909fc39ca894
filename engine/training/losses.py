"""Ranking losses shared by the gradient models, each over scores the model computed for a batch."""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from engine.training import cpu_kernels


def bpr_loss(positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """Bayesian Personalised Ranking (Rendle et al., UAI 2009): -log sigmoid(s_pos - s_neg), averaged.

    `positive` is (B,), `negative` (B,) or (B, n); with several negatives each pair counts once.
    """
    if negative.dim() == 2:
        positive = positive.unsqueeze(1)
    return -F.logsigmoid(positive - negative).mean()


def warp_loss(positive: torch.Tensor, negative: torch.Tensor, n_items: int, margin: float = 1.0) -> torch.Tensor:
    """A batch form of WARP (Weston et al., IJCAI 2011), as LightFM's `warp` loss approximates it.

    Among the (B, n) sampled negatives, those within `margin` of the positive are violators; the positive's rank
    is estimated as (n_items - 1) * violators / n, and the hardest violator's hinge is weighted by log(1 + rank),
    so positives ranked low are pushed hard and positives already on top are left alone.
    """
    hinge, weight = _warp_hinge_and_weight(positive, negative, n_items, margin)
    hardest = hinge.max(dim=1).values.clamp(min=0)
    return (weight.detach() * hardest).mean()


def _warp_hinge_and_weight(positive: torch.Tensor, negative: torch.Tensor, n_items: int,
                           margin: float) -> tuple[torch.Tensor, torch.Tensor]:
    """WARP's hinges (B, n) and each positive's rank weight log(1 + rank) / log(n_items), the rank estimated from
    the share of sampled negatives that violate the margin."""
    if negative.dim() != 2:
        raise ValueError("warp_loss needs several negatives per positive: a (batch, n_negatives) tensor")
    hinge = margin - positive.unsqueeze(1) + negative
    violators = (hinge > 0).float().sum(dim=1)
    rank = torch.floor((n_items - 1) * violators / negative.shape[1])
    return hinge, torch.log1p(rank) / math.log(max(n_items, 2))


def sampled_softmax_loss(user_vectors: torch.Tensor, item_vectors: torch.Tensor, temperature: float,
                         log_q: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                         slots: torch.Tensor | None = None) -> torch.Tensor:
    """In-batch softmax (Yi et al., RecSys 2019): each user's positive against the batch's other items.

    Row b's positive is item b, or item `labels[b]` when given (the batch's distinct items as the columns, so a
    popular item is one column, not several copies that are negatives of their own positive). Row b's user is
    user b, or user `slots[b]` when given (the batch's distinct users: a user's softmax row is computed once and
    counts once per batch row of theirs). `log_q` (log sampling probability of each column's item) corrects the
    popularity bias of in-batch negatives.
    """
    n_rows = len(slots) if slots is not None else len(user_vectors)
    if labels is None:
        labels = torch.arange(n_rows, device=user_vectors.device)
    correction = -log_q.float() if log_q is not None else None
    return _SoftmaxCrossEntropy.apply(user_vectors.float(), item_vectors.float(), correction, labels, slots,
                                      1.0 / temperature)


class _SoftmaxCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy of logits users @ items.T / temperature + correction against the label columns, its
    backward written by hand: d loss / d logits = (count * softmax - one_hot(labels)) / B, formed in place of the
    row exponentials (count: the user's rows in the batch). The generic loss makes four more (B, n) passes
    (log-softmax, its backward, a zero-filled label gradient, its scatter) that cost more than the product itself
    on a CPU. The correction rides on the product (addmm) rather than as one more factor column: the three
    65-wide products ran 16% slower than 64-wide ones."""

    @staticmethod
    def forward(ctx, users, items, correction, labels, slots, scale):
        # in float32 under mixed precision (a GPU's autocast), as the backward's products take the saved tensors
        with torch.autocast(users.device.type, enabled=False):
            return _SoftmaxCrossEntropy._forward(ctx, users, items, correction, labels, slots, scale)

    @staticmethod
    def _forward(ctx, users, items, correction, labels, slots, scale):
        if correction is not None:
            logits = torch.addmm(correction.unsqueeze(0), users, items.t(), alpha=scale)
        else:
            logits = (users * scale) @ items.t()
        rows = slots if slots is not None else torch.arange(len(labels), device=labels.device)
        positive = logits[rows, labels]
        tops = logits.amax(dim=1)
        exponentials, totals = logits, _shifted_exp_rows(logits, tops)
        log_totals = totals.log() + tops
        ctx.save_for_backward(users, items, exponentials, totals, labels, slots)
        ctx.scale = scale
        return (log_totals[rows] - positive).mean()

    @staticmethod
    def backward(ctx, grad):
        users, items, exponentials, totals, labels, slots = ctx.saved_tensors
        step = grad * (ctx.scale / len(labels))  # the mean over rows, and the logits' 1 / temperature
        if slots is None:
            weights = step / totals
            cells = torch.arange(len(labels), device=labels.device) * exponentials.shape[1] + labels
        else:
            weights = torch.bincount(slots, minlength=len(users)).to(totals.dtype) * step / totals
            cells = slots * exponentials.shape[1] + labels
        d_logits = exponentials.mul_(weights.unsqueeze(1))  # used once: the exponentials become the gradient
        d_logits.view(-1).index_add_(0, cells, (-step).expand(len(labels)))
        return d_logits @ items, d_logits.t() @ users, None, None, None, None


def _shifted_exp_rows(block: torch.Tensor, tops: torch.Tensor) -> torch.Tensor:
    """block[r] <- exp(block[r] - tops[r]) in place, returning each row's sum: compiled on a CPU with numba
    (`cpu_kernels.shifted_exp_rows`), torch's exp elsewhere."""
    if block.device.type == "cpu" and block.dtype == torch.float32 and cpu_kernels.available():
        return cpu_kernels.shifted_exp_rows(block, tops)
    return block.sub_(tops.unsqueeze(1)).exp_().sum(dim=1)


def l2_penalty(*tensors: torch.Tensor) -> torch.Tensor:
    """Sum of squares per example, averaged over the batch: regularises only the rows a batch touched."""
    batch = len(tensors[0])
    return sum(t.float().pow(2).sum() for t in tensors) / batch


def bpr_loss_gradient(positive: torch.Tensor, negative: torch.Tensor) -> tuple[float, torch.Tensor, torch.Tensor]:
    """`bpr_loss` and its gradient with respect to its inputs, by hand (for models trained without autograd).

    Returns (loss, d loss / d positive (B,), d loss / d negative, shaped like `negative`).
    """
    difference = positive.unsqueeze(1) - negative if negative.dim() == 2 else positive - negative
    loss = float(-F.logsigmoid(difference).mean())
    # d/dx of -log sigmoid(x) is -sigmoid(-x), and every pair weighs 1 / (number of pairs) in the mean
    d_negative = torch.sigmoid(-difference).div_(difference.numel())
    d_positive = -(d_negative.sum(dim=1) if negative.dim() == 2 else d_negative)
    return loss, d_positive, d_negative


def warp_loss_gradient(positive: torch.Tensor, negative: torch.Tensor, n_items: int,
                       margin: float = 1.0) -> tuple[float, torch.Tensor, torch.Tensor]:
    """`warp_loss` and its gradient with respect to its inputs, by hand (for models trained without autograd).

    Only the positive and its hardest violator carry a gradient, +-weight / B where the hinge is positive.
    Returns (loss, d loss / d positive (B,), d loss / d negative (B, n)).
    """
    hinge, weight = _warp_hinge_and_weight(positive, negative, n_items, margin)
    hardest, where = hinge.max(dim=1)
    loss = float((weight * hardest.clamp(min=0)).mean())
    step = torch.where(hardest > 0, weight, torch.zeros_like(weight)) / len(positive)
    d_negative = torch.zeros_like(negative).scatter_(1, where.unsqueeze(1), step.unsqueeze(1))
    return loss, -step, d_negative
