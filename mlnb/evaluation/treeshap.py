"""Exact tree SHAP for scikit-learn tree ensembles, compiled with numba and split across cores.

The values are those of shap's ``TreeExplainer`` without background data (path-dependent tree SHAP),
computed another way. For a leaf with value ``v`` whose path splits on the distinct features
``j`` (cover fraction ``z_j``: the share of training weight that followed the path's splits on
``j``; ``o_j`` = 1 when the explained row satisfies them, else 0), feature ``i`` receives

    v * (o_i - z_i) * integral over t in [0, 1] of prod_{j != i} (z_j + (o_j - z_j) t) dt

(the Shapley weights written as a Beta integral). The integrand is a polynomial of degree below the
path's feature count P, so Gauss-Legendre quadrature with ceil(P / 2) nodes integrates it exactly.
Each path is flattened once per model (its features, the interval of each feature's values that
follows it, its cover fractions); each row then costs O(P x nodes) per leaf with no tree walk.
Rows are split across cores in threads (the kernel releases the GIL) when there is enough work.

Supported: decision trees, random forests and extra trees (classifiers give per-class probability
values, regressors the prediction) and gradient boosting (values of the raw margin, as shap's).
``tree_shap`` returns None for anything else (the caller then uses shap's TreeExplainer).
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

#: Rows x leaves x path features below which one thread does the work (threads cost more than they save).
PARALLEL_WORK = 2e7
_SUPPORTED = ("DecisionTreeClassifier", "DecisionTreeRegressor", "ExtraTreeClassifier", "ExtraTreeRegressor",
              "RandomForestClassifier", "RandomForestRegressor", "ExtraTreesClassifier", "ExtraTreesRegressor",
              "GradientBoostingClassifier", "GradientBoostingRegressor")


@dataclass
class _Paths:
    """Every root-to-leaf path of an ensemble, flattened (one row per leaf)."""

    feature: np.ndarray   # leaves x P: distinct features on the path (first n[l] used)
    lo: np.ndarray        # leaves x P: the path follows feature j when lo < x_j <= hi
    hi: np.ndarray
    z: np.ndarray         # leaves x P: cover fraction of the path's splits on feature j
    n: np.ndarray         # leaves: number of distinct features on the path
    value: np.ndarray     # leaves x outputs: the leaf's contribution to each output (tree weight included)


def _kernels():
    """Compile (or load from numba's cache) the two kernels, once per process."""
    global _compiled
    if _compiled is None:
        from numba import njit

        _compiled = (njit(cache=True, nogil=True)(_flatten_tree), njit(cache=True, nogil=True)(_shap_rows))
    return _compiled


_compiled = None


def _flatten_tree(left, right, feature, threshold, cover, P, max_depth, out_feat, out_lo, out_hi, out_z, out_n,
                  out_leaf, leaf_start):
    """Write each leaf's path of one tree from ``leaf_start``; return the next free leaf slot."""
    n_nodes = left.shape[0]
    depth_cap = max_depth + 2
    st_feat = np.zeros((depth_cap, P), np.int64)
    st_lo = np.zeros((depth_cap, P))
    st_hi = np.zeros((depth_cap, P))
    st_z = np.zeros((depth_cap, P))
    st_n = np.zeros(depth_cap, np.int64)
    stack_node = np.zeros(n_nodes, np.int64)
    stack_depth = np.zeros(n_nodes, np.int64)
    stack_parent = np.zeros(n_nodes, np.int64)
    top = 1
    stack_node[0] = 0
    stack_parent[0] = -1
    slot = leaf_start
    while top > 0:
        top -= 1
        node, d, parent = stack_node[top], stack_depth[top], stack_parent[top]
        if parent >= 0:
            m = st_n[d - 1]
            for p in range(m):
                st_feat[d, p] = st_feat[d - 1, p]
                st_lo[d, p] = st_lo[d - 1, p]
                st_hi[d, p] = st_hi[d - 1, p]
                st_z[d, p] = st_z[d - 1, p]
            f = feature[parent]
            frac = cover[node] / cover[parent] if cover[parent] > 0 else 0.0
            at = m
            for p in range(m):
                if st_feat[d, p] == f:
                    at = p
            if at == m:
                st_feat[d, m] = f
                st_lo[d, m] = -np.inf
                st_hi[d, m] = np.inf
                st_z[d, m] = 1.0
                m += 1
            st_z[d, at] *= frac
            if node == left[parent]:
                st_hi[d, at] = min(st_hi[d, at], threshold[parent])
            else:
                st_lo[d, at] = max(st_lo[d, at], threshold[parent])
            st_n[d] = m
        else:
            st_n[d] = 0
        if left[node] < 0:
            m = st_n[d]
            out_n[slot] = m
            out_leaf[slot] = node
            for p in range(m):
                out_feat[slot, p] = st_feat[d, p]
                out_lo[slot, p] = st_lo[d, p]
                out_hi[slot, p] = st_hi[d, p]
                out_z[slot, p] = st_z[d, p]
            slot += 1
        else:
            for child in (right[node], left[node]):
                stack_node[top] = child
                stack_depth[top] = d + 1
                stack_parent[top] = node
                top += 1
    return slot


def _shap_rows(XT, feat, lo, hi, z, n, value, t, w, out):
    """Add the SHAP values of the rows (columns of ``XT``: features x rows) to ``out``
    (features x outputs x rows).

    Leaves outside, rows inside: a leaf's factors and their quadrature-weighted inverses are
    computed once, and the loops over rows are plain array arithmetic the compiler vectorises."""
    Q = t.shape[0]
    K = value.shape[1]
    P = feat.shape[1]
    R = XT.shape[1]
    G = np.empty((Q, R))
    O = np.empty((P, R))
    S = np.empty(R)
    a0 = np.empty((P, Q))      # the path's factor of feature p at node q when the row does not follow it
    da = np.empty((P, Q))      # (factor when it does) - a0
    i0 = np.empty((P, Q))      # w_q (o - z) / factor, for o = 0
    di = np.empty((P, Q))      # the same for o = 1, minus i0
    for leaf in range(feat.shape[0]):
        m = n[leaf]
        if m == 0:
            continue
        for p in range(m):
            zp = z[leaf, p]
            for q in range(Q):
                f0 = zp * (1.0 - t[q])
                f1 = zp + (1.0 - zp) * t[q]
                a0[p, q] = f0
                da[p, q] = f1 - f0
                i0[p, q] = -zp * w[q] / f0 if f0 > 0.0 else 0.0
                di[p, q] = (1.0 - zp) * w[q] / f1 - i0[p, q]
        G[:, :] = 1.0
        for p in range(m):
            f = feat[leaf, p]
            low = lo[leaf, p]
            high = hi[leaf, p]
            for r in range(R):
                x = XT[f, r]
                O[p, r] = 1.0 if (x > low and x <= high) else 0.0
            for q in range(Q):
                b = a0[p, q]
                d = da[p, q]
                for r in range(R):
                    G[q, r] *= b + d * O[p, r]
        for p in range(m):
            S[:] = 0.0
            for q in range(Q):
                b = i0[p, q]
                d = di[p, q]
                for r in range(R):
                    S[r] += G[q, r] * (b + d * O[p, r])
            j = feat[leaf, p]
            for k in range(K):
                v = value[leaf, k]
                for r in range(R):
                    out[j, k, r] += v * S[r]


def _trees(model: Any) -> tuple[list[tuple[Any, int | None, float]], int, bool] | None:
    """(tree, output column or None for all outputs, weight) per tree, the output count, and whether
    leaf values are class counts to normalise; None when the model is not supported."""
    name = type(model).__name__
    if name not in _SUPPORTED or not type(model).__module__.startswith("sklearn."):
        return None
    if name.startswith("GradientBoosting"):
        est = np.asarray(model.estimators_, dtype=object)
        lr = float(model.learning_rate)
        K = est.shape[1]
        return [(e.tree_, k, lr) for row in est for k, e in enumerate(row)], K, False
    trees = [model.tree_] if hasattr(model, "tree_") else [e.tree_ for e in model.estimators_]
    if any(t.n_outputs != 1 for t in trees):
        return None                      # multi-output models: shap's explainer handles them
    classifier = name.endswith("Classifier")
    K = int(trees[0].value.shape[2]) if classifier else 1
    return [(t, None, 1.0 / len(trees)) for t in trees], K, classifier


def supports(model: Any) -> bool:
    """True when :func:`tree_shap` explains ``model`` (numba is installed and the model is one it knows)."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return _trees(model) is not None


def _flatten(model: Any, n_features: int) -> _Paths | None:
    found = _trees(model)
    if found is None:
        return None
    trees, K, normalise = found
    flatten, _ = _kernels()
    P = max(1, min(n_features, max(int(t.max_depth) for t, _, _ in trees)))
    total = sum(int(t.n_leaves) for t, _, _ in trees)
    feat = np.zeros((total, P), np.int64)
    lo, hi, z = np.zeros((total, P)), np.zeros((total, P)), np.zeros((total, P))
    n, leaf = np.zeros(total, np.int64), np.zeros(total, np.int64)
    value = np.zeros((total, K))
    slot = 0
    for tree, column, weight in trees:
        end = flatten(tree.children_left.astype(np.int64), tree.children_right.astype(np.int64),
                      tree.feature.astype(np.int64), tree.threshold.astype(float),
                      tree.weighted_n_node_samples.astype(float), P, int(tree.max_depth), feat, lo, hi, z, n,
                      leaf, slot)
        leaves = leaf[slot:end]
        v = tree.value[leaves, 0, :].astype(float)
        if normalise:
            sums = v.sum(axis=1, keepdims=True)
            v = np.divide(v, sums, out=np.zeros_like(v), where=sums > 0)
        if column is None:
            value[slot:end] = v * weight
        else:
            value[slot:end, column] = v[:, 0] * weight
        slot = end
    return _Paths(feat, lo, hi, z, n, value)


def usable_cores() -> int:
    """The cores this process may run on."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def _workers(work: float) -> int:
    return 1 if work < PARALLEL_WORK else usable_cores()


def tree_shap(model: Any, X: np.ndarray, progress: Callable[[int], None] | None = None) -> np.ndarray | None:
    """SHAP values of ``X``'s rows for a scikit-learn tree model: rows x features (one output) or
    rows x features x outputs (class probabilities of forests, per-class margins of boosting).
    None when the model is not one this module handles, or ``X`` holds missing values.
    ``progress(rows)`` is called as row chunks finish."""
    X = np.ascontiguousarray(np.asarray(X, dtype=np.float32), dtype=float)   # scikit-learn's tree precision
    if X.ndim != 2 or np.isnan(X).any():
        return None
    if not supports(model):
        return None
    paths = _flatten(model, X.shape[1])
    if paths is None:
        return None
    _, kernel = _kernels()
    nodes = max(1, math.ceil(paths.feature.shape[1] / 2))
    t, w = np.polynomial.legendre.leggauss(nodes)
    t, w = (t + 1) / 2, w / 2
    out = np.zeros((len(X), X.shape[1], paths.value.shape[1]))
    rows = len(X)
    workers = _workers(rows * len(paths.n) * paths.feature.shape[1])
    chunk = max(1, min(500, math.ceil(rows / workers)))
    bounds = [(s, min(rows, s + chunk)) for s in range(0, rows, chunk)]

    def run(bound):
        part = np.zeros((X.shape[1], paths.value.shape[1], bound[1] - bound[0]))
        kernel(np.ascontiguousarray(X[bound[0]:bound[1]].T), paths.feature, paths.lo, paths.hi, paths.z, paths.n,
               paths.value, t, w, part)
        out[bound[0]:bound[1]] = part.transpose(2, 0, 1)
        return bound[1] - bound[0]

    if workers == 1:
        for b in bounds:
            done = run(b)
            if progress:
                progress(done)
    else:
        with ThreadPoolExecutor(workers) as pool:
            for done in pool.map(run, bounds):
                if progress:
                    progress(done)
    if out.shape[2] == 1:
        return out[:, :, 0]
    return out
