"""mlnb's trust policy for skops files, built on skops' public API only.

A skops file is a zip whose ``schema.json`` names, for every object, its type (``__module__`` and
``__class__``) and the node that rebuilds it (``__loader__``). ``skops.io.get_untrusted_types``
lists the types skops does not trust by default. mlnb trusts those too, plus the types of
:data:`REVIEWED`: scikit-learn, NumPy and SciPy classes that fitted estimators hold, each paired
with the one node skops writes it with. A reviewed type is trusted only

* under its real name: the class found at that name must be defined there (``__module__`` and
  ``__name__``), so a re-export (``numpy.distutils.fcompiler.gnu.Popen``) never matches; and
* in every place the file uses it, through that node: ``ObjectNode`` builds an instance without
  calling the class, ``TreeNode`` calls ``Tree`` as skops always does; a reviewed class named by a
  ``ConstructorFromReduceNode``, ``FunctionNode``, ``TypeNode``... (which call it with arguments
  from the file, or hand it over as a value) is refused.

Anything else loads only when the caller lists it (``skops_trusted_types=``) or trusts the model's
code (``trust_code=True``). The list the policy returns is what ``skops.io.load(trusted=)`` gets
and what MLmodel records.
"""

from __future__ import annotations

import functools
import importlib
import io
import json
import re
import zipfile
from pathlib import Path
from typing import Iterable

from mlnb.errors import ModelFormatError, UntrustedTypesError

#: Reviewed classes (by their real names) -> the skops node that writes them. Each one is data a
#: fitted estimator holds (trees, neighbour indexes, kernels, optimizers, splitters), not code.
#: Like skops' own ``Tree`` and ``TreePredictor`` notes say, a crafted tree or index can still
#: crash the process at predict time (scikit-learn indexes their arrays without bounds checks);
#: it cannot choose code to run. The names are private scikit-learn classes because that is where
#: fitted estimators keep them; mlnb only compares them with a file's schema, it imports none of them.
REVIEWED: dict[str, str] = {
    # a defaultdict's factory in a LightGBM Booster's state: the class itself, handed over as a value
    "collections.OrderedDict": "TypeNode",
    # LightGBM's scikit-learn API and the Booster it holds, whose state is the model's text format
    # (parsed by LightGBM, no Python code); MLflow's lightgbm flavor trusts the same four
    "lightgbm.basic.Booster": "ObjectNode",
    **{f"lightgbm.sklearn.LGBM{kind}": "ObjectNode" for kind in ("Classifier", "Regressor", "Ranker")},
    "numpy.dtype": "DTypeNode",
    "scipy.interpolate._bsplines.BSpline": "ObjectNode",
    "sklearn._loss.loss.HalfTweedieLoss": "ObjectNode",
    "sklearn._loss.loss.HalfTweedieLossIdentity": "ObjectNode",
    "sklearn.calibration._CalibratedClassifier": "ObjectNode",
    "sklearn.calibration._SigmoidCalibration": "ObjectNode",
    "sklearn.cluster._bisect_k_means._BisectingTree": "ObjectNode",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor": "ObjectNode",
    "sklearn.gaussian_process._gpc._BinaryGaussianProcessClassifierLaplace": "ObjectNode",
    **{f"sklearn.gaussian_process.kernels.{k}": "ObjectNode" for k in (
        "ConstantKernel", "DotProduct", "ExpSineSquared", "Exponentiation", "Matern", "Product", "RBF",
        "RationalQuadratic", "Sum", "WhiteKernel")},
    "sklearn.impute._iterative.IterativeImputer": "ObjectNode",
    "sklearn.impute._iterative._ImputerTriplet": "TupleNode",
    **{f"sklearn.metrics._dist_metrics.{m}Distance64": "ObjectNode" for m in (
        "Chebyshev", "Euclidean", "Manhattan", "Minkowski")},
    "sklearn.metrics._scorer._PassthroughScorer": "ObjectNode",
    "sklearn.model_selection._split.KFold": "ObjectNode",
    "sklearn.model_selection._split.StratifiedKFold": "ObjectNode",
    "sklearn.neighbors._ball_tree.BallTree": "ObjectNode",
    "sklearn.neighbors._kd_tree.KDTree": "ObjectNode",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer": "ObjectNode",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer": "ObjectNode",
    "sklearn.tree._tree.Tree": "TreeNode",
    "sklearn.utils._bunch.Bunch": "DictNode",
}
#: Nodes through which skops itself trusts a reviewed type by default, besides the reviewed node:
#: ``DictNode`` builds a ``dict`` or an ``OrderedDict`` by calling it without arguments and filling
#: it (a LightGBM model's ``evals_result_`` after a fit with an eval set).
SKOPS_DEFAULT_NODES: dict[str, frozenset[str]] = {"collections.OrderedDict": frozenset({"DictNode"})}
SCHEMA = "schema.json"
_MAX_DEPTH = 10_000


@functools.lru_cache(maxsize=None)
def defined_at(type_name: str) -> bool:
    """True when ``type_name`` is a class defined under exactly that name (not a re-export)."""
    module, _, attr = type_name.rpartition(".")
    try:
        obj = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError):
        return False
    return isinstance(obj, type) and obj.__module__ == module and obj.__name__ == attr


def _schema_text(data: bytes | Path) -> bytes:
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    try:
        with zipfile.ZipFile(source) as archive:
            return archive.read(SCHEMA)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise _unreadable(data, exc) from None


def _unreadable(data: bytes | Path, exc: BaseException) -> ModelFormatError:
    return ModelFormatError(
        f"'{data if isinstance(data, Path) else 'the data'}' is not a readable skops file "
        f"({type(exc).__name__}). The file is damaged or is not skops; save the model again.")


def _schema(data: bytes | Path, text: bytes | None = None) -> dict:
    try:
        schema = json.loads(text if text is not None else _schema_text(data))
    except (ValueError, RecursionError) as exc:
        raise _unreadable(data, exc) from None
    if not isinstance(schema, dict):
        raise ModelFormatError("A skops file's schema.json must be an object; the file is damaged.")
    return schema


def _loaders(schema: dict) -> dict[str, set[str]]:
    """Every type the schema names -> the nodes that build it (iterative: no recursion limit)."""
    found: dict[str, set[str]] = {}
    stack: list[tuple[object, int]] = [(schema, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > _MAX_DEPTH:
            raise ModelFormatError(f"A skops file nests more than {_MAX_DEPTH} levels deep; it is not a model.")
        if isinstance(node, dict):
            if "__loader__" in node:
                name = f"{node.get('__module__')}.{node.get('__class__')}"
                found.setdefault(name, set()).add(str(node["__loader__"]))
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return found


#: what makes two schemas of the same structure differ: the writer's object ids, and the array file
#: names made from them (``"__id__": 1397...``, ``"file": "1397....npy"``, as skops writes schema.json)
_VOLATILE = re.compile(rb'"(?:__id__|file)": (?:\d+|"[^"\\]*")')
_AUDITS: dict[bytes, tuple[frozenset[str], dict[str, frozenset[str]]]] = {}
_AUDITS_MAX = 128


def _audit(data: bytes | Path) -> tuple[frozenset[str], dict[str, frozenset[str]]]:
    """The types skops does not trust by default in ``data``, and the nodes that build each type.

    Both follow from ``schema.json`` alone once the writer's object ids are left out (an array's
    bytes are never audited), so skops' audit of bytes mlnb just wrote is kept per schema: a save of
    the same kind of model (same class, params and attribute types) is audited once per process.
    Files are always audited in full: a damaged one must fail here, not at load.
    """
    text = _schema_text(data)
    key = _VOLATILE.sub(b"", text) if isinstance(data, bytes) else None
    found = _AUDITS.get(key) if key is not None else None
    if found is not None:
        return found
    import skops.io as sio

    schema = _schema(data, text)  # parse first: a damaged file is a ModelFormatError, not a BadZipFile
    try:
        untrusted = sio.get_untrusted_types(data=data) if isinstance(data, bytes) else sio.get_untrusted_types(file=data)
    except RecursionError:
        raise ModelFormatError("A skops file nests too deeply to audit; it is not a model.") from None
    except Exception as exc:  # skops' own errors for a schema it cannot read
        raise ModelFormatError(f"skops cannot read this file ({type(exc).__name__}: {exc}); save the model again.") from None
    found = frozenset(untrusted), {name: frozenset(nodes) for name, nodes in _loaders(schema).items()}
    if key is not None:
        if len(_AUDITS) >= _AUDITS_MAX:
            _AUDITS.pop(next(iter(_AUDITS)), None)
        _AUDITS[key] = found
    return found


class Refused(UntrustedTypesError):
    """The policy refused types; ``types`` lists the names to consent to."""

    def __init__(self, message: str, types: list[str]) -> None:
        super().__init__(message)
        self.types = types


def trusted_types(data: bytes | Path, consented: Iterable[str] = (), trust_all: bool = False) -> list[str]:
    """The types to pass to ``skops.io.load(trusted=)`` for this file, after mlnb's policy.

    Raises :class:`Refused` (an UntrustedTypesError) naming the types the policy refuses and how
    to consent.
    """
    untrusted, loaders = _audit(data)
    if trust_all:
        return sorted(untrusted)
    consented = set(consented)
    refused: list[str] = []
    misused: list[str] = []
    for name in untrusted:
        if name in consented:
            continue
        node = REVIEWED.get(name)
        if node is None or not defined_at(name):
            refused.append(name)
        elif loaders.get(name, {node}) - {node} - SKOPS_DEFAULT_NODES.get(name, frozenset()):
            other = loaders[name] - {node} - SKOPS_DEFAULT_NODES.get(name, frozenset())
            misused.append(f"{name} (built by {', '.join(sorted(other))}; mlnb trusts it only through {node})")
    if refused or misused:
        names = sorted(refused + [m.split(" ")[0] for m in misused])
        raise Refused(
            f"the skops file holds types that mlnb's policy does not trust: {'; '.join(sorted(refused) + misused)}",
            names,
        )
    return sorted(untrusted)
