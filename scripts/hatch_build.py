"""Wheel build hook: the wheel carries the cookiecutter/cruft tree built, beside the template.

Hatchling runs this at packaging (``[tool.hatch.build.targets.wheel.hooks.custom]`` in
pyproject.toml). The tree is made by the generator itself from this checkout's ``template/`` and
``copier.yml`` (copier is a build requirement for that), so no copy of it is ever committed.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

TREE_IN_WHEEL = "generator/_template/cookiecutter"


class CookiecutterTreeHook(BuildHookInterface):  # type: ignore[misc]
    """Builds the tree into a scratch folder and force-includes it in the wheel."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Write the tree and add it to the wheel's files."""
        del version
        root = Path(self.root)
        sys.path.insert(0, str(root))  # the generator of this checkout, not an installed one
        from generator.project import cookiecutter_tree

        self._scratch = tempfile.TemporaryDirectory(prefix="dsdeploy-cookiecutter-")
        tree = Path(self._scratch.name) / "cookiecutter"
        cookiecutter_tree.write(cookiecutter_tree.build(root), tree)
        build_data["force_include"][str(tree)] = TREE_IN_WHEEL

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        """Remove the scratch tree once the wheel is written."""
        del version, build_data, artifact_path
        self._scratch.cleanup()
