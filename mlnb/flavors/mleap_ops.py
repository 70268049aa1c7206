"""Scoring MLeap bundles in NumPy: one class per op, each transforming whole columns at once.

A :class:`Frame` holds the columns of one scoring call: those of the input DataFrame (read when an
op asks for them) and those the ops add, scalars as 1-d arrays and vectors as 2-d arrays (one row
per input row). The formulas are Spark's (the MLeap runtime reproduces Spark's transform), so a
bundle written from a Spark pipeline scores here as Spark scores the pipeline.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import pandas as pd

from mlnb.errors import ModelFormatError, PredictionError, SchemaError
from mlnb.flavors.mleap_bundle import Node, read_node, read_tree_lines, safe_name


class Frame:
    """The columns of one scoring call."""

    def __init__(self, data: pd.DataFrame) -> None:
        self.data = data
        self.columns: dict[str, np.ndarray] = {}
        self.rows: np.ndarray | None = None     # input rows kept so far (a "skip" drops rows)

    def __len__(self) -> int:
        return len(self.data) if self.rows is None else len(self.rows)

    def get(self, name: str, node: Node) -> np.ndarray:
        if name in self.columns:
            return self.columns[name]
        if name not in self.data.columns:
            raise SchemaError(f"The MLeap op '{node.op}' (node '{node.name}') reads the column '{name}', which the "
                              f"input does not have. Input columns: {', '.join(map(str, self.data.columns))}.")
        series = self.data[name]
        values = series.to_numpy()
        if series.dtype == object and len(values) and isinstance(values[0], (list, tuple, np.ndarray)):
            try:
                values = np.array([np.asarray(v, dtype=float) for v in values])
            except ValueError:
                raise SchemaError(f"The vector column '{name}' holds vectors of different lengths.") from None
        if self.rows is not None:
            values = values[self.rows]
        self.columns[name] = values
        return values

    def put(self, name: str, values: np.ndarray) -> None:
        self.columns[name] = values

    def keep(self, mask: np.ndarray) -> None:
        """Drop the rows where ``mask`` is False from every column (Spark's handleInvalid="skip")."""
        if mask.all():
            return
        base = np.arange(len(self.data)) if self.rows is None else self.rows
        self.rows = base[mask]
        self.columns = {k: v[mask] for k, v in self.columns.items()}


def _floats(values: np.ndarray, node: Node, column: str) -> np.ndarray:
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise SchemaError(f"The MLeap op '{node.op}' (node '{node.name}') needs numbers in '{column}'.") from None


def _matrix(values: np.ndarray, node: Node, column: str) -> np.ndarray:
    x = _floats(values, node, column)
    return x.reshape(-1, 1) if x.ndim == 1 else x


def _ports(node: Node, prefix: str, side: dict[str, str]) -> list[str]:
    """Columns on ports ``prefix`` or ``prefix0``, ``prefix1``... in port order."""
    if prefix in side:
        return [side[prefix]]
    numbered = sorted((int(p[len(prefix):]), c) for p, c in side.items()
                      if p.startswith(prefix) and p[len(prefix):].isdigit())
    return [c for _, c in numbered]


class Op:
    """An op: built from its node once, then ``transform(frame)`` on every call."""

    def __init__(self, node: Node) -> None:
        self.node = node

    def transform(self, frame: Frame) -> None:
        raise NotImplementedError

    def input(self, frame: Frame, port: str = "input") -> np.ndarray:
        if port not in self.node.inputs:
            raise ModelFormatError(f"Node '{self.node.name}' ({self.node.op}) has no '{port}' input port.")
        return frame.get(self.node.inputs[port], self.node)

    def output(self, frame: Frame, port: str, values: np.ndarray) -> None:
        if port in self.node.outputs:
            frame.put(self.node.outputs[port], values)

    @property
    def result(self) -> str | None:
        """The column this op's answer goes to: its prediction, else its first output."""
        outs = self.node.outputs
        return outs.get("prediction") or outs.get("output") or next(iter(outs.values()), None)


class Pipeline(Op):
    def __init__(self, node: Node) -> None:
        super().__init__(node)
        names = node.value("nodes", [])
        self.stages = [build(read_node(node.source, node.child(name))) for name in names]

    def transform(self, frame: Frame) -> None:
        for stage in self.stages:
            stage.transform(frame)

    @property
    def result(self) -> str | None:
        return self.stages[-1].result if self.stages else None

    def walk(self):
        for stage in self.stages:
            yield from stage.walk() if isinstance(stage, Pipeline) else [stage]


class StringIndexer(Op):
    def __init__(self, node: Node) -> None:
        super().__init__(node)
        count = node.value("labels_length", None)
        self.labels = ([node.value("labels")] if count is None
                       else [node.value(f"labels_array_{i}") for i in range(int(count))])
        self.invalid = (node.value("handle_invalid", "error") or "error").lower()
        self.indexes = [pd.Index(labels) for labels in self.labels]
        if not all(index.is_unique for index in self.indexes):
            raise ModelFormatError(f"String indexer '{node.name}' lists a label twice.")
        self.ins, self.outs = _ports(node, "input", node.inputs), _ports(node, "output", node.outputs)
        if len(self.ins) != len(self.labels) or len(self.outs) != len(self.labels):
            raise ModelFormatError(f"String indexer '{node.name}' has {len(self.labels)} label lists for "
                                   f"{len(self.ins)} input and {len(self.outs)} output columns.")

    def transform(self, frame: Frame) -> None:
        keep = np.ones(len(frame), dtype=bool)
        results = []
        for labels, known, column in zip(self.labels, self.indexes, self.ins):
            values = frame.get(column, self.node)
            missing = pd.isna(values)
            index = known.get_indexer(_as_strings(values)).astype(float)
            bad = (index < 0) | missing
            if bad.any():
                if self.invalid == "keep":
                    index[bad] = len(labels)
                elif self.invalid == "skip":
                    keep &= ~bad
                else:
                    first = values[np.flatnonzero(bad)[0]]
                    raise PredictionError(
                        f"String indexer '{self.node.name}' met {'a null' if pd.isna(first) else repr(first)} in "
                        f"'{column}', which it did not see in training (handleInvalid='error'). Known labels: "
                        f"{', '.join(map(str, labels[:10]))}{' ...' if len(labels) > 10 else ''}.")
            results.append(index)
        for column, index in zip(self.outs, results):
            frame.put(column, index)
        frame.keep(keep)


def _as_strings(values: np.ndarray) -> list:
    """Values as Spark casts them to strings (1.0 -> '1.0', 1 -> '1', True -> 'true')."""
    if values.dtype.kind == "b":
        return ["true" if v else "false" for v in values]
    if values.dtype.kind in "iuf":
        return [str(v.item()) for v in values]
    return [v if isinstance(v, str) else ("true" if v is True else "false" if v is False else str(v)) for v in values]


class OneHotEncoder(Op):
    def __init__(self, node: Node) -> None:
        super().__init__(node)
        self.drop_last = bool(node.value("drop_last", True))
        if "size" in node.attributes:    # MLeap before Spark 2.3: one column, invalid kept when dropping the last
            self.sizes = [int(node.value("size") or 0)]
            self.invalid = (node.value("handle_invalid", None) or ("keep" if self.drop_last else "error")).lower()
        else:
            self.sizes = [int(s) for s in node.value("category_sizes")]
            self.invalid = (node.value("handle_invalid", "error") or "error").lower()
        self.ins, self.outs = _ports(node, "input", node.inputs), _ports(node, "output", node.outputs)
        keep = self.invalid == "keep"
        self.widths = [s + 1 if keep and not self.drop_last else s - 1 if self.drop_last and not keep else s
                       for s in self.sizes]

    def transform(self, frame: Frame) -> None:
        for size, width, column, out in zip(self.sizes, self.widths, self.ins, self.outs):
            label = _floats(frame.get(column, self.node), self.node, column)
            if np.any(label != np.floor(label)):
                raise PredictionError(f"One-hot encoder '{self.node.name}': '{column}' holds a value that is not a "
                                      f"whole number; it takes category indices.")
            bad = (label < 0) | (label >= size) | np.isnan(label)
            if bad.any() and self.invalid != "keep":
                raise PredictionError(f"One-hot encoder '{self.node.name}': '{column}' holds "
                                      f"{label[bad][0]!r}, outside its {size} categories (handleInvalid='error').")
            index = np.where(bad, size, np.nan_to_num(label)).astype(np.int64)
            encoded = np.zeros((len(label), width))
            rows = np.flatnonzero(index < width)
            encoded[rows, index[rows]] = 1.0
            frame.put(out, encoded)


class VectorAssembler(Op):
    def transform(self, frame: Frame) -> None:
        parts = [_matrix(frame.get(c, self.node), self.node, c) for c in _ports(self.node, "input", self.node.inputs)]
        self.output(frame, "output", np.hstack(parts) if parts else np.zeros((len(frame), 0)))


class StandardScaler(Op):
    def __init__(self, node: Node) -> None:
        super().__init__(node)
        mean, std = node.value("mean", None), node.value("std", None)
        self.mean = None if mean is None else mean[0]
        self.scale = None if std is None else np.divide(1.0, std[0], out=np.zeros_like(std[0]), where=std[0] != 0)

    def transform(self, frame: Frame) -> None:
        x = _matrix(self.input(frame), self.node, self.node.inputs["input"]).copy()
        if self.mean is not None:
            x -= self.mean
        if self.scale is not None:
            x *= self.scale
        self.output(frame, "output", x)


class MinMaxScaler(Op):
    def __init__(self, node: Node) -> None:
        super().__init__(node)
        self.low = node.value("min")[0]
        high = node.value("max")[0]
        lo, hi = node.value("minValue", 0.0), node.value("maxValue", 1.0)
        self.target_min = float(lo or 0.0)
        self.scale = float(1.0 if hi is None else hi) - self.target_min
        span = high - self.low
        self.factor = np.divide(self.scale, span, out=np.zeros_like(span), where=span != 0)

    def transform(self, frame: Frame) -> None:
        x = _matrix(self.input(frame), self.node, self.node.inputs["input"])
        out = np.where(self.factor != 0, (x - self.low) * self.factor + self.target_min,
                       0.5 * self.scale + self.target_min)
        self.output(frame, "output", np.where(np.isnan(x), x, out))


class Imputer(Op):
    def __init__(self, node: Node) -> None:
        super().__init__(node)
        self.surrogate = float(node.value("surrogate_value") or 0.0)
        missing = node.value("missing_value", math.nan)
        self.missing = 0.0 if missing is None else float(missing)

    def transform(self, frame: Frame) -> None:
        x = _floats(pd.to_numeric(pd.Series(self.input(frame)), errors="coerce").to_numpy(), self.node,
                    self.node.inputs["input"])
        self.output(frame, "output", np.where(np.isnan(x) | (x == self.missing), self.surrogate, x))


# -- models -----------------------------------------------------------------------------------
class Model(Op):
    """A model on a ``features`` column; subclasses give raw scores, probabilities and predictions."""

    def features(self, frame: Frame) -> np.ndarray:
        x = _matrix(self.input(frame, "features"), self.node, self.node.inputs.get("features", "features"))
        wanted = self.node.value("num_features", None)
        if wanted is not None and x.shape[1] != int(wanted):
            raise SchemaError(f"The MLeap model '{self.node.name}' takes {int(wanted)} features; "
                              f"'{self.node.inputs['features']}' has {x.shape[1]}.")
        return x


class LinearRegression(Model):
    def __init__(self, node: Node) -> None:
        super().__init__(node)
        self.coefficients = node.value("coefficients")[0]
        self.intercept = float(node.value("intercept", 0.0) or 0.0)

    def transform(self, frame: Frame) -> None:
        self.output(frame, "prediction", self.features(frame) @ self.coefficients + self.intercept)


def _predict_from_probability(probability: np.ndarray, thresholds: list | None) -> np.ndarray:
    if thresholds:
        t = np.asarray(thresholds, dtype=float)
        scaled = np.divide(probability, t, out=np.full_like(probability, np.inf), where=t != 0)
        return scaled.argmax(axis=1).astype(float)
    return probability.argmax(axis=1).astype(float)


class Classifier(Model):
    thresholds: list | None = None

    def scores(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(raw prediction, probability), one row per input row."""
        raise NotImplementedError

    def predict(self, raw: np.ndarray, probability: np.ndarray) -> np.ndarray:
        return _predict_from_probability(probability, self.thresholds)

    def transform(self, frame: Frame) -> None:
        raw, probability = self.scores(self.features(frame))
        self.output(frame, "raw_prediction", raw)
        self.output(frame, "probability", probability)
        self.output(frame, "prediction", self.predict(raw, probability))


class LogisticRegression(Classifier):
    def __init__(self, node: Node) -> None:
        super().__init__(node)
        self.classes = int(node.value("num_classes", 2) or 2)
        if self.classes > 2:
            flat, dims = node.value("coefficient_matrix")
            self.matrix = flat.reshape(dims, order="F")   # Spark's matrices are written column by column
            self.intercepts = node.value("intercept_vector")[0]
            self.thresholds = node.value("thresholds", None)
        else:
            self.coefficients = node.value("coefficients")[0]
            self.intercept = float(node.value("intercept", 0.0) or 0.0)
            threshold = node.value("threshold", 0.5)
            self.threshold = 0.0 if threshold is None else float(threshold)

    def scores(self, x):
        if self.classes > 2:
            margins = x @ self.matrix.T + self.intercepts
            e = np.exp(margins - margins.max(axis=1, keepdims=True))
            return margins, e / e.sum(axis=1, keepdims=True)
        m = x @ self.coefficients + self.intercept
        raw = np.column_stack([-m, m])
        return raw, 1.0 / (1.0 + np.exp(-raw))

    def predict(self, raw, probability):
        if self.classes > 2:
            return super().predict(raw, probability)
        return (probability[:, 1] > self.threshold).astype(float)


class Tree:
    """A decision tree as arrays, walked for all rows at once."""

    def __init__(self, node: Node, folder: str) -> None:
        feature, threshold, left, right, values, categorical = [], [], [], [], [], {}
        pending: list[tuple[int, str]] = []   # (parent, "left"/"right") waiting for a child
        for item in read_tree_lines(node.source, folder):
            index = len(feature)
            if pending:
                parent, side = pending.pop()
                (left if side == "left" else right)[parent] = index
            elif index:
                raise ModelFormatError(f"'{folder}/tree.json' of node '{node.name}' has nodes after its last leaf.")
            kind = item.get("type") if isinstance(item, dict) else None
            if kind == "internal":
                split = item.get("split") or {}
                feature.append(int(split.get("featureIndex", 0)))
                if split.get("type") == "categorical":
                    categorical[index] = (np.asarray(split.get("categories") or [], dtype=float),
                                          bool(split.get("isLeft", False)))
                    threshold.append(math.nan)
                else:
                    threshold.append(float(split.get("threshold", 0.0)))
                left.append(-1), right.append(-1), values.append(())
                pending += [(index, "right"), (index, "left")]
            elif kind == "leaf":
                feature.append(0), threshold.append(math.nan), left.append(-1), right.append(-1)
                values.append(tuple(item.get("values") or ()))
            else:
                raise ModelFormatError(f"'{folder}/tree.json' of node '{node.name}' holds a node of unknown type.")
        if pending or not feature:
            raise ModelFormatError(f"'{folder}/tree.json' of node '{node.name}' ends in the middle of a tree.")
        self.feature = np.asarray(feature, dtype=np.int64)
        self.threshold = np.asarray(threshold)
        self.left, self.right = np.asarray(left), np.asarray(right)
        width = max(len(v) for v in values)
        if width == 0 or self.feature.min() < 0:
            raise ModelFormatError(f"'{folder}/tree.json' of node '{node.name}' has leaves without values or a "
                                   f"negative feature index.")
        self.values = np.array([list(v) + [0.0] * (width - len(v)) for v in values], dtype=float)
        self.categorical = categorical

    def leaves(self, x: np.ndarray) -> np.ndarray:
        if x.shape[1] <= self.feature.max():
            raise SchemaError(f"A tree splits on feature {int(self.feature.max())}; the features have {x.shape[1]}.")
        at = np.zeros(len(x), dtype=np.int64)
        active = np.flatnonzero(self.left[at] >= 0)
        while active.size:
            nodes = at[active]
            value = x[active, self.feature[nodes]]
            left = value <= self.threshold[nodes]
            for index in np.intersect1d(nodes, list(self.categorical)) if self.categorical else ():
                rows = nodes == index
                categories, is_left = self.categorical[int(index)]
                inside = np.isin(value[rows], categories)
                left[rows] = inside if is_left else ~inside
            at[active] = np.where(left, self.left[nodes], self.right[nodes])
            active = active[self.left[at[active]] >= 0]
        return self.values[at]


def _normalize(rows: np.ndarray) -> np.ndarray:
    total = rows.sum(axis=1, keepdims=True)
    return np.divide(rows, total, out=rows.copy(), where=total != 0)


class DecisionTreeClassifier(Classifier):
    def __init__(self, node: Node) -> None:
        super().__init__(node)
        self.tree = Tree(node, node.folder)
        self.thresholds = node.value("thresholds", None)

    def scores(self, x):
        raw = self.tree.leaves(x)
        return raw, _normalize(raw)


class DecisionTreeRegressor(Model):
    def __init__(self, node: Node) -> None:
        super().__init__(node)
        self.tree = Tree(node, node.folder)

    def transform(self, frame: Frame) -> None:
        self.output(frame, "prediction", self.tree.leaves(self.features(frame))[:, 0])


def _trees(node: Node) -> tuple[list[Tree], np.ndarray]:
    names = node.value("trees")
    weights = np.asarray(node.value("tree_weights", [1.0] * len(names)), dtype=float)
    if len(weights) != len(names):
        raise ModelFormatError(f"Node '{node.name}' has {len(names)} trees and {len(weights)} tree weights.")
    return [Tree(node, f"{node.folder}/{safe_name(name)}") for name in names], weights


class RandomForestClassifier(Classifier):
    def __init__(self, node: Node) -> None:
        super().__init__(node)
        self.trees, _ = _trees(node)
        self.thresholds = node.value("thresholds", None)

    def scores(self, x):
        raw = sum(_normalize(tree.leaves(x)) for tree in self.trees)
        return raw, _normalize(raw)


class RandomForestRegressor(Model):
    def __init__(self, node: Node) -> None:
        super().__init__(node)
        self.trees, self.weights = _trees(node)

    def transform(self, frame: Frame) -> None:
        x = self.features(frame)
        total = sum(w * tree.leaves(x)[:, 0] for tree, w in zip(self.trees, self.weights))
        self.output(frame, "prediction", total / len(self.trees))


class GBTRegressor(Model):
    def __init__(self, node: Node) -> None:
        super().__init__(node)
        self.trees, self.weights = _trees(node)

    def margin(self, x: np.ndarray) -> np.ndarray:
        return np.column_stack([tree.leaves(x)[:, 0] for tree in self.trees]) @ self.weights

    def transform(self, frame: Frame) -> None:
        self.output(frame, "prediction", self.margin(self.features(frame)))


class GBTClassifier(GBTRegressor, Classifier):
    def __init__(self, node: Node) -> None:
        GBTRegressor.__init__(self, node)
        if int(node.value("num_classes", 2) or 2) != 2:
            raise ModelFormatError(f"GBT classifier '{node.name}' has more than two classes; MLeap's has two.")
        self.thresholds = node.value("thresholds", None)

    def scores(self, x):
        m = self.margin(x)
        p0 = 1.0 / (1.0 + np.exp(2.0 * m))     # Spark's log loss: P(1) = 1 / (1 + exp(-2 margin))
        return np.column_stack([-m, m]), np.column_stack([p0, 1.0 - p0])

    def predict(self, raw, probability):
        return super().predict(raw, probability) if self.thresholds else (raw[:, 1] > 0).astype(float)

    transform = Classifier.transform


OPS: dict[str, Callable[[Node], Op]] = {
    "pipeline": Pipeline,
    "string_indexer": StringIndexer,
    "one_hot_encoder": OneHotEncoder,
    "vector_assembler": VectorAssembler,
    "standard_scaler": StandardScaler,
    "min_max_scaler": MinMaxScaler,
    "imputer": Imputer,
    "linear_regression": LinearRegression,
    "logistic_regression": LogisticRegression,
    "decision_tree_classifier": DecisionTreeClassifier,
    "decision_tree_regression": DecisionTreeRegressor,
    "random_forest_classifier": RandomForestClassifier,
    "random_forest_regression": RandomForestRegressor,
    "gbt_classifier": GBTClassifier,
    "gbt_regression": GBTRegressor,
}


def build(node: Node) -> Op:
    """The scoring op for ``node``; an op mlnb cannot score is a ModelFormatError naming it."""
    make = OPS.get(node.op)
    if make is None:
        raise ModelFormatError(
            f"The MLeap bundle uses the op '{node.op}' (node '{node.name}'), which mlnb cannot score without "
            f"MLeap's JVM runtime. mlnb scores: {', '.join(sorted(OPS))}.")
    try:
        return make(node)
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        if isinstance(exc, (ModelFormatError, SchemaError)):
            raise
        raise ModelFormatError(f"The MLeap node '{node.name}' ({node.op}) has malformed attributes: {exc}.") from None


__all__ = ["Frame", "Op", "Pipeline", "OPS", "build"]
