"""Test-only models for the job system: a tiny, fast popularity model that can be told to misbehave.

Registered only through `COLDSTART_EXTRA_MODELS=tests.unit.fault_models`, so the product registry stays clean; job
child processes inherit the variable and find the same models.
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path
from typing import Literal

import torch
from pydantic import Field

from engine.core.data import ItemQuery, TrainData, UserQuery
from engine.core.model import Capabilities, FitContext, ModelConfig, Recommender

MODELS = {
    "tiny_popularity": "tests.unit.fault_models:TinyPopularity",
    "tiny_popularity_b": "tests.unit.fault_models:TinyPopularityB",
}

Fault = Literal["none", "raise", "cuda_oom", "memory", "disk_full", "cancel_while_finishing"]


class TinyConfig(ModelConfig):
    """Knobs that make a run slow or make it fail at a chosen point."""

    epochs: int = Field(3, ge=1, le=1000, description="Epochs of counting; each reports progress.")
    epoch_seconds: float = Field(0.02, ge=0, le=60, description="Sleep per epoch, to make a run last.")
    steps_per_epoch: int = Field(2, ge=1, le=100, description="Progress reports within an epoch.")
    fault: Fault = Field("none", description="Where to fail: during fit, or while saving the artifact.")
    fail_at_epoch: int = Field(2, ge=1, description="The epoch whose end raises a fit-time fault.")
    marker: str = Field("", description="A file created when fit starts, so a test knows the run is mid-epoch.")


class TinyPopularity(Recommender):
    """Scores items by training popularity; training is a loop of sleeps that reports like a real model."""

    name = "tiny_popularity"
    label = "Tiny popularity"
    family = "popularity"
    Config = TinyConfig
    capabilities = Capabilities(new_users=True)

    def _fit(self, data: TrainData, context: FitContext) -> None:
        config: TinyConfig = self.config
        if config.marker:
            Path(config.marker).write_text(str(os.getpid()))
        self.popularity = torch.as_tensor(data.matrix.getnnz(axis=0), dtype=torch.float32) + self.seed * 1e-6
        progress = context.progress
        for epoch in range(1, config.epochs + 1):
            for step in range(1, config.steps_per_epoch + 1):
                time.sleep(config.epoch_seconds / config.steps_per_epoch)
                if progress is not None:
                    progress.report(epoch=epoch, n_epochs=config.epochs, step=step, n_steps=config.steps_per_epoch,
                                    loss=1.0 / (epoch + step))
                    if progress.should_stop():
                        return
            if epoch == config.fail_at_epoch:
                self._fit_fault(config.fault)
            if progress is not None:
                progress.report(epoch=epoch, n_epochs=config.epochs, loss=1.0 / epoch, metric=0.1 * epoch)

    @staticmethod
    def _fit_fault(fault: Fault) -> None:
        if fault == "raise":
            raise ValueError("the model hit a deliberate bug")
        if fault == "cuda_oom":
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        if fault == "memory":
            raise MemoryError()

    def score(self, users: UserQuery, items: ItemQuery) -> torch.Tensor:
        scores = torch.zeros(len(items))
        known = torch.as_tensor(items.index >= 0)
        scores[known] = self.popularity[torch.as_tensor(items.index[items.index >= 0])]
        return scores.expand(len(users), -1).clone()

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return {"popularity": self.popularity}

    def load_state_tensors(self, state: dict[str, torch.Tensor]) -> None:
        self.popularity = state["popularity"]

    def save(self, directory: str | Path) -> None:
        fault = self.config.fault
        if fault == "disk_full":
            Path(directory).mkdir(parents=True, exist_ok=True)
            (Path(directory) / "state.pt").write_bytes(b"half a model")
            raise OSError(errno.ENOSPC, "No space left on device", str(directory))
        super().save(directory)
        if fault == "cancel_while_finishing":
            from engine.jobs.queue import cancel_run

            cancel_run(int(Path(directory).name.split("-")[1].split(".")[0]))


class TinyPopularityB(TinyPopularity):
    """A second registry entry, so a test can train two models side by side."""

    name = "tiny_popularity_b"
    label = "Tiny popularity B"
