"""A PythonModel whose helper module ships with it through code_paths."""
import json
import os
import sys

import pandas as pd

os.makedirs("src", exist_ok=True)
with open("src/scaler_helpers.py", "w") as f:
    f.write("def scale(values, factor):\n    return [v * factor for v in values]\n")
sys.path.insert(0, "src")

import mlflow


class Scaler(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        from scaler_helpers import scale

        return scale(model_input["x"].tolist(), 3)


mlflow.pyfunc.save_model("scaler_model", python_model=Scaler(), code_paths=["src/scaler_helpers.py"])
sys.path.remove("src")
sys.modules.pop("scaler_helpers", None)
os.rename("src", "moved_away")
loaded = mlflow.pyfunc.load_model("scaler_model")
record = {
    "predictions": loaded.predict(pd.DataFrame({"x": [1.0, 2.0]})),
    "code_dir": sorted(os.listdir(os.path.join("scaler_model", "code"))),
    "code_key": loaded.metadata.flavors["python_function"]["code"],
}
print("COMPAT_RECORD " + json.dumps(record))
