"""Datasets a run used, as MLflow records them: ``mlnb.data.from_pandas`` / ``from_numpy`` and
``mlnb.log_input``.

A dataset carries a name, a digest (MLflow's: an 8-character md5 over up to 10,000 rows, so the
same data gets the same digest in both tools), a source (where it came from), a schema and a
profile. ``log_input`` stores it in the store's datasets / inputs / input_tags tables, where
``mlflow.get_run(...).inputs.dataset_inputs`` reads it back, and ``Run.inputs`` in mlnb.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

from mlnb.errors import InvalidParameterError

if TYPE_CHECKING:
    from mlnb.tracking.entities import Dataset as DatasetEntity, DatasetInput

MAX_ROWS = 10_000   # rows that enter the digest, as in MLflow
TAG_CONTEXT = "mlflow.data.context"


@dataclass
class Dataset:
    """A dataset: ``name``, ``digest``, ``source_type`` and ``source`` (JSON), and its schema and
    profile as the store keeps them (``schema_json``, ``profile_json``); ``schema`` and ``profile``
    read them as MLflow's dataset objects do."""

    name: str
    digest: str
    source_type: str
    source: str
    schema_json: str | None = None
    profile_json: str | None = None
    data: Any = field(default=None, repr=False, compare=False)
    targets: Any = field(default=None, repr=False, compare=False)

    @property
    def profile(self) -> dict[str, Any] | None:
        """Sizes of the data (rows and elements, or array shapes), as a dict."""
        return json.loads(self.profile_json) if self.profile_json else None

    @property
    def schema(self) -> Any:
        """A pandas dataset's column :class:`~mlnb.models.signature.Schema`; a numpy dataset's
        :class:`TensorDatasetSchema` (features and targets); None when none could be inferred."""
        if not self.schema_json:
            return None
        from mlnb.models.signature import Schema

        parsed = json.loads(self.schema_json)
        if "mlflow_colspec" in parsed:
            return Schema.from_json(parsed["mlflow_colspec"])
        tensors = parsed.get("mlflow_tensorspec") or {}
        return TensorDatasetSchema(Schema.from_json(tensors["features"]),
                                   Schema.from_json(tensors["targets"]) if tensors.get("targets") else None)

    def _to_mlflow_entity(self) -> DatasetEntity:
        """The record the store keeps of this dataset: :class:`mlnb.entities.Dataset`, with the
        schema and profile as JSON text (MLflow's dataset objects make theirs the same way)."""
        from mlnb.tracking.entities import Dataset as DatasetEntity

        return DatasetEntity(self.name, self.digest, self.source_type, self.source, self.schema_json, self.profile_json)

    def to_dict(self) -> dict[str, str | None]:
        """The dataset's fields with schema and profile as JSON text, as MLflow's ``to_dict``."""
        return self._to_mlflow_entity().to_dictionary()


@dataclass
class TensorDatasetSchema:
    """The schema of a numpy dataset: a tensor schema for its features and one for its targets."""

    features: Any
    targets: Any = None

    def to_dict(self) -> dict[str, Any]:
        """The form the store keeps: each part's schema as JSON text under ``mlflow_tensorspec``."""
        return {"mlflow_tensorspec": {"features": self.features.to_json(),
                                      "targets": self.targets.to_json() if self.targets is not None else None}}


def _md5(parts: list) -> str:
    md5 = hashlib.md5(usedforsecurity=False)
    for part in parts:
        md5.update(part)
    return md5.hexdigest()[:8]


def pandas_digest(df) -> str:
    """MLflow's digest of a DataFrame: its string and numeric columns' row hashes (first 10,000
    rows), its length and its column names."""
    import numpy as np
    import pandas as pd

    head = df.head(MAX_ROWS)
    strings = head.columns[[_all_str(df.iloc[:, i]) for i in range(df.shape[1])]]
    numbers = head.select_dtypes(include=[np.number]).columns
    kept = head[strings.union(numbers)]
    return _md5([pd.util.hash_pandas_object(kept).values, np.int64(len(df)), *(str(c).encode() for c in df.columns)])


def _all_str(column) -> bool:
    """True when every value of ``column`` is a ``str`` (MLflow's test for a string column, over all
    rows). Numeric, boolean and datetime columns hold no str values, so only the others are scanned."""
    if len(column) and column.dtype.kind in "biufcmM":
        return False
    return all(type(value) is str for value in column.to_numpy(dtype=object))


def numpy_digest(features, targets=None) -> str:
    """MLflow's digest of arrays (or dicts of arrays): hashes of the first 10,000 flattened values
    and the shapes."""
    import numpy as np
    import pandas as pd

    parts: list = []

    def add(array) -> None:
        flat = _leading_values(np.asarray(array))
        try:
            parts.append(pd.util.hash_array(flat))
        except TypeError:
            parts.append(np.int64(flat.size))
        parts.extend(np.int64(n) for n in np.asarray(array).shape)

    for item in (features, targets):
        if item is None:
            continue
        for array in ([item[k] for k in sorted(item)] if isinstance(item, dict) else [item]):
            add(array)
    return _md5(parts)


def _leading_values(array) -> Any:
    """The first MAX_ROWS values of ``array`` flattened in C order, copying only the leading rows
    they come from (flattening a whole large array first would copy all of it)."""
    if array.ndim > 1 and array.shape[0]:
        per_row = array.size // array.shape[0]
        if per_row:
            array = array[: -(-MAX_ROWS // per_row)]
    return array.reshape(-1)[:MAX_ROWS]


def _source(source: Any) -> tuple[str, str]:
    """(source_type, source JSON) as MLflow writes them: a path or URI, else the code that ran."""
    if source is None:
        from mlnb.tracking.context import source_tags
        from mlnb.tracking.entities import TAG_SOURCE_NAME, TAG_SOURCE_TYPE, TAG_USER

        tags = source_tags()
        return "code", json.dumps({"tags": {k: tags[k] for k in (TAG_USER, TAG_SOURCE_NAME, TAG_SOURCE_TYPE)}})
    text = os.fspath(source) if isinstance(source, os.PathLike) else str(source)
    if text.startswith(("http://", "https://")):
        return "http", json.dumps({"url": text})
    if "://" in text and not text.startswith("file://"):
        return text.split("://", 1)[0], json.dumps({"uri": text})
    return "local", json.dumps({"uri": text})


def _schema_json(data) -> str | None:
    from mlnb.models.signature import infer_signature

    try:
        return infer_signature(data).inputs.to_json()
    except Exception:  # a schema is optional: MLflow leaves it out when it cannot infer one
        return None


def from_pandas(df, source: Any = None, targets: str | None = None, name: str | None = None,
                digest: str | None = None, predictions: str | None = None) -> Dataset:
    """A dataset of a pandas DataFrame (MLflow's ``mlflow.data.from_pandas``)."""
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise InvalidParameterError(f"from_pandas takes a pandas DataFrame, got {type(df).__name__}.")
    for column in (targets, predictions):
        if column is not None and column not in df.columns:
            raise InvalidParameterError(f"Column '{column}' is not in the DataFrame (columns: {list(df.columns)}).")
    source_type, source_json = _source(source)
    cols = _schema_json(df)
    return Dataset(
        name=name or "dataset", digest=digest or pandas_digest(df), source_type=source_type, source=source_json,
        schema_json=json.dumps({"mlflow_colspec": json.loads(cols)}) if cols else None,
        profile_json=json.dumps({"num_rows": len(df), "num_elements": int(df.size)}), data=df, targets=targets)


def from_numpy(features, source: Any = None, targets=None, name: str | None = None,
               digest: str | None = None) -> Dataset:
    """A dataset of NumPy arrays, or dicts of arrays (MLflow's ``mlflow.data.from_numpy``)."""
    import numpy as np

    def attr(data, what):
        return {k: _plain(getattr(np.asarray(v), what)) for k, v in data.items()} if isinstance(data, dict) \
            else _plain(getattr(np.asarray(data), what))

    profile = {"features_shape": attr(features, "shape"), "features_size": attr(features, "size"),
               "features_nbytes": attr(features, "nbytes")}
    if targets is not None:
        profile.update({"targets_shape": attr(targets, "shape"), "targets_size": attr(targets, "size"),
                        "targets_nbytes": attr(targets, "nbytes")})
    features_schema = _schema_json(features)
    schema = None
    if features_schema is not None:
        schema = json.dumps({"mlflow_tensorspec": {
            "features": features_schema, "targets": _schema_json(targets) if targets is not None else None}})
    source_type, source_json = _source(source)
    return Dataset(name=name or "dataset", digest=digest or numpy_digest(features, targets),
                   source_type=source_type, source=source_json, schema_json=schema, profile_json=json.dumps(profile),
                   data=features, targets=targets)


def _plain(value):
    return list(value) if isinstance(value, tuple) else int(value)


@dataclass(frozen=True)
class DatasetSource:
    """Where a dataset came from: ``source_type`` (``local``, ``s3``, ``http``, ``code``...) and
    MLflow's fields for it, read as attributes (``source.uri``, ``source.url``, ``source.tags``)."""

    source_type: str
    fields: dict = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        fields = self.__dict__.get("fields") or {}
        if name in fields:
            return fields[name]
        raise AttributeError(f"A {self.__dict__.get('source_type')!r} dataset source has no {name!r}; "
                             f"it has {sorted(fields)}.")

    def to_dict(self) -> dict[str, Any]:
        return dict(self.fields)

    def to_json(self) -> str:
        return json.dumps(self.fields)

    def _get_source_type(self) -> str:
        return self.source_type


def get_source(dataset: Any) -> DatasetSource:
    """The source of a dataset: one from ``from_pandas``/``from_numpy``, a run's dataset input
    (``run.inputs.dataset_inputs[i]``) or MLflow's dataset objects."""
    inner = getattr(dataset, "dataset", dataset)   # a run's dataset input holds the dataset
    if isinstance(inner, Dataset) or all(hasattr(inner, a) for a in ("source", "source_type")):
        raw, kind = inner.source, inner.source_type
    elif callable(getattr(inner, "to_dict", None)):
        d = inner.to_dict()
        raw, kind = d.get("source"), d.get("source_type")
    else:
        raw = kind = None
    if raw is not None and not isinstance(raw, str):   # MLflow's Dataset keeps a DatasetSource object
        raw, kind = raw.to_json(), kind or raw._get_source_type()
    if not isinstance(raw, str) or not isinstance(kind, str):
        raise InvalidParameterError(
            f"get_source takes a dataset (mlnb.data.from_pandas / from_numpy) or a run's dataset input, "
            f"got {type(dataset).__name__}.")
    try:
        fields = json.loads(raw)
    except ValueError:
        raise InvalidParameterError(f"The dataset's source is not JSON: {raw[:80]!r}.") from None
    return DatasetSource(kind, fields if isinstance(fields, dict) else {"value": fields})


def as_dataset_input(dataset: Any, context: str | None = None,
                     tags: Mapping[str, str] | None = None) -> DatasetInput:
    """The store's record of ``dataset`` used by a run (mlnb's ``Dataset`` or MLflow's)."""
    from mlnb.tracking.entities import Dataset as DatasetEntity, DatasetInput

    if isinstance(dataset, Dataset):
        entity = dataset._to_mlflow_entity()
    elif getattr(dataset, "to_dict", None) is not None:   # MLflow's dataset objects
        entity = DatasetEntity.from_dictionary(dataset.to_dict())
    else:
        raise InvalidParameterError(
            f"log_input takes a dataset from mlnb.data.from_pandas / from_numpy, got {type(dataset).__name__}.")
    all_tags = {**({TAG_CONTEXT: context} if context else {}), **{k: str(v) for k, v in (tags or {}).items()}}
    return DatasetInput(**entity.to_dictionary(), tags=tuple(all_tags.items()))


__all__ = ["Dataset", "DatasetSource", "TensorDatasetSchema", "from_pandas", "from_numpy", "get_source",
           "pandas_digest", "numpy_digest", "as_dataset_input"]
