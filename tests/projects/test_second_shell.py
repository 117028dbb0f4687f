"""A newcomer's second shell: the commands both READMEs give after the set-up, in a new shell.

``./scripts/quickstart.sh my-model`` serves the default project from one shell; the README then
says to type a few commands "in another shell", and the generated README's "Calling the service"
gives its own. A new shell has none of the checkout's ``.venv`` on ``PATH`` (uv lives there
only), so each command runs here as written, in ``bash`` with a plain system ``PATH`` and no
virtual environment, against the session's running default service. Only the port (and the
folder name, should the copy be named otherwise) is the test's.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
# Debian's default PATH for a login shell: a fresh machine's, where uv is only in dsdeploy's .venv.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def fenced_block_after(text: str, anchor: str) -> list[str]:
    """The command lines of the first fenced code block after ``anchor`` in a README."""
    start = text.index(anchor)
    match = re.search(r"```(?:bash|sh)\n(.*?)```", text[start:], re.S)
    assert match, f"no code block after {anchor!r}"
    return [line for line in match.group(1).splitlines() if line.strip() and not line.startswith("#")]


def new_shell(command: str, cwd: Path, port: int, home: Path) -> subprocess.CompletedProcess[str]:
    """``command`` in a new bash: a system PATH, no virtual environment, the service on ``port``."""
    env = {"PATH": SYSTEM_PATH, "HOME": str(home), "LANG": "C.UTF-8", "PORT": str(port)}
    return subprocess.run(
        ["/bin/bash", "-c", command.replace("8080", str(port))],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def service(local_service: Any, default_project: Path) -> Any:
    return local_service(default_project)


def test_readme_second_shell_commands_work_without_venv_on_path(service: Any, tmp_path: Path) -> None:
    if shutil.which("uv", path=SYSTEM_PATH):
        pytest.skip("uv is installed system-wide here: a fresh machine's second shell cannot be had")
    port = int(service.url.rsplit(":", 1)[1])
    project = service.project
    readme = fenced_block_after((REPO / "README.md").read_text(encoding="utf-8"), "Then, in another shell")
    generated = fenced_block_after(
        (project / "README.md").read_text(encoding="utf-8"), "## Calling the service"
    )
    commands = [(line.replace("my-model", project.name), project.parent) for line in readme]
    commands += [(line, project) for line in generated]
    assert any("make -C" in line for line, _ in commands)
    assert any("make smoke" in line for line, _ in commands)

    results = [(line, new_shell(line, cwd, port, tmp_path)) for line, cwd in commands]

    failed = [
        f"{line}: exit {r.returncode}: {(r.stderr or r.stdout).strip()[-400:]}"
        for line, r in results
        if r.returncode
    ]
    assert failed == []
    outputs = {line: result.stdout for line, result in results}
    assert all(output.strip() for output in outputs.values()), outputs
    smoke_lines = [output for line, output in outputs.items() if "make" in line and "smoke" in line]
    assert all("answered as at training" in output for output in smoke_lines), smoke_lines
