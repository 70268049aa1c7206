"""SHAP explanations with the explainer that fits the model, on a bounded sample.

* Tree ensembles, classifiers and regressors alike, by the fastest exact tree SHAP for the model:
  scikit-learn trees, forests and gradient boosting by mlnb's compiled tree SHAP
  (:mod:`mlnb.evaluation.treeshap`, split across cores); XGBoost by its own ``pred_contribs`` and
  LightGBM by its own ``pred_contrib`` (compiled, on the trees the model predicts with); CatBoost and
  other tree models by ``shap.TreeExplainer``. All give the values of shap's path-dependent tree
  SHAP, exactly.
* Linear models (``sklearn.linear_model``): ``shap.LinearExplainer``.
* A scikit-learn ``Pipeline`` is explained through its final step on the transformed features when
  that step is a tree or linear model; otherwise, and for any other model or a plain function, a
  model-agnostic permutation estimator (``PermutationSHAP``: the same estimator as
  ``shap.PermutationExplainer``, in plain NumPy with one batched predict per feature ordering, and
  exactly additive) runs on a smaller sample against 50 background rows. ``explainability_algorithm``
  = ``"exact"``, ``"partition"`` or ``"kernel"`` uses the shap library's explainer of that name.

Rows explained: ``explainability_nsamples``, by default MLflow's 2,000 (all rows when there are
fewer), for every explainer, picked as MLflow picks them (``explained_rows``); no approximation is used unless asked for. A progress bar appears
when explaining takes more than a second. When SHAP is skipped or fails, ``Explanation.reason`` says why, a warning
is issued, and the result and widget show it: nothing is dropped silently.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

#: MLflow's default explainability_nsamples, for every explainer: the same rows as MLflow.
DEFAULT_NSAMPLES = 2000
BACKGROUND_ROWS = 50
_TREE_MODULES = ("sklearn.ensemble", "sklearn.tree", "xgboost", "lightgbm", "catboost")
_ALGORITHMS = ("tree", "linear", "permutation", "exact", "partition", "kernel")


@dataclass
class Explanation:
    """SHAP values of a sample (or why there are none)."""

    explainer: str | None = None
    values: np.ndarray | None = None          # rows x features, or rows x features x classes
    data: np.ndarray | None = None            # the explained rows (features as explained)
    feature_names: list[str] = field(default_factory=list)
    class_names: list[Any] | None = None      # for 3-D values: the class of each last-axis slice
    output: str = ""                          # what the values add up to (e.g. "log-odds of class 1")
    rows: int = 0
    index: np.ndarray | None = None           # positions of the explained rows in the data
    seconds: float = 0.0
    reason: str | None = None                 # set when SHAP was skipped or failed

    @property
    def ok(self) -> bool:
        """True when SHAP values were computed."""
        return self.values is not None

    def summary(self) -> str:
        """One line saying which explainer ran on how many rows, or why SHAP was skipped."""
        if not self.ok:
            return f"SHAP skipped: {self.reason}"
        return (f"SHAP by {self.explainer} on {self.rows} rows in {self.seconds:.2f} s"
                + (f" ({self.output})" if self.output else ""))


def _skip(reason: str) -> Explanation:
    warnings.warn(f"mlnb.evaluate: SHAP explanations skipped: {reason}", UserWarning, stacklevel=3)
    return Explanation(reason=reason)


def _kind(model: Any) -> str | None:
    module = type(model).__module__
    if module.startswith(_TREE_MODULES) and not type(model).__name__.startswith(("Voting", "Stacking", "Bagging", "IsolationForest", "AdaBoost")):
        return "tree"
    if module.startswith("sklearn.linear_model") and hasattr(model, "coef_"):
        return "linear"
    return None


def _sample_index(n: int, size: int) -> np.ndarray:
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, size, replace=False))


def explained_rows(n: int, size: int) -> np.ndarray:
    """Positions (ascending) of the rows explained out of ``n``: the ``size`` rows MLflow's default
    evaluator explains (``shap.sample(X, size, random_state=0)``, a seeded shuffle's first rows), or
    all rows when there are no more than ``size``."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.RandomState(0).permutation(n)[:size])


def _pipeline_parts(model: Any, X: pd.DataFrame):
    """(final step, transformed X, names) of a fitted Pipeline, or None when it cannot be split.
    ``X`` is the sample to explain: only its rows are transformed."""
    from sklearn.pipeline import Pipeline

    if not isinstance(model, Pipeline) or len(model.steps) < 2:
        return None
    head, final = model[:-1], model[-1]
    try:
        Xt = head.transform(X)
    except Exception:
        return None
    if hasattr(Xt, "toarray"):
        if Xt.shape[0] * Xt.shape[1] > 5_000_000:
            return None
        Xt = Xt.toarray()
    try:
        Xt = np.asarray(Xt, dtype=float)
    except (TypeError, ValueError):
        return None
    try:
        names = [str(n) for n in head.get_feature_names_out()]
    except Exception:
        names = [f"x{i}" for i in range(Xt.shape[1])]
    if len(names) != Xt.shape[1]:
        names = [f"x{i}" for i in range(Xt.shape[1])]
    return final, Xt, names


def _progress(total: int, desc: str):
    """A text bar on stderr that erases itself when done. Not tqdm's notebook widget: a widget
    output saved in a notebook reads as "model not found" once the kernel is gone."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="row", delay=1.0, leave=False)


def _in_chunks(fn, X: np.ndarray | pd.DataFrame, desc: str, chunk: int) -> np.ndarray:
    parts = []
    with _progress(len(X), desc) as bar:
        for start in range(0, len(X), chunk):
            part = X[start:start + chunk] if isinstance(X, np.ndarray) else X.iloc[start:start + chunk]
            parts.append(np.asarray(fn(part)))
            bar.update(len(part))
    return np.concatenate(parts, axis=0)


def explain(adapter, X: pd.DataFrame, *, model_type: str, labels=None,
            config: Mapping[str, Any] | None = None) -> Explanation:
    """Explain ``adapter``'s model on a sample of ``X``; never raises unless ``ignore_exceptions`` is False."""
    config = dict(config or {})
    if not config.get("log_model_explainability", True):
        return Explanation(reason="turned off by evaluator_config['log_model_explainability']=False")
    if adapter.is_none:
        return Explanation(reason="no model was given (predictions were evaluated), so there is nothing to explain")
    algorithm = config.get("explainability_algorithm")
    if algorithm is not None and algorithm not in _ALGORITHMS:
        from mlnb.errors import InvalidParameterError

        raise InvalidParameterError(
            f"explainability_algorithm={algorithm!r} is not one of {', '.join(_ALGORITHMS)}."
        )
    try:
        return _explain(adapter, X, model_type, labels, config, algorithm)
    except Exception as exc:
        if not config.get("ignore_exceptions", True):
            raise
        return _skip(f"{type(exc).__name__}: {exc}")


def _import_shap():
    try:
        import shap
    except ImportError:
        return None
    return shap


def _choose(adapter, X: pd.DataFrame, idx: np.ndarray, algorithm: str | None):
    """(kind, model to explain, the sample rows as it takes them) — kind "tree", "linear" or None
    (model-agnostic)."""
    raw = adapter.raw
    target, Xe = raw, X.iloc[idx]
    kind = None if raw is None else _kind(raw)
    if raw is not None and kind is None:
        parts = _pipeline_parts(raw, Xe)
        if parts is not None and _kind(parts[0]) is not None:
            target, Xt, names = parts
            Xe = pd.DataFrame(Xt, columns=names)
            kind = _kind(target)
    if algorithm in ("tree", "linear"):
        if kind != algorithm:
            raise ValueError(f"explainability_algorithm={algorithm!r} does not fit a {type(target).__name__}")
    elif algorithm is not None:
        kind = None
    return kind, target, Xe


def _tree_values(shap, target, sample: pd.DataFrame, data: np.ndarray):
    """(explainer name, values) by the fastest exact tree SHAP for ``target``."""
    from mlnb.evaluation.treeshap import tree_shap

    with _progress(len(data), "SHAP (TreeSHAP)") as bar:
        values = tree_shap(target, data, bar.update)
    if values is not None:
        return "TreeSHAP", values
    if type(target).__module__.startswith("xgboost"):
        return "XGBoost pred_contribs", xgboost_contributions(target, sample)
    if type(target).__module__.startswith("lightgbm"):
        return "LightGBM pred_contrib", lightgbm_contributions(target, sample)
    if shap is None:
        raise ImportError("explaining this tree model needs the 'shap' package (pip install 'mlnb[evaluate]')")
    explainer = shap.TreeExplainer(target)
    fn = lambda part: explainer.shap_values(part, check_additivity=False)  # noqa: E731
    return "TreeExplainer", _in_chunks(fn, data, "SHAP (TreeExplainer)", 250)


def xgboost_contributions(model: Any, sample: pd.DataFrame) -> np.ndarray:
    """XGBoost's exact tree SHAP (``pred_contribs``) of ``sample``, without the bias column:
    rows x features, or rows x features x outputs for multiclass and multi-target models."""
    import xgboost

    booster = model.get_booster() if hasattr(model, "get_booster") else model
    limit = getattr(model, "best_iteration", None) if hasattr(model, "get_booster") else None
    kwargs = {"iteration_range": (0, limit + 1)} if isinstance(limit, int) else {}
    contribs = booster.predict(xgboost.DMatrix(sample), pred_contribs=True, validate_features=False, **kwargs)
    contribs = np.asarray(contribs)[..., :-1]
    return np.moveaxis(contribs, 1, 2) if contribs.ndim == 3 else contribs


def lightgbm_contributions(model: Any, sample: pd.DataFrame) -> np.ndarray:
    """LightGBM's exact tree SHAP (``pred_contrib``) of ``sample``, without the bias column: rows x
    features, or rows x features x classes for multiclass models. The trees used are the ones the
    model predicts with (its best iteration after early stopping), on every core this process may use."""
    from mlnb.evaluation.treeshap import usable_cores

    contribs = np.asarray(model.predict(sample, pred_contrib=True, num_threads=usable_cores()))
    n_classes = contribs.shape[1] // (sample.shape[1] + 1)
    if n_classes == 1:
        return contribs[:, :-1]
    per_class = contribs.reshape(len(sample), n_classes, sample.shape[1] + 1)[..., :-1]
    return np.moveaxis(per_class, 1, 2)


def _native_tree(kind: str | None, target: Any) -> bool:
    """True when a tree model is explained without the shap package (by mlnb's, XGBoost's or
    LightGBM's tree SHAP)."""
    if kind != "tree":
        return False
    from mlnb.evaluation.treeshap import supports

    return type(target).__module__.startswith(("xgboost", "lightgbm")) or supports(target)


def _model_aware(shap, kind: str, target, Xe: pd.DataFrame, idx: np.ndarray):
    data = Xe.to_numpy(dtype=float)
    if kind == "tree":
        name, values = _tree_values(shap, target, Xe, data)
    else:
        bg = data[_sample_index(len(data), 100)]
        explainer = shap.LinearExplainer(target, shap.maskers.Independent(bg, max_samples=100))
        name = "LinearExplainer"
        values = _in_chunks(explainer.shap_values, data, f"SHAP ({name})", 250)
    return name, values, data, idx, [str(c) for c in Xe.columns], getattr(target, "classes_", None)


def _model_agnostic(shap, adapter, X: pd.DataFrame, model_type: str, algorithm, idx: np.ndarray):
    sample = X.iloc[idx]
    background = X.iloc[_sample_index(len(X), BACKGROUND_ROWS)]
    if background.isna().any().any() or sample.isna().any().any():
        fill = X.mean(numeric_only=True)
        background, sample = background.fillna(fill), sample.fillna(fill)
    if model_type == "classifier" and adapter.has_proba:
        def f(frame):
            return adapter.raw.predict_proba(frame)
    else:
        def f(frame):
            return adapter.predict(frame).astype(float)
    if algorithm in (None, "permutation"):
        name = "PermutationSHAP"
        values = permutation_shap(f, sample, background, desc=f"SHAP ({name})")
    else:
        name, values = _shap_library_explainer(shap, algorithm, f, sample, background)
    return name, values, sample.to_numpy(), idx, [str(c) for c in X.columns], adapter.classes


def _explain(adapter, X, model_type, labels, config, algorithm) -> Explanation:
    start = time.perf_counter()
    idx = explained_rows(len(X), int(config.get("explainability_nsamples") or DEFAULT_NSAMPLES))
    kind, target, Xe = _choose(adapter, X, idx, algorithm)
    library = algorithm not in (None, "permutation", "tree", "linear")
    native = _native_tree(kind, target)
    shap = _import_shap() if (kind is not None and not native) or library else None
    if shap is None and library:
        return _skip(f"explainability_algorithm={algorithm!r} needs the 'shap' package (pip install 'mlnb[evaluate]')")
    found = None
    if kind is not None and shap is None and not native:
        warnings.warn("mlnb.evaluate: the 'shap' package is not installed, so a model-agnostic explainer "
                      "is used (pip install 'mlnb[evaluate]' for fast tree and linear explainers).", UserWarning)
    elif kind is not None:
        try:
            found = _model_aware(shap, kind, target, Xe, idx)
        except Exception as exc:
            if algorithm is not None:
                raise
            warnings.warn(f"mlnb.evaluate: the {kind} explainer failed ({exc!r}); using a model-agnostic "
                          "explainer instead.", UserWarning)
    if found is None:
        found = _model_agnostic(shap, adapter, X, model_type, algorithm, idx)
    name, values, data, idx, names, classes = found
    values = np.asarray(values, dtype=float)
    if values.ndim == 3 and values.shape[0] != len(data) and values.shape[1] == len(data):
        values = np.moveaxis(values, 0, -1)   # older shap: classes first
    out = Explanation(explainer=name, data=np.asarray(data), feature_names=list(names), rows=len(data), index=idx)
    _shape_for_task(out, values, model_type, labels, classes)
    out.seconds = time.perf_counter() - start
    return out


def permutation_shap(f, X: pd.DataFrame, background: pd.DataFrame, n_orderings: int = 10, chunk: int = 20,
                     desc: str = "SHAP") -> np.ndarray:
    """Model-agnostic SHAP values by feature orderings, each walked forward and backward.

    For each ordering, features are switched from background rows to the explained row one at a
    time; the change of the mean output is credited to the switched feature. Every ordering is
    exactly additive (the values of a row sum to f(row) - mean f(background)), so the average is
    too. One batched ``f`` call per ordering and chunk of rows; plain NumPy, no compilation."""
    rng = np.random.default_rng(0)
    n_features = X.shape[1]
    orders = []
    for _ in range(max(1, n_orderings // 2)):
        perm = rng.permutation(n_features)
        orders += [perm, perm[::-1]]
    dtypes = X.dtypes.to_dict()
    numeric = all(pd.api.types.is_numeric_dtype(t) for t in dtypes.values())
    xs = X.to_numpy(dtype=float if numeric else object)
    bg = background.to_numpy(dtype=float if numeric else object)
    m = len(bg)

    def evaluate(z: np.ndarray) -> np.ndarray:
        frame = pd.DataFrame(z, columns=X.columns)
        if not numeric:
            frame = frame.astype(dtypes)
        out = np.asarray(f(frame), dtype=float)
        return out.reshape(len(z), -1)

    def explain_rows(rows: np.ndarray) -> np.ndarray:
        c = len(rows)
        phi = None
        for order in orders:
            z = np.empty((c, n_features + 1, m, n_features), dtype=bg.dtype)
            z[:] = bg[None, None, :, :]
            for k, j in enumerate(order, start=1):
                z[:, k:, :, j] = rows[:, None, None, j]
            out = evaluate(z.reshape(-1, n_features)).reshape(c, n_features + 1, m, -1).mean(axis=2)
            delta = np.diff(out, axis=1)                     # rows x features(in order) x outputs
            if phi is None:
                phi = np.zeros((c, n_features, delta.shape[-1]))
            phi[:, order, :] += delta
        return phi / len(orders)

    return _in_chunks(explain_rows, xs, desc, chunk)


def _shap_library_explainer(shap, algorithm: str, f, sample: pd.DataFrame, background: pd.DataFrame):
    """The shap library's own model-agnostic explainers, when asked for by name."""
    columns = list(sample.columns)

    def g(arr):
        return f(pd.DataFrame(arr, columns=columns))

    if algorithm == "kernel":
        explainer = shap.KernelExplainer(g, background.to_numpy())
        fn = lambda part: np.asarray(explainer.shap_values(part, silent=True))  # noqa: E731
        name = "KernelExplainer"
    else:
        masker = shap.maskers.Independent(background.to_numpy(), max_samples=BACKGROUND_ROWS)
        explainer = shap.Explainer(g, masker, algorithm=algorithm)
        fn = lambda part: explainer(part, silent=True).values  # noqa: E731
        name = type(explainer).__name__
    return name, _in_chunks(fn, sample.to_numpy(), f"SHAP ({name})", 20)


def _shape_for_task(out: Explanation, values: np.ndarray, model_type, labels, classes) -> None:
    """Values per task: regressors and binary classifiers 2-D (toward the positive class);
    multiclass 3-D with ``class_names``."""
    if values.ndim == 3 and values.shape[2] == 1:
        values = values[:, :, 0]
    if model_type == "regressor" or labels is None:
        out.values = values if values.ndim == 2 else values.sum(axis=2)
        out.output = "model output"
        return
    classes = None if classes is None else list(classes)
    if labels.binary:
        pos = labels.pos_label
        col = classes.index(pos) if classes is not None and pos in classes else 1
        if values.ndim == 3:
            out.values = values[:, :, col]
            out.output = f"probability of class {pos}"
        elif out.explainer == "PermutationSHAP":  # a function without probabilities: its predictions
            out.values = values
            out.output = "predicted label"
        else:  # one output: the margin of classes[1]
            out.values = values if col == 1 else -values
            out.output = f"margin (log-odds) of class {pos}"
        return
    out.values = values
    out.class_names = classes if classes is not None and len(classes) == values.shape[-1] else list(range(values.shape[-1]))
    out.output = "per class; beeswarm and summary show each row's predicted class"


def per_row_values(exp: Explanation, y_pred_sample: np.ndarray | None) -> np.ndarray:
    """2-D SHAP values to draw: multiclass rows take the slice of their predicted class."""
    values = exp.values
    if values.ndim == 2:
        return values
    names = list(exp.class_names or [])
    if y_pred_sample is None:
        return np.abs(values).sum(axis=2)
    cols = np.array([names.index(p) if p in names else 0 for p in y_pred_sample])
    return values[np.arange(len(values)), :, cols]
