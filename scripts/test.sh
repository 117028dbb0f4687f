#!/usr/bin/env bash
# The one test command (README, CI): set up .venv, install engines where this machine allows
# (root on Debian; set DSDEPLOY_SKIP_ENGINES=1 to skip), then run every tier that can run here.
# Extra arguments go to pytest, e.g. `scripts/test.sh -m "not docker and not kind"`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/dev-env.sh
if [ "${DSDEPLOY_SKIP_ENGINES:-0}" != 1 ]; then
  ./scripts/setup-engines.sh
fi
export PATH="$PWD/.venv/bin:$PATH"
exec .venv/bin/python -m pytest -rs "$@"
