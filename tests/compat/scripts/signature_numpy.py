"""infer_signature on numpy arrays gives tensor specs."""
import json

import numpy as np

from mlflow.models import infer_signature

rng = np.random.default_rng(0)
images = rng.random((4, 8, 8, 3)).astype(np.float32)
labels = rng.integers(0, 10, size=(4,)).astype(np.int64)
matrix = rng.normal(size=(5, 3))
record = {
    "images": infer_signature(images, labels).to_dict(),
    "matrix": infer_signature(matrix).to_dict(),
}
print("COMPAT_RECORD " + json.dumps(record))
