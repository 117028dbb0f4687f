"""Run a long command and hand each output line to a callback as it arrives.

Builds (debootstrap, ``docker buildx build``) run for minutes; users need to see them move.
:func:`generator._run.run` captures output and returns it at the end, so this is its streaming
sibling, with the same contract: a timeout, and a failure raised as :class:`GeneratorError`
carrying the command and the tail of its output.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from generator.errors import GeneratorError

# A callback that receives one line of progress (without its newline).
ProgressFn = Callable[[str], None]

_TAIL_LINES = 25


def ignore_progress(line: str) -> None:
    """Progress callback that drops every line (the default for library callers)."""


def run_streaming(
    command: Sequence[str | Path],
    *,
    progress: ProgressFn = ignore_progress,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 1800,
) -> list[str]:
    """Run ``command`` with stderr merged into stdout, passing each line to ``progress``.

    Args:
        command: Program and arguments.
        progress: Called with every output line, in order, from this thread.
        cwd: Working directory.
        env: Variables set on top of the current environment.
        timeout: Seconds before the command is killed and reported.

    Returns:
        Every output line.

    Raises:
        GeneratorError: The program is missing, ran past ``timeout`` or exited non-zero.
    """
    args = [str(part) for part in command]
    shown = shlex.join(args)
    full_env = {**os.environ, **env} if env else None
    try:
        process = subprocess.Popen(
            args,
            cwd=cwd,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
        )
    except FileNotFoundError as exc:
        raise GeneratorError(
            f"`{args[0]}` is not installed or not on PATH",
            hint="run `dsdeploy doctor` to see what is missing",
        ) from exc
    # A timer kills the process at the deadline; reading never blocks past the process's end.
    timed_out = threading.Event()

    def _kill() -> None:
        timed_out.set()
        process.kill()

    timer = threading.Timer(timeout, _kill)
    timer.start()
    lines: list[str] = []
    tail: deque[str] = deque(maxlen=_TAIL_LINES)
    try:
        assert process.stdout is not None  # set by stdout=PIPE
        for raw in process.stdout:
            line = raw.rstrip("\n")
            lines.append(line)
            tail.append(line)
            progress(line)
        returncode = process.wait()
    finally:
        timer.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
    if timed_out.is_set():
        raise GeneratorError(f"`{shown}` did not finish within {timeout:.0f} s:\n" + "\n".join(tail))
    if returncode != 0:
        raise GeneratorError(f"`{shown}` failed with exit code {returncode}:\n" + "\n".join(tail))
    return lines
