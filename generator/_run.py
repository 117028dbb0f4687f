"""The one place that runs external commands.

Every subprocess goes through :func:`run`: it has a timeout, and a failure becomes a
:class:`GeneratorError` that carries the command and the tail of its output.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from generator.errors import GeneratorError

_TAIL_LINES = 25


def _tail(text: str) -> str:
    lines = text.strip().splitlines()
    return "\n".join(lines[-_TAIL_LINES:])


def run(
    command: Sequence[str | Path],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str | None] | None = None,
    timeout: float = 600,
    check: bool = True,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` and capture its output.

    Args:
        command: Program and arguments.
        cwd: Working directory.
        env: Variables set on top of the current environment; a value of None removes one.
        timeout: Seconds before the command is killed and reported.
        check: Raise :class:`GeneratorError` on a non-zero exit.
        input_text: Text sent to the command's standard input.

    Returns:
        The completed process, with ``stdout`` and ``stderr`` as text.
    """
    args = [str(part) for part in command]
    shown = shlex.join(args)
    full_env = None
    if env:
        full_env = {**os.environ, **{key: value for key, value in env.items() if value is not None}}
        for key in (key for key, value in env.items() if value is None):
            full_env.pop(key, None)
    try:
        result = subprocess.run(
            args,
            cwd=cwd,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input_text,
            check=False,
        )
    except FileNotFoundError as exc:
        raise GeneratorError(
            f"`{args[0]}` is not installed or not on PATH",
            hint="run `dsdeploy doctor` to see what is missing",
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise GeneratorError(f"`{shown}` did not finish within {timeout:.0f} s") from exc
    if check and result.returncode != 0:
        output = _tail(result.stderr or result.stdout)
        raise GeneratorError(f"`{shown}` failed with exit code {result.returncode}:\n{output}")
    return result
