"""Fixtures for the update tests: a throwaway clone of this repository with release tags.

Tests never rely on tags in the repository itself: the clone gets ``v0.1.0`` on commit 6ffa06c
(the first release), ``v0.2.0`` on 4676a5e (the second) and ``v0.3.0`` on HEAD. A clone holds
committed state only, so commit the template before running these tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import copier
import pytest
import yaml

from generator.project.source import template_root
from generator.project.variants import Variant, variants
from generator.tools import find_python, which

OLD = "v0.1.0"
OLD_COMMIT = "6ffa06c"
PREVIOUS = "v0.2.0"
PREVIOUS_COMMIT = "4676a5e"
NEW = "v0.3.0"
# The releases a project is updated from to HEAD: the first (through every migration since) and
# the one before HEAD (what most projects run).
STARTS = (OLD, PREVIOUS)
GIT_USER = ["-c", "user.name=Data Scientist", "-c", "user.email=ds@example.com"]
MARKERS = (b"<<<<<<< ", b">>>>>>> ")


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` and return its output (fails the test on error)."""
    done = subprocess.run(["git", *GIT_USER, *args], cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"git {' '.join(args)} in {cwd}: {done.stderr}"
    return done.stdout


@pytest.fixture(scope="session")
def template_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This repository cloned into a temporary folder, tagged v0.1.0, v0.2.0 and v0.3.0 (HEAD)."""
    source = template_root()
    clone = tmp_path_factory.mktemp("template-repo") / "dsdeploy"
    subprocess.run(["git", "clone", "--quiet", "--no-tags", str(source), str(clone)], check=True)
    for tag, commit in ((OLD, OLD_COMMIT), (PREVIOUS, PREVIOUS_COMMIT)):
        has = subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=clone, check=False)
        assert has.returncode == 0, (
            f"commit {commit} (release {tag}) is not in {source}: the update tests need full history "
            "(in CI: fetch-depth 0)"
        )
        git(clone, "tag", tag, commit)
    git(clone, "tag", NEW, "HEAD")
    return clone


def questions_at(repo: Path, ref: str) -> set[str]:
    """The question names of copier.yml at ``ref``."""
    data = yaml.safe_load(git(repo, "show", f"{ref}:copier.yml"))
    return {key for key, value in data.items() if not key.startswith("_") and isinstance(value, dict)}


def old_choices() -> dict[str, set[Any]]:
    """The values each choice question of 0.1.0 offered (none when this checkout lacks its commit:
    ``template_repo`` then fails with the fix)."""
    command = ["git", "show", f"{OLD_COMMIT}:copier.yml"]
    shown = subprocess.run(command, cwd=template_root(), capture_output=True, text=True, check=False)
    if shown.returncode != 0:
        return {}
    questions = yaml.safe_load(shown.stdout)
    return {
        name: set(q["choices"].values() if isinstance(q["choices"], dict) else q["choices"])
        for name, q in questions.items()
        if isinstance(q, dict) and "choices" in q
    }


def covering_variants() -> list[Variant]:
    """The first variants of the pairwise cover that together hold every deployment option
    (Kubeflow x Dask) and every CI provider."""
    wanted = {("kf", kf, dask) for kf in (False, True) for dask in (False, True)}
    wanted |= {("ci", ci) for ci in ("github", "gitlab", "none")}
    chosen: list[Variant] = []
    # A 0.1.0 project is a scikit-learn one: questions added since keep their defaults, and
    # choices added since (registry `other`) are not answers 0.1.0 could take.
    choices = old_choices()
    sklearn = [
        v
        for v in variants("pairwise") + variants("full")
        if v.as_dict().get("model_framework", "sklearn") == "sklearn"
        and all(value in choices.get(name, {value}) for name, value in v.as_dict().items())
    ]
    for item in sklearn:
        answers = item.as_dict()
        covers = {("kf", answers["with_kubeflow"], answers["with_dask"]), ("ci", answers["ci_provider"])}
        if covers & wanted:
            chosen.append(item)
            wanted -= covers
        if not wanted:
            return chosen
    raise AssertionError(f"the pairwise cover misses {sorted(map(str, wanted))}")


UPDATE_VARIANTS = covering_variants()
# Each start release with each covering variant: "v0.2.0-<variant id>".
UPDATE_CASES = [(start, item) for start in STARTS for item in UPDATE_VARIANTS]


def case_id(start: str, item: Variant) -> str:
    """A case's name in test ids and in ``updated_projects``."""
    return f"{start}-{item.id}"


def copy_release(repo: Path, ref: str, dest: Path, answers: Mapping[str, Any]) -> Path:
    """``copier copy`` of the template at ``ref`` with ``answers`` (the ones that version asks)."""
    known = questions_at(repo, ref)
    copier.run_copy(
        str(repo),
        dest,
        data={k: v for k, v in answers.items() if k in known},
        vcs_ref=ref,
        defaults=True,
        overwrite=True,
        quiet=True,
        unsafe=False,  # a copy never needs --trust
    )
    return dest


def update(project: Path, *, vcs_ref: str | None = None, trust: bool = True) -> None:
    """``copier update`` as the generated README says to run it (newest tag unless ``vcs_ref``)."""
    copier.run_update(
        project,
        vcs_ref=vcs_ref,
        defaults=True,
        overwrite=True,
        conflict="inline",
        quiet=True,
        unsafe=trust,
    )


def commit_all(project: Path, message: str) -> None:
    """Stage and commit everything in ``project``."""
    git(project, "add", "-A")
    git(project, "commit", "--quiet", "--no-verify", "-m", message)


def init_repo(project: Path) -> None:
    """``git init`` the rendered project and commit it, as a user does first."""
    git(project, "init", "--quiet", "--initial-branch=main")
    commit_all(project, "Rendered from the template")


def project_files(project: Path) -> dict[str, bytes]:
    """Every file of ``project`` outside .git, by relative path."""
    return {
        path.relative_to(project).as_posix(): path.read_bytes()
        for path in sorted(project.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(project).parts
    }


def conflicted_files(project: Path) -> list[str]:
    """Files holding conflict markers or left as ``.rej``."""
    found = []
    for name, content in project_files(project).items():
        if name.endswith(".rej") or any(line.startswith(MARKERS) for line in content.splitlines()):
            found.append(name)
    return found


# --- The user's edits ---------------------------------------------------------------------------
Edit = Callable[[Path, Mapping[str, Any]], None]


def _replace(path: Path, pairs: list[tuple[str, str]]) -> None:
    text = path.read_text(encoding="utf-8")
    for old, new in pairs:
        assert old in text, f"{path.name}: the user's edit expects {old!r}"
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")


def edit_model(project: Path, answers: Mapping[str, Any]) -> None:
    """A new estimator: a random forest instead of the scaled logistic regression."""
    _replace(
        project / "src" / answers["package_name"] / "model.py",
        [
            (
                "from sklearn.linear_model import LogisticRegression\nfrom sklearn.pipeline import Pipeline, "
                "make_pipeline\nfrom sklearn.preprocessing import StandardScaler\n",
                "from sklearn.ensemble import RandomForestClassifier\n",
            ),
            ("-> Pipeline:", "-> RandomForestClassifier:"),
            (
                "        A scikit-learn pipeline: feature scaling, then multinomial logistic regression.\n",
                "        A random forest of 200 shallow trees.\n",
            ),
            (
                "    # Scaling first keeps the solver well conditioned; max_iter leaves room to converge.\n"
                "    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, "
                "random_state=random_state))",
                "    # Shallow trees: the wine data are small and a deep forest overfits them.\n"
                "    return RandomForestClassifier(n_estimators=200, max_depth=4, random_state=random_state)",
            ),
        ],
    )


def edit_train(project: Path, answers: Mapping[str, Any]) -> None:
    """New data: the wine recognition set (also shipped with scikit-learn) instead of iris."""
    _replace(
        project / "src" / answers["package_name"] / "train.py",
        [
            ("from sklearn.datasets import load_iris", "from sklearn.datasets import load_wine"),
            ("    iris = load_iris()\n", "    wine = load_wine()\n"),
            ("iris.data", "wine.data"),
            ("iris.target,", "wine.target,"),
            ("iris.feature_names", "wine.feature_names"),
            ("iris.target_names", "wine.target_names"),
        ],
    )


def edit_values(project: Path, answers: Mapping[str, Any]) -> None:
    """Three replicas and more room per pod in the chart's values."""
    _replace(
        project / "charts" / answers["project_slug"] / "values.yaml",
        [
            ("replicaCount: 1\n", "replicaCount: 3\n"),
            (
                '  requests:\n    cpu: 100m\n    memory: 256Mi\n  limits:\n    cpu: "1"\n    memory: 512Mi\n',
                '  requests:\n    cpu: 500m\n    memory: 1Gi\n  limits:\n    cpu: "2"\n    memory: 2Gi\n',
            ),
        ],
    )


README_PARAGRAPH = (
    "## Team notes\n\nOwned by the fraud analytics team; questions go to #fraud-ml. Retrain monthly.\n\n"
)


def edit_readme(project: Path, answers: Mapping[str, Any]) -> None:
    """A paragraph of the team's own in the README."""
    _replace(project / "README.md", [("## Prerequisites\n", README_PARAGRAPH + "## Prerequisites\n")])


OWN_MODULE = '''"""Feature checks of our own (not the template's)."""

from __future__ import annotations

from .model import build_estimator


def n_trees() -> int:
    """How many trees the estimator grows."""
    return int(build_estimator().get_params()["n_estimators"])
'''


def add_own_files(project: Path, answers: Mapping[str, Any]) -> None:
    """Files of the user's own: a module and a note."""
    (project / "src" / answers["package_name"] / "features.py").write_text(OWN_MODULE, encoding="utf-8")
    (project / "docs").mkdir(exist_ok=True)
    (project / "docs" / "runbook.md").write_text("# Runbook\n\nPage the on-call data scientist.\n")


USER_EDITS: tuple[Edit, ...] = (edit_model, edit_train, edit_values, edit_readme, add_own_files)


def apply_user_edits(project: Path, answers: Mapping[str, Any]) -> None:
    """Every edit the update tests' user makes."""
    for edit in USER_EDITS:
        edit(project, answers)


@dataclass(frozen=True)
class Updated:
    """A project of an earlier release with the user's edits, updated to HEAD, and what it should equal."""

    start: str
    answers: dict[str, Any]
    project: Path
    expected: Path


@pytest.fixture(scope="session")
def updated_projects(template_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Updated]:
    """Each case: the variant rendered at its start release, committed, edited, committed, updated
    to the newest tag; beside it a fresh render of HEAD with the same edits (the expected result)."""
    done: dict[str, Updated] = {}
    # Both start releases of a variant end with the same answers: one fresh render of HEAD (read
    # only by the tests) serves both.
    expected_by_answers: dict[str, Path] = {}
    for start, item in UPDATE_CASES:
        answers = item.as_dict()
        # The edits name the package and chart folders: read them from a render's answers.
        base = tmp_path_factory.mktemp("update")
        project = copy_release(template_repo, start, base / "project", answers)
        recorded = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
        answers = {**recorded, **answers}
        answers = {k: v for k, v in answers.items() if not k.startswith("_")}
        init_repo(project)
        apply_user_edits(project, answers)
        commit_all(project, "Our model, data, sizing and notes")
        update(project)
        key = json.dumps(answers, sort_keys=True, default=str)
        if key not in expected_by_answers:
            expected_by_answers[key] = copy_release(template_repo, NEW, base / "expected", answers)
            apply_user_edits(expected_by_answers[key], answers)
        expected = expected_by_answers[key]
        done[case_id(start, item)] = Updated(start, answers, project, expected)
    return done


@pytest.fixture(scope="session")
def uv_env() -> dict[str, str]:
    """Environment for a generated project's own uv commands: no leaking venv, no downloads."""
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env.update({"UV_PYTHON_DOWNLOADS": "never", "NO_COLOR": "1"})
    return env


def run_in(project: Path, command: list[str], env: Mapping[str, str], timeout: float = 900) -> str:
    """Run a project command; fail the test with its output when it fails."""
    done = subprocess.run(
        command, cwd=project, env=dict(env), capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, (
        f"{' '.join(command)} failed in {project}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done.stdout


def ruff() -> str:
    """This checkout's ruff (the projects' own is checked on the one fully tested project)."""
    found = which("ruff")
    assert found is not None, "ruff is a test dependency of dsdeploy"
    return str(found)


def uv_and_python(version: str) -> tuple[str, Path]:
    """uv and a local interpreter of ``version``; fails (not skips) when either is missing."""
    uv = which("uv")
    python = find_python(version)
    assert uv is not None, "uv is a dependency of dsdeploy"
    assert python is not None, f"no local Python {version} (pyenv or PATH) for the project's own tests"
    return str(uv), python


def copy_tree(source: Path, dest: Path) -> Path:
    """A working copy of a project (fixtures' folders are read-only for tests)."""
    shutil.copytree(source, dest, symlinks=True)
    return dest


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise tests taking ``update_case`` over the start releases and covering variants."""
    if "update_case" in metafunc.fixturenames:
        metafunc.parametrize("update_case", [case_id(start, item) for start, item in UPDATE_CASES])


class Lifecycle:
    """The helpers above, handed to tests as a fixture (test modules import no conftest)."""

    old, previous, new = OLD, PREVIOUS, NEW
    readme_paragraph = README_PARAGRAPH
    own_module = OWN_MODULE
    git = staticmethod(git)
    copy_release = staticmethod(copy_release)
    update = staticmethod(update)
    commit_all = staticmethod(commit_all)
    init_repo = staticmethod(init_repo)
    project_files = staticmethod(project_files)
    conflicted_files = staticmethod(conflicted_files)
    apply_user_edits = staticmethod(apply_user_edits)
    run_in = staticmethod(run_in)
    ruff = staticmethod(ruff)
    uv_and_python = staticmethod(uv_and_python)
    copy_tree = staticmethod(copy_tree)


@pytest.fixture(scope="session")
def lifecycle() -> Lifecycle:
    """Helpers for rendering releases, editing as a user and updating."""
    return Lifecycle()
