"""What every benchmark prints beside its figures: timestamped progress and the machine's load.

Progress goes to stderr (a live line on a terminal, plain lines in a log: generator.console), so
the figures alone are on stdout.
"""

from __future__ import annotations

import os
import time

from generator.console import stderr_console

STDERR = stderr_console()


def progress(message: str) -> None:
    """A timestamped progress line on stderr."""
    STDERR.print(f"[{time.strftime('%H:%M:%S')}] {message}", markup=False, highlight=False, soft_wrap=True)


def load() -> str:
    """The load averages over 1, 5 and 15 minutes."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"
