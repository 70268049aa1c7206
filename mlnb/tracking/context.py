"""Where a run comes from: the user, and the script or notebook that started it (MLflow's tags)."""

from __future__ import annotations

import getpass
import os
import random
import sys
import time

from mlnb.tracking.entities import TAG_SOURCE_NAME, TAG_SOURCE_TYPE, TAG_USER


_ENV_NAMES = ("LOGNAME", "USER", "LNAME", "USERNAME")   # where getpass looks before the password database
_users: dict[tuple, str] = {}


def user() -> str:
    """The login name, or ``unknown`` where there is none (some containers). Looked up once per
    value of the variables getpass reads, not at every run: the password database is slow to ask."""
    env = tuple(os.environ.get(name) for name in _ENV_NAMES)
    found = _users.get(env)
    if found is None:
        try:
            found = getpass.getuser()
        except Exception:  # no login name in some containers
            found = "unknown"
        _users[env] = found
    return found


def source_tags() -> dict[str, str]:
    """MLflow's ``mlflow.user``, ``mlflow.source.name`` and ``mlflow.source.type`` for this process."""
    notebook = "ipykernel" in sys.modules
    name = sys.argv[0] if sys.argv and sys.argv[0] else "<console>"
    return {TAG_USER: user(), TAG_SOURCE_NAME: name, TAG_SOURCE_TYPE: "NOTEBOOK" if notebook else "LOCAL"}




_ADJECTIVES = ("agile", "bold", "bright", "calm", "clever", "crisp", "daring", "eager", "fair", "gentle",
               "honest", "keen", "lucid", "merry", "nimble", "placid", "quick", "sharp", "steady", "witty")
_NOUNS = ("ant", "bat", "carp", "crane", "deer", "eel", "finch", "fox", "hare", "heron", "lark", "lynx",
          "mole", "newt", "owl", "ram", "seal", "shrew", "stork", "wren")


def random_run_name() -> str:
    """A run or model name such as ``calm-heron-417``, for when the caller gives none."""
    rng = random.Random(time.time_ns() ^ os.getpid())
    return f"{rng.choice(_ADJECTIVES)}-{rng.choice(_NOUNS)}-{rng.randint(100, 999)}"


__all__ = ["user", "source_tags", "random_run_name"]
