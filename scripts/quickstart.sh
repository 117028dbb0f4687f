#!/usr/bin/env bash
# Render a default project into DEST (default: ./my-model) and serve its model on :8080.
# Needs Python 3.11+ and make; uv comes with dsdeploy into .venv.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-my-model}
"$repo/scripts/dev-env.sh"
export PATH="$repo/.venv/bin:$PATH"
if [ ! -f "$dest/.copier-answers.yml" ]; then
  dsdeploy new "$dest" --defaults
fi
exec make -C "$dest" serve
