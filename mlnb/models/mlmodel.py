"""The MLmodel manifest: read, validate and write it exactly as MLflow 3.x does.

MLflow writes ``yaml.safe_dump(..., default_flow_style=False)`` with sorted keys; mlnb writes the
same, so an mlnb manifest diffs cleanly against MLflow's. Keys mlnb does not know are kept on read
and written back unchanged.
"""

from __future__ import annotations

import datetime
import os
import uuid
from pathlib import Path
from typing import Any, Mapping

from mlnb.errors import FlavorNotFoundError, ModelFormatError

MLMODEL_FILE = "MLmodel"
#: The MLflow model format mlnb writes (recorded as ``mlflow_version``: MLflow reads it as such).
MLFLOW_FORMAT_VERSION = "3.17.2"
PYFUNC = "python_function"

_KNOWN = (
    "artifact_path", "flavors", "metadata", "mlflow_version", "model_id",
    "model_uuid", "prompts", "run_id", "saved_input_example_info", "signature",
    "utc_time_created", "env_vars", "resources",
)


def _yaml():
    import yaml

    return yaml


def _now() -> str:
    return str(datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None))


class Model:
    """An MLmodel manifest.

    ``flavors`` maps a flavor name to its configuration. ``signature`` is kept as MLflow's dict of
    JSON strings and parsed on demand (:meth:`get_signature`), so reading a manifest never imports
    pandas.
    """

    def __init__(
        self,
        flavors: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        signature: Any = None,
        saved_input_example_info: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        artifact_path: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        model_uuid: str | None = None,
        utc_time_created: str | None = None,
        mlflow_version: str | None = MLFLOW_FORMAT_VERSION,
        model_id: str | None = None,
        prompts: Any = None,
        **extra: Any,
    ) -> None:
        self.flavors: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (flavors or {}).items()}
        self.signature = signature.to_dict() if hasattr(signature, "to_dict") else signature
        self.saved_input_example_info = saved_input_example_info
        self.run_id = run_id
        self.artifact_path = artifact_path
        self.metadata = dict(metadata) if metadata else None
        self.model_uuid = model_uuid or uuid.uuid4().hex
        self.utc_time_created = utc_time_created or _now()
        self.mlflow_version = mlflow_version
        self.model_id = model_id
        self.prompts = prompts
        self.extra: dict[str, Any] = dict(extra)

    # -- flavors -------------------------------------------------------------------------
    def add_flavor(self, name: str, **conf: Any) -> "Model":
        self.flavors[name] = conf
        return self

    def flavor(self, name: str) -> dict[str, Any]:
        try:
            return self.flavors[name]
        except KeyError:
            have = ", ".join(sorted(self.flavors)) or "none"
            raise FlavorNotFoundError(
                f"This model has no '{name}' flavor (it has: {have}). "
                f"Load it with the loader of one of those flavors, or with mlnb.pyfunc.load_model."
            ) from None

    @property
    def pyfunc_conf(self) -> dict[str, Any] | None:
        return self.flavors.get(PYFUNC)

    # -- signature -----------------------------------------------------------------------
    def get_signature(self):
        """The parsed :class:`~mlnb.models.signature.ModelSignature`, or None."""
        if not self.signature:
            return None
        from mlnb.models.signature import ModelSignature

        return ModelSignature.from_dict(self.signature)

    def get_input_schema(self):
        """The signature's input :class:`~mlnb.models.signature.Schema`, or None (MLflow's name)."""
        sig = self.get_signature()
        return sig.inputs if sig else None

    def get_output_schema(self):
        sig = self.get_signature()
        return sig.outputs if sig else None

    def get_params_schema(self):
        sig = self.get_signature()
        return sig.params if sig else None

    def load_input_example(self, path: str | os.PathLike):
        """The saved input example of the model at ``path`` as the object the model takes, or None."""
        from mlnb.models import examples

        return examples.load(path, self.saved_input_example_info)

    def set_signature(self, signature) -> None:
        self.signature = signature.to_dict() if signature is not None else None

    # -- (de)serialization ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "flavors": self.flavors,
            "mlflow_version": self.mlflow_version,
            "model_uuid": self.model_uuid,
            "utc_time_created": self.utc_time_created,
            "model_id": self.model_id,
            "prompts": self.prompts,
        }
        optional = {
            "run_id": self.run_id,
            "artifact_path": self.artifact_path,
            "saved_input_example_info": self.saved_input_example_info,
            "metadata": self.metadata,
        }
        d.update({k: v for k, v in optional.items() if v is not None})
        for k, v in self.extra.items():
            d.setdefault(k, v)
        if self.signature is not None:
            d["signature"] = self.signature
            d.setdefault("is_signature_from_type_hint", False)
            d.setdefault("type_hint_from_example", False)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "MLmodel") -> "Model":
        validate(data, source=source)
        data = dict(data)
        kwargs = {k: data.pop(k) for k in list(data) if k in _KNOWN and k not in ("env_vars", "resources")}
        return cls(**kwargs, **data)

    def to_yaml(self) -> str:
        yaml = _yaml()  # libyaml's emitter when present: same text, ~20x faster than the pure-Python one
        return yaml.dump(self.to_dict(), Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), default_flow_style=False)

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``MLmodel`` into the directory ``path`` (atomically) and return its path."""
        target = Path(path) / MLMODEL_FILE
        tmp = target.with_name(f".{MLMODEL_FILE}.tmp")
        tmp.write_text(self.to_yaml(), encoding="utf-8")
        os.replace(tmp, target)
        return target

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Model":
        """Read the MLmodel of a model directory (or the MLmodel file itself), or of a model URI
        (``runs:/``, ``models:/``, ``s3://``...)."""
        from mlnb.models.uri import local_path, scheme_of

        if scheme_of(os.fspath(path)) not in ("", "file") and not Path(path).exists():
            path = local_path(path)  # the model's directory, fetched when it is remote
        p = Path(path)
        file = p / MLMODEL_FILE if p.is_dir() else p
        if not file.exists():
            if not p.exists():
                raise ModelFormatError(f"No model at '{p}': the path does not exist.")
            raise ModelFormatError(
                f"'{p}' is not a model directory: it has no MLmodel file. "
                f"Point to the directory that save_model or log_model wrote."
            )
        return cls.from_dict(_parsed(file), source=str(file))

    def __repr__(self) -> str:
        return f"Model(flavors={sorted(self.flavors)}, run_id={self.run_id!r}, model_uuid={self.model_uuid!r})"


_PARSED: dict[str, Any] = {}   # MLmodel text -> its parsed data
_PARSED_MAX = 64


def _parsed(file: Path) -> Any:
    """The parsed data of an MLmodel file (a fresh copy); the same text is parsed once.

    A load reads MLmodel twice (to audit it, then in the flavor's loader). Reading the file is
    cheap; parsing YAML is most of the cost of a small model's load, the copy a tenth of it.
    Keyed by the text itself, so a file rewritten in place is never answered from an old parse."""
    import copy

    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ModelFormatError(f"'{file}' is not valid YAML: {exc}") from None
    data = _PARSED.get(text)
    if data is None:
        data = safe_yaml(text, str(file))
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.pop(next(iter(_PARSED)), None)
        _PARSED[text] = data
    return copy.deepcopy(data)


#: Bounds no MLmodel comes near (MLflow's nest about 6 deep and hold a few hundred nodes); past them
#: a manifest is an attack on the parser (deep nesting) or on whoever walks the result (an alias bomb).
MAX_YAML_DEPTH = 64
MAX_YAML_NODES = 1_000_000
_CORE_TAG = "tag:yaml.org,2002:"
_SAFE_TAGS = {_CORE_TAG + t for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp", "binary")}


def safe_yaml(text: str, source: str = "MLmodel") -> Any:
    """Parse YAML data the way MLflow writes it, refusing what only an attacker writes.

    Before anything is built, the event stream is checked: nesting deeper than MAX_YAML_DEPTH,
    more than MAX_YAML_NODES nodes once aliases are expanded, and tags other than YAML's plain
    data types (``!!python/object``...) are each a ModelFormatError. Then the safe loader builds it.
    """
    yaml = _yaml()
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    def refuse(what: str) -> ModelFormatError:
        return ModelFormatError(
            f"Refused to read '{source}': {what}. An MLmodel is plain data and never needs this; "
            f"no consent allows it: re-save the model, or check where it came from."
        )

    try:
        open_nodes: list[list] = []    # [node count, anchor] of each open collection
        anchors: dict[str, int] = {}   # anchor -> node count of what it names, aliases expanded
        for event in yaml.parse(text, Loader=loader):
            tag = getattr(event, "tag", None)
            if tag and tag not in _SAFE_TAGS and tag != "!":
                raise refuse(f"it holds the YAML tag '{tag}'")
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                open_nodes.append([1, event.anchor])
                if len(open_nodes) > MAX_YAML_DEPTH:
                    raise refuse(f"it nests more than {MAX_YAML_DEPTH} levels deep")
                continue
            if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                size, anchor = open_nodes.pop()
                if anchor:
                    anchors[anchor] = size
            elif isinstance(event, yaml.AliasEvent):
                if any(anchor == event.anchor for _, anchor in open_nodes):
                    raise refuse(f"the alias '*{event.anchor}' refers to a collection holding it (a cycle)")
                size = anchors.get(event.anchor, 1)
            elif isinstance(event, yaml.ScalarEvent):
                size = 1
            else:
                continue
            if open_nodes:
                open_nodes[-1][0] += size
            if size > MAX_YAML_NODES or (open_nodes and open_nodes[-1][0] > MAX_YAML_NODES):
                raise refuse(f"it expands to more than {MAX_YAML_NODES:,} nodes (a YAML alias bomb)")
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        raise ModelFormatError(f"'{source}' is not valid YAML: {exc}") from None
    except RecursionError:
        raise refuse("it nests too deeply to parse") from None


def validate(data: Any, *, source: str = "MLmodel") -> None:
    """Check an MLmodel mapping's structure; raise ModelFormatError saying what is wrong."""
    if not isinstance(data, Mapping):
        raise ModelFormatError(f"{source}: expected a YAML mapping, found {type(data).__name__}.")
    flavors = data.get("flavors")
    if not isinstance(flavors, Mapping) or not flavors:
        raise ModelFormatError(f"{source}: 'flavors' is missing or empty; the file is not a model manifest.")
    for name, conf in flavors.items():
        if not isinstance(conf, Mapping):
            raise ModelFormatError(f"{source}: flavor '{name}' must be a mapping, found {type(conf).__name__}.")
        if conf.get("code") is not None:
            from mlnb.models.trust import relative_inside

            relative_inside(conf["code"], f"the '{name}' flavor's code", source)
    pyfunc = flavors.get(PYFUNC)
    if pyfunc is not None and not pyfunc.get("loader_module"):
        raise ModelFormatError(f"{source}: the python_function flavor has no 'loader_module'.")
    sig = data.get("signature")
    if sig is not None and (not isinstance(sig, Mapping) or "inputs" not in sig):
        raise ModelFormatError(f"{source}: 'signature' must be a mapping with 'inputs'.")
