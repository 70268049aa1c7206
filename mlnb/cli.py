"""The ``mlnb`` command: ``mlnb models serve`` and ``mlnb models predict``, with MLflow's options."""

from __future__ import annotations

import sys

import click

from mlnb.commands.environments import enter_environment, environment_options
from mlnb.errors import MlnbError
from mlnb.serving.limits import Limits

_SECONDS = click.FloatRange(min=0, min_open=True)


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
@click.option("-h", "--host", default="127.0.0.1", show_default=True,
              help="Address to bind; 0.0.0.0 makes the server reachable from the network.")
@click.option("-w", "--workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="Worker processes; each loads the model once.")
@click.option("-t", "--timeout", default=Limits.timeout, show_default=True, type=_SECONDS,
              help="Seconds a prediction may take before the request is answered with a 504.")
@click.option("--max-body-size", default=Limits.max_body, show_default=True, type=click.IntRange(min=1),
              help="Largest request body in bytes; larger ones get a 413.")
@click.option("--body-timeout", default=Limits.body_timeout, show_default=True, type=_SECONDS,
              help="Seconds the whole request body may take to arrive; then a 408.")
@click.option("--max-header-size", default=Limits.max_header_bytes, show_default=True,
              type=click.IntRange(min=1), help="Largest request line plus headers in bytes; larger get a 431.")
@click.option("--max-headers", default=Limits.max_headers, show_default=True, type=click.IntRange(min=1),
              help="Most header lines in a request; more get a 431.")
@click.option("--header-timeout", default=Limits.header_timeout, show_default=True, type=_SECONDS,
              help="Seconds a request's headers may take to arrive; then a 408.")
@click.option("--max-concurrency", default=Limits.max_concurrency, show_default=True, type=click.IntRange(min=1),
              help="Scoring requests in flight per worker; more get a 503.")
@click.option("--max-connections", default=Limits.max_connections, show_default=True, type=click.IntRange(min=1),
              help="Open connections per worker; more get a plain 503 from uvicorn.")
@click.option("--keep-alive-timeout", default=Limits.keep_alive, show_default=True, type=_SECONDS,
              help="Seconds an idle keep-alive connection stays open.")
@click.option("--debug", is_flag=True, help="Put a model failure's stack trace in the answer (the log always has it).")
@environment_options(overrides=False)
def serve_command(model_uri: str, port: int, host: str, workers: int, timeout: float, max_body_size: int,
                  body_timeout: float, max_header_size: int, max_headers: int, header_timeout: float,
                  max_concurrency: int, max_connections: int, keep_alive_timeout: float, debug: bool,
                  **environment) -> None:
    """Serve a model over MLflow's scoring protocol (POST /invocations)."""
    from mlnb.errors import require

    enter_environment(model_uri, **environment)  # when restoring, serves from the restored environment

    try:
        require("uvicorn", "serve", "mlnb models serve")
    except MlnbError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    from mlnb.serving.examples import curl_example
    from mlnb.serving.server import network_warning, reachable_urls, run

    limits = Limits(timeout=timeout, max_body=max_body_size, body_timeout=body_timeout,
                    max_header_bytes=max_header_size, max_headers=max_headers, header_timeout=header_timeout,
                    max_concurrency=max_concurrency, max_connections=max_connections,
                    keep_alive=keep_alive_timeout, debug=debug)
    model, path = _load_or_exit(model_uri)

    def announce(url: str) -> None:
        urls = ", ".join(reachable_urls(host, port))
        click.echo(f"mlnb is serving '{model_uri}' at {urls} ({workers} worker{'s' * (workers > 1)})")
        warning = network_warning(host)
        if warning is not None:
            click.echo(warning)
        click.echo("Try it:")
        click.echo(f"  {curl_example(url, model)}")
        sys.stdout.flush()

    run(model if workers == 1 else None, path, host=host, port=port, workers=workers, limits=limits,
        on_ready=announce)


@models.command("predict")
@click.option("-m", "--model-uri", required=True, help="Model URI or path.")
@click.option("-i", "--input-path", default=None, help="Input file (default: standard input).")
@click.option("-o", "--output-path", default=None, help="Output file (default: standard output).")
@click.option("-t", "--content-type", default="json", show_default=True, type=click.Choice(["json", "csv"]),
              help="Input format: a JSON request body as /invocations takes, or CSV with a header row.")
@environment_options()
def predict_command(model_uri: str, input_path: str | None, output_path: str | None, content_type: str,
                    **environment) -> None:
    """Score a JSON or CSV file with a model; write {"predictions": ...} as JSON."""
    enter_environment(model_uri, **environment)
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


@main.group()
def db() -> None:
    """The run store (MLflow's SQLite store)."""


@db.command("convert")
@click.argument("source", default="mlnb.db", type=click.Path(dir_okay=False))
@click.argument("destination", required=False, type=click.Path(dir_okay=False))
def db_convert_command(source: str, destination: str | None) -> None:
    """Convert an older mlnb store (mlnb.db) into an MLflow store (default: mlflow.db beside it).
    The old file is kept; artifacts stay where they are."""
    from mlnb.tracking.convert import convert_legacy_store

    try:
        out = convert_legacy_store(source, destination)
    except MlnbError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Converted '{source}' into the MLflow store '{out}' (the old file is unchanged).")

# MLflow's other command groups, each in its own module under mlnb/commands/
from mlnb.commands.artifacts import artifacts  # noqa: E402
from mlnb.commands.environments import (  # noqa: E402
    build_docker_command, env_command, generate_dockerfile_command, prepare_env)
from mlnb.commands.experiments import experiments  # noqa: E402
from mlnb.commands.runs import runs  # noqa: E402

models.add_command(prepare_env)
models.add_command(env_command)
models.add_command(generate_dockerfile_command)
models.add_command(build_docker_command)
for _group in (runs, experiments, artifacts):
    main.add_command(_group)

if __name__ == "__main__":
    main()
