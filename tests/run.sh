#!/usr/bin/env bash
# Set up everything the tests need on a fresh machine, then run them.
#   bash tests/run.sh                              # every tier
#   MLNB_TEST_TIERS="core" bash tests/run.sh       # some tiers (a pytest -m expression)
#   bash tests/run.sh -k serve                     # extra arguments go to pytest
# Tiers (pyproject.toml): core (Python packages only), java (H2O, Spark: Java 17), browser (JupyterLab
# in Chromium), install (fresh virtual environments from a local wheelhouse). This script installs
# each tier's prerequisite; a test whose prerequisite is missing fails, it never skips.
set -euo pipefail
cd "$(dirname "$0")/.."
TIERS="${MLNB_TEST_TIERS:-core or java or browser or install}"

# System packages: Chromium for the browser tier (Debian's build; test tools cannot download one),
# Java 17 for the java tier, R for crate models, wrk for benchmarks/ (not used by the tests).
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)  # the serving benchmarks' load generator
command -v Rscript >/dev/null 2>&1 || missing+=(r-base-core)  # R crate models (mlnb.crate)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python -m pip install -q --disable-pip-version-check -e ".[test]" 2>&1 | grep -v "Running pip as the 'root' user" || true
python -m pip check >/dev/null 2>&1 || true

# The install tier's wheels and the MXNet environment (MXNet 1.9.1 needs NumPy < 1.24; the gluon
# tests drive it): downloaded here, so the tests themselves never download.
python -m tests._tiers

# The same distribution as a plain `pytest -n 2` from the root, so CI and a contributor run the suite alike.
exec python -m pytest -n 2 -p no:cacheprovider -p no:benchmark -m "$TIERS" "$@"
