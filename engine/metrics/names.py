"""Metric names, declared once: the families beside the ranking metrics (`engine.metrics.ranking.AT_K_METRICS`),
how a column name reads (`ndcg@20` is the family `ndcg` at cut-off K = 20; `auc` and `rmse` have no K), and which
way is better. Comparisons, pages and the validator read these instead of spelling metric names again."""

from __future__ import annotations

VALIDATION_METRIC = "ndcg@20"
"""What early stopping and tuning maximise on the validation slice unless a run asks for another metric."""
RATING_METRICS = ("rmse", "mae")
"""Errors of predicted ratings, pooled over a slice's rated rows (models that predict ratings)."""
BEYOND_ACCURACY = ("coverage", "popularity", "novelty", "diversity")
"""What top-K lists are like beyond finding held-out positives (`engine.metrics.beyond`)."""
LOWER_IS_BETTER = (*RATING_METRICS, "popularity")
"""Families whose smaller value is the better one: errors, and popularity bias (how much a model sticks to the
head); every other family (accuracy, coverage, novelty, diversity) is higher-is-better."""


def split_metric_name(name: str) -> tuple[str, int | None]:
    """`ndcg@20` -> (`ndcg`, 20); `auc` -> (`auc`, None); a cut-off that is not a whole number reads as None."""
    base, _, k = name.partition("@")
    return base, int(k) if k.isdigit() else None


def lower_is_better(name: str) -> bool:
    """Whether a smaller value of metric `name` (a family or `family@K`) is better."""
    return split_metric_name(name)[0] in LOWER_IS_BETTER
