"""``mlnb.statsmodels``: the statsmodels flavor under MLflow's name. It *is* :mod:`mlnb.flavors.statsmodels` (one module,
two names); this file exists so ``import mlnb.statsmodels`` works and IDEs and type checkers resolve it.

Generated from the registry in mlnb/flavors/__init__.py by ``python tests/test_flavor_modules.py``.
"""

import sys

from mlnb.flavors import statsmodels as _flavor
from mlnb.flavors.statsmodels import *  # noqa: F401,F403  (the names IDEs and type checkers see)

sys.modules[__name__] = _flavor
