"""A small HTTP client for the MLflow Tracking Server: timeouts, retries and errors that name the URI.

Standard library only (``urllib``). A server that refuses connections fails at once; one that
does not answer fails after ``$MLNB_HTTP_TIMEOUT`` seconds (default 30, connect and each read);
429 and 5xx answers are retried ``$MLNB_HTTP_RETRIES`` times (default 3) with backoff.
Credentials come from MLflow's variables: ``MLFLOW_TRACKING_TOKEN`` or
``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD``.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, BinaryIO

from mlnb.errors import InvalidParameterError, ResourceNotFoundError, TrackingError

_RETRY_STATUSES = {429, 500, 502, 503, 504}


def _timeout() -> float:
    return float(os.environ.get("MLNB_HTTP_TIMEOUT", "30"))


def _retries() -> int:
    return int(os.environ.get("MLNB_HTTP_RETRIES", "3"))


def _auth_headers() -> dict[str, str]:
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    if token:
        return {"Authorization": f"Bearer {token}"}
    user, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if user and password:
        raw = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {raw}"}
    return {}


def _error_from_body(status: int, body: bytes, url: str) -> Exception:
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        payload = {}
    code = payload.get("error_code", "") if isinstance(payload, dict) else ""
    message = (payload.get("message") if isinstance(payload, dict) else None) or body[:300].decode("utf-8", "replace")
    text = f"{message} (HTTP {status} {code} from {url})".strip()
    if status == 404 or code == "RESOURCE_DOES_NOT_EXIST":
        return ResourceNotFoundError(text)
    if code in ("INVALID_PARAMETER_VALUE", "RESOURCE_ALREADY_EXISTS", "BAD_REQUEST") or status == 400:
        return InvalidParameterError(text)
    return TrackingError(text)


class HttpClient:
    """JSON and byte requests against one server (``base_url`` like ``http://127.0.0.1:5000``)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def url(self, path: str, params: dict[str, Any] | None = None) -> str:
        url = f"{self.base_url}/{path.lstrip('/')}"
        if params:
            url += "?" + urllib.parse.urlencode({k: v for k, v in params.items() if v is not None}, doseq=True)
        return url

    def open(self, method: str, path: str, *, params: dict | None = None, data: bytes | BinaryIO | None = None,
             headers: dict[str, str] | None = None):
        """Send a request; return the open response (the caller reads and closes it)."""
        url = self.url(path, params)
        all_headers = {**_auth_headers(), **(headers or {})}
        attempts = max(1, _retries() + 1)
        for attempt in range(attempts):
            if hasattr(data, "seek"):
                data.seek(0)
            req = urllib.request.Request(url, data=data, method=method, headers=all_headers)
            try:
                return urllib.request.urlopen(req, timeout=_timeout())
            except urllib.error.HTTPError as exc:
                body = exc.read()
                exc.close()
                if exc.code in _RETRY_STATUSES and attempt < attempts - 1:
                    time.sleep(0.2 * 2 ** attempt)
                    continue
                raise _error_from_body(exc.code, body, url) from None
            except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError) as exc:
                reason = getattr(exc, "reason", exc)
                refused = isinstance(reason, ConnectionRefusedError)
                timed_out = isinstance(reason, (socket.timeout, TimeoutError))
                if not refused and not timed_out and attempt < attempts - 1:
                    time.sleep(0.2 * 2 ** attempt)
                    continue
                if timed_out:
                    why = f"no answer within {_timeout():g} s (set MLNB_HTTP_TIMEOUT to wait longer)"
                elif refused:
                    why = "connection refused: is the server running on that host and port?"
                else:
                    why = str(reason)
                raise TrackingError(f"Cannot reach the MLflow Tracking Server at {self.base_url}: {why}") from None
        raise AssertionError("unreachable")

    def json(self, method: str, path: str, body: dict | None = None, params: dict | None = None) -> dict:
        data = json.dumps(body).encode("utf-8") if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        with self.open(method, path, params=params, data=data, headers=headers) as resp:
            raw = resp.read()
        try:
            return json.loads(raw) if raw else {}
        except ValueError:
            raise TrackingError(
                f"{self.base_url} answered {path} with something that is not JSON; is it an MLflow "
                f"Tracking Server?") from None
