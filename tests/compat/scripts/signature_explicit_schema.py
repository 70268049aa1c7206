"""A signature written by hand with mlflow.types, round-tripped through its dict form."""
import json

import numpy as np

from mlflow.models import ModelSignature
from mlflow.types import ColSpec, DataType, ParamSchema, ParamSpec, Schema, TensorSpec

inputs = Schema([
    ColSpec("double", "sepal_length"),
    ColSpec(DataType.string, "species"),
    ColSpec("long", "count", required=False),
])
outputs = Schema([TensorSpec(np.dtype("float32"), (-1, 3))])
params = ParamSchema([ParamSpec("top_k", "long", 5)])
signature = ModelSignature(inputs=inputs, outputs=outputs, params=params)
back = ModelSignature.from_dict(signature.to_dict())
record = {
    "signature": signature.to_dict(),
    "round_trip_equal": back == signature,
    "input_names": back.inputs.input_names(),
    "optional": [c.name for c in back.inputs.inputs if not c.required],
}
print("COMPAT_RECORD " + json.dumps(record))
