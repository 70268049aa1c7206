"""A PythonModel with type hints: list[str] in, list[str] out, no DataFrame in sight."""
import json

import mlflow


class Shout(mlflow.pyfunc.PythonModel):
    def predict(self, model_input: list[str], params=None) -> list[str]:
        return [text.upper() + "!" for text in model_input]


with mlflow.start_run():
    info = mlflow.pyfunc.log_model(name="shout", python_model=Shout(), input_example=["hi"])

loaded = mlflow.pyfunc.load_model(info.model_uri)
out = loaded.predict(["hello", "there"])
record = {
    "type": type(out).__name__,
    "predictions": list(out),
    "signature": info.signature.to_dict(),
}
print("COMPAT_RECORD " + json.dumps(record))
