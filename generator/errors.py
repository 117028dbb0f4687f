"""The one error type users see.

Every failure a user can act on is raised as :class:`GeneratorError`, whose message says what
failed and what to do next. The CLI turns it into one red line and exit code 2.
"""

from __future__ import annotations


class GeneratorError(Exception):
    """A failure the user can fix; the message names the problem and the fix."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message} ({hint})" if hint else message)
