"""generator.process.run: one runner for captured and streamed commands, one error per failure."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from generator.errors import CommandFailed, CommandTimedOut, GeneratorError, ToolMissing
from generator.process import run

PY = sys.executable


def _progress(stream: bool):
    """A progress callback that drops lines when ``stream``, else None (capture)."""
    return (lambda line: None) if stream else None


def test_captures_stdout_and_stderr():
    done = run([PY, "-c", "import sys; print('out'); print('err', file=sys.stderr)"])
    assert (done.returncode, done.stdout, done.stderr) == (0, "out\n", "err\n")


def test_streams_every_line_in_order_and_returns_them():
    lines: list[str] = []
    done = run(
        [PY, "-c", "import sys; print('a'); print('b', file=sys.stderr); print('c')"], progress=lines.append
    )
    assert set(lines) == {"a", "b", "c"}  # stderr is merged into the same stream
    assert lines.index("a") < lines.index("c")
    assert done.stdout.splitlines() == lines


@pytest.mark.parametrize("stream", [False, True], ids=["captured", "streamed"])
def test_a_non_zero_exit_is_command_failed_with_code_and_tail(stream):
    command = [PY, "-c", "import sys; print('the reason', file=sys.stderr); sys.exit(3)"]
    with pytest.raises(CommandFailed) as caught:
        run(command, progress=_progress(stream))
    assert caught.value.returncode == 3
    assert "the reason" in caught.value.output
    assert "failed with exit code 3" in str(caught.value)
    assert isinstance(caught.value, GeneratorError)


@pytest.mark.parametrize("stream", [False, True], ids=["captured", "streamed"])
def test_check_off_returns_the_exit_code(stream):
    done = run([PY, "-c", "raise SystemExit(5)"], check=False, progress=_progress(stream))
    assert done.returncode == 5


@pytest.mark.parametrize("stream", [False, True], ids=["captured", "streamed"])
def test_a_missing_program_is_tool_missing(stream):
    with pytest.raises(ToolMissing) as caught:
        run(["dsdeploy-no-such-program"], progress=_progress(stream))
    assert caught.value.tool == "dsdeploy-no-such-program"
    assert caught.value.hint == "run `dsdeploy doctor` to see what is missing"


@pytest.mark.parametrize("stream", [False, True], ids=["captured", "streamed"])
def test_a_command_past_its_timeout_is_command_timed_out(stream):
    command = [PY, "-c", "import time; print('started', flush=True); time.sleep(30)"]
    with pytest.raises(CommandTimedOut) as caught:
        run(command, timeout=1, progress=_progress(stream))
    assert caught.value.timeout == 1
    assert "did not finish within 1 s" in str(caught.value)
    if stream:
        assert "started" in caught.value.output  # the streamed tail says how far it got


@pytest.mark.parametrize("stream", [False, True], ids=["captured", "streamed"])
def test_a_timed_out_command_takes_what_it_started_with_it(stream, tmp_path):
    # As `uv run pytest` starts pytest, which starts servers: the child must not outlive the timeout.
    pid_file = tmp_path / "child.pid"
    child = "import time; time.sleep(60)"
    parent = (
        f"import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', {child!r}]); "
        f"open({str(pid_file)!r}, 'w').write(str(p.pid)); print('started', flush=True); time.sleep(60)"
    )
    with pytest.raises(CommandTimedOut):
        run([PY, "-c", parent], timeout=2, progress=_progress(stream))
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while _alive(pid):
        assert time.monotonic() < deadline, f"the command's child {pid} outlived its timeout"
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie is dead, waiting for its parent (init) to reap it


@pytest.mark.parametrize("stream", [False, True], ids=["captured", "streamed"])
def test_env_sets_on_top_and_none_removes(monkeypatch, stream):
    monkeypatch.setenv("DSDEPLOY_KEEP", "kept")
    monkeypatch.setenv("DSDEPLOY_DROP", "dropped")
    script = "import os; print(*(os.environ.get(k) for k in ('DSDEPLOY_KEEP', 'DSDEPLOY_DROP', 'NEW')))"
    done = run(
        [PY, "-c", script],
        env={"DSDEPLOY_DROP": None, "NEW": "set"},
        progress=_progress(stream),
    )
    assert done.stdout.strip() == "kept None set"


def test_input_text_reaches_stdin():
    assert run([PY, "-c", "print(input()[::-1])"], input_text="abc\n").stdout == "cba\n"
