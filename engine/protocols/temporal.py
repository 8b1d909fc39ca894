"""Temporal protocol: train before a cut-off time, validate on the next window, test after the cut-off.

Users and items first seen after training's end are new; the derived slices are `temporal` (known users on
known items) plus its cold parts (`cold-user`, `cold-item`, `cold-item-all`, `cold-both`) and `overall`.
"""

from __future__ import annotations

import numpy as np

from engine.data.dataset import Dataset
from engine.protocols.assemble import SplitParts
from engine.protocols.common import ProtocolError, rows_to_split
from engine.protocols.declaration import ProtocolDeclaration, ProtocolParams, fraction


class TemporalParams(ProtocolParams):
    """Parameters of the temporal protocol: the newest shares of time validate and test."""

    valid_fraction: float = fraction(0.1, "Valid fraction", "Share of the interactions, in time order, after the "
                                     "training ones, used for validation.", allow_zero=False)
    test_fraction: float = fraction(0.2, "Test fraction", "Share of the newest interactions used for testing.",
                                    allow_zero=False)


def temporal_split(dataset: Dataset, seed: int, params: TemporalParams) -> SplitParts:
    """Rows before the (1 - valid - test) time quantile train, the next `valid_fraction` validate, the last
    `test_fraction` test. The seed is recorded but unused: a temporal split is deterministic."""
    valid_fraction, test_fraction = params.valid_fraction, params.test_fraction
    if not dataset.has_timestamps:
        raise ProtocolError("the temporal protocol needs a timestamp column in the interactions; pick another "
                            "protocol or add timestamps")
    if valid_fraction + test_fraction >= 1:
        raise ProtocolError(f"valid_fraction={valid_fraction} and test_fraction={test_fraction} must sum below 1")
    rows = rows_to_split(dataset)
    times = rows["timestamp"].to_numpy()
    valid_cut, test_cut = np.quantile(times, [1 - valid_fraction - test_fraction, 1 - test_fraction],
                                      method="lower")
    train_mask, test_mask = times < valid_cut, times >= test_cut
    valid_mask = ~train_mask & ~test_mask
    if not train_mask.any() or not test_mask.any() or not valid_mask.any():
        raise ProtocolError("the timestamps are too concentrated to cut into train, valid and test windows; "
                            "change the fractions or use another protocol")
    params = {"valid_fraction": valid_fraction, "test_fraction": test_fraction,
              "valid_from": int(valid_cut), "test_from": int(test_cut)}
    train = rows.loc[train_mask]
    new_users = sorted(set(rows.loc[~train_mask, "user_id"].unique()) - set(train["user_id"].unique()))
    new_items = sorted(set(rows.loc[~train_mask, "item_id"].unique()) - set(train["item_id"].unique()))
    return SplitParts(PROTOCOL.name, seed, params, train, rows.loc[valid_mask], rows.loc[test_mask],
                      cold_users=new_users, cold_items=new_items)


PROTOCOL = ProtocolDeclaration(
    "temporal", "train on the oldest interactions, validate on the next ones, test on the newest (the seed is unused)",
    TemporalParams, temporal_split)
