"""S3 artifacts: ``s3://bucket/key`` for models and run artifacts, through boto3.

Credentials and region come from boto3's usual chain (environment, ``~/.aws``, instance roles).
An S3-compatible server (MinIO, moto, Ceph...) is named by ``MLFLOW_S3_ENDPOINT_URL`` (MLflow's
variable) or ``AWS_ENDPOINT_URL``. Downloads bigger than 50 MB show a progress bar (tqdm, which
renders as a widget in notebooks). boto3 is imported only when an ``s3://`` URI is used.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

from mlnb.errors import InvalidParameterError, ResourceNotFoundError, TrackingError, require
from mlnb.tracking.artifacts import (
    PROGRESS_THRESHOLD, ArtifactRepo, FileInfo, artifact_file_path, atomic_write, clean_artifact_path, download_root,
)


def parse_s3_uri(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise InvalidParameterError(f"'{uri}' is not an S3 URI; write s3://bucket/key.")
    return parsed.netloc, parsed.path.strip("/")


def s3_client():
    boto3 = require("boto3", "s3", "Reading s3:// URIs")
    from botocore.config import Config

    endpoint = os.environ.get("MLFLOW_S3_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL") or None
    config = Config(connect_timeout=10, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"})
    return boto3.client("s3", endpoint_url=endpoint, config=config)


def _s3_error(exc: Exception, what: str) -> Exception:
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("404", "NoSuchKey", "NoSuchBucket", "NotFound"):
            return ResourceNotFoundError(f"{what}: not found ({code}).")
        return TrackingError(f"{what}: S3 refused the request ({code}: {exc}).")
    if isinstance(exc, NoCredentialsError):
        return TrackingError(f"{what}: no AWS credentials; set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile.")
    if isinstance(exc, EndpointConnectionError):
        return TrackingError(f"{what}: cannot reach the S3 endpoint ({exc}).")
    return TrackingError(f"{what}: {exc}")


class S3ArtifactRepo(ArtifactRepo):
    """Artifacts under ``s3://bucket/prefix``."""

    download_prefix = "mlnb-s3-"

    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/")
        self.bucket, self.prefix = parse_s3_uri(uri)
        self._client = None

    @property
    def client(self):
        if self._client is None:
            self._client = s3_client()
        return self._client

    def _key(self, path: str | None) -> str:
        rel = clean_artifact_path(path)
        return "/".join(p for p in (self.prefix, rel) if p)

    def _call(self, what: str, fn, *args, **kwargs):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(*args, **kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise _s3_error(exc, what) from None

    def log_artifact(self, local_file, artifact_path=None) -> None:
        src = Path(local_file)
        if not src.is_file():
            raise ResourceNotFoundError(f"Cannot log '{src}': it is not a file.")
        rel = clean_artifact_path(artifact_path)
        key = self._key(f"{rel}/{src.name}" if rel else src.name)
        self._call(f"Uploading to s3://{self.bucket}/{key}", self.client.upload_file, str(src), self.bucket, key)

    def log_bytes(self, data: bytes, artifact_file: str) -> None:
        """One ``put_object`` of ``data``, with no temporary file."""
        key = self._key(artifact_file_path(artifact_file))
        self._call(f"Uploading to s3://{self.bucket}/{key}", self.client.put_object, Bucket=self.bucket, Key=key,
                   Body=data)

    def _walk(self, key_prefix: str, delimiter: bool):
        paginator = self.client.get_paginator("list_objects_v2")
        kwargs = {"Bucket": self.bucket, "Prefix": key_prefix}
        if delimiter:
            kwargs["Delimiter"] = "/"
        try:
            for page in paginator.paginate(**kwargs):
                yield page
        except Exception as exc:
            from botocore.exceptions import BotoCoreError, ClientError

            if isinstance(exc, (ClientError, BotoCoreError)):
                raise _s3_error(exc, f"Listing s3://{self.bucket}/{key_prefix}") from None
            raise

    def list_artifacts(self, path=None) -> list[FileInfo]:
        rel = clean_artifact_path(path)
        key = self._key(rel)
        dir_prefix = f"{key}/" if key else ""
        strip = len(f"{self.prefix}/") if self.prefix else 0
        out = []
        for page in self._walk(dir_prefix, delimiter=True):
            for p in page.get("CommonPrefixes", []):
                out.append(FileInfo(p["Prefix"][strip:].rstrip("/"), True))
            for obj in page.get("Contents", []):
                if obj["Key"] != dir_prefix:
                    out.append(FileInfo(obj["Key"][strip:], False, obj["Size"]))
        return sorted(out, key=lambda f: f.path)

    def _download_tree(self, rel: str, dst_root: Path) -> Path:
        key = self._key(rel)
        target = dst_root / rel if rel else dst_root
        dir_prefix = f"{key}/" if key else ""
        objects = [o for page in self._walk(dir_prefix, delimiter=False) for o in page.get("Contents", [])]
        if objects:
            for obj in objects:
                sub = obj["Key"][len(dir_prefix):]
                if sub:
                    self._download(obj["Key"], target / clean_artifact_path(sub), obj["Size"])
            return target
        size = self._call(f"Reading s3://{self.bucket}/{key}", self.client.head_object,
                          Bucket=self.bucket, Key=key)["ContentLength"]
        self._download(key, target, size)
        return target

    def _download(self, key: str, local: Path, size: int) -> None:
        what = f"Downloading s3://{self.bucket}/{key}"

        def fetch(staging: Path) -> None:
            if size >= PROGRESS_THRESHOLD:
                from tqdm.auto import tqdm

                with tqdm(total=size, unit="B", unit_scale=True, unit_divisor=1024, desc=key.rsplit("/", 1)[-1]) as bar:
                    self._call(what, self.client.download_file, self.bucket, key, str(staging), Callback=bar.update)
            else:
                self._call(what, self.client.download_file, self.bucket, key, str(staging))

        local.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(local, fetch)


def download_s3_uri(uri: str, dst: str | None = None) -> Path:
    """Download ``s3://bucket/key`` (a file or a whole prefix, e.g. a model) and return the local path."""
    bucket, key = parse_s3_uri(uri)
    if not key:
        raise InvalidParameterError(f"'{uri}' names a whole bucket; point to a model or file inside it.")
    repo = S3ArtifactRepo(f"s3://{bucket}/{os.path.dirname(key)}" if "/" in key else f"s3://{bucket}")
    with download_root(dst, "mlnb-s3-") as dst_root:
        return repo.download_artifacts(os.path.basename(key), dst_root)
