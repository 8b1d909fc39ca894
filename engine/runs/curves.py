"""A run's training curve from its progress events: the one rule the run card and the Compare page both draw.

Progress events (`RunEventRow`, kind `progress`) come during an epoch (with a `step`) and once at its end (no
`step`, with the epoch's mean loss and, when it validated, the validation metric). The curve is the epoch-end events.
"""

from __future__ import annotations

import pandas as pd

CURVE_COLUMNS = ["epoch", "loss", "metric"]


def progress_events(events: pd.DataFrame) -> pd.DataFrame:
    """The progress events of a run's events frame that say where training was (epoch and planned epochs)."""
    return events[(events["kind"] == "progress") & events["epoch"].notna() & events["n_epochs"].notna()]


def training_curve(events: pd.DataFrame) -> pd.DataFrame:
    """Epoch-end training loss and validation metric of one run (columns epoch, loss, metric); only epochs that
    recorded either, so a run without numbers has an empty curve rather than an empty chart."""
    epochs = progress_events(events)
    epochs = epochs[epochs["step"].isna()].drop_duplicates("epoch", keep="last")
    curve = pd.DataFrame({"epoch": epochs["epoch"].astype(int), "loss": epochs["loss"].astype(float),
                          "metric": epochs["metric"].astype(float)})
    return curve.dropna(subset=["loss", "metric"], how="all")
