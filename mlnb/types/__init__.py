"""MLflow's schema types, for code written against ``mlflow.types``.

They live in :mod:`mlnb.models.signature`, which infers, serializes and enforces them.
"""

from __future__ import annotations

from mlnb.models.signature import (
    AnyType, Array, ColSpec, DataType, Map, Object, ParamSchema, ParamSpec, Property, Schema, TensorSpec,
)

__all__ = ["Schema", "ColSpec", "TensorSpec", "ParamSchema", "ParamSpec", "DataType",
           "Array", "Object", "Property", "Map", "AnyType"]
