"""The 0.2.0 migration's merge of a user's 0.1.0 model.py into the 0.2.0 one, case by case (no copier)."""

from __future__ import annotations

import ast
import importlib.util
import sys

import pytest

from generator.project.source import template_root


@pytest.fixture(scope="module")
def migration():
    hooks = template_root() / "hooks"
    spec = importlib.util.spec_from_file_location("migrate_0_2_0", hooks / "migrate_0_2_0.py")
    module = importlib.util.module_from_spec(spec)
    # Run as a script, the migration imports its sibling _migration.py from its own folder.
    sys.path.insert(0, str(hooks))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(hooks))
    return module


@pytest.fixture(scope="module")
def base(migration):
    # 0.1.0's model.py, from the template's history as the migration reads it (6ffa06c is 0.1.0).
    return migration.MIGRATION.old_file("6ffa06c", f"{migration.OLD_HOME}/model.py")


@pytest.fixture(scope="module")
def new(default_project):
    # The 0.2.0 model.py as copier writes it (the template's is Jinja: one per model_framework).
    return next((default_project / "src").glob("*/model.py")).read_text()


def test_an_unchanged_file_becomes_the_new_one(migration, base, new):
    assert migration.merge_module(base, base, new) == (new, [])


def test_a_helper_and_its_import_are_carried_over(migration, base, new):
    user = base.replace("import joblib\n", "import joblib\nimport math\n").replace(
        "def build_estimator(",
        'def _depth() -> int:\n    """Tree depth."""\n    return math.isqrt(16)\n\n\ndef build_estimator(',
    )
    merged, conflicts = migration.merge_module(base, user, new)
    assert conflicts == []
    tree = ast.parse(merged)
    names = [node.name for node in tree.body if isinstance(node, ast.FunctionDef)]
    assert names == ["_depth", "build_estimator"]
    assert "import math\n" in merged
    assert "joblib" not in merged  # the template's plumbing left with its imports


def test_an_edit_to_code_that_moved_is_kept_as_a_conflict(migration, base, new):
    user = base.replace('"""Number of input columns the model expects."""', '"""Columns in."""')
    merged, conflicts = migration.merge_module(base, user, new)
    assert conflicts == ["Model (moved to the serving package in 0.2.0)"]
    assert "<<<<<<< before updating\n" in merged
    assert '"""Columns in."""' in merged


def test_imports_are_written_in_ruff_isort_order(migration):
    tree = ast.parse("from .b import y\nimport sys\nfrom __future__ import annotations\nimport numpy as np\n")
    text = migration.format_imports(migration.bindings(tree.body))
    assert (
        text == "from __future__ import annotations\n\nimport sys\n\nimport numpy as np\n\nfrom .b import y\n"
    )
