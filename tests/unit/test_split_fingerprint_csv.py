"""A split's fingerprint hashes each part's CSV text; the fast column-wise text is byte for byte pandas' to_csv."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.protocols import assemble
from engine.protocols.assemble import csv_chunks


def _frame(ids: list[str], **columns) -> pd.DataFrame:
    n = len(ids)
    frame = pd.DataFrame({"user_id": pd.Series(ids, dtype="str"), "item_id": pd.Series([f"i{k}" for k in range(n)])})
    for name, values in columns.items():
        frame[name] = values
    return frame


CASES = {
    "weights and ratings with NaN": _frame(["u1", "u2", "u3", "u10"], weight=[1.0, 0.6931471805599453, 1e-05, 1e16],
                                           rating=[4.0, np.nan, 3.5, 0.30000000000000004]),
    "timestamps and shots": _frame(["a", "b", "c"], weight=[1.0] * 3,
                                   timestamp=np.array([874965478, -5, 0], dtype=np.int64), shot=[1.0, np.nan, 3.0]),
    "ids that need quotes": _frame(['x,y', 'say "hi"', "plain"], weight=[1.0, 2.0, 3.0]),
    "accents and spaces": _frame(["café", " spaced ", "日本"], weight=[1.0, 1.0, 0.5]),
    "no rows": _frame([], weight=pd.Series([], dtype=float)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_csv_chunks_are_the_bytes_of_to_csv(case: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(assemble, "_CSV_ROWS", 2)  # several pieces even for small frames
    frame = CASES[case]
    assert b"".join(csv_chunks(frame)) == frame.to_csv(index=False).encode()


def test_a_large_part_prints_as_to_csv():
    rng = np.random.default_rng(0)
    n = 50_000
    frame = _frame([f"u{k}" for k in rng.integers(0, 5000, n)], weight=np.log1p(rng.integers(1, 9, n).astype(float)),
                   rating=rng.integers(1, 6, n).astype(float), timestamp=rng.integers(8e8, 9e8, n))
    assert b"".join(csv_chunks(frame)) == frame.to_csv(index=False).encode()
