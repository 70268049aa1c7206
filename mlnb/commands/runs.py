"""``mlnb runs list|describe|delete|restore``: MLflow's ``mlflow runs`` commands."""

from __future__ import annotations

import json

import click

from mlnb.commands.output import VIEW_OPTION, client, client_call_command, local_time, one_line_errors, table

RUN_ID = click.option("--run-id", required=True, help="The run's id.")


@click.group("runs")
def runs() -> None:
    """List, describe, delete and restore runs."""


@runs.command("list")
@click.option("--experiment-id", envvar="MLFLOW_EXPERIMENT_ID", required=True,
              help="The experiment whose runs to list.")
@VIEW_OPTION
@one_line_errors
def list_runs(experiment_id: str, view: str) -> None:
    """List an experiment's runs, newest first: date, name and id."""
    found = client().search_runs([experiment_id], run_view_type=view.upper())
    rows = [[local_time(r.info.start_time), r.info.run_name or "", r.info.run_id] for r in found]
    click.echo(table(sorted(rows, reverse=True), ["Date", "Name", "ID"]))


@runs.command("describe")
@RUN_ID
@one_line_errors
def describe_run(run_id: str) -> None:
    """Print a run (info, data, inputs, outputs) as JSON."""
    click.echo(json.dumps(run_dictionary(client().get_run(run_id)), indent=4))


def run_dictionary(run) -> dict:
    """A run as MLflow's ``Run.to_dictionary()`` lays it out."""
    info = run.info
    inputs = getattr(run, "inputs", None)
    outputs = getattr(run, "outputs", None)
    return {
        "info": {
            "artifact_uri": info.artifact_uri, "end_time": info.end_time, "experiment_id": info.experiment_id,
            "lifecycle_stage": info.lifecycle_stage, "run_id": info.run_id, "run_name": info.run_name,
            "start_time": info.start_time, "status": info.status, "user_id": info.user_id,
        },
        "data": {"metrics": dict(run.data.metrics), "params": dict(run.data.params), "tags": dict(run.data.tags)},
        "inputs": _as_dict(inputs, {"model_inputs": [], "dataset_inputs": []}),
        "outputs": _as_dict(outputs, {"model_outputs": []}),
    }


def _as_dict(entity, empty: dict) -> dict:
    if entity is None:
        return empty
    if hasattr(entity, "to_dictionary"):
        return entity.to_dictionary()
    return empty


client_call_command(runs, "delete", RUN_ID, "delete_run", "Run with ID {} has been deleted.",
                    "Mark a run deleted (``restore`` brings it back).")
client_call_command(runs, "restore", RUN_ID, "restore_run", "Run with id {} has been restored.", "Restore a deleted run.")
