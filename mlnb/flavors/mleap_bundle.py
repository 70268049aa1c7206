"""MLeap's bundle format (Bundle.ML, JSON serialization): read and write it without a JVM.

A bundle is a directory or a zip holding ``bundle.json`` (uid, name, timestamp, version, format) and
``root/``. Every op is a folder, ``root/`` for the root and ``<name>.node/`` for the others, with
``node.json`` (its name and shape: input and output ports, each bound to a column) and
``model.json`` (``op`` and typed ``attributes``). A pipeline lists its children in its ``nodes``
attribute; their folders sit inside its own. Tree models add ``tree.json`` (one JSON node per line,
in pre-order), and ensembles keep each tree in a sub-folder. Only the JSON serialization is read:
a protobuf bundle is refused with a ModelFormatError.

Attribute values are typed objects: ``{"double": 1.5}``, ``{"type": "list", "string": [...]}``,
``{"type": "tensor", "double": [...], "shape": {"dimensions": [{"size": 3, "name": ""}]}}``. MLeap
leaves zero, false and empty values out (``{}`` is 0.0), and writes NaN as ``null``.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

from mlnb.errors import ModelFormatError

BUNDLE_JSON = "bundle.json"
ROOT = "root"
NODE_JSON = "node.json"
MODEL_JSON = "model.json"
#: the MLeap release whose op layouts mlnb reads and writes
MLEAP_VERSION = "0.25.2"
#: the largest single file read from a bundle (a zip may claim any size; trees are the big ones)
MAX_FILE_BYTES = 512 * 1024 * 1024

_SCALAR_KINDS = ("boolean", "int", "long", "float", "double", "string", "byte_string", "data_shape", "basic_type")
_ZERO = {"boolean": False, "int": 0, "long": 0, "float": 0.0, "double": 0.0, "string": ""}


# -- reading ----------------------------------------------------------------------------------
class BundleSource:
    """The files of a bundle, in a directory or a zip; paths are relative, with ``/``."""

    def __init__(self, location: str | os.PathLike) -> None:
        self.location = Path(location)
        self._zip: zipfile.ZipFile | None = None
        self._prefix = ""
        if self.location.is_dir():
            return
        if not self.location.is_file():
            raise ModelFormatError(f"No MLeap bundle at '{self.location}': give a bundle directory or a .zip file.")
        try:
            self._zip = zipfile.ZipFile(self.location)
            names = self._zip.namelist()
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise ModelFormatError(
                f"'{self.location}' is not a readable MLeap bundle zip ({exc}). The file is damaged or is not "
                f"a bundle: write the bundle again.") from None
        if BUNDLE_JSON not in names:  # a zip of the bundle's folder, rather than of its contents
            tops = {n.split("/", 1)[0] for n in names if n.endswith("/" + BUNDLE_JSON) and n.count("/") == 1}
            if len(tops) == 1:
                self._prefix = tops.pop() + "/"

    def read_text(self, relative: str) -> str:
        if self._zip is not None:
            try:
                info = self._zip.getinfo(self._prefix + relative)
            except KeyError:
                raise ModelFormatError(f"The MLeap bundle '{self.location}' has no '{relative}'; it is incomplete.") from None
            if info.file_size > MAX_FILE_BYTES:
                raise ModelFormatError(f"'{relative}' in the MLeap bundle '{self.location}' is larger than "
                                       f"{MAX_FILE_BYTES >> 20} MB; mlnb does not read it.")
            try:
                return self._zip.read(info).decode("utf-8")
            except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:   # a CRC or deflate failure
                raise ModelFormatError(f"'{relative}' in the MLeap bundle '{self.location}' cannot be read "
                                       f"({exc}); the zip is damaged.") from None
        path = self.location / relative
        root = os.path.realpath(self.location)
        if not os.path.realpath(path).startswith(root.rstrip(os.sep) + os.sep):
            raise ModelFormatError(f"'{relative}' leaves the MLeap bundle '{self.location}' (a symlink); refused.")
        if not path.is_file():
            raise ModelFormatError(f"The MLeap bundle '{self.location}' has no '{relative}'; it is incomplete.")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ModelFormatError(f"'{relative}' in the MLeap bundle is larger than {MAX_FILE_BYTES >> 20} MB.")
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelFormatError(f"'{path}' cannot be read ({exc}).") from None

    def read_json(self, relative: str) -> Any:
        text = self.read_text(relative)
        try:
            return json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise ModelFormatError(f"'{relative}' in the MLeap bundle '{self.location}' is not JSON ({exc}).") from None

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()


@dataclass
class Node:
    """One op of a bundle: its name, op, attributes, ports, and the folder holding its files."""

    name: str
    op: str
    attributes: dict[str, Any]
    inputs: dict[str, str]         # port -> column
    outputs: dict[str, str]
    folder: str                    # relative path inside the bundle
    source: BundleSource = field(repr=False)

    def value(self, name: str, default: Any = ...) -> Any:
        """The attribute ``name`` as Python data (see :func:`decode_value`)."""
        if name not in self.attributes:
            if default is ...:
                raise ModelFormatError(f"The MLeap op '{self.op}' (node '{self.name}') lacks its '{name}' attribute.")
            return default
        return decode_value(self.attributes[name], f"attribute '{name}' of node '{self.name}'")

    def child(self, name: str) -> str:
        """The folder of the node ``name`` inside this one."""
        return f"{self.folder}/{safe_name(name)}.node"


def safe_name(name: Any) -> str:
    """A node name fit for a path inside the bundle (no separators, no ``..``)."""
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or name in (".", "..") or "\0" in name:
        raise ModelFormatError(f"The MLeap bundle names a node {name!r}, which is not a plain folder name.")
    return name


def decode_value(value: Any, what: str) -> Any:
    """A typed attribute as Python data: a scalar, a list, or a tensor ``(flat ndarray, dims)``."""
    if not isinstance(value, dict):
        raise ModelFormatError(f"The {what} is not an MLeap value object.")
    kind = value.get("type")
    if kind == "tensor":
        import numpy as np

        dims = [d.get("size", 0) for d in (value.get("shape") or {}).get("dimensions", [])]
        data = next((value[k] for k in ("double", "float", "long", "int", "boolean", "string") if k in value), [])
        return np.array([math.nan if v is None else v for v in data]), dims
    if kind == "list":
        for k in _SCALAR_KINDS:
            if k in value:
                items = value[k]
                return [math.nan if v is None and k in ("double", "float") else v for v in items]
        return []
    if kind is not None:
        raise ModelFormatError(f"The {what} has an unknown value type {kind!r}.")
    for k in _SCALAR_KINDS:
        if k in value:
            v = value[k]
            return math.nan if v is None and k in ("double", "float") else v
    return None if not value else next(iter(value.values()))


def read_node(source: BundleSource, folder: str) -> Node:
    node = source.read_json(f"{folder}/{NODE_JSON}")
    model = source.read_json(f"{folder}/{MODEL_JSON}")
    if not isinstance(node, dict) or not isinstance(model, dict) or not isinstance(model.get("op"), str):
        raise ModelFormatError(f"'{folder}' in the MLeap bundle '{source.location}' is not an MLeap node "
                               f"(node.json and model.json with an 'op').")
    shape = node.get("shape") or {}

    def sockets(key: str) -> dict[str, str]:
        out = {}
        for s in shape.get(key) or []:
            if not isinstance(s, dict) or not isinstance(s.get("port"), str) or not isinstance(s.get("name"), str):
                raise ModelFormatError(f"A {key[:-1]} of node '{folder}' is not a port and a column name.")
            out[s["port"]] = s["name"]
        return out

    return Node(str(node.get("name", "")), model["op"], dict(model.get("attributes") or {}), sockets("inputs"),
                sockets("outputs"), folder, source)


def read_info(source: BundleSource) -> dict[str, Any]:
    info = source.read_json(BUNDLE_JSON)
    if not isinstance(info, dict):
        raise ModelFormatError(f"'{BUNDLE_JSON}' in '{source.location}' is not an MLeap bundle description.")
    if info.get("format", "json") != "json":
        raise ModelFormatError(
            f"The MLeap bundle '{source.location}' is serialized as {info.get('format')!r}; mlnb reads MLeap's JSON "
            f"serialization only. Write it again with SerializationFormat.Json (MLeap's default).")
    return info


def read_tree_lines(source: BundleSource, folder: str) -> Iterator[dict]:
    for i, line in enumerate(source.read_text(f"{folder}/tree.json").splitlines()):
        if line.strip():
            try:
                yield json.loads(line)
            except ValueError:
                raise ModelFormatError(f"Line {i + 1} of '{folder}/tree.json' is not JSON.") from None


# -- writing ----------------------------------------------------------------------------------
def number(v: float) -> float | None:
    """A double as MLeap writes it (NaN and infinities as null)."""
    v = float(v)
    return v if math.isfinite(v) else None


def double(v: float) -> dict:
    return {"double": number(v)}


def long(v: int) -> dict:
    return {"long": int(v)}


def string(v: str) -> dict:
    return {"string": str(v)}


def boolean(v: bool) -> dict:
    return {"boolean": bool(v)}


def vector(values: Any) -> dict:
    values = [number(v) for v in values]
    return {"type": "tensor", "double": values, "shape": {"dimensions": [{"size": len(values), "name": ""}]}}


def matrix(values: Any, rows: int, cols: int) -> dict:
    """A matrix as MLeap writes Spark's: the values column by column, with shape (rows, cols)."""
    return {"type": "tensor", "double": [number(v) for v in values],
            "shape": {"dimensions": [{"size": rows, "name": ""}, {"size": cols, "name": ""}]}}


def value_list(kind: str, values: Any) -> dict:
    items = [number(v) for v in values] if kind == "double" else list(values)
    return {"type": "list", kind: items}


def data_shape(size: int | None) -> dict:
    """A column's shape for ``vector_assembler``: a scalar, or a vector of ``size``."""
    if size is None:
        return {"base": "scalar", "isNullable": True}
    return {"base": "tensor", "isNullable": True, "tensorShape": {"dimensions": [{"size": int(size), "name": ""}]}}


def node_files(folder: str, name: str, op: str, attributes: Mapping[str, Any], inputs: list[tuple[str, str]],
               outputs: list[tuple[str, str]]) -> dict[str, str]:
    """The ``node.json`` and ``model.json`` of one op."""
    node = {"name": name, "shape": {"inputs": [{"port": p, "name": c} for p, c in inputs],
                                    "outputs": [{"port": p, "name": c} for p, c in outputs]}}
    model = {"op": op, "attributes": dict(attributes)}
    return {f"{folder}/{NODE_JSON}": json.dumps(node, indent=2), f"{folder}/{MODEL_JSON}": json.dumps(model, indent=2)}


def bundle_info(name: str) -> str:
    import datetime
    import uuid

    return json.dumps({"uid": str(uuid.uuid4()), "name": name, "format": "json", "version": MLEAP_VERSION,
                       "timestamp": datetime.datetime.now().isoformat(timespec="milliseconds")}, indent=2)


def write_files(files: Mapping[str, str], target: Path, zipped: bool = False) -> None:
    """Write a bundle's files as a directory at ``target``, or as a zip file there."""
    if zipped:
        with zipfile.ZipFile(target, "x", compression=zipfile.ZIP_DEFLATED) as z:
            for name in sorted(files):
                z.writestr(name, files[name])
        return
    for name, text in files.items():
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


__all__ = ["BundleSource", "Node", "read_node", "read_info", "decode_value", "write_files", "MLEAP_VERSION"]
