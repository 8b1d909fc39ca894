"""engine.metrics: full-ranking accuracy, beyond-accuracy and rating metrics per user, their statistics, and the
evaluator (`evaluation`) that applies them to a fitted model on a split's slices."""

from engine.core.ranking import top_k
from engine.metrics.beyond import beyond_accuracy, coverage, intra_list_diversity
from engine.metrics.ranking import AT_K_METRICS, at_k_metrics, auc_from_positions, auc_per_user
from engine.metrics.ratings import rating_errors
from engine.metrics.statistics import (HISTORY_BUCKETS, PairedComparison, bootstrap_ci, bootstrap_means,
                                       group_summary, history_bucket, paired_comparison, seed_summary)

__all__ = ["AT_K_METRICS", "HISTORY_BUCKETS", "PairedComparison", "at_k_metrics", "auc_from_positions",
           "auc_per_user", "beyond_accuracy", "bootstrap_ci", "bootstrap_means", "coverage", "group_summary",
           "history_bucket", "intra_list_diversity", "paired_comparison", "rating_errors", "seed_summary", "top_k"]
