"""The shared training loop: early stopping on validation, best-epoch restore, budgets, cancellation, progress."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.core.model import FitContext
from engine.training.batches import TensorBatches
from engine.training import cpu_kernels
from engine.training.loop import (GradientConfig, LazyAndDenseAdam, TrainingDivergedError, make_optimizer,
                                    sparse_adam, train)


class ScriptedValidator:
    """Returns the given metrics in turn and remembers the weights it saw at each call."""

    metric_name = "ndcg@20"

    def __init__(self, module: nn.Module, metrics: list[float]) -> None:
        self.module = module
        self.metrics = list(metrics)
        self.seen_weights: list[torch.Tensor] = []

    def __call__(self, model) -> float:
        self.seen_weights.append(self.module.weight.detach().clone())
        return self.metrics[len(self.seen_weights) - 1]


class RecordingProgress:
    def __init__(self, stop_after_reports: int | None = None) -> None:
        self.events: list[dict] = []
        self.messages: list[str] = []
        self.stop_after_reports = stop_after_reports

    def report(self, **event) -> None:
        self.events.append(event)

    def log(self, message: str) -> None:
        self.messages.append(message)

    def should_stop(self) -> bool:
        return self.stop_after_reports is not None and len(self.events) >= self.stop_after_reports


def _regression_problem(seed: int = 0) -> tuple[nn.Linear, TensorBatches]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(256, 4, generator=generator)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    return nn.Linear(4, 1, bias=False), TensorBatches(x, y, batch_size=32, seed=seed)


def _mse(module: nn.Module):
    return lambda batch: nn.functional.mse_loss(module(batch[0]), batch[1])


def test_training_reduces_the_loss_and_runs_all_epochs_without_a_validator() -> None:
    module, batches = _regression_problem()
    report = train(module, batches, _mse(module), config=GradientConfig(epochs=20, lr=0.05), context=FitContext())
    assert report.epochs_run == 20 and report.stop_reason == "completed"
    assert report.history[-1].loss < 0.1 * report.history[0].loss
    assert report.samples == 20 * 256


def test_early_stopping_restores_the_weights_of_the_best_validated_epoch() -> None:
    module, batches = _regression_problem()
    validator = ScriptedValidator(module, [0.1, 0.5, 0.3, 0.2, 0.4, 0.9])
    config = GradientConfig(epochs=6, lr=0.05, patience=2)
    report = train(module, batches, _mse(module), config=config, context=FitContext(validator=validator),
                   model=object())
    assert report.stop_reason == "early_stopping" and report.epochs_run == 4
    assert report.best_epoch == 2 and report.best_metric == 0.5
    assert torch.equal(module.weight, validator.seen_weights[1])


def test_validation_runs_every_eval_every_epochs_and_on_the_last_epoch() -> None:
    module, batches = _regression_problem()
    validator = ScriptedValidator(module, [0.1, 0.2, 0.3])
    config = GradientConfig(epochs=5, eval_every=2, patience=0)
    report = train(module, batches, _mse(module), config=config, context=FitContext(validator=validator),
                   model=object())
    assert [r.epoch for r in report.history if r.metric is not None] == [2, 4, 5]


def test_same_seed_gives_identical_weights() -> None:
    weights = []
    for _ in range(2):
        module, batches = _regression_problem()
        torch.manual_seed(123)
        nn.init.normal_(module.weight)
        train(module, batches, _mse(module), config=GradientConfig(epochs=3), context=FitContext(), seed=4)
        weights.append(module.weight.detach().clone())
    assert torch.equal(weights[0], weights[1])


def test_progress_reports_epochs_steps_loss_and_validation_metric() -> None:
    module, batches = _regression_problem()
    progress = RecordingProgress()
    validator = ScriptedValidator(module, [0.1, 0.2])
    train(module, batches, _mse(module), config=GradientConfig(epochs=2, patience=0),
          context=FitContext(validator=validator, progress=progress), model=object())
    epoch_events = [e for e in progress.events if "step" not in e]
    step_events = [e for e in progress.events if "step" in e]
    assert [(e["epoch"], e["metric"]) for e in epoch_events] == [(1, 0.1), (2, 0.2)]
    assert all(e["n_epochs"] == 2 and e["loss"] > 0 for e in progress.events)
    assert step_events and all(e["n_steps"] == batches.n_batches() for e in step_events)
    assert "best ndcg@20 0.2000 at epoch 2" in progress.messages[-1]


def test_cooperative_cancellation_stops_training_and_keeps_the_best_weights() -> None:
    module, batches = _regression_problem()
    progress = RecordingProgress(stop_after_reports=1)
    validator = ScriptedValidator(module, [0.3])
    report = train(module, batches, _mse(module), config=GradientConfig(epochs=50),
                   context=FitContext(validator=validator, progress=progress), model=object())
    assert report.stop_reason == "cancelled" and report.epochs_run == 1
    # the stop may come from a cancel or from the app shutting down (the run then ends failed): the log says neither
    assert progress.messages[-1].startswith("training stopped early: stop requested after 1 epochs")
    assert report.best_epoch == 1 and torch.equal(module.weight, validator.seen_weights[0])


def test_an_exhausted_time_budget_stops_after_the_current_step() -> None:
    module, batches = _regression_problem()
    report = train(module, batches, _mse(module), config=GradientConfig(epochs=50),
                   context=FitContext(time_budget_s=0.0))
    assert report.stop_reason == "time_budget" and report.epochs_run == 1
    assert report.samples == 32


def test_a_diverging_loss_is_reported_with_advice_instead_of_training_on_nan() -> None:
    module, batches = _regression_problem()
    with pytest.raises(TrainingDivergedError, match="lower the learning rate"):
        train(module, batches, lambda batch: module(batch[0]).sum() * float("nan"),
              config=GradientConfig(epochs=2), context=FitContext())


def test_config_rejects_out_of_range_values_with_the_field_named() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        GradientConfig(batch_size=0)
    with pytest.raises(ValueError, match="optimizer"):
        GradientConfig(optimizer="rmsprop")


def test_a_validator_without_a_servable_slice_means_no_early_stopping_and_the_last_weights() -> None:
    module, batches = _regression_problem()
    validator = ScriptedValidator(module, [float("nan")] * 4)
    progress = RecordingProgress()
    report = train(module, batches, _mse(module), config=GradientConfig(epochs=4, patience=1),
                   context=FitContext(validator=validator, progress=progress), model=object())
    assert report.epochs_run == 4 and report.best_epoch is None
    assert report.stop_reason == "completed"
    assert torch.equal(module.weight, validator.seen_weights[-1])
    assert not torch.equal(module.weight, validator.seen_weights[0])
    assert any("no early stopping" in m for m in progress.messages)


class _SparseTables(nn.Module):
    def __init__(self, with_dense_layer: bool = False) -> None:
        super().__init__()
        self.table = nn.Embedding(10, 3, sparse=True)
        self.dense = nn.Linear(3, 1) if with_dense_layer else None


def test_sparse_embedding_tables_get_an_optimizer_that_updates_only_the_rows_of_the_batch() -> None:
    for name in ("adam", "adagrad", "sgd"):
        module = _SparseTables()
        optimizer = make_optimizer(module, GradientConfig(optimizer=name, lr=0.1))
        for rows in ([2, 5], [7]):
            # the second step touches only row 7: dense Adam's momentum would move rows 2 and 5 again
            before = module.table.weight.detach().clone()
            optimizer.zero_grad()
            module.table(torch.tensor(rows)).sum().backward()
            optimizer.step()
            changed = (module.table.weight.detach() != before).any(dim=1)
            assert changed.tolist() == [i in rows for i in range(10)], name


def test_sparse_tables_refuse_weight_decay_with_the_reason() -> None:
    for module in (_SparseTables(), _SparseTables(with_dense_layer=True)):
        with pytest.raises(ValueError, match="weight decay .* dense gradients"):
            make_optimizer(module, GradientConfig(weight_decay=1e-4))


def test_sparse_tables_beside_dense_layers_get_lazy_adam_on_the_tables_and_adam_on_the_layers() -> None:
    module = _SparseTables(with_dense_layer=True)
    optimizer = make_optimizer(module, GradientConfig(lr=0.1))
    assert isinstance(optimizer, LazyAndDenseAdam)
    for rows in ([2, 5], [7]):
        table, layer = module.table.weight.detach().clone(), module.dense.weight.detach().clone()
        optimizer.zero_grad()
        module.dense(module.table(torch.tensor(rows))).sum().backward()
        optimizer.step()
        assert ((module.table.weight.detach() != table).any(dim=1)).tolist() == [i in rows for i in range(10)]
        assert not torch.equal(module.dense.weight.detach(), layer)
    optimizer.zero_grad()
    assert all(p.grad is None for p in module.parameters())


def _lazy_adam_steps(optimizer_class, table: torch.Tensor, steps: list[list[int]]) -> torch.Tensor:
    embedding = nn.Embedding.from_pretrained(table.clone(), freeze=False, sparse=True)
    optimizer = optimizer_class([embedding.weight], lr=0.05)
    for rows in steps:
        optimizer.zero_grad()
        # repeated rows and a gradient that differs per column, so accumulation and the moments are exercised
        (embedding(torch.tensor(rows)) * torch.arange(1.0, 5.0)).pow(2).sum().backward()
        optimizer.step()
    return embedding.weight.detach()


@pytest.mark.skipif(not cpu_kernels.available(), reason="numba is not installed: the compiled step is not used")
def test_compiled_sparse_adam_takes_torch_sparse_adams_steps() -> None:
    torch.manual_seed(0)
    table = torch.randn(12, 4)
    steps = [[1, 3, 3, 7], [3, 11], [0, 1, 1, 1, 7]]
    compiled = _lazy_adam_steps(cpu_kernels.CompiledSparseAdam, table, steps)
    assert torch.allclose(compiled, _lazy_adam_steps(torch.optim.SparseAdam, table, steps), atol=1e-6)
    untouched = [r for r in range(12) if r not in {0, 1, 3, 7, 11}]
    assert torch.equal(compiled[untouched], table[untouched])


def test_sparse_adam_leaves_tables_the_compiled_step_cannot_update_to_torch() -> None:
    # a GPU's tables take this path; float64 and 1-d weights stand in for them on a CPU
    for weight in (nn.Parameter(torch.zeros(4, 2, dtype=torch.float64)), nn.Parameter(torch.zeros(4))):
        assert type(sparse_adam([weight], lr=0.1)) is torch.optim.SparseAdam
    expected = cpu_kernels.CompiledSparseAdam if cpu_kernels.available() else torch.optim.SparseAdam
    assert type(sparse_adam([nn.Parameter(torch.zeros(4, 2))], lr=0.1)) is expected
