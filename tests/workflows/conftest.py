"""Fixtures for the CI-file tests: each distinct set of rendered CI files, checked in batches.

Which answers can change the CI files is read from the template itself: the Jinja variables the
CI templates use (in their paths and contents), closed over the ``default``/``when`` expressions
of the copier questions they name. Only the axes in that set are rendered (every other answer
keeps its default), the results are grouped by the digest of their CI files, and each distinct
group is validated once: one ``check-jsonschema`` run per schema and one ``zizmor`` run over
all of them. ``test_coverage.py`` renders a pairwise cover of the whole matrix and checks that
every variant's CI files equal those of its representative, so "each group validated" is
"every variant validated".
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
import pytest
import yaml
from ruamel.yaml import YAML

from generator.process import run
from generator.project.fingerprint import tree_digest
from generator.project.render import render_many
from generator.project.source import template_root
from generator.project.variants import Axis, Variant, full_product, load_axes, load_questions
from generator.tools import which

# What a rendered project's CI consists of (tree_digest counts a missing part as empty).
CI_PARTS = (".github", ".gitlab-ci.yml")
TEMPLATE_DIR = template_root() / "template"
REPO_WORKFLOWS = sorted((template_root() / ".github" / "workflows").glob("*.yml"))

# Every action the workflows may use: the commit each is pinned to and the release it is.
# Each SHA was checked against several independent public workflows naming the same release;
# bump them together with the `# vX.Y.Z` comments (Dependabot does this in generated projects).
PINS: dict[str, tuple[str, str]] = {
    "actions/checkout": ("11bd71901bbe5b1630ceea73d27597364c9af683", "v4.2.2"),
    "actions/setup-python": ("a26af69be951a213d495a4c3e4e4022e16d87065", "v5.6.0"),
    "astral-sh/setup-uv": ("e92bafb6253dcd438e0484186d7669ea7a8ca1cc", "v6.4.3"),
    "docker/setup-buildx-action": ("e468171a9de216ec08956ac3ada2f0791b6bd435", "v3.11.1"),
    "docker/setup-qemu-action": ("29109295f81e9208d7d86ff1c6c12d2833863392", "v3.6.0"),
    "docker/login-action": ("184bdaa0721073962dff0199f1fb9940f07167d1", "v3.5.0"),
    "docker/metadata-action": ("c1e51972afc2121e065aed6d45c65596fe445f3f", "v5.8.0"),
    "docker/build-push-action": ("263435318d21b8e681c14492fe198d362a7d2c83", "v6.18.0"),
    "aws-actions/configure-aws-credentials": ("b47578312673ae6fa5b5096b330d9fbac3d116df", "v4.2.1"),
    "aws-actions/amazon-ecr-login": ("062b18b96a7aff071d4dc91bc00c4c1a7945b076", "v2.0.1"),
    "google-github-actions/auth": ("ba79af03959ebeac9769e648f473a284504d9193", "v2.1.10"),
    "azure/login": ("a457da9ea143d694b1b9c7c869ebb04ebe844ef5", "v2.3.0"),
    "sigstore/cosign-installer": ("3454372f43399081ed03b604cb2d021dabca52bb", "v3.8.2"),
    "helm/kind-action": ("a1b0e391336a6ee6713a0583f8c6240d70863de3", "v1.12.0"),
    "actions/upload-artifact": ("ea165f8d65b6e75b540449e92b4886f43607fa02", "v4.6.2"),
    "azure/setup-helm": ("b9e51907a09c216f16ebe8536097933489208112", "v4.3.0"),
}

Workflow = dict[str, Any]


def _jinja_names(source: str) -> set[str]:
    """The undeclared variables a Jinja source reads (parsing only: no filters are needed)."""
    return set(jinja2.meta.find_undeclared_variables(jinja2.Environment().parse(source)))


def _is_ci_template(relative: Path) -> bool:
    return ".github" in relative.parts[0] or ".gitlab-ci.yml" in relative.parts[0]


def ci_template_files() -> list[Path]:
    """The template files that render into a project's CI files."""
    return sorted(
        path
        for path in TEMPLATE_DIR.rglob("*")
        if path.is_file() and _is_ci_template(path.relative_to(TEMPLATE_DIR))
    )


def ci_variables() -> set[str]:
    """Every variable the CI files depend on, directly or through another question's default."""
    names: set[str] = set()
    for path in ci_template_files():
        for part in path.relative_to(TEMPLATE_DIR).parts:
            names |= _jinja_names(part)
        if path.suffix == ".jinja":
            names |= _jinja_names(path.read_text(encoding="utf-8"))
    questions = load_questions()
    pending = sorted(names)
    while pending:
        question = questions.get(pending.pop(), {})
        for key in ("default", "when"):
            expression = question.get(key)
            if isinstance(expression, str):
                new = _jinja_names(expression) - names
                names |= new
                pending.extend(sorted(new))
    return names


def ci_axes() -> tuple[Axis, ...]:
    """The matrix axes that can change the CI files."""
    used = ci_variables()
    return tuple(axis for axis in load_axes() if axis.name in used)


REPRESENTATIVES: list[Variant] = full_product(ci_axes())


def representative_of(answers: dict[str, Any]) -> Variant:
    """The representative whose CI answers equal those of ``answers``."""
    wanted = {name: answers[name] for name, _ in REPRESENTATIVES[0].answers}
    return next(v for v in REPRESENTATIVES if v.as_dict() == wanted)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise ``ci_variant`` over the representatives, ``registry`` over its choices."""
    if "ci_variant" in metafunc.fixturenames:
        metafunc.parametrize("ci_variant", REPRESENTATIVES, ids=[v.id for v in REPRESENTATIVES])
    if "registry" in metafunc.fixturenames:
        registries = next(axis for axis in load_axes() if axis.name == "registry").values
        metafunc.parametrize("registry", registries)


@dataclass(frozen=True)
class CiFiles:
    """The CI files of one rendered project, and the digest that groups identical sets."""

    project: Path
    digest: str
    workflows: tuple[Path, ...]
    dependabot: Path | None
    gitlab: Path | None

    @classmethod
    def of(cls, project: Path) -> CiFiles:
        """Collect the CI files of ``project``."""
        dependabot = project / ".github" / "dependabot.yml"
        gitlab = project / ".gitlab-ci.yml"
        return cls(
            project=project,
            digest=tree_digest(project, CI_PARTS),
            workflows=tuple(sorted((project / ".github" / "workflows").glob("*.yml"))),
            dependabot=dependabot if dependabot.is_file() else None,
            gitlab=gitlab if gitlab.is_file() else None,
        )

    @property
    def files(self) -> tuple[Path, ...]:
        """Every CI file, workflows first."""
        extra = tuple(path for path in (self.dependabot, self.gitlab) if path is not None)
        return self.workflows + extra

    def workflow(self, name: str) -> Workflow:
        """The parsed GitHub workflow ``name`` (e.g. ``publish.yml``); read-only."""
        return _load_yaml(self.project / ".github" / "workflows" / name)  # type: ignore[no-any-return]

    def gitlab_ci(self) -> Workflow:
        """The parsed ``.gitlab-ci.yml`` as GitLab reads it (scripts flattened); read-only."""
        assert self.gitlab is not None, f"{self.project} has no .gitlab-ci.yml"
        return _load_gitlab_ci(self.gitlab)  # type: ignore[no-any-return]

    def answers(self) -> dict[str, Any]:
        """The answers recorded in the project's ``.copier-answers.yml``."""
        return _load_yaml(self.project / ".copier-answers.yml")  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def ci_projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CiFiles]:
    """Each representative rendered once per session, by variant id."""
    outdir = tmp_path_factory.mktemp("ci")
    jobs = min(4, os.cpu_count() or 1)
    rendered = render_many(outdir, {v.id: v.as_dict() for v in REPRESENTATIVES}, jobs=jobs)
    return {r.variant_id: CiFiles.of(r.path) for r in rendered}


@pytest.fixture(scope="session")
def distinct_ci(ci_projects: dict[str, CiFiles]) -> dict[str, CiFiles]:
    """One project per distinct set of CI files, by digest (the projects without CI included)."""
    groups: dict[str, CiFiles] = {}
    for files in ci_projects.values():
        groups.setdefault(files.digest, files)
    return groups


@pytest.fixture
def ci_files(ci_variant: Variant, ci_projects: dict[str, CiFiles]) -> CiFiles:
    """The CI files of the test's ``ci_variant``."""
    return ci_projects[ci_variant.id]


@pytest.fixture
def representative_id() -> Callable[[dict[str, Any]], str]:
    """``representative_id(answers)``: the id of the representative rendered for ``answers``."""
    return lambda answers: representative_of(answers).id


ProjectFor = Callable[..., CiFiles]


@pytest.fixture
def project_for(ci_projects: dict[str, CiFiles]) -> ProjectFor:
    """``project_for(registry=..., ci_provider=...)``: that representative, other answers default."""

    def _lookup(**answers: Any) -> CiFiles:
        defaults = {axis.name: axis.default for axis in ci_axes()}
        return ci_projects[representative_of({**defaults, **answers}).id]

    return _lookup


def _checker() -> Path:
    checker = which("check-jsonschema")
    if checker is None:
        pytest.skip("check-jsonschema is not installed (pip install -e '.[test]')")
    return checker


def _schema_errors(schema: str, files: list[Path]) -> dict[Path, list[str]]:
    """Run check-jsonschema once over ``files``; their errors by file (every file keyed)."""
    errors: dict[Path, list[str]] = {path: [] for path in files}
    if not files:
        return errors
    result = run(
        [_checker(), "--output-format", "json", "--builtin-schema", schema, *files], timeout=300, check=False
    )
    report = json.loads(result.stdout)
    for error in report.get("errors", []) + report.get("parse_errors", []):
        best = error.get("best_deep_match") or error.get("best_match") or error
        errors[Path(error["filename"])].append(f"{best.get('path', '$')}: {best.get('message', error)}")
    return errors


@pytest.fixture(scope="session")
def schema_errors(distinct_ci: dict[str, CiFiles]) -> dict[Path, list[str]]:
    """Schema errors of every distinct CI file and of the template's own workflows.

    One check-jsonschema process per schema (GitHub workflows, GitLab CI, Dependabot) for all
    files at once: starting it costs about as much as checking dozens of files.
    """
    groups = list(distinct_ci.values())
    workflows = [path for group in groups for path in group.workflows] + REPO_WORKFLOWS
    return {
        **_schema_errors("vendor.github-workflows", workflows),
        **_schema_errors("vendor.gitlab-ci", [g.gitlab for g in groups if g.gitlab]),
        **_schema_errors("vendor.dependabot", [g.dependabot for g in groups if g.dependabot]),
    }


@dataclass(frozen=True)
class Finding:
    """One zizmor finding in one file."""

    path: Path
    audit: str
    severity: str
    persona: str

    def __str__(self) -> str:
        return f"{self.severity} {self.audit} ({self.persona}) in {self.path}"


def _zizmor(files: list[Path]) -> list[Finding]:
    """One offline zizmor run over ``files`` with the auditor persona; its primary findings.

    The auditor persona reports everything zizmor can say, pedantic notes included; no
    configuration and no ignore comments are honoured, so nothing is silenced.
    """
    zizmor = which("zizmor")
    if zizmor is None:
        pytest.skip("zizmor is not installed (pip install -e '.[test]')")
    result = run(
        [
            zizmor,
            "--offline",
            "--no-config",
            "--no-ignores",
            "--strict-collection",
            "--persona",
            "auditor",
            "--format",
            "json",
            *files,
        ],
        timeout=300,
        check=False,
    )
    findings = []
    for item in json.loads(result.stdout or "[]"):
        for location in item["locations"]:
            if location["symbolic"]["kind"] != "Primary":
                continue
            findings.append(
                Finding(
                    path=Path(location["symbolic"]["key"]["Local"]["verbatim_path"]),
                    audit=item["ident"],
                    severity=item["determinations"]["severity"],
                    persona=item["determinations"]["persona"],
                )
            )
    return findings


@pytest.fixture(scope="session")
def zizmor_findings(distinct_ci: dict[str, CiFiles]) -> list[Finding]:
    """zizmor's findings over every distinct GitHub CI file and the template's own workflows."""
    files = [path for group in distinct_ci.values() for path in group.files if path != group.gitlab]
    return _zizmor(files + REPO_WORKFLOWS)


@pytest.fixture
def zizmor() -> Callable[[list[Path]], list[Finding]]:
    """``zizmor(files)``: one audit run, as in :func:`zizmor_findings`."""
    return _zizmor


@functools.cache
def _load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _flat(entries: list[Any]) -> list[str]:
    return [line for entry in entries for line in (_flat(entry) if isinstance(entry, list) else [entry])]


@functools.cache
def _load_gitlab_ci(path: Path) -> Any:
    # A script's YAML anchor (`- *registry-login`) is a list inside the list: GitLab flattens it.
    pipeline = yaml.safe_load(path.read_text(encoding="utf-8"))
    for job in pipeline.values():
        if isinstance(job, dict):
            for key in ("before_script", "script", "after_script"):
                if isinstance(job.get(key), list):
                    job[key] = _flat(job[key])
    return pipeline


def _uses_with_comments(path: Path) -> list[tuple[str, str]]:
    document = YAML().load(path.read_text(encoding="utf-8"))
    found = []
    for job in document["jobs"].values():
        for step in job.get("steps", []):
            if "uses" not in step:
                continue
            token = step.ca.items.get("uses")
            comment = token[2].value if token and len(token) > 2 and token[2] is not None else ""
            found.append((str(step["uses"]), comment.strip().splitlines()[0] if comment.strip() else ""))
    return found


@pytest.fixture
def uses_with_comments() -> Callable[[Path], list[tuple[str, str]]]:
    """``uses_with_comments(path)``: every ``uses:`` of a workflow with the first line of its comment.

    Comments are not data to a YAML parser, so ruamel's round-trip loader keeps them.
    """
    return _uses_with_comments


@pytest.fixture(scope="session")
def steps_using() -> Callable[[Workflow, str], list[dict[str, Any]]]:
    """``steps_using(job, action)``: the steps of ``job`` that use ``action`` at any ref."""

    def _steps(job: Workflow, action: str) -> list[dict[str, Any]]:
        return [step for step in job["steps"] if str(step.get("uses", "")).split("@")[0] == action]

    return _steps


@pytest.fixture
def pins() -> dict[str, tuple[str, str]]:
    """The allowed actions: ``name -> (commit SHA, release)``."""
    return PINS


@pytest.fixture(scope="session")
def repo_workflows() -> list[Path]:
    """The template repository's own workflows."""
    return REPO_WORKFLOWS


@pytest.fixture
def check_schema() -> Callable[[str, list[Path]], dict[Path, list[str]]]:
    """``check_schema(builtin_schema, files)``: one check-jsonschema run, errors by file."""
    return _schema_errors


# --- Tag scheme -----------------------------------------------------------------------------
# A commit for the sha-<7> tag; both providers' rules are run against the same refs.
COMMIT = "0123456789abcdef0123456789abcdef01234567"
TagsFor = Callable[[CiFiles, str], set[str]]


@pytest.fixture
def github_tags(tmp_path: Path) -> TagsFor:
    """``github_tags(project, ref)``: the tags publish.yml pushes for a git ``ref``.

    Its release step runs for real (bash, as on the runner); docker/metadata-action's rules are
    applied as the action documents them: ``match`` (regex on the tag, capture ``group``),
    ``raw`` (when ``enable`` is true), ``ref,event=branch`` (the branch name), ``sha`` (``sha-``
    and 7 hex digits). A rule of another kind fails the lookup.
    """

    def _tags(project: CiFiles, ref: str) -> set[str]:
        job = project.workflow("publish.yml")["jobs"]["publish"]
        release = next(step for step in job["steps"] if step.get("id") == "release")
        output = tmp_path / "github_output"
        output.write_text("")
        env = {**os.environ, "REF": ref, "GITHUB_OUTPUT": str(output)}
        run(["bash", "-e", "-o", "pipefail", "-c", release["run"]], env=env, timeout=30)
        step_outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
        meta = next(step for step in job["steps"] if step.get("id") == "meta")
        assert meta["with"]["flavor"] == "latest=false", "latest is decided by an explicit rule"
        tags = set()
        for rule in meta["with"]["tags"].splitlines():
            kind, *attrs = rule.split(",")
            options = dict(attr.split("=", 1) for attr in attrs)
            if kind == "type=match":
                found = re.search(options["pattern"], ref.removeprefix("refs/tags/"))
                if ref.startswith("refs/tags/") and found:
                    tags.add(found.group(int(options["group"])))
            elif kind == "type=raw":
                assert options["enable"] == "${{ steps.release.outputs.final == 'true' }}"
                if step_outputs["final"] == "true":
                    tags.add(options["value"])
            elif kind == "type=ref" and options == {"event": "branch"}:
                if ref.startswith("refs/heads/"):
                    tags.add(ref.removeprefix("refs/heads/"))
            elif kind == "type=sha" and not options:
                tags.add(f"sha-{COMMIT[:7]}")
            else:
                raise AssertionError(f"no model for the tag rule {rule!r}")
        return tags

    return _tags


@pytest.fixture
def gitlab_tags() -> TagsFor:
    """``gitlab_tags(project, ref)``: the tags the push job computes, its script run with sh.

    GitLab sets CI_COMMIT_TAG for tag pipelines and CI_COMMIT_REF_SLUG (the branch name made
    URL-safe) for branch ones; a failing script raises :class:`GeneratorError`.
    """

    def _tags(project: CiFiles, ref: str) -> set[str]:
        script = next(e for e in project.gitlab_ci()["push"]["script"] if e.startswith('tags="sha-'))
        env = {
            "CI_COMMIT_SHA": COMMIT,
            "IMAGE": "registry.example/x",
            "CI_COMMIT_TAG": "",
            "CI_COMMIT_REF_SLUG": "",
        }
        if ref.startswith("refs/tags/"):
            env["CI_COMMIT_TAG"] = ref.removeprefix("refs/tags/")
        else:
            env["CI_COMMIT_REF_SLUG"] = ref.removeprefix("refs/heads/")
        printed = run(["sh", "-e", "-c", script + '\necho "$tags"'], env=env, timeout=30).stdout
        return set(printed.splitlines()[-1].split())

    return _tags
