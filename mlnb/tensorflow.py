"""``mlnb.tensorflow``: the tensorflow flavor under MLflow's name. It *is* :mod:`mlnb.flavors.tensorflow` (one module,
two names); this file exists so ``import mlnb.tensorflow`` works and IDEs and type checkers resolve it.

Generated from the registry in mlnb/flavors/__init__.py by ``python tests/test_flavor_modules.py``.
"""

import sys

from mlnb.flavors import tensorflow as _flavor
from mlnb.flavors.tensorflow import *  # noqa: F401,F403  (the names IDEs and type checkers see)

sys.modules[__name__] = _flavor
