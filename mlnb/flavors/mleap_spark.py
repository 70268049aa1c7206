"""Writing fitted Spark pipelines as MLeap bundles, in MLeap's own layout, without MLeap's jars.

Each supported stage becomes the node MLeap's Spark serializers write for it (same op name,
attributes and ports), so MLeap's runtime and mlnb read the result. Parameters come from pyspark's
public model API; tree nodes, which pyspark does not expose, come from the parquet files Spark's own
ML persistence writes for the model. Vector sizes, which MLeap records for ``vector_assembler``,
are followed from stage to stage; input vector columns take theirs from ``sample_input``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

from mlnb.errors import InvalidParameterError
from mlnb.flavors import mleap_bundle as fmt

FLAVOR_NAME = "mleap"
#: where MLflow 2.x put the bundle inside a model directory (a bundle directory, not a zip)
MODEL_DATA = "mleap/model"


class _Writer:
    """Turns stages into bundle files, following the size of every vector column."""

    def __init__(self, sizes: dict[str, int | None]) -> None:
        self.sizes = sizes              # column -> vector size (None: a scalar)
        self.files: dict[str, str] = {}
        self.scratch = Path(tempfile.mkdtemp(prefix="mlnb-mleap-"))

    def node(self, folder: str, stage: Any, op: str, attributes: dict, inputs: list, outputs: list,
             sizes: dict[str, int | None] | None = None, name: str | None = None) -> None:
        self.files.update(fmt.node_files(folder, name or stage.uid, op, attributes,
                                         [(p, c) for p, c in inputs if c], [(p, c) for p, c in outputs if c]))
        for port, column in outputs:
            if column:
                self.sizes[column] = (sizes or {}).get(port)

    def stage(self, parent: str, stage: Any) -> list[str]:
        """Write ``stage`` inside the folder ``parent``; return the names of the nodes written."""
        kind = type(stage).__name__
        writer = _STAGES.get(kind)
        if writer is None:
            raise InvalidParameterError(
                f"The Spark stage {kind} ('{stage.uid}') has no MLeap op that mlnb can write. mlnb writes: "
                f"{', '.join(sorted(_STAGES))}.")
        return writer(self, parent, stage)

    def pipeline(self, folder: str, stages: list, name: str) -> None:
        names = [n for stage in stages for n in self.stage(folder, stage)]
        self.files.update(fmt.node_files(folder, name, "pipeline", {"nodes": fmt.value_list("string", names)}, [], []))

    def close(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)


def _columns(stage: Any, single: str, many: str) -> tuple[list[str], str]:
    """The columns of a stage that takes ``inputCol`` or ``inputCols``, and the port prefix."""
    if stage.isSet(getattr(stage, many)):
        return list(stage.getOrDefault(many)), "many"
    return [stage.getOrDefault(single)], "one"


def _ports(prefix: str, columns: list[str], how: str) -> list[tuple[str, str]]:
    return [(prefix, columns[0])] if how == "one" else [(f"{prefix}{i}", c) for i, c in enumerate(columns)]


def _string_indexer(w: _Writer, parent: str, stage: Any) -> list[str]:
    ins, how_in = _columns(stage, "inputCol", "inputCols")
    outs, how_out = _columns(stage, "outputCol", "outputCols")
    attributes = {"labels_length": {"int": len(stage.labelsArray)}, "handle_invalid": fmt.string(stage.getHandleInvalid())}
    for i, labels in enumerate(stage.labelsArray):
        attributes[f"labels_array_{i}"] = fmt.value_list("string", labels)
    w.node(f"{parent}/{stage.uid}.node", stage, "string_indexer", attributes, _ports("input", ins, how_in),
           _ports("output", outs, how_out))
    return [stage.uid]


def _one_hot_encoder(w: _Writer, parent: str, stage: Any) -> list[str]:
    ins, how_in = _columns(stage, "inputCol", "inputCols")
    outs, how_out = _columns(stage, "outputCol", "outputCols")
    sizes = [int(s) for s in stage.categorySizes]
    drop, keep = stage.getDropLast(), stage.getHandleInvalid() == "keep"
    widths = [s + 1 if keep and not drop else s - 1 if drop and not keep else s for s in sizes]
    out_ports = _ports("output", outs, how_out)
    w.node(f"{parent}/{stage.uid}.node", stage, "one_hot_encoder",
           {"category_sizes": {"type": "list", "int": sizes}, "drop_last": fmt.boolean(drop),
            "handle_invalid": fmt.string(stage.getHandleInvalid())},
           _ports("input", ins, how_in), out_ports, {p: n for (p, _), n in zip(out_ports, widths)})
    return [stage.uid]


def _vector_assembler(w: _Writer, parent: str, stage: Any) -> list[str]:
    columns = stage.getInputCols()
    shapes = [fmt.data_shape(w.sizes.get(c)) for c in columns]
    total = sum(w.sizes.get(c) or 1 for c in columns)
    w.node(f"{parent}/{stage.uid}.node", stage, "vector_assembler",
           {"input_shapes": {"type": "list", "data_shape": shapes}},
           [(f"input{i}", c) for i, c in enumerate(columns)], [("output", stage.getOutputCol())], {"output": total})
    return [stage.uid]


def _standard_scaler(w: _Writer, parent: str, stage: Any) -> list[str]:
    attributes = {}
    if stage.getWithMean():
        attributes["mean"] = fmt.vector(stage.mean.toArray())
    if stage.getWithStd():
        attributes["std"] = fmt.vector(stage.std.toArray())
    w.node(f"{parent}/{stage.uid}.node", stage, "standard_scaler", attributes, [("input", stage.getInputCol())],
           [("output", stage.getOutputCol())], {"output": len(stage.std)})
    return [stage.uid]


def _min_max_scaler(w: _Writer, parent: str, stage: Any) -> list[str]:
    w.node(f"{parent}/{stage.uid}.node", stage, "min_max_scaler",
           {"min": fmt.vector(stage.originalMin.toArray()), "max": fmt.vector(stage.originalMax.toArray()),
            "minValue": fmt.double(stage.getMin()), "maxValue": fmt.double(stage.getMax())},
           [("input", stage.getInputCol())], [("output", stage.getOutputCol())], {"output": len(stage.originalMin)})
    return [stage.uid]


def _imputer(w: _Writer, parent: str, stage: Any) -> list[str]:
    """Spark's Imputer takes several columns; MLeap's imputer one: a node per column."""
    ins, how = _columns(stage, "inputCol", "inputCols")
    outs, _ = _columns(stage, "outputCol", "outputCols")
    surrogates = stage.surrogateDF.collect()[0].asDict()
    names = []
    for i, (column, out) in enumerate(zip(ins, outs)):
        name = stage.uid if how == "one" else f"{stage.uid}_{i}"
        w.node(f"{parent}/{name}.node", stage, "imputer",
               {"surrogate_value": fmt.double(surrogates[column]), "missing_value": fmt.double(stage.getMissingValue()),
                "strategy": fmt.string(stage.getStrategy()), "nullable_input": fmt.boolean(True)},
               [("input", column)], [("output", out)], name=name)
        names.append(name)
    return names


def _prediction_ports(stage: Any, classifier: bool) -> list[tuple[str, str]]:
    ports = [("prediction", stage.getPredictionCol())]
    if classifier:
        ports = [("raw_prediction", stage.getRawPredictionCol()), ("probability", stage.getProbabilityCol()), *ports]
    return ports


def _model_node(w: _Writer, parent: str, stage: Any, op: str, attributes: dict, classes: int | None) -> list[str]:
    outputs = _prediction_ports(stage, classes is not None)
    w.node(f"{parent}/{stage.uid}.node", stage, op, attributes, [("features", stage.getFeaturesCol())], outputs,
           {"raw_prediction": classes, "probability": classes})
    return [stage.uid]


def _linear_regression(w: _Writer, parent: str, stage: Any) -> list[str]:
    return _model_node(w, parent, stage, "linear_regression",
                       {"coefficients": fmt.vector(stage.coefficients.toArray()), "intercept": fmt.double(stage.intercept)},
                       None)


def _logistic_regression(w: _Writer, parent: str, stage: Any) -> list[str]:
    classes = stage.numClasses
    matrix = stage.coefficientMatrix.toArray()      # (classes or 1, features), row by row
    intercepts = stage.interceptVector.toArray()
    attributes: dict[str, Any] = {"num_classes": fmt.long(classes)}
    if classes > 2:
        attributes["coefficient_matrix"] = fmt.matrix(matrix.ravel(order="F"), *matrix.shape)
        attributes["intercept_vector"] = fmt.vector(intercepts)
        if stage.isSet(stage.thresholds):
            attributes["thresholds"] = fmt.value_list("double", stage.getThresholds())
    else:
        if matrix.shape[0] == 2:    # a two-class multinomial fit: the same model as one binomial margin
            coefficients, intercept = matrix[1] - matrix[0], intercepts[1] - intercepts[0]
        else:
            coefficients, intercept = matrix[0], intercepts[0]
        attributes.update(coefficients=fmt.vector(coefficients), intercept=fmt.double(intercept),
                          threshold=fmt.double(stage.getThreshold()))
    return _model_node(w, parent, stage, "logistic_regression", attributes, classes)


def _spark_nodes(w: _Writer, stage: Any):
    """The node rows Spark's ML persistence writes for a tree model, as pandas records."""
    import pandas as pd

    target = w.scratch / stage.uid
    stage.write().save(target.absolute().as_uri())
    return pd.read_parquet(target / "data")


def _tree_lines(rows: list[dict], classifier: bool) -> str:
    """A tree in MLeap's ``tree.json``: one node per line, in pre-order."""
    by_id = {int(r["id"]): r for r in rows}
    lines, todo = [], [0]
    while todo:
        row = by_id[todo.pop()]
        if int(row["leftChild"]) < 0:
            values = [float(v) for v in row["impurityStats"]] if classifier else [float(row["prediction"])]
            lines.append(json.dumps({"type": "leaf", "values": values}))
            continue
        split = row["split"]
        feature, numbers, categories = int(split["featureIndex"]), list(split["leftCategoriesOrThreshold"]), \
            int(split["numCategories"])
        if categories < 0:
            body = {"type": "continuous", "featureIndex": feature, "threshold": float(numbers[0])}
        else:
            left = sorted(float(c) for c in numbers)
            right = [float(c) for c in range(categories) if float(c) not in set(left)]
            is_left = len(left) < len(right)
            body = {"type": "categorical", "featureIndex": feature, "numCategories": categories,
                    "isLeft": is_left, "categories": left if is_left else right}
        lines.append(json.dumps({"type": "internal", "split": body}))
        todo += [int(row["rightChild"]), int(row["leftChild"])]
    return "\n".join(lines) + "\n"


def _thresholds(stage: Any) -> dict:
    return {"thresholds": fmt.value_list("double", stage.getThresholds())} if stage.isSet(stage.thresholds) else {}


def _tree(classifier: bool) -> Callable[[_Writer, str, Any], list[str]]:
    def write(w: _Writer, parent: str, stage: Any) -> list[str]:
        folder = f"{parent}/{stage.uid}.node"
        w.files[f"{folder}/tree.json"] = _tree_lines(_spark_nodes(w, stage).to_dict("records"), classifier)
        attributes = {"num_features": fmt.long(stage.numFeatures)}
        if classifier:
            attributes.update(num_classes=fmt.long(stage.numClasses), **_thresholds(stage))
        return _model_node(w, parent, stage, "decision_tree_classifier" if classifier else "decision_tree_regression",
                           attributes, stage.numClasses if classifier else None)

    return write


def _ensemble(op: str, tree_op: str, classifier: bool, leaf_stats: bool) -> Callable[[_Writer, str, Any], list[str]]:
    def write(w: _Writer, parent: str, stage: Any) -> list[str]:
        folder = f"{parent}/{stage.uid}.node"
        frame = _spark_nodes(w, stage)
        names = []
        for tree_id, group in frame.groupby("treeID", sort=True):
            name = f"tree{int(tree_id)}"
            w.files[f"{folder}/{name}/tree.json"] = _tree_lines(list(group["nodeData"]), leaf_stats)
            tree_attributes = {"num_features": fmt.long(stage.numFeatures)}
            if leaf_stats:
                tree_attributes["num_classes"] = fmt.long(stage.numClasses)
            w.files[f"{folder}/{name}/{fmt.MODEL_JSON}"] = json.dumps(
                {"op": tree_op, "attributes": tree_attributes}, indent=2)
            names.append(name)
        attributes = {"num_features": fmt.long(stage.numFeatures),
                      "tree_weights": fmt.value_list("double", stage.treeWeights),
                      "trees": fmt.value_list("string", names)}
        if classifier:
            attributes.update(num_classes=fmt.long(stage.numClasses), **_thresholds(stage))
        return _model_node(w, parent, stage, op, attributes, stage.numClasses if classifier else None)

    return write


def _nested_pipeline(w: _Writer, parent: str, stage: Any) -> list[str]:
    w.pipeline(f"{parent}/{stage.uid}.node", stage.stages, stage.uid)
    return [stage.uid]


_STAGES: dict[str, Callable[[_Writer, str, Any], list[str]]] = {
    "PipelineModel": _nested_pipeline,
    "StringIndexerModel": _string_indexer,
    "OneHotEncoderModel": _one_hot_encoder,
    "VectorAssembler": _vector_assembler,
    "StandardScalerModel": _standard_scaler,
    "MinMaxScalerModel": _min_max_scaler,
    "ImputerModel": _imputer,
    "LinearRegressionModel": _linear_regression,
    "LogisticRegressionModel": _logistic_regression,
    "DecisionTreeClassificationModel": _tree(True),
    "DecisionTreeRegressionModel": _tree(False),
    "RandomForestClassificationModel": _ensemble("random_forest_classifier", "decision_tree_classifier", True, True),
    "RandomForestRegressionModel": _ensemble("random_forest_regression", "decision_tree_regression", False, False),
    "GBTClassificationModel": _ensemble("gbt_classifier", "decision_tree_regression", True, False),
    "GBTRegressionModel": _ensemble("gbt_regression", "decision_tree_regression", False, False),
}


def _input_sizes(sample_input: Any) -> dict[str, int | None]:
    """Vector sizes of the input's vector columns (a Spark or pandas DataFrame); scalars otherwise."""
    if sample_input is None:
        return {}
    if hasattr(sample_input, "schema") and hasattr(sample_input, "head"):    # a Spark DataFrame
        first = sample_input.head()
        return {} if first is None else {k: (len(v) if hasattr(v, "toArray") else None)
                                         for k, v in first.asDict().items()}
    if hasattr(sample_input, "columns") and len(sample_input):
        row = sample_input.iloc[0]
        return {str(k): (len(v) if hasattr(v, "__len__") and not isinstance(v, str) else None) for k, v in row.items()}
    return {}


def bundle_files(spark_model: Any, sample_input: Any = None) -> dict[str, str]:
    """The files of the MLeap bundle of a fitted Spark model (a PipelineModel or one Transformer)."""
    from pyspark.ml import PipelineModel, Transformer

    if not isinstance(spark_model, Transformer):
        hint = " Call fit() first and pass the model it returns." if hasattr(spark_model, "fit") else ""
        raise InvalidParameterError(f"spark_model must be a fitted pyspark.ml PipelineModel or Transformer, got "
                                    f"{type(spark_model).__name__}.{hint}")
    pipeline = spark_model if isinstance(spark_model, PipelineModel) else PipelineModel([spark_model])
    writer = _Writer(_input_sizes(sample_input))
    try:
        writer.pipeline(fmt.ROOT, pipeline.stages, pipeline.uid)
    finally:
        writer.close()
    writer.files[fmt.BUNDLE_JSON] = fmt.bundle_info(pipeline.uid)
    return writer.files


def write_flavor(model_dir: Path, spark_model: Any, sample_input: Any = None) -> dict[str, Any]:
    """Write the bundle into ``<model_dir>/mleap/model`` and return the ``mleap`` flavor section, as
    MLflow 2.x's ``mlflow.mleap.add_to_model`` did."""
    fmt.write_files(bundle_files(spark_model, sample_input), model_dir / MODEL_DATA)
    return {"mleap_version": fmt.MLEAP_VERSION, "model_data": MODEL_DATA}


__all__ = ["FLAVOR_NAME", "MODEL_DATA", "bundle_files", "write_flavor"]
