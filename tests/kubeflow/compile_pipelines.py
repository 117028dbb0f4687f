"""Compile several projects' pipelines in one Python, each as ``python -m <package>.pipeline`` would.

Run as a script: ``compile_pipelines.py PACKAGE RESULTS PROJECT OUTPUT [PROJECT OUTPUT ...]``.
The projects must share one package source (only their ``deploy/kubeflow/config.yaml`` may
differ): kfp's import, most of a compile's time, is paid once for them all. Each project's
entry point runs as ``__main__`` from its own folder and ``src`` (its modules imported afresh),
with the default config and ``--output OUTPUT``. RESULTS gets a JSON list of each project's
error text ("" when it compiled).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import runpy
import sys
import traceback
from pathlib import Path


def compile_one(package: str, project: Path, output: str) -> str:
    """Run ``python -m <package>.pipeline --output OUTPUT`` in ``project``; its error text, or ""."""
    for name in [name for name in sys.modules if name == package or name.startswith(f"{package}.")]:
        del sys.modules[name]
    os.chdir(project)
    sys.path.insert(0, str(project / "src"))
    sys.argv = [f"{package}.pipeline", "--output", output]
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            runpy.run_module(f"{package}.pipeline", run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        if exc.code not in (0, None):
            return f"exit {exc.code}\n{err.getvalue()}"
    except Exception:  # reported per project, as the process's own exit would be
        return traceback.format_exc()
    finally:
        sys.path.remove(str(project / "src"))
    return ""


def main(argv: list[str]) -> int:
    package, results, *pairs = argv
    errors = [
        compile_one(package, Path(project), output)
        for project, output in zip(pairs[::2], pairs[1::2], strict=True)
    ]
    Path(results).write_text(json.dumps(errors), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
