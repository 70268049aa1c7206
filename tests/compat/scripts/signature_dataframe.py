"""infer_signature on a DataFrame of mixed column types and a Series output."""
import json

import numpy as np
import pandas as pd

from mlflow.models import infer_signature

frame = pd.DataFrame({
    "age": np.array([31, 42, 25], dtype="int64"),
    "height": np.array([1.7, 1.8, 1.6], dtype="float32"),
    "income": [52000.5, 61000.0, 39000.25],
    "city": ["Oslo", "Lima", "Pune"],
    "member": [True, False, True],
})
target = pd.Series([0.2, 0.4, 0.9], name="risk")
signature = infer_signature(frame, target)
record = {
    "signature": signature.to_dict(),
    "input_names": signature.inputs.input_names(),
    "input_types": [str(t) for t in signature.inputs.input_types()],
    "has_input_names": signature.inputs.has_input_names(),
}
print("COMPAT_RECORD " + json.dumps(record))
