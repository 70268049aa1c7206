"""The ``mlnb`` command: ``mlnb models serve`` and ``mlnb models predict``, with MLflow's options."""

from __future__ import annotations

import sys

import click

from mlnb.errors import MlnbError


@click.group(context_settings={"help_option_names": ["--help"]})
def main() -> None:
    """mlnb: the whole life of a model inside a notebook, in MLflow's format."""


@main.group()
def models() -> None:
    """Serve models and score files with them."""


def _load_or_exit(model_uri: str):
    """(model, local path) or exit 1 with a one-line message: no traceback for a model that won't load."""
    from mlnb.models.uri import local_path
    from mlnb.serving.scoring import load

    try:
        path = local_path(model_uri)
        return load(str(path)), str(path)
    except Exception as exc:  # any failure to load is reported the same way
        kind = "" if isinstance(exc, MlnbError) else f"{type(exc).__name__}: "
        click.echo(f"Error: could not load the model at '{model_uri}': {kind}{exc}", err=True)
        sys.exit(1)


@models.command("serve")
@click.option("-m", "--model-uri", required=True, help="Model URI or path (path, file://, runs:/, models:/, s3://).")
@click.option("-p", "--port", default=5000, show_default=True, type=int, help="Port to listen on.")
@click.option("-h", "--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("-w", "--workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="Worker processes; each loads the model once.")
@click.option("-t", "--timeout", default=60.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Seconds a prediction may take before the request is answered with a 504.")
@click.option("--max-body-size", default=100 * 1024 * 1024, show_default=True, type=click.IntRange(min=1),
              help="Largest request body in bytes; larger ones get a 413.")
@click.option("--env-manager", default="local", type=click.Choice(["local"]),
              help="Accepted for MLflow compatibility: mlnb serves from the current environment.")
def serve_command(model_uri: str, port: int, host: str, workers: int, timeout: float, max_body_size: int,
                  env_manager: str) -> None:
    """Serve a model over MLflow's scoring protocol (POST /invocations)."""
    from mlnb.errors import require

    try:
        require("uvicorn", "serve", "mlnb models serve")
    except MlnbError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    from mlnb.serving.examples import curl_example
    from mlnb.serving.server import run

    model, path = _load_or_exit(model_uri)

    def announce(url: str) -> None:
        click.echo(f"mlnb is serving '{model_uri}' at {url} ({workers} worker{'s' * (workers > 1)})")
        click.echo("Try it:")
        click.echo(f"  {curl_example(url, model)}")
        sys.stdout.flush()

    run(model if workers == 1 else None, path, host=host, port=port, workers=workers, timeout=timeout,
        max_body=max_body_size, on_ready=announce)


@models.command("predict")
@click.option("-m", "--model-uri", required=True, help="Model URI or path.")
@click.option("-i", "--input-path", default=None, help="Input file (default: standard input).")
@click.option("-o", "--output-path", default=None, help="Output file (default: standard output).")
@click.option("-t", "--content-type", default="json", show_default=True, type=click.Choice(["json", "csv"]),
              help="Input format: a JSON request body as /invocations takes, or CSV with a header row.")
@click.option("--env-manager", default="local", type=click.Choice(["local"]),
              help="Accepted for MLflow compatibility: mlnb predicts in the current environment.")
def predict_command(model_uri: str, input_path: str | None, output_path: str | None, content_type: str,
                    env_manager: str) -> None:
    """Score a JSON or CSV file with a model; write {"predictions": ...} as JSON."""
    from mlnb.errors import ServingError
    from mlnb.serving.parsing import CSV, JSON
    from mlnb.serving.responses import predictions_body
    from mlnb.serving.scoring import Scorer

    model, _ = _load_or_exit(model_uri)
    try:
        if input_path is None:
            body = sys.stdin.buffer.read()
        else:
            with open(input_path, "rb") as f:
                body = f.read()
    except OSError as exc:
        raise click.ClickException(f"Cannot read the input: {exc}") from None
    try:
        out = predictions_body(Scorer(model).predict(body, JSON if content_type == "json" else CSV))
    except ServingError as exc:
        raise click.ClickException(str(exc)) from None
    except Exception as exc:  # the model itself failed
        raise click.ClickException(f"The model failed to predict: {type(exc).__name__}: {exc}") from None
    if output_path is None:
        sys.stdout.buffer.write(out + b"\n")
        sys.stdout.flush()
    else:
        import os
        import tempfile

        folder = os.path.dirname(os.path.abspath(output_path))
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".mlnb-predict-")
        with os.fdopen(fd, "wb") as f:
            f.write(out)
        os.replace(tmp, output_path)


if __name__ == "__main__":
    main()
