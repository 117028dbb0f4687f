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
# Hand uv a local interpreter of the project's Python (pyenv builds included), so it does not
# try to download one; where none is found uv looks (and may download) by itself.
python=$("$repo/.venv/bin/python" - "$dest" <<'PY'
import sys
from pathlib import Path
from generator.project.render import read_answers
from generator.tools import find_python
print(find_python(str(read_answers(Path(sys.argv[1]))["python_version"])) or "")
PY
)
if [ -n "$python" ]; then export UV_PYTHON="$python"; fi
unset VIRTUAL_ENV
exec make -C "$dest" serve
