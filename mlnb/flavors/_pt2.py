"""The audit of a ``torch.export`` archive (``model.pt2``) before it is loaded.

``torch.export.load`` unpickles some records of the archive without restriction (constants, sample
inputs, weights it could not store raw), so a crafted archive runs code on load. mlnb loads an
archive only when every record is metadata (JSON, a short version string), raw tensor bytes the
archive's own config declares as such, or a pickle that torch's restricted ``weights_only``
unpickler accepts (tensors and plain containers).
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

from mlnb.errors import ModelFormatError, UntrustedTypesError

#: Short version and format records ``torch.export.save`` writes as plain text.
_TEXT_RECORDS = {"version", "archive_format", "archive_version", "byteorder", "serialization_id"}
_TEXT = re.compile(rb"[A-Za-z0-9._-]{1,64}\n?")
_PAYLOAD_CONFIG = re.compile(r"(^|/)data/(weights|constants)/[^/]+_config\.json$")
_RAW_PREFIXES = ("weight_", "tensor_")


def _json(content: bytes):
    try:
        return json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


def _raw_tensor_records(archive: zipfile.ZipFile, names: list[str]) -> set[str]:
    """Records the payload configs declare as raw bytes (never unpickled); a record any config
    also declares as pickled is left out."""
    raw, pickled = set(), set()
    for name in (n for n in names if _PAYLOAD_CONFIG.search(n)):
        config = _json(archive.read(name))
        entries = config.get("config") if isinstance(config, dict) else None
        folder = name.rpartition("/")[0]
        for entry in (entries or {}).values():
            path = entry.get("path_name") if isinstance(entry, dict) else None
            if not isinstance(path, str) or "/" in path:
                continue
            is_raw = entry.get("use_pickle") is False and path.startswith(_RAW_PREFIXES)
            (raw if is_raw else pickled).add(f"{folder}/{path}")
    return raw - pickled


def _accepted(name: str, content: bytes) -> bool:
    import torch

    if name.rpartition("/")[2] in _TEXT_RECORDS and _TEXT.fullmatch(content):
        return True
    if _json(content) is not None:
        return True
    try:
        torch.load(io.BytesIO(content), map_location="cpu", weights_only=True)
    except Exception:
        return False
    return True


def audit(file: Path) -> None:
    """Raise :class:`UntrustedTypesError` unless every record of the archive is safe to load."""
    import torch

    if torch.__version__ < "2.10":  # TorchVersion compares as a version
        raise UntrustedTypesError(
            f"torch {torch.__version__} cannot check a torch.export archive safely (its weights_only "
            f"unpickler has known bypasses before 2.10). Upgrade torch to load '{file}'."
        )
    try:
        archive = zipfile.ZipFile(file)
    except zipfile.BadZipFile:
        raise ModelFormatError(f"'{file}' is not a torch.export archive (not a zip file); save the model again.") from None
    with archive:
        names = [i.filename for i in archive.infolist() if not i.is_dir()]
        raw = _raw_tensor_records(archive, names)
        for name in names:
            if name not in raw and not _accepted(name, archive.read(name)):
                from mlnb.models.trust import CONSENT_CODE

                raise UntrustedTypesError(
                    f"Refused to load record '{name}' of '{file}': it is a pickle that holds more than "
                    f"tensors and plain containers, and loading it could run code. If you trust this "
                    f"model, {CONSENT_CODE}."
                )
