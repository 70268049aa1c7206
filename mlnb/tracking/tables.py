"""``log_table`` / ``load_table``: a DataFrame kept as a run artifact, read back across runs, as MLflow.

A table is a ``.json`` file (pandas' ``split`` orient, without the index) or a ``.parquet`` file
among a run's artifacts; logging to a file that exists appends rows. The run's
``mlflow.loggedArtifacts`` tag lists its tables, which is how ``load_table`` finds the runs of an
experiment that logged one. Columns of PIL images are saved as PNG files (with a 256-pixel WebP
preview) under ``table_images/`` and the cells point at them, MLflow's layout.
"""

from __future__ import annotations

import json
import posixpath
import tempfile
import uuid
from pathlib import Path
from typing import Any, Sequence

from mlnb.errors import InvalidParameterError, ResourceNotFoundError

TAG_LOGGED_ARTIFACTS = "mlflow.loggedArtifacts"
TABLE_SUFFIXES = (".json", ".parquet")
PREVIEW_SIZE = 256


def _check_file(artifact_file: Any) -> str:
    from mlnb.tracking.artifacts import artifact_file_path

    if not isinstance(artifact_file, str) or not artifact_file.endswith(TABLE_SUFFIXES):
        raise InvalidParameterError(
            f"A table is logged as a .json or .parquet file, like artifact_file='results.json'; got {artifact_file!r}.")
    return artifact_file_path(artifact_file)


def _frame(data: Any):
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data.copy()
    if isinstance(data, dict):
        try:
            return pd.DataFrame(data)
        except ValueError:  # all scalars: one row
            return pd.DataFrame([data])
    raise InvalidParameterError(f"log_table takes a pandas DataFrame or a dict of columns, got {type(data).__name__}.")


def _is_image(x: Any) -> bool:
    """A PIL image or an :class:`~mlnb.tracking.image.Image` (anything that saves, resizes and has a size)."""
    return all(callable(getattr(x, a, None)) for a in ("save", "resize")) and hasattr(x, "size")


def _save_images(repo: Any, df: Any, artifact_file: str) -> None:
    """Replace columns of images with MLflow's ``{"type": "image", "filepath": ...}`` cells."""
    import io

    folder = posixpath.join("table_images", posixpath.splitext(artifact_file)[0])
    for column in df.select_dtypes(include=["object"]).columns:
        flags = df[column].map(_is_image)
        if flags.any() and not flags.all():
            raise InvalidParameterError(f"Column '{column}' mixes images and other values; keep one kind per column.")
        if not flags.all():
            continue

        def save(image: Any) -> dict[str, str]:
            base = posixpath.join(folder, str(uuid.uuid4()))
            image = image.to_pil() if callable(getattr(image, "to_pil", None)) else image
            for path, picture in ((base + ".png", image), (base + ".webp", _preview(image))):
                buf = io.BytesIO()
                picture.save(buf, format=path.rsplit(".", 1)[1].upper())
                repo.log_bytes(buf.getvalue(), path)
            return {"type": "image", "filepath": base + ".png", "compressed_filepath": base + ".webp"}

        df[column] = df[column].map(save)


def _preview(image: Any) -> Any:
    width, height = image.size
    scale = PREVIEW_SIZE / max(width, height, 1)
    return image.resize((max(int(width * scale), 1), max(int(height * scale), 1)))


def read_table(path: str | Path):
    """A table file (.json in pandas' split orient, or .parquet) as a DataFrame."""
    import pandas as pd

    path = str(path)
    if path.endswith(".json"):
        return pd.read_json(path, orient="split")
    if path.endswith(".parquet"):
        return pd.read_parquet(path)
    raise InvalidParameterError(f"{path} is not a table: tables are .json or .parquet files.")


def _existing(repo: Any, artifact_file: str):
    folder = posixpath.dirname(artifact_file) or None
    if artifact_file not in [f.path for f in repo.list_artifacts(folder) if not f.is_dir]:
        return None
    with tempfile.TemporaryDirectory(prefix="mlnb-table-") as tmp:
        return read_table(repo.download_artifacts(artifact_file, tmp))


def write_table(client: Any, run_id: str, data: Any, artifact_file: str) -> None:
    """Log ``data`` as the table ``artifact_file`` of the run, appending to the rows already there."""
    import pandas as pd

    artifact_file = _check_file(artifact_file)
    df = _frame(data)
    run = client.get_run(run_id)
    repo = client.store.artifact_repo(run.info.artifact_uri)
    _save_images(repo, df, artifact_file)
    before = _existing(repo, artifact_file)
    if before is not None:
        df = pd.concat([before, df], ignore_index=True)
    with tempfile.TemporaryDirectory(prefix="mlnb-table-") as tmp:
        local = Path(tmp) / posixpath.basename(artifact_file)
        try:
            if artifact_file.endswith(".json"):
                df.to_json(local, orient="split", index=False, date_format="iso")
            else:
                df.to_parquet(local, index=False)
        except (TypeError, ValueError, OverflowError) as exc:
            raise InvalidParameterError(f"The table cannot be written as {artifact_file}: {exc}.") from None
        repo.log_artifact(local, posixpath.dirname(artifact_file) or None)
    listed = json.loads(run.data.tags.get(TAG_LOGGED_ARTIFACTS, "[]"))
    entry = {"path": artifact_file, "type": "table"}
    if entry not in listed:
        client.set_tag(run_id, TAG_LOGGED_ARTIFACTS, json.dumps([*listed, entry]))


def read_tables(client: Any, experiment_id: str, artifact_file: str, run_ids: Sequence[str] | None = None,
                extra_columns: Sequence[str] | None = None):
    """The table ``artifact_file`` of every run of the experiment that logged it (or of ``run_ids``),
    rows concatenated; ``extra_columns`` (like ``"run_id"``) add run columns of ``search_runs``."""
    import pandas as pd

    from mlnb.tracking.validation import check_run_id

    artifact_file = _check_file(artifact_file)
    found = f'"path"%:%"{artifact_file}",%"type"%:%"table"'
    filter_string = f"tags.`{TAG_LOGGED_ARTIFACTS}` LIKE '%{found}%'"
    if run_ids:
        filter_string += " AND attributes.run_id IN (" + ", ".join(f"'{check_run_id(r)}'" for r in run_ids) + ")"
    runs = client.store.search_runs([str(experiment_id)], filter_string).to_frame()
    if runs.empty:
        raise ResourceNotFoundError(
            f"No run of experiment {experiment_id} logged a table '{artifact_file}'; log one with "
            f"log_table(data, artifact_file='{artifact_file}').")
    frames = []
    for _, run in runs.iterrows():
        df = _existing(client.store.artifact_repo(run["artifact_uri"]), artifact_file)
        if df is None:
            raise ResourceNotFoundError(f"Run {run['run_id']} lists the table '{artifact_file}' but has no such file.")
        for column in extra_columns or ():
            df[f"{column}_" if column in df else column] = run[column]
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


__all__ = ["TAG_LOGGED_ARTIFACTS", "read_table", "read_tables", "write_table"]
