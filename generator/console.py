"""What the CLI shows a person while it works: progress on stderr, never on stdout.

On a terminal progress is a rich bar (or spinner) with counts and elapsed time; where stderr is
not a terminal, or ``NO_COLOR`` or ``CI`` is set, it degrades to plain lines a log can keep (at
most about one a second, plus the last), so stdout carries machine-readable output alone.
The CLI and the benchmarks use it; library code reports through callbacks instead.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Column

# Plain lines at most this often (seconds), so a 2,592-variant render leaves a short log.
PLAIN_EVERY = 1.0
BAR_WIDTH = 20
MIN_LABEL = 12  # a label shorter than this says nothing: leave it out


def _set(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false")


def live_allowed(console: Console) -> bool:
    """Whether progress may redraw in place: a terminal, and neither ``NO_COLOR`` nor ``CI`` set."""
    return console.is_terminal and not _set("NO_COLOR") and not _set("CI")


def stderr_console() -> Console:
    """The console for people: stderr, without colour when ``NO_COLOR`` is set."""
    return Console(stderr=True, no_color=_set("NO_COLOR") or None, highlight=False)


@dataclass
class Tracker:
    """Counts work done and shows it: a live rich bar, or plain lines."""

    console: Console
    description: str
    total: int | None
    live: Progress | None = None
    task: TaskID | None = None
    done: int = 0
    started: float = field(default_factory=time.monotonic)
    _last_line: float = 0.0

    @property
    def elapsed(self) -> float:
        """Seconds since the work started."""
        return time.monotonic() - self.started

    def _counts(self) -> str:
        return f"{self.done}/{self.total}" if self.total is not None else f"{self.done}"

    def advance(self, label: str = "", steps: int = 1) -> None:
        """Count ``steps`` more done; ``label`` names the last one (a variant id, a check)."""
        self.done += steps
        if self.live is not None and self.task is not None:
            self.live.update(self.task, advance=steps, label=label)
            return
        now = time.monotonic()
        last = self.total is not None and self.done >= self.total
        if last or now - self._last_line >= PLAIN_EVERY:
            self._last_line = now
            self._plain(f"{self.description}: {self._counts()} {label}".rstrip())

    def step(self, label: str) -> None:
        """Show what is happening now without counting it (a build step, a wait)."""
        if self.live is not None and self.task is not None:
            self.live.update(self.task, label=label)
        else:
            self._plain(f"{self.description}: {label}")

    def note(self, line: str) -> None:
        """A line that stays on screen above the bar (a warning, a finished stage)."""
        if self.live is not None:
            self.live.console.print(line, markup=False, highlight=False, soft_wrap=True)
        else:
            self._plain(line)

    def _plain(self, line: str) -> None:
        self.console.print(f"[{self.elapsed:6.1f}s] {line}", markup=False, highlight=False, soft_wrap=True)


@contextmanager
def progress(
    console: Console, description: str, total: int | None = None, *, live: bool | None = None
) -> Iterator[Tracker]:
    """Show progress of ``description`` on ``console`` while the block runs.

    Args:
        console: Where to draw (stderr).
        description: What is being done, e.g. "Rendering 25 variants".
        total: How many items, for a bar with counts; ``None`` for a spinner.
        live: Force live (``True``) or plain (``False``) output; default: :func:`live_allowed`.
    """
    live = live_allowed(console) if live is None else live
    tracker = Tracker(console, description, total)
    if not live:
        tracker._plain(f"{description} ...")
        yield tracker
        counted = f" {tracker._counts()}" if total is not None or tracker.done else ""
        tracker._plain(f"{description}: done{counted} in {tracker.elapsed:.1f} s")
        return
    counted = total is not None
    # Width of everything but the label: spinner, description, bar, m/n, elapsed, and gaps.
    fixed = 2 + len(description) + 1 + (BAR_WIDTH + 1 + 2 * len(str(total)) + 2 if counted else 0) + 8
    room = console.width - fixed - 1
    columns: list[object] = [
        SpinnerColumn(finished_text="[green]✓[/]"),
        TextColumn("{task.description}", table_column=Column(no_wrap=True)),
        *((BarColumn(bar_width=BAR_WIDTH), MofNCompleteColumn()) if counted else ()),
        TimeElapsedColumn(),
    ]
    if room >= MIN_LABEL:
        # The label (a variant id, a build line) is cut to the room left, never the counts.
        label = Column(no_wrap=True, overflow="ellipsis", max_width=room)
        columns.append(TextColumn("{task.fields[label]}", style="dim", markup=False, table_column=label))
    with Progress(*columns, console=console, transient=False) as bar:  # type: ignore[arg-type]
        tracker.live = bar
        tracker.task = bar.add_task(description, total=total, label="")
        yield tracker
        # Finished, so the spinner gives way to a tick instead of freezing on a frame.
        finished = total if total is not None else max(tracker.done, 1)
        bar.update(tracker.task, total=finished, completed=finished, label="done")


def fit_columns(first: int, others: Sequence[int], width: int) -> int | None:
    """How many of ``others`` fit beside a ``first`` column that must stay whole, in ``width``.

    Widths are of cell text; a rich table with the default box adds three characters a column
    (padding and a rule) and one for the closing edge. ``None`` when not even ``first`` fits.
    """
    used = first + 3 + 1
    if used > width:
        return None
    shown = 0
    for column in others:
        if used + column + 3 > width:
            break
        used += column + 3
        shown += 1
    return shown
