"""copier.yml's list of modules a package name must not shadow is the projects' real one."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from generator.process import run
from generator.project.render import read_answers

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


def test_package_name_refuses_every_module_a_generated_project_imports(matrix_runs):
    questions = yaml.safe_load(COPIER_YML.read_text(encoding="utf-8"))
    listed = set(questions["dependency_module_names"]["default"])
    missing: dict[str, str] = {}
    for project in matrix_runs.environments():
        own = str(read_answers(project)["package_name"])
        names = json.loads(run([project / ".venv/bin/python", "-c", TOP_LEVEL]).stdout)
        for name in set(names) - listed - {own, f"_editable_impl_{own}"}:
            missing.setdefault(name, project.name)
    assert not missing, f"add to dependency_module_names in copier.yml: {missing} (module: project)"
