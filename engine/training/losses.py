"""Ranking losses shared by the gradient models, each over scores the model computed for a batch."""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F


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
                         log_q: torch.Tensor | None = None, labels: torch.Tensor | None = None) -> torch.Tensor:
    """In-batch softmax (Yi et al., RecSys 2019): each user's positive against the batch's other items.

    Row b's positive is item b, or item `labels[b]` when given (the batch's distinct items as the columns, so a
    popular item is one column, not several copies that are negatives of their own positive). `log_q` (log
    sampling probability of each column's item) corrects the popularity bias of in-batch negatives.
    """
    # temperature and correction are folded into the factors (one more column for log Q): the same logits without
    # extra passes over the (B, B) matrix, which cost as much as the product itself
    users, items = user_vectors / temperature, item_vectors
    if log_q is not None:
        users = torch.cat([users, users.new_ones(len(users), 1)], dim=1)
        items = torch.cat([items, -log_q.to(items.dtype).unsqueeze(1)], dim=1)
    if labels is None:
        labels = torch.arange(len(users), device=users.device)
    return _SoftmaxCrossEntropy.apply(users.float(), items.float(), labels)


class _SoftmaxCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy of logits users @ items.T against the label columns, its backward written by hand:
    d loss / d logits = (softmax - one_hot(labels)) / B, formed in place of the softmax. The generic loss makes four
    more (B, n) passes (log-softmax, its backward, a zero-filled label gradient, its scatter) that cost more than
    the product itself on a CPU."""

    @staticmethod
    def forward(ctx, users: torch.Tensor, items: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logits = users @ items.T
        rows = torch.arange(len(logits), device=logits.device)
        positive = logits[rows, labels]
        top = logits.amax(dim=1, keepdim=True)
        probabilities = logits.sub_(top).exp_()
        total = probabilities.sum(dim=1, keepdim=True)
        probabilities.div_(total)
        ctx.save_for_backward(users, items, probabilities, labels)
        return (total.log_().add_(top).squeeze(1) - positive).mean()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None]:
        users, items, probabilities, labels = ctx.saved_tensors
        d_logits = probabilities  # used once: the softmax becomes its own gradient
        d_logits[torch.arange(len(d_logits), device=d_logits.device), labels] -= 1.0
        d_logits.mul_(grad / len(d_logits))
        return d_logits @ items, d_logits.T @ users, None


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
