"""Each project of the covers passes its own lint and tests, on its own Python."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import yaml
from support.projects import FAST, python_of, runtime_selection

from generator.process import run
from generator.project.checks import PROJECT_ENV
from generator.project.render import read_answers
from generator.tools import require

COPIER_YML = Path(__file__).resolve().parents[2] / "copier.yml"

# Prints the top-level import names of every distribution installed in the running environment.
TOP_LEVEL = """
import importlib.metadata as m, json
names = set()
for dist in m.distributions():
    top = dist.read_text("top_level.txt")
    if top:
        names |= {line.strip().split("/")[0] for line in top.splitlines() if line.strip()}
        continue
    for f in dist.files or ():
        head = f.parts[0] if f.parts else ""
        metadata = head.endswith((".dist-info", ".data", ".egg-info"))
        if not head or metadata or head in ("..", "__pycache__", "bin"):
            continue
        if len(f.parts) > 1:
            names.add(head)
        elif head.endswith((".py", ".so", ".pth")):
            names.add(head.split(".")[0])
print(json.dumps(sorted(n for n in names if n.isidentifier() and n.isascii())))
"""


def _passed(outcome):
    assert outcome.failed_step is None, (
        f"{outcome.failed_step} failed in {outcome.representative}:\n{outcome.output[-6000:]}"
    )


def test_project_passes_its_lint_and_fast_tests(fast_variant, render, project_run):
    _passed(project_run(render(fast_variant.as_dict()), FAST))


def test_package_name_refuses_every_module_the_project_installs(fast_variant, render, project_run):
    # copier.yml's list of modules a package name must not shadow is the projects' real one: the
    # fast cover installs every version any of the 36 projects installs (test_locks.py).
    outcome = project_run(render(fast_variant.as_dict()), FAST)
    _passed(outcome)
    project = Path(outcome.representative_path)
    listed = set(yaml.safe_load(COPIER_YML.read_text(encoding="utf-8"))["dependency_module_names"]["default"])
    own = str(read_answers(project)["package_name"])
    names = json.loads(run([project / ".venv/bin/python", "-c", TOP_LEVEL]).stdout)
    missing = sorted(set(names) - listed - {own, f"_editable_impl_{own}"})
    assert not missing, f"add to dependency_module_names in copier.yml: {missing}"


def _counts(output: str) -> str:
    """The last pytest summary's counts in ``output``, e.g. ``149 passed, 2 skipped, 22 deselected``."""
    return re.findall(r"\d+ passed.*", output)[-1].split(" in ")[0]


def test_make_test_runs_the_same_tests_and_keeps_their_bytecode(make_test_variant, render, project_run):
    # What the data scientist types, in the environment the run synced, with
    # PYTHONDONTWRITEBYTECODE set as in many containers: `make test` selects what FAST selects,
    # and writes the bytecode of what it imports, so the next run starts from it. Every Python,
    # framework and option once (MAKE_TEST_COVER): the recipe is the same in every project.
    outcome = project_run(render(make_test_variant.as_dict()), FAST)
    _passed(outcome)
    project = Path(outcome.representative_path)
    [pytest_package] = project.glob(".venv/lib/python*/site-packages/_pytest")
    pytest_cache = pytest_package / "__pycache__"
    shutil.rmtree(pytest_cache, ignore_errors=True)  # left by the run where the variable was unset
    python = python_of(str(read_answers(project)["python_version"]))
    env = {**PROJECT_ENV, "UV_PYTHON": str(python), "PYTHONDONTWRITEBYTECODE": "1"}
    made = run([require("make"), "test", f"UV={require('uv')}"], cwd=project, env=env, timeout=600)
    assert f'pytest -m "{FAST[1]}"' in made.stdout
    assert _counts(made.stdout) == _counts(outcome.output)
    assert list(pytest_cache.glob("*.pyc")), "make test wrote no bytecode"


def test_project_passes_its_runtime_and_notebook_tests(runtime_variant, render, project_run):
    _passed(project_run(render(runtime_variant.as_dict()), runtime_selection(runtime_variant)))
