"""The one place that runs external commands.

Every subprocess goes through :func:`run`: it has a timeout, it reads ``env`` by one rule (set on
top of the current environment; None removes a variable), and a failure is raised as
:class:`~generator.errors.ToolMissing`, :class:`~generator.errors.CommandTimedOut` or
:class:`~generator.errors.CommandFailed`, carrying the command and the tail of its output.
Long commands (debootstrap, ``docker buildx build``, ``kind create``) stream: given ``progress``,
each output line reaches it as it arrives, so users see them move.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from generator.errors import CommandFailed, CommandTimedOut, ToolMissing

# A callback that receives one line of progress (without its newline).
ProgressFn = Callable[[str], None]

_TAIL_LINES = 25


def ignore_progress(line: str) -> None:
    """Progress callback that drops every line (the default for library callers)."""


def _tail(text: str) -> str:
    lines = text.strip().splitlines()
    return "\n".join(lines[-_TAIL_LINES:])


def _environment(env: Mapping[str, str | None] | None) -> dict[str, str] | None:
    if not env:
        return None  # inherit unchanged
    merged = {**os.environ, **{key: value for key, value in env.items() if value is not None}}
    for key in (key for key, value in env.items() if value is None):
        merged.pop(key, None)
    return merged


def run(
    command: Sequence[str | Path],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str | None] | None = None,
    timeout: float = 600,
    check: bool = True,
    input_text: str | None = None,
    progress: ProgressFn | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` and capture its output, or stream it line by line to ``progress``.

    Args:
        command: Program and arguments.
        cwd: Working directory.
        env: Variables set on top of the current environment; a value of None removes one.
        timeout: Seconds before the command is killed and reported.
        check: Raise :class:`~generator.errors.CommandFailed` on a non-zero exit.
        input_text: Text sent to the command's standard input (not with ``progress``).
        progress: Stream instead of capturing: stderr is merged into stdout and every line is
            passed here, in order, from this thread.

    Returns:
        The completed process, with ``stdout`` and ``stderr`` as text (when streaming, ``stdout``
        holds every line and ``stderr`` is empty).

    Raises:
        ToolMissing: The program is not installed or not on PATH.
        CommandTimedOut: It ran past ``timeout``.
        CommandFailed: It exited non-zero and ``check`` is set.
    """
    args = [str(part) for part in command]
    if progress is not None:
        if input_text is not None:
            raise ValueError("input_text cannot be sent to a streamed command")
        return _stream(args, progress=progress, cwd=cwd, env=env, timeout=timeout, check=check)
    try:
        process = subprocess.Popen(
            args,
            cwd=cwd,
            env=_environment(env),
            stdin=subprocess.PIPE if input_text is not None else None,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            process_group=0,
        )
    except FileNotFoundError as exc:
        raise ToolMissing(args[0]) from exc
    try:
        stdout, stderr = process.communicate(input_text, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        _kill_group(process)
        raise CommandTimedOut(shlex.join(args), timeout) from exc
    except BaseException:
        _kill_group(process)
        raise
    result = subprocess.CompletedProcess(args, process.returncode, stdout, stderr)
    if check and result.returncode != 0:
        raise CommandFailed(shlex.join(args), result.returncode, _tail(result.stderr or result.stdout))
    return result


def stop(process: subprocess.Popen[Any], timeout: float = 10) -> None:
    """Ask a process started in the background to exit (SIGTERM); kill it after ``timeout`` s; reap it."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _kill_group(process: subprocess.Popen[str]) -> None:
    """Kill the command and what it started: its own process group (``process_group=0``).

    Killing only the command would leave its children running: a timed-out ``uv run pytest``
    left pytest and the servers it started loading the machine for many minutes.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            stream.close()


def _stream(
    args: list[str],
    *,
    progress: ProgressFn,
    cwd: Path | None,
    env: Mapping[str, str | None] | None,
    timeout: float,
    check: bool,
) -> subprocess.CompletedProcess[str]:
    try:
        process = subprocess.Popen(
            args,
            cwd=cwd,
            env=_environment(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
            process_group=0,
        )
    except FileNotFoundError as exc:
        raise ToolMissing(args[0]) from exc
    # A timer kills the process at the deadline; reading never blocks past the process's end.
    timed_out = threading.Event()

    def _kill() -> None:
        timed_out.set()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)

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
        if process.poll() is None:  # interrupted: stop it and what it started
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
    shown = shlex.join(args)
    if timed_out.is_set():
        raise CommandTimedOut(shown, timeout, "\n".join(tail))
    if check and returncode != 0:
        raise CommandFailed(shown, returncode, "\n".join(tail))
    return subprocess.CompletedProcess(args, returncode, "\n".join(lines), "")
