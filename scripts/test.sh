#!/usr/bin/env bash
# The one test command (README, CI): set up .venv, install engines where this machine allows
# (root on Debian; set DSDEPLOY_SKIP_ENGINES=1 to skip), then run every tier that can run here.
# Extra arguments go to pytest, e.g. `scripts/test.sh -m "not docker and not kind"`.
set -euo pipefail
cd "$(dirname "$0")/.."
# The set-up's seconds go to the run's time-per-tier table (tests/support/tier_times.py).
started=$SECONDS
./scripts/dev-env.sh
setup="dev-env=$((SECONDS - started))"
if [ "${DSDEPLOY_SKIP_ENGINES:-0}" != 1 ]; then
  started=$SECONDS
  ./scripts/setup-engines.sh
  setup="$setup engines=$((SECONDS - started))"
fi
export DSDEPLOY_SETUP_SECONDS="$setup"
export PATH="$PWD/.venv/bin:$PATH"
exec .venv/bin/python -m pytest -rs "$@"
