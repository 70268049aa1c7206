"""``mlnb experiments search|create|rename|delete|restore|csv``: MLflow's ``mlflow experiments``."""

from __future__ import annotations

import os

import click

from mlnb.commands.output import VIEW_OPTION, client, client_call_command, one_line_errors, table

EXPERIMENT_ID = click.option("--experiment-id", "-x", required=True, help="The experiment's id.")


@click.group("experiments")
def experiments() -> None:
    """Search, create, rename, delete and restore experiments; export their runs as CSV."""


@experiments.command("search")
@VIEW_OPTION
@click.option("--max-results", type=click.IntRange(min=1), default=None,
              help="Most experiments to list (default: all).")
@one_line_errors
def search(view: str, max_results: int | None) -> None:
    """List experiments: id, name and artifact location."""
    found = client().search_experiments(view_type=view.upper())
    rows = sorted([[e.experiment_id, e.name, _location(e.artifact_location)] for e in found])
    click.echo(table(rows[:max_results] if max_results else rows, ["Experiment Id", "Name", "Artifact Location"]))


def _location(location: str) -> str:
    return location if "://" in location or location.startswith(("s3:", "mlflow-artifacts:")) \
        else os.path.abspath(location)


@experiments.command("create")
@click.option("--experiment-name", "-n", required=True, help="The new experiment's name.")
@click.option("--artifact-location", "-l", default=None,
              help="Where its runs' artifacts go (default: the store's artifact root).")
@one_line_errors
def create(experiment_name: str, artifact_location: str | None) -> None:
    """Create an experiment."""
    experiment_id = client().create_experiment(experiment_name, artifact_location=artifact_location)
    click.echo(f"Created experiment '{experiment_name}' with id {experiment_id}")


@experiments.command("rename")
@EXPERIMENT_ID
@click.option("--new-name", required=True, help="The experiment's new name.")
@one_line_errors
def rename(experiment_id: str, new_name: str) -> None:
    """Rename an experiment."""
    client().rename_experiment(experiment_id, new_name)
    click.echo(f"Experiment with id {experiment_id} has been renamed to '{new_name}'.")


client_call_command(experiments, "delete", EXPERIMENT_ID, "delete_experiment",
                    "Experiment with ID {} has been deleted.",
                    "Mark an experiment and its runs deleted (``restore`` brings them back).")
client_call_command(experiments, "restore", EXPERIMENT_ID, "restore_experiment",
                    "Experiment with id {} has been restored.", "Restore a deleted experiment and its runs.")


@experiments.command("csv")
@EXPERIMENT_ID
@click.option("--filename", "-o", default=None, help="File to write (default: standard output).")
@one_line_errors
def csv(experiment_id: str, filename: str | None) -> None:
    """Export an experiment's runs as CSV, one row per run (the columns of ``search_runs``)."""
    from mlnb.tracking.fluent import search_runs

    client().get_experiment(experiment_id)  # a missing experiment is an error, not an empty file
    frame = search_runs(experiment_ids=[experiment_id])
    if filename is None:
        click.echo(frame.to_csv(index=False))
        return
    folder = os.path.dirname(os.path.abspath(filename))
    import tempfile

    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".mlnb-csv-")
    os.close(fd)
    try:
        frame.to_csv(tmp, index=False)
        os.replace(tmp, filename)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    click.echo(f"Experiment with ID {experiment_id} has been exported as a CSV to file: {filename}.")
