#!/usr/bin/env bash
# Create (or refresh) the repo's .venv with dsdeploy and its test tools. Idempotent and quick:
# it reinstalls only when pyproject.toml changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-}
if [ -z "$python" ]; then
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 \
      && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      python=$candidate
      break
    fi
  done
fi
[ -n "$python" ] || { echo "dev-env: Python 3.11 or newer is needed (set PYTHON=/path/to/python3)" >&2; exit 2; }

[ -x .venv/bin/python ] || "$python" -m venv .venv
stamp=.venv/.dsdeploy-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "dev-env: installing dsdeploy[test] into .venv" >&2
  # uv (a dependency of dsdeploy anyway) downloads and installs in parallel: on a new machine
  # pip took 46 s for this on a new machine (measured figures: tests/README.md).
  .venv/bin/python -m pip install --quiet --disable-pip-version-check uv
  .venv/bin/uv pip install --quiet --python .venv/bin/python -e '.[test]'
  echo "$want" > "$stamp"
fi
