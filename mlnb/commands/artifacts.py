"""``mlnb artifacts list|download|log-artifact``: MLflow's ``mlflow artifacts`` commands."""

from __future__ import annotations

import json
import os

import click

from mlnb.commands.output import client, fail, one_line_errors


@click.group("artifacts")
def artifacts() -> None:
    """List, download and log a run's artifacts."""


@artifacts.command("list")
@click.option("--run-id", "-r", required=True, help="The run whose artifacts to list.")
@click.option("--artifact-path", "-a", default=None, help="A folder inside the run's artifacts.")
@one_line_errors
def list_artifacts(run_id: str, artifact_path: str | None) -> None:
    """List the files and folders directly under an artifact path, as JSON."""
    infos = client().list_artifacts(run_id, artifact_path)
    click.echo("[" + ", ".join(json.dumps(_file_info(f), indent=2) for f in infos) + "]")


def _file_info(info) -> dict:
    out = {"path": info.path, "is_dir": bool(info.is_dir)}
    if not info.is_dir and info.file_size is not None:
        out["file_size"] = int(info.file_size)
    return out


@artifacts.command("download")
@click.option("--run-id", "-r", default=None, help="The run to download from.")
@click.option("--artifact-path", "-a", default=None, help="With --run-id: a path inside the run's artifacts.")
@click.option("--artifact-uri", "-u", default=None,
              help="A URI naming an artifact file or folder (runs:/, s3://, ...); instead of --run-id.")
@click.option("--dst-path", "-d", default=None, help="Local folder to download into (default: a new temp folder).")
@one_line_errors
def download(run_id: str | None, artifact_path: str | None, artifact_uri: str | None, dst_path: str | None) -> None:
    """Download an artifact file or folder; print its local path."""
    from mlnb.tracking.fluent import download_artifacts

    if artifact_uri is None and run_id is None:
        fail("give --run-id (and optionally --artifact-path) or --artifact-uri.")
    if artifact_uri is not None:
        local = download_artifacts(artifact_uri=artifact_uri, dst_path=dst_path)
    else:
        local = client().download_artifacts(run_id, artifact_path or "", dst_path)
    click.echo(f"\n{os.path.abspath(local)}")


@artifacts.command("log-artifact")
@click.option("--local-file", "-l", required=True, help="The local file to log.")
@click.option("--run-id", "-r", required=True, help="The run to log it to.")
@click.option("--artifact-path", "-a", default=None, help="A folder inside the run's artifacts to put it in.")
@one_line_errors
def log_artifact(local_file: str, run_id: str, artifact_path: str | None) -> None:
    """Log a local file as an artifact of a run."""
    client().log_artifact(run_id, local_file, artifact_path)
    click.echo(f"Logged artifact from local file {local_file} to artifact_path={artifact_path}")
