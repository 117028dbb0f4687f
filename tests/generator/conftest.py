"""A real terminal for the CLI's terminal tests: a tmux session driven by send-keys."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# The CLI as installed beside this interpreter (the console script pip wrote), not the module.
INSTALLED_CLI = Path(sys.executable).with_name("dsdeploy")


class Terminal:
    """One tmux window of a fixed size running a plain bash with the installed CLI on PATH."""

    def __init__(self, tmux: str, cwd: Path, width: int = 80, height: int = 40) -> None:
        self.tmux = tmux
        self.name = f"dsdeploy-test-{uuid.uuid4().hex[:8]}"
        path = f"{INSTALLED_CLI.parent}{os.pathsep}{os.environ.get('PATH', '')}"
        # Set in the shell itself: a running tmux server keeps its own environment. CI and
        # NO_COLOR would (rightly) turn live progress off: a person's terminal has neither.
        shell = (
            f"export PATH={shlex.quote(path)} TERM=xterm-256color PS1='$ '; unset CI NO_COLOR; "
            "exec bash --norc --noprofile"
        )
        self._tmux(
            "new-session", "-d", "-s", self.name, "-x", str(width), "-y", str(height), "-c", str(cwd),
            "bash", "--norc", "--noprofile", "-c", shell,
        )  # fmt: skip
        self._tmux("set-option", "-t", self.name, "history-limit", "10000")

    def _tmux(self, *args: str) -> str:
        done = subprocess.run([self.tmux, *args], capture_output=True, text=True, timeout=30, check=True)
        return done.stdout

    def send(self, *keys: str) -> None:
        """Press keys as tmux names them (``Enter``, ``Down``, ``C-u``) or type literal text."""
        for key in keys:
            self._tmux("send-keys", "-t", self.name, key)

    def type(self, text: str) -> None:
        """Type ``text`` literally (no key names)."""
        self._tmux("send-keys", "-t", self.name, "-l", text)

    def run(self, command: list[str] | str) -> None:
        """Type a command line and press Enter."""
        self.type(command if isinstance(command, str) else shlex.join(command))
        self.send("Enter")

    def screen(self, *, history: bool = False) -> str:
        """What the window shows now (with the scrollback above it when ``history``)."""
        return self._tmux("capture-pane", "-p", "-t", self.name, *(("-S", "-") if history else ()))

    def wait_for(
        self, seen: Callable[[str], bool] | str, timeout: float = 60, *, history: bool = True
    ) -> str:
        """The screen once ``seen`` holds (a predicate, or text that must appear); fails on timeout."""
        check = seen if callable(seen) else (lambda text: seen in text)
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen(history=history)
            if check(text):
                return text
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout} s; the terminal shows:\n{text}")
            time.sleep(0.2)

    def close(self) -> None:
        """End the session (and whatever still runs in it)."""
        subprocess.run(
            [self.tmux, "kill-session", "-t", self.name], capture_output=True, timeout=30, check=False
        )


@pytest.fixture
def terminal(tmp_path) -> Iterator[Callable[..., Terminal]]:
    """Open 80-column tmux terminals in ``tmp_path``; skips with the reason where tmux is missing."""
    tmux = shutil.which("tmux")
    if tmux is None:
        pytest.skip("tmux is not installed (scripts/setup-engines.sh installs it on Debian)")
    if not INSTALLED_CLI.is_file():
        pytest.skip(f"dsdeploy is not installed beside {sys.executable} (run scripts/dev-env.sh)")
    opened: list[Terminal] = []

    def open_terminal(width: int = 80, height: int = 40) -> Terminal:
        opened.append(Terminal(tmux, tmp_path, width, height))
        return opened[-1]

    yield open_terminal
    for term in opened:
        term.close()
