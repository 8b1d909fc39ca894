"""The one training loop every gradient model uses.

A model builds an `nn.Module`, a batch provider (the shared `NegativeSampler` for implicit feedback, or
`TensorBatches` for ratings) and a loss over one batch, then hands them to `train`; the loop does the rest:
optimizer from the config, device and mixed precision, seeded batches, early stopping on the protocol's
validation slice (`FitContext.validator`, never the test part) with `patience` and `eval_every`, the best epoch's
weights restored at the end, the time budget, progress events and cooperative cancellation.

A model subclasses `TorchRecommender` and calls `self.run_training(sampler, batch_loss, context)` from `_fit`
(see `engine/models/bpr.py`); underneath, that is this call, runnable as it stands:

    >>> import scipy.sparse as sp
    >>> from engine.training.losses import bpr_loss
    >>> from engine.training.sampler import NegativeSampler
    >>> matrix = sp.random(30, 20, density=0.3, format="csr", random_state=0)
    >>> module = nn.ModuleDict({"user": nn.Embedding(30, 4), "item": nn.Embedding(20, 4)})
    >>> def batch_loss(batch):
    ...     users, positives, negatives, _weights = batch          # negatives: (B, n_negatives)
    ...     p = module["user"](users)
    ...     positive = (p * module["item"](positives)).sum(-1)     # (B,)
    ...     negative = torch.einsum("bd,bnd->bn", p, module["item"](negatives))
    ...     return bpr_loss(positive, negative)                     # scores, not the module
    >>> sampler = NegativeSampler(matrix, batch_size=32, seed=0)
    >>> report = train(module, sampler, batch_loss, config=GradientConfig(epochs=3), context=FitContext())
    >>> report.epochs_run, report.stop_reason, len(report.history)
    (3, 'completed', 3)

`score` must read the module's current weights, because the validator scores the model mid-training.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch
from pydantic import Field
from pydantic.fields import FieldInfo
from torch import nn

from engine.core.model import FitContext, ModelConfig, Recommender
from engine.training import cpu_kernels
from engine.training.batches import BatchProvider
from engine.training.device import MixedPrecision, seed_everything
from engine.training.row_gradients import BatchGradients, sparse_gradient_weights
from engine.training.sampler import NegativeSampling

BatchLoss = Callable[[tuple[torch.Tensor, ...]], torch.Tensor]


class GradientConfig(ModelConfig):
    """Hyper-parameters every gradient-trained model shares; each model's config extends it."""

    epochs: int = Field(30, ge=1, le=10_000, title="Epochs",
                        description="Maximum passes over the training positives (early stopping may end sooner).")
    batch_size: int = Field(1024, ge=1, le=1_000_000, title="Batch size",
                            description="Training examples per gradient step.")
    lr: float = Field(0.01, gt=0, le=10, title="Learning rate", description="Step size of the optimizer.")
    weight_decay: float = Field(0.0, ge=0, title="Weight decay",
                                description="Optimizer weight decay on all parameters (0 = off).")
    optimizer: Literal["adam", "adagrad", "sgd"] = Field(
        "adam", title="Optimizer", description="adam (default), adagrad (LightFM's schedule) or plain sgd.")
    patience: int = Field(3, ge=0, le=1000, title="Patience",
                          description="Validations without improvement before stopping early (0 = never stop early).")
    eval_every: int = Field(1, ge=1, le=1000, title="Validate every",
                            description="Epochs between validations on the validation slice.")
    negative_sampling: NegativeSampling = Field(
        "uniform", title="Negative sampling",
        description="uniform over items, or popularity: items drawn in proportion to (count + 1) ** alpha.")
    popularity_alpha: float = Field(0.75, ge=0, le=2, title="Popularity exponent",
                                    description="alpha of popularity negative sampling (0 = uniform).")


def tuned_default(name: str, value: object) -> FieldInfo:
    """A model's own default for a shared training setting, keeping its title, description and bounds.

    Use in a model config: `epochs: int = tuned_default("epochs", 60)`.
    """
    return FieldInfo.merge_field_infos(GradientConfig.model_fields[name], default=value)


class TrainingDivergedError(ValueError):
    """The loss became NaN or infinite: the learning rate is usually too high."""


@dataclass
class EpochRecord:
    """One epoch's mean training loss, its validation metric (when validated) and cumulative seconds."""

    epoch: int
    loss: float
    metric: float | None
    seconds: float


@dataclass
class TrainingReport:
    """What happened during training; kept on the model as `training_report` for run records and benchmarks."""

    device: str
    epochs_run: int = 0
    best_epoch: int | None = None
    best_metric: float | None = None
    stop_reason: str = "completed"
    seconds: float = 0.0
    train_seconds: float = 0.0
    samples: int = 0
    history: list[EpochRecord] = field(default_factory=list)

    @property
    def samples_per_second(self) -> float:
        """Training throughput, validation time excluded."""
        return self.samples / self.train_seconds if self.train_seconds > 0 else 0.0


def _fusable(params: list[torch.Tensor]) -> bool:
    # the fused Adam step is one kernel over each weight instead of a dozen passes (CPU and CUDA, float weights)
    return all(p.dtype in (torch.float32, torch.float64) and p.device.type in ("cpu", "cuda") for p in params)


def sparse_adam(tables: list[torch.Tensor], lr: float) -> torch.optim.Optimizer:
    """Lazy Adam for sparse embedding tables: the compiled CPU step where it applies, else torch's SparseAdam (GPU)."""
    if all(cpu_kernels.CompiledSparseAdam.supports(table) for table in tables):
        return cpu_kernels.CompiledSparseAdam(tables, lr=lr)
    return torch.optim.SparseAdam(tables, lr=lr)


class LazyAndDenseAdam(torch.optim.Optimizer):
    """Adam for a module with sparse embedding tables and dense layers: lazy Adam (SparseAdam, the rows a batch
    touched) on the tables and Adam on the rest, one optimizer to the loop.

    A two-tower's user id table on a large catalogue is most of its weights while a batch touches a few hundred
    rows: dense Adam reads and writes all of it, and its gradient, every step.
    """

    def __init__(self, tables: list[torch.Tensor], dense: list[torch.Tensor], lr: float) -> None:
        self.parts = (sparse_adam(tables, lr), torch.optim.Adam(dense, lr=lr, fused=_fusable(dense)))
        super().__init__([*tables, *dense], {"lr": lr})
        # the parts' own groups, so the mixed-precision scaler unscales the gradients the parts step with
        self.param_groups = [group for part in self.parts for group in part.param_groups]

    def step(self, closure: Callable[[], float] | None = None) -> None:
        """One step of both parts (no closure: the loop computes the loss)."""
        if closure is not None:
            raise ValueError("LazyAndDenseAdam takes no closure")
        for part in self.parts:
            part.step()

    def zero_grad(self, set_to_none: bool = True) -> None:
        for part in self.parts:
            part.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict:
        return {"parts": [part.state_dict() for part in self.parts]}

    def load_state_dict(self, state_dict: dict) -> None:
        for part, state in zip(self.parts, state_dict["parts"], strict=True):
            part.load_state_dict(state)


def make_optimizer(module: nn.Module, config: GradientConfig) -> torch.optim.Optimizer:
    """The optimizer the config names, with its learning rate and weight decay.

    A module whose embedding tables are sparse (`nn.Embedding(..., sparse=True)`) updates only the rows a batch
    touched: SparseAdam for adam (the "lazy Adam" of large embedding tables; `LazyAndDenseAdam` when the module
    has dense weights too, such as a tower's layers), and adagrad and sgd natively. Weight decay is then off (it
    would touch every row); models regularise the rows of each batch instead.
    """
    params = [p for p in module.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters")
    sparse = sparse_gradient_weights(module)
    if sparse and config.weight_decay:
        raise ValueError(f"weight decay ({config.weight_decay}) needs dense gradients; with sparse embedding "
                         "updates set it to 0 and use the model's own L2 penalty")
    if config.optimizer == "adam" and sparse:
        tables = [p for p in params if id(p) in sparse]
        dense = [p for p in params if id(p) not in sparse]
        return LazyAndDenseAdam(tables, dense, lr=config.lr) if dense else sparse_adam(tables, config.lr)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay, fused=_fusable(params))
    if config.optimizer == "adagrad":
        return torch.optim.Adagrad(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(params, lr=config.lr, weight_decay=config.weight_decay)


def _snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in module.state_dict().items()}


class _Run:
    """The mutable state of one `train` call, so the loop body reads as the algorithm."""

    def __init__(self, module: nn.Module, config: GradientConfig, context: FitContext, model: Recommender | None,
                 report: TrainingReport) -> None:
        self.module = module
        self.config = config
        self.context = context
        self.model = model
        self.report = report
        self.best_state: dict[str, torch.Tensor] | None = None
        self.validations_without_gain = 0
        self.warned_no_signal = False
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def out_of_time(self) -> bool:
        budget = self.context.time_budget_s
        return budget is not None and self.elapsed() >= budget

    def cancelled(self) -> bool:
        return self.context.progress is not None and self.context.progress.should_stop()

    def validate(self, epoch: int) -> float | None:
        """Score the validation slice; keep a snapshot when it is the best so far."""
        if self.context.validator is None or self.model is None:
            return None
        self.module.eval()
        with torch.no_grad():
            metric = float(self.context.validator(self.model))
        self.module.train()
        if not math.isfinite(metric):
            # the validator has no slice this model can serve: train on without early stopping
            if not self.warned_no_signal and self.context.progress is not None:
                self.context.progress.log(f"validation {self.context.validator.metric_name} is {metric}: "
                                          "no early stopping, the last epoch is kept")
            self.warned_no_signal = True
            return None
        if self.report.best_metric is None or metric > self.report.best_metric:
            self.report.best_metric, self.report.best_epoch = metric, epoch
            self.best_state = _snapshot(self.module)
            self.validations_without_gain = 0
        else:
            self.validations_without_gain += 1
        return metric

    def should_validate(self, epoch: int) -> bool:
        return epoch % self.config.eval_every == 0 or epoch == self.config.epochs

    def patience_spent(self) -> bool:
        return self.config.patience > 0 and self.validations_without_gain >= self.config.patience

    def emit(self, **event) -> None:
        if self.context.progress is not None:
            self.context.progress.report(n_epochs=self.config.epochs, **event)


@dataclass(frozen=True)
class HandGradients:
    """A batch step whose gradients the model writes itself (`engine.training.row_gradients`), for `train` in
    place of a `BatchLoss`: no autograd graph, the same optimizer, early stopping and events."""

    compute: BatchGradients


@dataclass(frozen=True)
class FusedStep:
    """A batch step that computes and applies its own update (a compiled kernel holding its optimizer's state,
    `engine.training.cpu_kernels`), for `train` in place of a `BatchLoss`; returns the batch loss."""

    run: Callable[[tuple[torch.Tensor, ...]], float]


def train(module: nn.Module, batches: BatchProvider, batch_loss: BatchLoss | HandGradients | FusedStep, *,
          config: GradientConfig, context: FitContext, model: Recommender | None = None, seed: int = 0,
          device: torch.device | str = "cpu") -> TrainingReport:
    """Fit `module` by minimising `batch_loss` over the provider's batches; returns what happened.

    `batch_loss` returns the batch's loss for autograd, or is `HandGradients` computing the gradients itself for
    the configured optimizer, or a `FusedStep` that updates the weights itself.
    `model` is the Recommender handed to `context.validator` for early stopping. With a validator the weights of
    the best validated epoch are restored at the end; without one the last weights are kept.
    """
    device = torch.device(device)
    seed_everything(seed)
    module.to(device).train()
    optimizer = None if isinstance(batch_loss, FusedStep) else make_optimizer(module, config)
    precision = MixedPrecision(device)
    report = TrainingReport(device=str(device))
    run = _Run(module, config, context, model, report)
    n_steps = batches.n_batches()
    report_every = max(1, n_steps // 10)

    for epoch in range(1, config.epochs + 1):
        total, count = 0.0, 0
        epoch_started = time.perf_counter()
        for step, batch in enumerate(batches.epoch(epoch), start=1):
            batch = tuple(t.to(device, non_blocking=True) for t in batch)
            loss = None
            if isinstance(batch_loss, FusedStep):
                loss_value = float(batch_loss.run(batch))
            elif isinstance(batch_loss, HandGradients):
                optimizer.zero_grad(set_to_none=True)
                with torch.no_grad():
                    loss_value = float(batch_loss.compute(batch))
            else:
                optimizer.zero_grad(set_to_none=True)
                with precision.autocast():
                    loss = batch_loss(batch)
                loss_value = float(loss.detach())
            if not math.isfinite(loss_value):
                raise TrainingDivergedError(f"training loss became {loss_value} at epoch {epoch}, step {step}; "
                                            f"lower the learning rate (now {config.lr}) or add regularisation")
            if isinstance(batch_loss, HandGradients):
                optimizer.step()
            elif loss is not None:
                precision.backward_and_step(loss, optimizer)
            total += loss_value
            count += 1
            report.samples += len(batch[0])
            if step % report_every == 0:
                run.emit(epoch=epoch, step=step, n_steps=n_steps, loss=total / count)
            if run.cancelled() or run.out_of_time():
                break
        report.train_seconds += time.perf_counter() - epoch_started
        interrupted = run.cancelled() or run.out_of_time()
        metric = run.validate(epoch) if (run.should_validate(epoch) or interrupted) else None
        report.epochs_run = epoch
        report.history.append(EpochRecord(epoch, total / max(count, 1), metric, run.elapsed()))
        run.emit(epoch=epoch, loss=total / max(count, 1), metric=metric)
        if run.cancelled():
            report.stop_reason = "cancelled"
            break
        if run.out_of_time():
            report.stop_reason = "time_budget"
            break
        if metric is not None and run.patience_spent():
            report.stop_reason = "early_stopping"
            break

    if run.best_state is not None:
        module.load_state_dict(run.best_state)
    module.eval()
    report.seconds = run.elapsed()
    if context.progress is not None:
        best = f", best {context.validator.metric_name} {report.best_metric:.4f} at epoch {report.best_epoch}" \
            if context.validator is not None and report.best_metric is not None else ""
        # a stop request is a cancel from the page or the app shutting down: the log cannot tell which
        why = "early: stop requested" if report.stop_reason == "cancelled" else f"({report.stop_reason})"
        context.progress.log(f"training stopped {why} after {report.epochs_run} epochs on {report.device}{best}")
    return report
