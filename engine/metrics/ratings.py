"""Rating prediction error for models whose scores are ratings (RMSE and MAE over held-out rated rows)."""

from __future__ import annotations

import numpy as np
import torch


def rating_errors(scores: torch.Tensor, user_positions: np.ndarray, item_positions: np.ndarray,
                  ratings: np.ndarray, n_users: int) -> dict[str, np.ndarray]:
    """Per-user sums of squared and absolute errors and rated-row counts for a chunk.

    RMSE = sqrt(sum of squared errors / rows) and MAE = sum of absolute errors / rows are pooled over all rated
    rows of a slice from these sums, so a heavy rater weighs as many rows as they rated.
    """
    predicted = scores[torch.as_tensor(user_positions, device=scores.device),
                       torch.as_tensor(item_positions, device=scores.device)].double().cpu().numpy()
    error = predicted - ratings
    return {
        "squared_error": np.bincount(user_positions, weights=error ** 2, minlength=n_users),
        "absolute_error": np.bincount(user_positions, weights=np.abs(error), minlength=n_users),
        "rated": np.bincount(user_positions, minlength=n_users).astype(np.float64),
    }
