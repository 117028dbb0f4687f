"""The errors users see.

Every failure a user can act on is a :class:`GeneratorError`, whose message says what failed and
what to do next; the CLI turns it into one red line and exit code 2. The process layer
(:mod:`generator.process`, :func:`generator.tools.require`) raises the three subclasses below, so
a caller catches the failure it means (an engine that does not answer, a probe that timed out)
and lets every other one reach the user.
"""

from __future__ import annotations

DOCTOR_HINT = "run `dsdeploy doctor` to see what is missing"


class GeneratorError(Exception):
    """A failure the user can fix; the message names the problem and the fix."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message} ({hint})" if hint else message)


class ToolMissing(GeneratorError):
    """An external program is not installed or not on PATH.

    Attributes:
        tool: The program's name (or the path that could not be run).
    """

    def __init__(self, tool: str, *, message: str | None = None, hint: str = DOCTOR_HINT) -> None:
        self.tool = tool
        super().__init__(message or f"`{tool}` is not installed or not on PATH", hint=hint)


class CommandFailed(GeneratorError):
    """A command exited non-zero.

    Attributes:
        command: The command as a shell would show it.
        returncode: Its exit code.
        output: The tail of its output (stderr, or stdout when stderr was empty).
    """

    def __init__(self, command: str, returncode: int, output: str) -> None:
        self.command = command
        self.returncode = returncode
        self.output = output
        super().__init__(f"`{command}` failed with exit code {returncode}:\n{output}")


class CommandTimedOut(GeneratorError):
    """A command ran past its timeout and was killed.

    Attributes:
        command: The command as a shell would show it.
        timeout: The seconds it was allowed.
        output: The tail of its output when it was streamed, else empty.
    """

    def __init__(self, command: str, timeout: float, output: str = "") -> None:
        self.command = command
        self.timeout = timeout
        self.output = output
        shown = f"`{command}` did not finish within {timeout:.0f} s"
        super().__init__(f"{shown}:\n{output}" if output else shown)
