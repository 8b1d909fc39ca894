"""What every gradient model shares beyond the loop: one nn.Module as state, its device, save/load of it.

A model subclasses `TorchRecommender`, says how big its module is for the training data (`module_sizes`) and how
to build it from those sizes (`build_module`); saving writes the sizes and the module's state_dict as tensors, and
loading rebuilds the module from the sizes first, so a loaded model scores exactly like the fitted one.
"""

from __future__ import annotations

from abc import abstractmethod

import torch
from torch import nn

from engine.core.data import TrainData
from engine.core.model import FitContext, ModelConfig, Recommender
from engine.training.batches import BatchProvider
from engine.training.device import pick_device
from engine.training.loop import BatchLoss, FusedStep, HandGradients, TrainingReport, train

_SIZE_PREFIX = "size."
_MODULE_PREFIX = "module."


class TorchRecommender(Recommender):
    """A Recommender whose fitted state is one `nn.Module` built from a few integer sizes."""

    def __init__(self, config: ModelConfig | dict | None = None, seed: int = 0) -> None:
        super().__init__(config, seed)
        self.module: nn.Module | None = None
        self.sizes: dict[str, int] = {}
        self.training_report: TrainingReport | None = None

    @abstractmethod
    def module_sizes(self, data: TrainData) -> dict[str, int]:
        """The integers `build_module` needs (counts of users, items, features, ...), read from the data."""

    @abstractmethod
    def build_module(self, sizes: dict[str, int]) -> nn.Module:
        """A freshly initialised module of these sizes (seeded by the caller)."""

    @property
    def device(self) -> torch.device:
        """Where the module lives (the training device after fit, the CPU after load)."""
        return next(self.fitted_module().parameters()).device

    def fitted_module(self) -> nn.Module:
        """The module, or a clear error when the model is used before `fit` or `load`."""
        if self.module is None:
            raise RuntimeError(f"{self.label} is not fitted yet: call fit() (or load a saved model) before scoring")
        return self.module

    def init_module(self, data: TrainData, context: FitContext) -> nn.Module:
        """Build the module for `data` on the device the context's policy picks."""
        self.sizes = {name: int(value) for name, value in self.module_sizes(data).items()}
        torch.manual_seed(self.seed)
        self.module = self.build_module(self.sizes).to(pick_device(context.device))
        return self.module

    def run_training(self, batches: BatchProvider, batch_loss: BatchLoss | HandGradients | FusedStep,
                     context: FitContext) -> TrainingReport:
        """Train the module with the shared loop (early stopping on the context's validator)."""
        self.training_report = train(self.fitted_module(), batches, batch_loss, config=self.config,
                                     context=context, model=self, seed=self.seed, device=self.device)
        return self.training_report

    def state_tensors(self) -> dict[str, torch.Tensor]:
        state = {f"{_SIZE_PREFIX}{name}": torch.tensor(value, dtype=torch.int64) for name, value in self.sizes.items()}
        state.update({f"{_MODULE_PREFIX}{name}": value for name, value in self.fitted_module().state_dict().items()})
        return state

    def load_state_tensors(self, state: dict[str, torch.Tensor]) -> None:
        self.sizes = {k[len(_SIZE_PREFIX):]: int(v) for k, v in state.items() if k.startswith(_SIZE_PREFIX)}
        module = self.build_module(self.sizes)
        module.load_state_dict({k[len(_MODULE_PREFIX):]: v for k, v in state.items() if k.startswith(_MODULE_PREFIX)})
        self.module = module.eval()
