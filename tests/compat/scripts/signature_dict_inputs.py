"""infer_signature on a dict of columns, a list of dicts and plain strings."""
import json

from mlflow.models import infer_signature

record = {
    "dict_of_lists": infer_signature({"question": ["what?", "why?"], "score": [1.0, 2.0]}).to_dict(),
    "list_of_dicts": infer_signature([{"name": "a", "count": 1}, {"name": "b", "count": 2}]).to_dict(),
    "strings": infer_signature(["one", "two"], ["uno", "dos"]).to_dict(),
    "single_string": infer_signature("hello", "hola").to_dict(),
}
print("COMPAT_RECORD " + json.dumps(record))
