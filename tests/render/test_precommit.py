"""The generated project's pre-commit hooks, run for real through `make lint`: green on a fresh
render, and each hook fails on a fault planted for it, alone among the hooks (issue 13)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from generator.tools import find_python, which

CONFIG = Path(__file__).resolve().parents[2] / "template" / ".pre-commit-config.yaml"
# pre-commit's report line: "<hook name>......Passed" (or Failed, or Skipped with a reason).
RESULT = re.compile(r"^(?P<name>.+?)\.{3,}(?:\([^)]*\))?(?P<result>Passed|Failed|Skipped)$", re.MULTILINE)


@dataclass(frozen=True)
class Fault:
    """A fault planted for one hook: what it does to the project, and a line of the hook's report."""

    hook: str
    what: str
    plant: Callable[[Path], None]
    says: str


def _write(relative: str, text: str) -> Callable[[Path], None]:
    def plant(project: Path) -> None:
        path = project / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    return plant


def _append(relative: str, text: str) -> Callable[[Path], None]:
    def plant(project: Path) -> None:
        path = project / relative
        path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")

    return plant


def _notebook_with_outputs(project: Path) -> None:
    """The example notebook as Jupyter saves it after a run: execution counts and outputs."""
    path = project / "notebooks" / "example.ipynb"
    notebook = json.loads(path.read_text(encoding="utf-8"))
    cell = next(cell for cell in notebook["cells"] if cell["cell_type"] == "code")
    cell["execution_count"] = 1
    cell["outputs"] = [{"name": "stdout", "output_type": "stream", "text": ["150 rows\n"]}]
    path.write_text(json.dumps(notebook, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def _values_typo(project: Path) -> None:
    [chart] = (project / "charts").iterdir()
    _append(str((chart / "values.yaml").relative_to(project)), "replicaCont: 2\n")(project)


FAULTS = (
    Fault("ruff-check", "an unused import in a new module", _write("src/extra.py", "import os\n"), "F401"),
    Fault(
        "ruff-format",
        "badly formatted code",
        _write("src/extra.py", "x=[1,\n 2]\n"),
        "1 file would be reformatted",
    ),
    Fault(
        "check-yaml", "a YAML syntax error", _write("deploy/broken.yaml", "key: [unclosed\n"), "while parsing"
    ),
    Fault("check-toml", "a TOML syntax error", _write("settings.toml", "name = \n"), "settings.toml"),
    Fault("check-json", "a JSON syntax error", _write("data.json", '{"a": 1,}\n'), "data.json"),
    Fault(
        "end-of-file-fixer", "a file without its last newline", _write("NOTES.md", "notes"), "Fixing NOTES.md"
    ),
    Fault(
        "check-merge-conflict",
        "conflict markers (copier update --conflict inline)",
        _append("README.md", "<<<<<<< before updating\nmine\n=======\ntheirs\n>>>>>>> after updating\n"),
        "Merge conflict string",
    ),
    Fault(
        "copier-rej",
        "a rejected copier hunk (Makefile.rej)",
        _write("Makefile.rej", "@@ -1 +1 @@\n"),
        "Makefile.rej",
    ),
    Fault(
        "nbstripout",
        "a notebook saved with its outputs",
        _notebook_with_outputs,
        "files were modified by this hook",
    ),
    Fault("chart-lint", "a typo in the chart's values.yaml", _values_typo, "replicaCont"),
)


def _hooks() -> dict[str, str]:
    """The config's hooks: id to the name pre-commit reports."""
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    return {hook["id"]: hook["name"] for repo in config["repos"] for hook in repo["hooks"]}


def _env(python: Path) -> dict[str, str]:
    """The project's Python and uv on PATH, no venv leaking in, no downloads, plain output."""
    path = os.pathsep.join([str(python.parent), str(Path(sys.executable).parent), os.environ["PATH"]])
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "SKIP"}}
    return env | {"PATH": path, "UV_PYTHON_DOWNLOADS": "never", "NO_COLOR": "1"}


def _git(project: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=project, check=True, capture_output=True, timeout=60,
    )  # fmt: skip


@pytest.fixture(scope="module")
def hooked(default_project: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The default project synced and committed in a git repository of its own, and its env."""
    for tool in ("make", "git", "helm"):
        if which(tool) is None:
            pytest.skip(f"no {tool} on PATH")
    pinned = (default_project / ".python-version").read_text(encoding="utf-8").strip()
    python = find_python(pinned)
    if python is None:
        pytest.skip(f"no Python {pinned} on this machine")
    project = tmp_path_factory.mktemp("precommit") / default_project.name
    shutil.copytree(default_project, project)
    env = _env(python)
    uv = str(which("uv"))
    subprocess.run([uv, "sync", "--quiet"], cwd=project, env=env, check=True, timeout=900)
    _git(project, "init", "--quiet")
    _git(project, "add", "--all")
    _git(project, "commit", "--quiet", "--message", "as rendered")
    return project, env


@pytest.fixture
def project(hooked: tuple[Path, dict[str, str]]) -> Iterator[Path]:
    """The hooked project, put back as committed after the test (the venv stays)."""
    root, _ = hooked
    yield root
    _git(root, "reset", "--quiet", "--hard")
    _git(root, "clean", "--quiet", "-d", "--force", "--exclude", ".venv")


def _make_lint(project: Path, env: dict[str, str]) -> tuple[int, str, dict[str, str]]:
    done = subprocess.run(
        ["make", "--no-print-directory", "lint"],
        cwd=project, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    output = done.stdout + done.stderr
    names = {name: hook for hook, name in _hooks().items()}
    results = {
        names[m["name"].strip()]: m["result"] for m in RESULT.finditer(output) if m["name"].strip() in names
    }
    return done.returncode, output, results


def test_every_hook_has_a_planted_fault():
    assert sorted(_hooks()) == sorted(fault.hook for fault in FAULTS)


def test_make_lint_runs_every_hook_green_on_a_fresh_render(project: Path, hooked):
    code, output, results = _make_lint(project, hooked[1])
    assert code == 0, output[-3000:]
    assert results == dict.fromkeys(_hooks(), "Passed")


@pytest.mark.parametrize("fault", FAULTS, ids=[fault.hook for fault in FAULTS])
def test_make_lint_fails_on_the_fault_planted_for_each_hook(fault: Fault, project: Path, hooked):
    fault.plant(project)
    # The chart hook (helm, several seconds) runs for its own fault and in the green run above.
    env = hooked[1] if fault.hook == "chart-lint" else hooked[1] | {"SKIP": "chart-lint"}
    code, output, results = _make_lint(project, env)
    assert code != 0, output[-3000:]
    assert results[fault.hook] == "Failed", output[-3000:]
    others = {hook: result for hook, result in results.items() if hook != fault.hook and result == "Failed"}
    assert others == {}, output[-3000:]
    assert fault.says in output, output[-3000:]
