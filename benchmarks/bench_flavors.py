"""Each deep-learning and boosting flavor against MLflow's on the same model: save, then load as pyfunc.

    python benchmarks/run.py flavors

Same fitted model, same default arguments (as a user would call them), one process, alternating
mlnb and MLflow; ``MLNB_BENCH_FLAVORS=lightgbm,catboost`` measures only those flavors. The figure is
the median of a few repeats. Loads are the same work: both ``pyfunc.load_model`` the same directory,
the one MLflow's save wrote (a directory mlnb wrote is loaded by both too, as a second row per
flavor), a few times per save, with the tool that loads first alternating. MLflow's saves infer the model's pip
requirements by default (in a subprocess); mlnb pins them from the modules the flavor names.
PyTorch saves with an input example, so both write MLflow's default ``pt2`` format. TensorFlow
saves a ``tf.Module`` (a SavedModel; Keras runs on PyTorch in this process). Flavors whose
library is not installed are skipped with a note.
"""

from __future__ import annotations

import importlib.util
import itertools
import logging
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import fmt_time, report, scratch_dir  # noqa: E402

REPEAT = int(os.environ.get("MLNB_BENCH_REPEAT", "3"))
#: loads of each saved directory per repeat and tool (cheap next to MLflow's saves), half with mlnb first
LOADS = 4


def _xgboost():
    import xgboost
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=2000, n_features=10, random_state=0)
    return xgboost.XGBClassifier(n_estimators=50, max_depth=4, random_state=0).fit(X, y), {"input_example": X[:5]}


def _lightgbm():
    import lightgbm
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=2000, n_features=10, random_state=0)
    model = lightgbm.LGBMClassifier(n_estimators=50, num_leaves=15, random_state=0, verbose=-1).fit(X, y)
    return model, {"input_example": X[:5]}


def _statsmodels():
    import statsmodels.api as sm
    from sklearn.datasets import make_regression

    X, y = make_regression(n_samples=2000, n_features=10, noise=1.0, random_state=0)
    return sm.OLS(y, sm.add_constant(X)).fit(), {}


def _catboost():
    import catboost
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=2000, n_features=10, random_state=0)
    model = catboost.CatBoostClassifier(iterations=50, depth=4, random_seed=0, verbose=0, allow_writing_files=False)
    return model.fit(X, y), {"input_example": X[:5]}


def _pytorch():
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(10, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))
    example = torch.randn(5, 10).numpy()
    return model, {"input_example": example}


def _onnx():
    from skl2onnx import to_onnx
    from sklearn.datasets import make_regression
    from sklearn.linear_model import LinearRegression

    X, y = make_regression(n_samples=500, n_features=10, random_state=0)
    X = X.astype("float32")
    return to_onnx(LinearRegression().fit(X, y), X[:1]), {}


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((10,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(1)])
    model.compile(loss="mse")
    return model, {}


def _tensorflow():
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)

    class Net(tf.Module):    # the same two-layer network as the keras row, as a tf.Module (a SavedModel)
        def __init__(self):
            super().__init__()
            self.w1 = tf.Variable(rng.normal(size=(10, 32)).astype("float32"))
            self.w2 = tf.Variable(rng.normal(size=(32, 1)).astype("float32"))

        @tf.function(input_signature=[tf.TensorSpec([None, 10], tf.float32)])
        def __call__(self, x):
            return tf.matmul(tf.nn.relu(tf.matmul(x, self.w1)), self.w2)

    return Net(), {}


# flavor -> (library to check, model factory)
CASES = {
    "xgboost": ("xgboost", _xgboost),
    "lightgbm": ("lightgbm", _lightgbm),
    "statsmodels": ("statsmodels", _statsmodels),
    "catboost": ("catboost", _catboost),
    "pytorch": ("torch", _pytorch),
    "onnx": ("skl2onnx", _onnx),
    "keras": ("keras", _keras),
    "tensorflow": ("tensorflow", _tensorflow),
}


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    warnings.simplefilter("ignore")
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    work = scratch_dir("mlnb-bench-flavors-")
    os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{work}/mlflow.db")
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import importlib

    import mlflow.pyfunc

    import mlnb.pyfunc

    counter = itertools.count()
    saves, loads = [], []
    chosen = [n for n in os.environ.get("MLNB_BENCH_FLAVORS", "").split(",") if n] or list(CASES)
    for name, (library, make) in CASES.items():
        if name not in chosen:
            continue
        if importlib.util.find_spec(library) is None:
            print(f"{name}: skipped ({library} is not installed)")
            continue
        model, kwargs = make()
        ours_flavor = importlib.import_module(f"mlnb.{name}")
        theirs_flavor = importlib.import_module(f"mlflow.{name}")
        times = {f"{lib} {what}": [] for lib in ("mlnb", "mlflow")
                 for what in ("save", "load mlflow-written", "load mlnb-written")}
        loaders = (("mlnb", mlnb.pyfunc.load_model), ("mlflow", mlflow.pyfunc.load_model))
        for _ in range(REPEAT):
            written = {}
            for lib, flavor in (("mlnb", ours_flavor), ("mlflow", theirs_flavor)):
                path = written[lib] = work / f"{name}-{lib}-{next(counter)}"
                times[f"{lib} save"].append(_timed(lambda: flavor.save_model(model, str(path), **kwargs)))
            for writer in ("mlflow", "mlnb"):
                for turn in range(LOADS):  # each on the same directory, alternating which tool goes first
                    for lib, loader in (loaders if turn % 2 == 0 else loaders[::-1]):
                        times[f"{lib} load {writer}-written"].append(_timed(lambda: loader(str(written[writer]))))
        med = {k: statistics.median(v) for k, v in times.items()}
        saves.append((f"{name}: save_model", med["mlnb save"], med["mlflow save"]))
        for writer in ("mlflow", "mlnb"):
            loads.append((f"{name}: same {writer}-written dir", med[f"mlnb load {writer}-written"],
                          med[f"mlflow load {writer}-written"]))
    report(f"flavors: save_model with default arguments (median of {REPEAT})", saves)
    report(f"flavors: pyfunc.load_model, both loading the same directory (median of {REPEAT * LOADS}, "
           f"alternating which tool loads first)", loads)
    slower = [case for case, ours, theirs in loads if ours > theirs]
    print(f"goal (pyfunc.load_model at least as fast as MLflow's for every flavor): "
          f"{'met' if not slower else 'NOT met: ' + ', '.join(slower)}")
    print(f"\nload average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; "
          f"slowest mlnb save {fmt_time(max(s[1] for s in saves))}")


if __name__ == "__main__":
    main()
