"""Shared maths of the neighbourhood, graph and segment models: sparse top-k similarities and segment popularity.

Similarities are built a block of rows at a time (dense `block x n`), pruned to the k strongest neighbours per
row, and kept as a sparse matrix, so memory stays at O(n k) whatever the catalogue size.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from engine.core.features import FeatureMatrix

_BLOCK_ROWS = 2048


def row_normalize(matrix: sp.spmatrix, power: float = 1.0) -> sp.csr_matrix:
    """Each row divided by its sum, then raised elementwise to `power` (a random-walk transition matrix)."""
    csr = sp.csr_matrix(matrix, dtype=np.float64)
    sums = np.asarray(csr.sum(axis=1)).ravel()
    scale = np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)
    out = sp.diags(scale) @ csr
    if power != 1.0:
        out.data = np.power(out.data, power)
    return sp.csr_matrix(out)


def l2_normalize_rows(matrix: sp.spmatrix) -> sp.csr_matrix:
    """Rows scaled to unit length (all-zero rows stay zero), so dot products become cosines."""
    csr = sp.csr_matrix(matrix, dtype=np.float64)
    norms = np.sqrt(np.asarray(csr.multiply(csr).sum(axis=1)).ravel())
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return sp.csr_matrix(sp.diags(scale) @ csr)


def sparsify_top_k(block: Callable[[int, int], np.ndarray], n_rows: int, n_cols: int, k: int) -> sp.csr_matrix:
    """A sparse n_rows x n_cols matrix keeping, per row, the k largest positive values of `block(start, stop)`."""
    rows, cols, vals = [], [], []
    k = max(1, min(k, n_cols))
    for start in range(0, n_rows, _BLOCK_ROWS):
        stop = min(start + _BLOCK_ROWS, n_rows)
        dense = block(start, stop)
        if k < n_cols:
            top = np.argpartition(-dense, k - 1, axis=1)[:, :k]
        else:
            top = np.broadcast_to(np.arange(n_cols), (stop - start, n_cols))
        values = np.take_along_axis(dense, top, axis=1)
        keep = values > 0
        rows.append((np.arange(start, stop)[:, None] + np.zeros_like(top))[keep])
        cols.append(top[keep])
        vals.append(values[keep])
    return sp.csr_matrix(
        (np.concatenate(vals).astype(np.float32), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n_rows, n_cols),
    )


def _row_norms(matrix: sp.csr_matrix) -> np.ndarray:
    return np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())


def cosine_top_k(queries: sp.spmatrix, vectors: sp.spmatrix, k: int, shrink: float,
                 self_index: np.ndarray | None = None) -> sp.csr_matrix:
    """Shrunk cosine of each query row against the rows of `vectors`, keeping the k nearest per query.

    sim(a, b) = <a, b> / (|a| |b| + shrink): shrinkage damps similarities resting on few co-occurrences
    (Koren 2008; the tuned baseline of Dacrema et al. 2019). `self_index[q]` names the row of `vectors` that
    is query q itself (-1 when none), so an entity is never its own neighbour.
    """
    queries = sp.csr_matrix(queries, dtype=np.float64)
    vectors = sp.csr_matrix(vectors, dtype=np.float64)
    query_norms, vector_norms = _row_norms(queries), _row_norms(vectors)
    transposed = vectors.T.tocsc()

    def block(start: int, stop: int) -> np.ndarray:
        dense = (queries[start:stop] @ transposed).toarray()
        dense /= query_norms[start:stop, None] * vector_norms[None, :] + shrink + 1e-12
        if self_index is not None:
            own = self_index[start:stop]
            has_self = own >= 0
            dense[np.flatnonzero(has_self), own[has_self]] = 0.0
        return dense

    return sparsify_top_k(block, queries.shape[0], vectors.shape[0], k)


def rp3beta_top_k(matrix: sp.spmatrix, alpha: float, beta: float, k: int) -> sp.csr_matrix:
    """RP3beta item-to-item weights (Paudel et al., TiiS 2017): a 3-step random walk item -> user -> item,
    transition probabilities raised to `alpha`, divided by the target item's popularity to the power `beta`."""
    user_item = row_normalize(matrix, alpha)
    item_user = row_normalize(sp.csr_matrix(matrix).T, alpha)
    popularity = np.asarray((sp.csr_matrix(matrix) > 0).sum(axis=0), dtype=np.float64).ravel()
    damping = np.divide(1.0, np.power(popularity, beta), out=np.zeros_like(popularity), where=popularity > 0)
    n_items = matrix.shape[1]

    def block(start: int, stop: int) -> np.ndarray:
        dense = (item_user[start:stop] @ user_item).toarray() * damping[None, :]
        dense[np.arange(stop - start), np.arange(start, stop)] = 0.0
        return dense

    return sparsify_top_k(block, n_items, n_items, k)


def indicator_columns(features: FeatureMatrix | None) -> np.ndarray:
    """Positions of the non-negative columns of an encoded attribute matrix (one-hot, multi-hot, bins, TF-IDF).

    z-scored numeric columns are left out: membership in a segment cannot be negative, and the same numeric
    attribute is also encoded as one-hot quantile bins. Decided once over all entities so queries line up.
    """
    if features is None or features.n_features == 0:
        return np.zeros(0, dtype=np.int64)
    csc = sp.csc_matrix(features.matrix, dtype=np.float64)
    minimum = np.asarray(csc.min(axis=0).toarray()).ravel()
    return np.flatnonzero(minimum >= 0).astype(np.int64)


def feature_rows(features: FeatureMatrix | None, ids: np.ndarray, columns: np.ndarray | None = None) -> sp.csr_matrix:
    """Attribute rows for `ids`, optionally restricted to `columns` (width 0 when that side has no attributes)."""
    if features is None:
        return sp.csr_matrix((len(ids), 0 if columns is None else len(columns)), dtype=np.float64)
    rows = sp.csr_matrix(features.rows(ids), dtype=np.float64)
    return rows if columns is None else sp.csr_matrix(rows[:, columns])


def segment_item_rates(segments: sp.spmatrix, matrix: sp.spmatrix, smoothing: float) -> tuple[np.ndarray, np.ndarray]:
    """Per attribute value (segment), the smoothed rate at which its users liked each item; and the global rate.

    rate[s, i] = (positives on i among users in s + smoothing * global[i]) / (users in s + smoothing): small
    segments shrink towards global popularity, the usual empirical-Bayes fix for noisy per-segment counts.
    """
    matrix = sp.csr_matrix(matrix, dtype=np.float64)
    segments = sp.csr_matrix(segments, dtype=np.float64)
    n_users = max(matrix.shape[0], 1)
    global_rate = np.asarray(matrix.sum(axis=0)).ravel() / n_users
    counts = (segments.T @ matrix).toarray()
    sizes = np.asarray(segments.sum(axis=0)).ravel()
    rates = (counts + smoothing * global_rate[None, :]) / (sizes[:, None] + smoothing + 1e-12)
    return rates, global_rate


def segment_scores(query_segments: sp.spmatrix, rates: np.ndarray, global_rate: np.ndarray) -> np.ndarray:
    """Each query user's item rates averaged over the segments they belong to (global rates when in none)."""
    query = sp.csr_matrix(query_segments, dtype=np.float64)
    weight = np.asarray(query.sum(axis=1)).ravel()
    scores = np.tile(global_rate, (query.shape[0], 1))
    members = weight > 0
    if members.any() and rates.shape[0]:
        scores[members] = (sp.diags(1.0 / weight[members]) @ query[members]) @ rates
    return scores


def column_kinds(features: FeatureMatrix) -> np.ndarray:
    """Per column: "text", "numeric" or "category", read from the labels `encode_attributes` gives them
    (`field~term` for TF-IDF, `field` and `field:binN` for numerics, `field=value` for (multi-)categories)."""
    fields = np.asarray(features.field_names, dtype=object)[features.column_field] if features.n_features else []
    kinds = []
    for label, field in zip(features.columns, fields):
        if label.startswith(f"{field}~"):
            kinds.append("text")
        elif label == field or label.startswith(f"{field}:bin"):
            kinds.append("numeric")
        else:
            kinds.append("category")
    return np.asarray(kinds, dtype=object)


def smooth_idf(document_frequency: np.ndarray, n_documents: int) -> np.ndarray:
    """log((1 + n) / (1 + df)) + 1: the smoothed inverse document frequency, the formula `features.py` gives its
    TF-IDF text columns, so the term counts behind an encoded text value can be read back."""
    return np.log((1.0 + n_documents) / (1.0 + np.asarray(document_frequency, dtype=np.float64))) + 1.0


def tfidf_rows(matrix: sp.spmatrix, idf: np.ndarray, kept: np.ndarray, column_field: np.ndarray,
               is_text: np.ndarray, is_numeric: np.ndarray, sublinear_tf: bool) -> sp.csr_matrix:
    """Each row's term fields (categories, multi-valued attributes, text) as TF-IDF vectors of unit length per
    field; numeric columns pass through unchanged; term columns not `kept` are dropped.

    A categorical or multi value counts once (tf 1), but where the encoder gives a row's values shares of its
    weights (a tag genome's relevances: `features.weighs_values`), each counts its weight relative to the row's
    lightest value. A text column holds
    tf * idf scaled to unit length by the encoder, so value / idf gives the counts up to scale, read relative to
    the rarest term of the document (which occurs once in almost any text). `sublinear_tf` then uses 1 + log(tf),
    so a word repeated, or a tag given, ten times weighs about three times one said once, not ten (Salton and
    Buckley 1988).
    """
    csr = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    csr.sort_indices()
    if csr.nnz == 0:
        return csr
    cols = csr.indices
    rows = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))
    terms = ~is_numeric[cols]
    # fields are contiguous column ranges, so a (row, field)'s entries are contiguous in sorted CSR data
    group = rows * (int(column_field.max(initial=0)) + 1) + column_field[cols]
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    group_of = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(group)]))
    counts = np.where(is_text[cols], np.abs(csr.data) / idf[cols], np.abs(csr.data))
    rarest = np.minimum.reduceat(np.where(terms, counts, np.inf), starts)[group_of]
    tf = np.where(terms, counts / np.where(np.isfinite(rarest) & (rarest > 0), rarest, 1.0), 1.0)
    if sublinear_tf:
        tf = 1.0 + np.log(np.maximum(tf, 1.0))
    weights = np.where(terms & kept[cols], tf * idf[cols], 0.0)
    norms = np.sqrt(np.add.reduceat(weights ** 2, starts))[group_of]
    csr.data = np.where(terms, np.divide(weights, norms, out=np.zeros_like(weights), where=norms > 0), csr.data)
    csr.eliminate_zeros()
    return csr
