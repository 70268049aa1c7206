"""``mlnb.types.schema``: MLflow's ``mlflow.types.schema`` import path for the schema types."""

from __future__ import annotations

from mlnb.types import (
    AnyType, Array, ColSpec, DataType, Map, Object, ParamSchema, ParamSpec, Property, Schema, TensorSpec,
)

__all__ = ["Schema", "ColSpec", "TensorSpec", "ParamSchema", "ParamSpec", "DataType",
           "Array", "Object", "Property", "Map", "AnyType"]
