"""An MLP over (user part, item part) pairs whose first layer is split in two, so that scoring every user against
every candidate item costs one small matrix per side plus a broadcast, never a materialised concatenation.

W [u; i] + b = (W_u u + b) + W_i i: the user and item halves are computed once per user and once per item.
Used by the pairwise deep models (NeuMF's MLP tower, DeepFM's deep component).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from engine.training.dropout import Dropout


class PairMLP(nn.Module):
    """ReLU MLP over concat(user_part, item_part); returns the last hidden layer."""

    def __init__(self, user_dim: int, item_dim: int, hidden: Sequence[int], dropout: float = 0.0) -> None:
        super().__init__()
        if not hidden or any(h < 1 for h in hidden):
            raise ValueError(f"PairMLP needs at least one hidden layer of positive width, got {list(hidden)}")
        self.user_in = nn.Linear(user_dim, hidden[0])
        self.item_in = nn.Linear(item_dim, hidden[0], bias=False)
        layers: list[nn.Module] = [nn.ReLU(), Dropout(dropout)]
        for width_in, width_out in zip(hidden[:-1], hidden[1:]):
            layers += [nn.Linear(width_in, width_out), nn.ReLU(), Dropout(dropout)]
        self.rest = nn.Sequential(*layers)
        self.out_dim = hidden[-1]

    def forward(self, user_part: torch.Tensor, item_part: torch.Tensor) -> torch.Tensor:
        """Aligned pairs: user_part (..., user_dim) with item_part (..., item_dim) -> (..., out_dim)."""
        return self.combine(self.user_in(user_part), self.item_in(item_part))

    def all_pairs(self, user_part: torch.Tensor, item_part: torch.Tensor) -> torch.Tensor:
        """Every user with every item: (n_users, user_dim) x (n_items, item_dim) -> (n_users, n_items, out_dim)."""
        return self.combine(self.user_in(user_part).unsqueeze(1), self.item_in(item_part).unsqueeze(0))

    def combine(self, user_half: torch.Tensor, item_half: torch.Tensor) -> torch.Tensor:
        """The MLP from the halves of its first layer (`user_in`, `item_in` outputs, broadcastable), so a caller
        can compute each half once per distinct user and item of a batch."""
        return self.rest(user_half + item_half)
