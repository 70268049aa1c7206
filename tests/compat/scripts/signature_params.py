"""Parameters of every scalar type and a list in a signature."""
import json

import pandas as pd

from mlflow.models import infer_signature

params = {"temperature": 0.7, "max_tokens": 64, "stream": False, "stop": ["\n"], "mode": "fast"}
signature = infer_signature(pd.DataFrame({"prompt": ["hi"]}), pd.DataFrame({"answer": ["hello"]}), params=params)
record = {
    "params": signature.params.to_dict(),
    "names": [p.name for p in signature.params.params],
    "defaults": {p.name: p.default for p in signature.params.params},
}
print("COMPAT_RECORD " + json.dumps(record))
