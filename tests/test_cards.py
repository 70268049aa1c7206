"""Cards: the model card collapses repeated input types, the run card names its experiment and
previews artifacts, registry entities have cards, and the serve handle prints a short curl."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

import mlnb
from mlnb.cards import (RunCard, artifact_previews_html, collapse_rows, model_card_html, model_card_text,
                        run_card_html, run_card_text)
from tests.conftest import free_port


@pytest.fixture(scope="module")
def cancer():
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    data = load_breast_cancer(as_frame=True)
    X = data.data.iloc[:200]
    return X, LogisticRegression(max_iter=3000).fit(X, data.target.iloc[:200])


def test_runs_of_one_type_collapse():
    rows = [(f"c{i}", "double") for i in range(30)] + [("city", "string"), ("a", "long"), ("b", "long")]
    assert collapse_rows(rows) == [("c0 … c29", "30 × double"), ("city", "string"), ("a", "long"), ("b", "long")]
    assert collapse_rows([]) == []


def test_model_card_shows_thirty_doubles_as_one_row(tmp_path, cancer):
    X, model = cancer
    mlnb.sklearn.save_model(model, tmp_path / "m", input_example=X.head(3))
    loaded = mlnb.pyfunc.load_model(tmp_path / "m")
    html = model_card_html(loaded)
    assert "30 × double" in html and "mean radius … worst fractal dimension" in html
    assert html.count(">double<") == 0
    assert "inputs: mean radius … worst fractal dimension: 30 × double" in model_card_text(loaded)
    bundle = loaded._repr_mimebundle_()
    assert bundle["text/plain"] == model_card_text(loaded) and bundle["text/html"] == html


def test_run_card_names_the_experiment_and_previews_artifacts():
    mlnb.set_experiment("churn study")
    with mlnb.start_run(run_name="with-files") as run:
        mlnb.log_metric("accuracy", 0.9)
        mlnb.log_text("line\n" * 20, "notes/readme.txt")
        mlnb.log_text("a,b\n1,2\n3,4\n", "head.csv")
        from PIL import Image

        mlnb.log_image(Image.new("RGB", (900, 500), "red"), "plots/big.png")
    run_ = mlnb.get_run(run.info.run_id)
    assert "experiment churn study" in run_card_html(run_)
    assert run_card_text(run_).startswith(f"Run with-files [FINISHED] {run.info.run_id} · experiment churn study")
    previews = artifact_previews_html(run.info.run_id)
    assert previews.count('class="mlnb-artifact-preview"') == 3
    assert re.search(r'<img alt="plots/big.png" style="max-width:220px;max-height:220px', previews)
    assert re.search(r"<th[^>]*>a</th><th[^>]*>b</th>.*<td[^>]*>3</td><td[^>]*>4</td>", previews) and "… 12 more lines" in previews
    assert previews in RunCard(run_)._repr_mimebundle_()["text/html"]
    assert "mlnb-artifact-preview" not in run_card_html(run_)      # the browser's table cards stay light


def test_run_card_lists_the_datasets_a_run_used_whichever_tool_logged_them(cancer):
    import mlflow
    import mlflow.data

    X, _ = cancer
    with mlnb.start_run(run_name="with-data") as ours:
        mlnb.log_input(mlnb.data.from_pandas(X, name="cancer"), context="training")
        mlnb.log_input(mlnb.data.from_numpy(X.to_numpy()[:50], name="cancer-head"), context="eval")
    with mlflow.start_run(run_name="theirs") as theirs:  # the same store: MLflow's datasets, read by mlnb
        mlflow.log_input(mlflow.data.from_pandas(X, name="cancer"), context="training")

    run_ = mlnb.get_run(ours.info.run_id)
    digest = mlnb.data.from_pandas(X, name="cancer").digest
    html, text = run_card_html(run_), run_card_text(run_)
    assert "<b>Datasets (2)</b>" in html and "Nothing logged" not in html
    assert re.search(rf">cancer \(training\)</td><td[^>]*>digest {digest} · 200 rows · code</td>", html)
    assert re.search(r">cancer-head \(eval\)</td><td[^>]*>digest \w+ · shape 50×30 · code</td>", html)
    assert f"  dataset: cancer (training), digest {digest} · 200 rows · code" in text.splitlines()
    assert "dataset: cancer-head (eval)" in text

    logged_by_mlflow = mlnb.get_run(theirs.info.run_id)
    assert re.search(rf">cancer \(training\)</td><td[^>]*>digest {digest} · 200 rows · code</td>",
                     run_card_html(logged_by_mlflow))  # MLflow computes the same digest and profile
    with mlnb.start_run() as bare:
        mlnb.log_param("alpha", 1)
    assert "Datasets" not in run_card_html(mlnb.get_run(bare.info.run_id))


def test_registry_cards(tmp_path, cancer):
    X, model = cancer
    with mlnb.start_run() as run:
        mlnb.sklearn.log_model(model, name="model", input_example=X.head(2))
    version = mlnb.register_model(f"runs:/{run.info.run_id}/model", "cancer")
    client = mlnb.MlflowClient()
    client.set_registered_model_alias("cancer", "champion", version.version)
    v = client.get_model_version("cancer", version.version)
    bundle = v._repr_mimebundle_()
    assert bundle["text/plain"].startswith("Model version cancer v1 @champion")
    assert "models:/cancer/1" in bundle["text/html"] and "@champion" in bundle["text/html"]
    assert 'class="mlnb-card mlnb-version-card"' in bundle["text/html"]
    bundle = client.get_registered_model("cancer")._repr_mimebundle_()
    assert bundle["text/plain"].splitlines()[:2] == ["Registered model cancer", "  @champion → v1"]
    assert "models:/cancer@champion" in bundle["text/html"] and ">v1<" in bundle["text/html"]


def test_serve_handle_prints_one_short_curl_with_a_real_row(tmp_path, cancer):
    X, model = cancer
    mlnb.sklearn.save_model(model, tmp_path / "m", input_example=X.head(3))
    with mlnb.serve(str(tmp_path / "m"), port=free_port()) as handle:
        lines = repr(handle).splitlines()
        assert len(lines) == 2 and len(lines[1]) < 200
        curl = lines[1].strip()
        assert curl.endswith(f"-d @{handle.example_file}")
        body = json.loads(open(handle.example_file).read())
        assert body["dataframe_split"]["data"] == [X.head(1).values[0].tolist()]   # a real row, not zeros
        answer = subprocess.run(curl, shell=True, capture_output=True, text=True, timeout=60)
        assert json.loads(answer.stdout) == {"predictions": [int(model.predict(X.head(1))[0])]}
        html = handle._repr_html_()
        assert "<details>" in html and "mean radius" in html and 'class=\'mlnb-serve-handle\'' in html
        folder = handle.example_file.rsplit("/", 1)[0]
    import os

    assert not os.path.exists(folder)   # stop() removes the example file
