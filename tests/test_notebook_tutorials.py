"""The tutorials run top to bottom in a real kernel (nbclient, kernel python3), each in a temp dir,
and show what they promise. They are stored with outputs cleared."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
TUTORIALS = ["quickstart.ipynb", "custom_pyfunc.ipynb", "evaluation_shap.ipynb", "serving_rest_api.ipynb",
             "browsing_runs.ipynb"]


def execute(name: str, workdir: Path) -> nbformat.NotebookNode:
    """Run a tutorial copied into ``workdir`` (its runs and files land there); return it executed."""
    target = workdir / name
    shutil.copy(NOTEBOOKS / name, target)
    nb = nbformat.read(target, as_version=4)
    NotebookClient(nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(workdir)}}).execute()
    return nb


def outputs(nb) -> list[dict]:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]


def text_of(nb) -> str:
    """Everything a reader sees: streams and every text/html and text/plain output."""
    parts = []
    for o in outputs(nb):
        if o.output_type == "stream":
            parts.append(o.text)
        elif "data" in o:
            parts += [str(o.data.get("text/plain", "")), str(o.data.get("text/html", ""))]
    return "\n".join(parts)


def test_tutorials_are_stored_without_outputs():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(TUTORIALS)
    for name in TUTORIALS:
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        nbformat.validate(nb)
        assert nb.metadata.kernelspec.name == "python3"
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, name


def test_tutorials_share_one_bundled_dataset():
    """One story: every tutorial works on scikit-learn's bundled breast-cancer table, split alike,
    and none downloads data or makes up its own."""
    split = "train_test_split(data.data, data.target, test_size=0.25, random_state=0)"
    for name in TUTORIALS:
        source = "\n".join(c.source for c in nbformat.read(NOTEBOOKS / name, as_version=4).cells if c.cell_type == "code")
        assert "load_breast_cancer(as_frame=True)" in source and split in source, name
        assert set(re.findall(r"from sklearn.datasets import (.+)", source)) == {"load_breast_cancer"}, name
        assert "fetch_" not in source and not re.search(r"https?://", source), name


def test_quickstart(tmp_path):
    nb = execute("quickstart.ipynb", tmp_path)
    text = text_of(nb)
    assert "Run forest" in text and "FINISHED" in text                   # %%autolog's card
    assert "<b>Model</b> · sklearn" in text                             # %load_model's card
    assert "Evaluation of RandomForestClassifier" in text and "data:image/png" in text
    assert "SHAP by TreeSHAP" in text and ">SHAP beeswarm</label>" in text   # SHAP on, in its tab
    assert "Registered model breast-cancer" in text and "@champion → v1" in text
    answer = [o.text for o in outputs(nb) if o.output_type == "stream" and "predictions" in o.text]
    assert json.loads(answer[0]) == {"predictions": [0, 1]}             # the served model, via curl
    assert "mlnb run browser: 2 runs" in text
    assert (tmp_path / "mlflow.db").exists()


def test_custom_pyfunc(tmp_path):
    nb = execute("custom_pyfunc.ipynb", tmp_path)
    text = text_of(nb)
    assert "30 × double" in text and "outputs: [0]: string" in text     # the card shows the signature
    assert re.search(r"benign\s+58\s+32", text) and re.search(r"malignant\s+0\s+53", text)   # no cancer cleared
    assert "['classifier', 'policy.json']" in text


def test_evaluation_shap(tmp_path):
    nb = execute("evaluation_shap.ipynb", tmp_path)
    text = text_of(nb)
    assert "Evaluation of GradientBoostingClassifier" in text and "vs baseline" in text   # against the forest
    assert "shap_beeswarm_plot" in text and "shap_summary_plot" in text and "mean |SHAP|" in text
    assert "SHAP by TreeSHAP" in text
    bundles = [o.data for o in outputs(nb) if "data" in o and "mlnb-evaluation" in o.data.get("text/html", "")]
    assert bundles and bundles[0]["text/html"].count("data:image/png") >= 3   # plots in the saved panel
    assert all("application/vnd.jupyter.widget-view+json" not in b for b in bundles)


def test_serving_rest_api(tmp_path):
    nb = execute("serving_rest_api.ipynb", tmp_path)
    streams = "".join(o.text for o in outputs(nb) if o.output_type == "stream")
    assert "ping: HTTP 200" in streams and '{"predictions":[0,0,0]}' in streams   # curl
    assert "BAD_REQUEST" in streams                                     # a bad request's answer
    assert "{'predictions': [0, 0, 0]}" in text_of(nb)                  # urllib


def test_browsing_runs(tmp_path):
    nb = execute("browsing_runs.ipynb", tmp_path)
    text = text_of(nb)
    assert "mlnb run browser: 8 runs" in text
    assert text.count('class="mlnb-run-row"') >= 5                       # the saved page of the table
    assert "sgd-l2" in text and "sgd-l1" in text
