"""The cold-start curve of onboarding: quality after k questions per strategy, each paired against random.

Every strategy is scored on the same users and the same test items, so a strategy's gain over random is measured
user by user (`engine.metrics.statistics.paired_comparison`): its bootstrap interval is far tighter than the gap
between two independent intervals, and a gain is called real only when that interval excludes zero.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.metrics.statistics import DEFAULT_BOOTSTRAP, bootstrap_ci, paired_comparison
from engine.onboarding.base import OnboardingError
from engine.onboarding.protocol import parse_slice_name
from engine.onboarding.registry import BASELINE

CURVE_COLUMNS = ("strategy", "step", "mean", "ci_low", "ci_high", "n_users", "answered", "difference",
                 "difference_ci_low", "difference_ci_high", "p_value", "beats_baseline")


def onboarding_curves(per_user: pd.DataFrame, metric: str = "ndcg@10", baseline: str = BASELINE,
                      n_bootstrap: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> pd.DataFrame:
    """One row per (strategy, step): mean `metric` with its bootstrap CI, mean questions answered, and the paired
    difference against `baseline` at the same step with its CI and Wilcoxon p (NaN for the baseline itself).
    `beats_baseline` is True where the difference's CI lies wholly above zero."""
    if metric not in per_user.columns:
        metrics = [c for c in per_user.columns if "@" in c]
        raise OnboardingError(f"metric {metric!r} was not measured; measured: {', '.join(metrics)}")
    records = []
    by_step = {step: frame.set_index(["strategy", "user_id"])[metric] for step, frame in per_user.groupby("step")}
    for (strategy, step), frame in per_user.groupby(["strategy", "step"], sort=True):
        values = frame[metric].to_numpy(np.float64)
        counted = values[~np.isnan(values)]
        low, high = bootstrap_ci(counted[:, None], n_bootstrap, seed=seed)[0] if len(counted) else (np.nan, np.nan)
        record = {"strategy": strategy, "step": int(step), "mean": float(counted.mean()) if len(counted) else np.nan,
                  "ci_low": low, "ci_high": high, "n_users": int(len(counted)),
                  "answered": float(frame["answered"].mean()), "difference": np.nan, "difference_ci_low": np.nan,
                  "difference_ci_high": np.nan, "p_value": np.nan, "beats_baseline": False}
        step_values = by_step[step]
        if strategy != baseline and baseline in step_values.index.get_level_values(0) and step > 0:
            paired = paired_comparison(step_values.loc[strategy], step_values.loc[baseline], n_bootstrap, seed=seed)
            record |= {"difference": paired.mean_difference, "difference_ci_low": paired.ci[0],
                       "difference_ci_high": paired.ci[1], "p_value": paired.p_value,
                       "beats_baseline": bool(paired.ci[0] > 0)}
        records.append(record)
    return pd.DataFrame.from_records(records, columns=list(CURVE_COLUMNS))


def best_strategy(curves: pd.DataFrame, steps: tuple[int, ...], baseline: str = BASELINE) -> str | None:
    """The non-baseline strategy with the highest mean over `steps`, or None when only the baseline ran."""
    rows = curves.loc[curves["step"].isin(steps) & (curves["strategy"] != baseline)]
    if rows.empty:
        return None
    return str(rows.groupby("strategy")["mean"].mean().idxmax())


def recorded_curves(per_user: pd.DataFrame, metric: str, n_bootstrap: int = DEFAULT_BOOTSTRAP,
                    seed: int = 0) -> pd.DataFrame:
    """`onboarding_curves` of each model (`variant`) from runs' recorded per-user rows (the Compare page's
    `load_per_user`): the rows of `onboarding-<strategy>-k<k>` slices; empty when no run has any."""
    columns = ["variant", *CURVE_COLUMNS]
    if per_user.empty or metric not in per_user.columns:
        return pd.DataFrame(columns=columns)
    parsed = per_user["slice"].map(parse_slice_name)
    rows = per_user.loc[parsed.notna()]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    rows = rows.assign(strategy=[p[0] for p in parsed[rows.index]], step=[p[1] for p in parsed[rows.index]])
    parts = []
    for variant, frame in rows.groupby("variant", sort=True):
        curves = onboarding_curves(frame, metric, n_bootstrap=n_bootstrap, seed=seed)
        parts.append(curves.assign(variant=variant))
    return pd.concat(parts, ignore_index=True)[columns]
