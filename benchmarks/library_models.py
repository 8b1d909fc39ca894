"""Library counterparts of our re-implemented ideas, wrapped as `Recommender`s for the parity benchmark (issue 4).

implicit's ALS (Hu, Koren & Volinsky, ICDM 2008) and BPR (Rendle et al., UAI 2009), and LightFM (Kula, CBRecSys
2015) in two variants: ids + attributes, and attributes only for items. Wrapped in our interface, they are tuned by
`engine.runs.tuning.tune_model` on the validation slice with the same trial budget and scored by
`engine.metrics.evaluation` exactly like our models, so a difference in a table is the implementation's, not the
protocol's. One entry is ours: `hybridmf_features`, our hybrid MF pinned to LightFM's features-only item
representation.

Benchmark-only: registered through `COLDSTART_EXTRA_MODELS=benchmarks.library_models` (never in the product
registry), and the libraries are imported only when a model is fitted, so this module imports without them.
Install them with `.venv/bin/pip install -r requirements-bench.txt`. The libraries' own threads come from
`COLDSTART_LIBRARY_THREADS` (default 1), read at fit time, so job child processes inherit it.

    COLDSTART_EXTRA_MODELS=benchmarks.library_models .venv/bin/python -m engine models
    .venv/bin/python benchmarks/library_models.py        # lists the adapters and whether each library is installed
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from contextlib import contextmanager
from importlib import import_module
from pathlib import Path
from typing import Any, Iterator, Literal

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import Field

if __package__ in (None, ""):  # run as a script: make the engine importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.core.data import ItemQuery, TrainData, UserQuery
from engine.core.model import Capabilities, FitContext, ModelConfig, Recommender
from engine.models.hybrid_mf import HybridMFConfig, HybridMFRecommender  # noqa: E402

MODELS: dict[str, str] = {
    "implicit_als": "benchmarks.library_models:ImplicitALS",
    "implicit_bpr": "benchmarks.library_models:ImplicitBPR",
    "lightfm": "benchmarks.library_models:LightFMHybrid",
    "lightfm_features": "benchmarks.library_models:LightFMFeaturesOnly",
    "hybridmf_features": "benchmarks.library_models:HybridMFItemAttributesOnly",
}
"""Registry entries read by `engine.models.registry` when this module is named in COLDSTART_EXTRA_MODELS: the
library adapters, and our hybrid MF pinned to LightFM's features-only item representation for the like-for-like
cold-item pairing."""

LIBRARIES = {"implicit_als": "implicit", "implicit_bpr": "implicit", "lightfm": "lightfm",
             "lightfm_features": "lightfm"}
"""The package each library adapter needs (import name)."""

THREADS_ENV = "COLDSTART_LIBRARY_THREADS"
INSTALL_HINT = ".venv/bin/pip install -r requirements-bench.txt"


def library_threads() -> int:
    """Threads the libraries may use (COLDSTART_LIBRARY_THREADS, default 1: the benchmarks share small machines)."""
    value = os.environ.get(THREADS_ENV, "1").strip()
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{THREADS_ENV}={value!r} must be a whole number of threads, at least 1")
    return int(value)


def missing_libraries(names: list[str] | None = None) -> list[str]:
    """The libraries (import names) needed by the adapters `names` (default: all) that cannot be imported."""
    needed = sorted({LIBRARIES[n] for n in (names or list(LIBRARIES)) if n in LIBRARIES})
    missing = []
    for package in needed:
        try:
            import_module(package)
        except ImportError:
            missing.append(package)
    return missing


def _import_library(package: str) -> Any:
    """The library module, or an ImportError that says how to install the benchmark requirements."""
    try:
        return import_module(package)
    except ImportError as error:
        raise ImportError(f"{package} is not installed; it is a benchmark-only dependency: {INSTALL_HINT}") from error


@contextmanager
def _single_threaded_blas() -> Iterator[None]:
    """One BLAS thread while implicit builds and fits a model: its own threads do the work, and a BLAS pool on
    top oversubscribes the cores (implicit warns about it and asks for exactly this)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # without threadpoolctl the pool keeps its size
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _rows(index: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Rows of `table` for known entities; zero rows where `index == -1` (never asked of warm-only models)."""
    out = np.zeros((len(index), table.shape[1]), dtype=np.float32)
    known = index >= 0
    out[known] = table[index[known]]
    return out


def _fit_with_early_stopping(model: Recommender, context: FitContext, epochs: int, patience: int,
                             train_epochs: Callable[[int], None], snapshot: Callable[[], Any],
                             restore: Callable[[Any], None]) -> int:
    """Train epoch by epoch with early stopping on the context's validator, the rule of our training loop.

    Validate after every epoch, keep the best epoch's state, stop after `patience` validations without gain
    (0 = never), restore the best state at the end. Without a validator all epochs run in one call, as a plain
    library fit would. Returns the epochs run.
    """
    validator = context.validator
    if validator is None:
        train_epochs(epochs)
        return epochs
    best_metric, best_state, without_gain = -np.inf, None, 0
    epoch = 0
    for epoch in range(1, epochs + 1):
        train_epochs(1)
        metric = float(validator(model))
        if context.progress is not None:
            context.progress.report(epoch=epoch, n_epochs=epochs, metric=metric)
        if np.isnan(metric):  # no validation slice this model can serve: train on without early stopping
            train_epochs(epochs - epoch)
            return epochs
        if metric > best_metric:
            best_metric, best_state, without_gain = metric, snapshot(), 0
        else:
            without_gain += 1
        if (patience > 0 and without_gain >= patience) or (context.progress is not None
                                                           and context.progress.should_stop()):
            break
    if best_state is not None:
        restore(best_state)
    return epoch


# -- implicit ----------------------------------------------------------------------------------------------------

class ImplicitALSConfig(ModelConfig):
    """implicit's ALS, with our ALS's defaults and meaning of every field (same grid, so the same search)."""

    factors: int = Field(32, ge=1, le=1024, title="Factors", description="Length of the user and item vectors.")
    regularization: float = Field(20.0, ge=0, title="L2 regularisation",
                                  description="Penalty on vector norms; larger = smoother, less overfit.")
    alpha: float = Field(2.0, gt=0, title="Confidence scaling (alpha)",
                         description="Confidence of a positive is 1 + alpha x weight; unobserved pairs count 1.")
    iterations: int = Field(15, ge=1, le=200, title="Iterations",
                            description="Alternating sweeps over users and items.")


class _FactorModel(Recommender):
    """A warm-only model scored by dot products of stored user and item factors (numpy arrays)."""

    capabilities = Capabilities()

    def __init__(self, config: ModelConfig | dict | None = None, seed: int = 0) -> None:
        super().__init__(config, seed)
        self.user_factors = np.zeros((0, 0), dtype=np.float32)
        self.item_factors = np.zeros((0, 0), dtype=np.float32)

    def score(self, users: UserQuery, items: ItemQuery) -> torch.Tensor:
        """Dot products of the library's user and item factors."""
        scores = _rows(users.index, self.user_factors) @ _rows(items.index, self.item_factors).T
        return torch.from_numpy(np.ascontiguousarray(scores, dtype=np.float32))

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """User and item factors as tensors."""
        return {"user_factors": torch.from_numpy(np.ascontiguousarray(self.user_factors, dtype=np.float32)),
                "item_factors": torch.from_numpy(np.ascontiguousarray(self.item_factors, dtype=np.float32))}

    def load_state_tensors(self, state: dict[str, torch.Tensor]) -> None:
        """Restore user and item factors."""
        self.user_factors = state["user_factors"].numpy()
        self.item_factors = state["item_factors"].numpy()


class ImplicitALS(_FactorModel):
    """implicit's AlternatingLeastSquares (CPU, conjugate gradient), warm users and items only.

    implicit's confidence is alpha x weight, ours 1 + alpha x weight; the adapter hands implicit 1 + alpha x weight
    with its alpha at 1, so both models share one parametrisation, one default and one search grid.
    """

    name = "implicit_als"
    label = "implicit ALS"
    family = "factorization"
    Config = ImplicitALSConfig
    search_space = {
        "factors": [16, 32, 64, 128],
        "regularization": [1.0, 5.0, 20.0, 50.0, 100.0],
        "alpha": [0.5, 1.0, 2.0, 5.0, 10.0],
        "iterations": [10, 15, 30],
    }
    config: ImplicitALSConfig

    def _fit(self, data: TrainData, context: FitContext) -> None:
        als = _import_library("implicit.als")
        threads = library_threads()
        confidence = sp.csr_matrix(data.matrix, dtype=np.float32, copy=True)
        confidence.data = 1.0 + self.config.alpha * confidence.data
        with _single_threaded_blas():
            model = als.AlternatingLeastSquares(factors=self.config.factors, alpha=1.0, use_gpu=False,
                                                regularization=self.config.regularization,
                                                iterations=self.config.iterations, num_threads=threads,
                                                random_state=self.seed)
            model.fit(confidence, show_progress=False)
        self.user_factors = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors = np.asarray(model.item_factors, dtype=np.float32)


class ImplicitBPRConfig(ModelConfig):
    """implicit's BPR hyper-parameters; defaults are the library's, and the best validated epoch is kept like ours.

    On MovieLens 100K warm, implicit's BPR at its default rate stays near the popularity score for 30 epochs and
    peaks after 60-70, so our patience of 5 would stop it on the plateau: it runs all its epochs instead.
    """

    factors: int = Field(100, ge=1, le=1024, title="Factors",
                         description="Length of the vectors (implicit adds one column for the item bias).")
    learning_rate: float = Field(0.01, gt=0, le=10, title="Learning rate", description="SGD step size.")
    regularization: float = Field(0.01, ge=0, title="L2 regularisation", description="Penalty on the vectors.")
    iterations: int = Field(100, ge=1, le=10_000, title="Epochs",
                            description="Maximum passes over the training positives (early stopping may end sooner).")
    patience: int = Field(0, ge=0, le=1000, title="Patience",
                          description="Validations without improvement before stopping early (0 = never stop early: "
                                      "SGD BPR sits on a popularity plateau for dozens of epochs before it climbs).")


class ImplicitBPR(_FactorModel):
    """implicit's BayesianPersonalizedRanking (CPU, SGD), warm users and items only.

    The factors carry the item bias as their last column (user side: 1). Fitting again continues training from
    the current factors, so it runs one epoch at a time when a validator asks for early stopping; a seeded
    numpy Generator keeps the negative samples of successive epochs distinct.
    """

    name = "implicit_bpr"
    label = "implicit BPR"
    family = "factorization"
    Config = ImplicitBPRConfig
    search_space = {"factors": [32, 64, 128], "learning_rate": [0.005, 0.01, 0.05, 0.1],
                    "regularization": [0.001, 0.01, 0.1]}
    config: ImplicitBPRConfig

    def _fit(self, data: TrainData, context: FitContext) -> None:
        bpr = _import_library("implicit.bpr")
        threads = library_threads()
        config = self.config
        with _single_threaded_blas():
            model = bpr.BayesianPersonalizedRanking(factors=config.factors, learning_rate=config.learning_rate,
                                                    regularization=config.regularization, iterations=1,
                                                    use_gpu=False, num_threads=threads,
                                                    random_state=np.random.default_rng(self.seed))
        positives = sp.csr_matrix(data.matrix, dtype=np.float32)

        def train_epochs(n: int) -> None:
            if n > 0:
                model.iterations = n
                with _single_threaded_blas():
                    model.fit(positives, show_progress=False)
                self.user_factors, self.item_factors = model.user_factors, model.item_factors

        def restore(state: tuple[np.ndarray, np.ndarray]) -> None:
            self.user_factors, self.item_factors = state

        self.epochs_run = _fit_with_early_stopping(
            self, context, config.iterations, config.patience, train_epochs,
            lambda: (self.user_factors.copy(), self.item_factors.copy()), restore)
        self.user_factors = np.asarray(self.user_factors, dtype=np.float32).copy()
        self.item_factors = np.asarray(self.item_factors, dtype=np.float32).copy()


# -- LightFM -----------------------------------------------------------------------------------------------------

class LightFMConfig(ModelConfig):
    """LightFM hyper-parameters (library names and defaults) plus which id and attribute features it gets.

    More epochs and patience than our hybrid MF (60, 5): adagrad at LightFM's default rate still gains on
    MovieLens 100K warm after 100 epochs, and a parity check must not undertrain the library.
    """

    no_components: int = Field(64, ge=1, le=1024, title="Factors", description="Dimension of every embedding.")
    loss: Literal["warp", "bpr", "logistic", "warp-kos"] = Field("warp", title="Loss",
                                                                 description="LightFM's training loss.")
    learning_rate: float = Field(0.05, gt=0, le=10, title="Learning rate", description="Initial adagrad step size.")
    alpha: float = Field(0.0, ge=0, title="L2 penalty",
                         description="LightFM's user_alpha and item_alpha: penalty on the feature embeddings.")
    max_sampled: int = Field(10, ge=1, le=1000, title="WARP samples",
                             description="Most negatives WARP draws looking for a violating one.")
    epochs: int = Field(100, ge=1, le=10_000, title="Epochs",
                        description="Maximum epochs (early stopping on validation may end sooner).")
    patience: int = Field(10, ge=0, le=1000, title="Patience",
                          description="Validations without improvement before stopping early (0 = never stop early).")
    use_user_ids: bool = Field(True, title="User id features", description="Off: users are their attributes only.")
    use_item_ids: bool = Field(True, title="Item id features", description="Off: items are their attributes only.")


def _feature_rows(index: np.ndarray, n_ids: int, attributes: sp.spmatrix | None) -> sp.csr_matrix:
    """LightFM feature rows: a one-hot id block (zero for unseen entities) next to the attribute block.

    Rows are scaled to unit absolute sum, what LightFM's own Dataset does by default (`normalize=True`), so an
    entity's representation is the average of its feature embeddings whatever its number of features.
    """
    blocks = []
    if n_ids:
        known = np.flatnonzero(index >= 0)
        blocks.append(sp.csr_matrix((np.ones(len(known), dtype=np.float32), (known, index[known])),
                                    shape=(len(index), n_ids)))
    if attributes is not None:
        blocks.append(sp.csr_matrix(attributes, dtype=np.float32))
    rows = sp.csr_matrix(sp.hstack(blocks, format="csr"), dtype=np.float32)
    totals = np.asarray(abs(rows).sum(axis=1), dtype=np.float32).ravel()
    scale = np.divide(1.0, totals, out=np.zeros_like(totals), where=totals > 0)
    return sp.csr_matrix(sp.diags(scale) @ rows, dtype=np.float32)


class LightFMHybrid(Recommender):
    """LightFM with id and attribute features for users and items: serves warm, new users and new items.

    A new user or item has a zero id block and its attribute row, so it is the average of its attribute
    embeddings, LightFM's own cold-start mechanism.
    """

    name = "lightfm"
    label = "LightFM (ids + features)"
    family = "hybrid"
    Config = LightFMConfig
    capabilities = Capabilities(new_users=True, new_items=True, uses_user_features=True, uses_item_features=True)
    search_space = {"no_components": [32, 64, 128], "learning_rate": [0.02, 0.05, 0.1, 0.2],
                    "loss": ["warp", "bpr"], "alpha": [0.0, 1e-6, 1e-5]}
    config: LightFMConfig
    _TABLES = ("user_embeddings", "user_biases", "item_embeddings", "item_biases")

    def __init__(self, config: ModelConfig | dict | None = None, seed: int = 0) -> None:
        super().__init__(config, seed)
        self.tables: dict[str, np.ndarray] = {}

    def _n_ids(self, side: str) -> int:
        use = self.config.use_user_ids if side == "user" else self.config.use_item_ids
        return (len(self.user_ids) if side == "user" else len(self.item_ids)) if use else 0

    def _uses_attributes(self, side: str) -> bool:
        """Whether the attribute block is part of the fitted tables (it is whenever the dataset had attributes)."""
        return self.tables[f"{side}_embeddings"].shape[0] > self._n_ids(side)

    def _fit(self, data: TrainData, context: FitContext) -> None:
        lightfm = _import_library("lightfm")
        config = self.config
        features = {}
        for side, attributes, n in (("user", data.user_features, data.n_users),
                                    ("item", data.item_features, data.n_items)):
            ids = config.use_user_ids if side == "user" else config.use_item_ids
            if not ids and attributes is None:
                raise ValueError(f"{self.label} with use_{side}_ids off needs {side} attributes, and this dataset "
                                 f"has none: turn use_{side}_ids on")
            rows = None if attributes is None else attributes.rows(data.user_ids if side == "user" else data.item_ids)
            features[side] = _feature_rows(np.arange(n), n if ids else 0, rows)
        model = lightfm.LightFM(no_components=config.no_components, loss=config.loss,
                                learning_rate=config.learning_rate, item_alpha=config.alpha, user_alpha=config.alpha,
                                max_sampled=config.max_sampled, random_state=np.random.RandomState(self.seed))
        interactions = sp.coo_matrix((data.matrix > 0).astype(np.float32))
        threads = library_threads()

        def train_epochs(n: int) -> None:
            if n > 0:
                model.fit_partial(interactions, user_features=features["user"], item_features=features["item"],
                                  epochs=n, num_threads=threads)
                # LightFM updates its arrays in place: scoring reads them as they are now
                self.tables = {name: getattr(model, name) for name in self._TABLES}

        def restore(state: dict[str, np.ndarray]) -> None:
            self.tables = state

        self.epochs_run = _fit_with_early_stopping(
            self, context, config.epochs, config.patience, train_epochs,
            lambda: {name: array.copy() for name, array in self.tables.items()}, restore)
        self.tables = {name: np.array(array, dtype=np.float32) for name, array in self.tables.items()}

    def _representations(self, side: str, index: np.ndarray,
                         attributes: sp.spmatrix | None) -> tuple[np.ndarray, np.ndarray]:
        """(embeddings, biases) of the queried users or items: feature rows times LightFM's tables."""
        if self._uses_attributes(side) and attributes is None:
            n_attributes = self.tables[f"{side}_embeddings"].shape[0] - self._n_ids(side)
            attributes = sp.csr_matrix((len(index), n_attributes), dtype=np.float32)
        rows = _feature_rows(index, self._n_ids(side), attributes if self._uses_attributes(side) else None)
        return (np.asarray(rows @ self.tables[f"{side}_embeddings"], dtype=np.float32),
                np.asarray(rows @ self.tables[f"{side}_biases"], dtype=np.float32))

    def score(self, users: UserQuery, items: ItemQuery) -> torch.Tensor:
        """u . i + b_i from feature-averaged representations (the user bias does not change a user's ranking)."""
        user_vectors, _ = self._representations("user", users.index, users.features)
        item_vectors, item_bias = self._representations("item", items.index, items.features)
        scores = user_vectors @ item_vectors.T + item_bias[None, :]
        return torch.from_numpy(np.ascontiguousarray(scores, dtype=np.float32))

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """LightFM's embedding and bias tables (id rows first, then attribute rows)."""
        return {name: torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
                for name, array in self.tables.items()}

    def load_state_tensors(self, state: dict[str, torch.Tensor]) -> None:
        """Restore the tables."""
        self.tables = {name: state[name].numpy() for name in self._TABLES}


class LightFMFeaturesOnlyConfig(LightFMConfig):
    """LightFM with items as their attributes only; users too by default, user ids are one more tuning switch."""

    use_user_ids: bool = Field(False, title="User id features", description="Off: users are their attributes only.")
    use_item_ids: bool = Field(False, title="Item id features",
                               description="Off: items are their attributes only (LightFM's best for new items).")


class LightFMFeaturesOnly(LightFMHybrid):
    """LightFM without item ids: everything learned about items transfers to new ones (Kula 2015's cold-item model).

    The first trial is attributes only on both sides; like our hybrid MF, tuning may turn user ids on.
    """

    name = "lightfm_features"
    label = "LightFM (features only)"
    Config = LightFMFeaturesOnlyConfig
    search_space = {**LightFMHybrid.search_space, "use_user_ids": [False, True]}


# -- ours, pinned to the features-only item representation ---------------------------------------------------------

class HybridMFItemAttributesOnlyConfig(HybridMFConfig):
    """Our hybrid MF's settings with item ids off by default (and out of the search)."""

    use_item_ids: bool = Field(False, title="Item id embeddings",
                               description="Off: items are their attributes only (LightFM's best for new items).")


class HybridMFItemAttributesOnly(HybridMFRecommender):
    """Our hybrid MF (`hybridmf`) with items as their attributes only, the counterpart of LightFM features only.

    The product model searches `use_item_ids` itself; here it is pinned off so the cold-item pairing compares one
    representation, and the budget goes to the remaining fields (user ids still a switch, as for LightFM).
    """

    name = "hybridmf_features"
    label = "Hybrid MF (items by attributes only)"
    Config = HybridMFItemAttributesOnlyConfig
    search_space = {key: values for key, values in HybridMFRecommender.search_space.items() if key != "use_item_ids"}


if __name__ == "__main__":
    missing = missing_libraries()
    for key, target in MODELS.items():
        library = LIBRARIES.get(key)
        state = "ours" if library is None else f"{library} {'not installed' if library in missing else 'installed'}"
        print(f"{key:<18} {target:<56} {state}")
    if missing:
        print(f"install the benchmark-only libraries with: {INSTALL_HINT}")
