#!/usr/bin/env bash
# Set up everything the tests need on a fresh machine, then run them.
#   bash tests/run.sh            # the whole suite
#   bash tests/run.sh -k serve   # extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages: Chromium for the browser tests (Debian's build; test tools cannot download one).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

python -m pip install -q --disable-pip-version-check -e ".[test]" 2>&1 | grep -v "Running pip as the 'root' user" || true
python -m pip check >/dev/null 2>&1 || true

exec python -m pytest -n 2 --dist loadfile -p no:cacheprovider -p no:benchmark "$@"
