"""mlnb's import graph, read statically (ast) with every import counted, at module level or inside a
function: no cycles, the layering the README states (no flavor imports tracking), and light modules
that stay light.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "mlnb"


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, module: str, is_package: bool, known: set[str]) -> set[str]:
    """mlnb modules that ``module`` imports anywhere (TYPE_CHECKING blocks excluded), with the
    packages whose ``__init__`` each import runs. A package ``__init__`` counts only what it imports
    when it is imported: its functions (``mlnb.load_ipython_extension``, lazy ``__getattr__``) are
    what its users reach on use, not what the modules inside it depend on."""
    found: set[str] = set()

    def add(name: str) -> None:
        parts = name.split(".")
        for i in range(1, len(parts) + 1):   # importing a.b.c runs a, a.b and a.b.c
            prefix = ".".join(parts[:i])
            if prefix in known:
                found.add(prefix)

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit(sub)
                continue
            if is_package and isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    add(alias.name)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = module.split(".") if is_package else module.split(".")[:-1]
                    base = base[: len(base) - (child.level - 1)]
                    source = ".".join(base + ([child.module] if child.module else []))
                else:
                    source = child.module or ""
                add(source)
                for alias in child.names:      # from package import submodule
                    add(f"{source}.{alias.name}")
            visit(child)

    visit(tree)
    found.discard(module)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    known = {_module_name(p) for p in paths}
    return {_module_name(p): _imports(ast.parse(p.read_text()), _module_name(p), p.name == "__init__.py", known)
            for p in paths}


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in graph:
        if v not in index:
            strong(v)
    return found


def _reaches(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for w in graph.get(todo.pop(), ()):
            if w not in seen:
                seen.add(w)
                todo.append(w)
    return seen


def test_the_graph_sees_lazy_imports():
    graph = import_graph()
    assert "mlnb.flavors.sklearn" in graph["mlnb.autologging.sklearn"]          # inside a function
    assert "mlnb.evaluation.scores" in graph["mlnb.autologging.metrics"]
    assert "mlnb.evaluation" in graph["mlnb.autologging.metrics"]              # the package's __init__ runs
    assert "mlnb.flavors.sklearn" in graph["mlnb.sklearn"]


def test_no_import_cycles():
    assert [sorted(c) for c in cycles(import_graph())] == []


def test_tracking_backends_never_import_the_store_factory():
    """The factory (mlnb.tracking.store) imports the backends; they see only the interfaces."""
    graph = import_graph()
    backends = ("mlnb.tracking.sqlite_store", "mlnb.tracking.rest_store", "mlnb.tracking.registry_sqlite",
                "mlnb.tracking.registry_rest", "mlnb.tracking.base", "mlnb.tracking.registry_store")
    for backend in backends:
        assert "mlnb.tracking.store" not in _reaches(graph, backend), backend


def test_layers_point_one_way():
    """models imports only errors and the hooks upper layers plug into; flavors import no autologging,
    evaluation, serving or notebook code."""
    graph = import_graph()
    for module, imported in graph.items():
        if module.startswith("mlnb.models"):
            assert {m for m in imported if not m.startswith(("mlnb.models", "mlnb.errors", "mlnb.hooks"))} - {"mlnb"} == set(), module
        if module.startswith("mlnb.flavors"):
            upper = {m for m in _reaches(graph, module)
                     if m.startswith(("mlnb.autologging", "mlnb.evaluation", "mlnb.serving", "mlnb.notebook"))}
            assert upper == set(), f"{module} reaches {sorted(upper)}"


def _saves_or_loads_models(module: str) -> bool:
    """The layers below tracking: the format core, the flavors (and their ``mlnb.<name>`` modules),
    pyfunc and the hooks that let tracking plug in."""
    if module.startswith(("mlnb.models", "mlnb.flavors")) or module in ("mlnb.pyfunc", "mlnb.hooks"):
        return True
    path = PACKAGE / f"{module.removeprefix('mlnb.')}.py"
    return module.count(".") == 1 and path.is_file() and "sys.modules[__name__] = _flavor" in path.read_text()


def test_no_flavor_pyfunc_or_format_module_imports_tracking():
    """Flavors log through the run logger tracking registers (mlnb.hooks), never by importing it:
    not at module level, not inside a function, not through anything they import."""
    graph = import_graph()
    checked = [m for m in graph if _saves_or_loads_models(m)]
    assert {"mlnb.flavors.sklearn", "mlnb.pyfunc", "mlnb.models.layout", "mlnb.xgboost"} <= set(checked)
    for module in checked:
        tracking = sorted(m for m in _reaches(graph, module) if m.startswith("mlnb.tracking"))
        assert tracking == [], f"{module} reaches {tracking}"


def test_the_format_core_does_not_name_tracking_even_as_a_string():
    """``runs:/`` and ``models:/`` resolvers are named in ``mlnb.hooks.WIRING``, not
    written into the format core as module names it would import. (``mlnb.models`` itself is also
    MLflow's public namespace, so its ``__init__`` re-exports ``get_model_info`` and friends lazily.)"""
    for path in (PACKAGE / "models").rglob("*.py"):
        if path.name == "__init__.py" and path.parent == PACKAGE / "models":
            continue
        assert "mlnb.tracking" not in path.read_text(), path


def test_a_uri_scheme_registered_at_run_time_resolves(tmp_path):
    from mlnb.models.uri import local_path, register_scheme

    (tmp_path / "m").mkdir()
    register_scheme("acme-test", lambda uri, dst: str(tmp_path / uri.removeprefix("acme-test://")))
    assert local_path("acme-test://m") == tmp_path / "m"


def test_a_lazy_import_of_tracking_in_a_flavor_is_seen():
    source = "def log_model(m):\n    from mlnb.tracking.logged_models import log_model as _log\n    return _log(m)\n"
    known = {"mlnb", "mlnb.tracking", "mlnb.tracking.logged_models", "mlnb.flavors", "mlnb.flavors.acme"}
    assert "mlnb.tracking.logged_models" in _imports(ast.parse(source), "mlnb.flavors.acme", False, known)


def test_saving_loading_and_serving_a_model_never_imports_tracking(tmp_path):
    """At run time too: save, load natively and as pyfunc, with every flavor module imported."""
    code = (
        "import sys, importlib, numpy as np, mlnb, mlnb.pyfunc, mlnb.models\n"
        "from mlnb.flavors import get_flavor, registered\n"
        "for name in registered(): importlib.import_module(get_flavor(name).module)\n"
        "from sklearn.linear_model import LinearRegression\n"
        "X = np.arange(6.0).reshape(3, 2)\n"
        f"path = {str(tmp_path / 'model')!r}\n"
        "mlnb.sklearn.save_model(LinearRegression().fit(X, [0.0, 1.0, 2.0]), path)\n"
        "mlnb.sklearn.load_model(path).predict(X); mlnb.pyfunc.load_model(path).predict(X)\n"
        "print(sorted(m for m in sys.modules if m.startswith('mlnb.tracking')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


def test_metric_threshold_and_the_scores_stay_light():
    """``mlnb.MetricThreshold`` and the NumPy scores import neither scikit-learn nor pandas."""
    code = ("import sys, mlnb; mlnb.MetricThreshold; import mlnb.evaluation.scores, mlnb.evaluation.plots; "
            "print(sorted({'sklearn', 'pandas', 'matplotlib', 'scipy'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


def test_import_mlnb_imports_no_submodule():
    """``import mlnb`` (and so ``%load_ext mlnb``'s first step) loads only the package root: the
    wiring of the run logger and URI schemes waits in ``mlnb.hooks`` until a model is logged or a
    URI opened."""
    code = "import sys, mlnb; print(sorted(m for m in sys.modules if m == 'mlnb' or m.startswith('mlnb.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "['mlnb']"
