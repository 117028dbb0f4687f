"""Static checks of a rendered project's Helm chart, the way a cluster would judge it.

:func:`check_project` runs, for every values set of the chart (the chart's defaults plus
``charts/<slug>/ci/*-values.yaml``, which switch on every optional part):

* ``helm lint --strict`` with each Helm found (Helm 4 as ``helm``, Helm 3 as ``helm3``);
* ``helm template``, then every manifest strictly against the Kubernetes schemas of the three
  newest minor versions bundled in ``kubernetes-validate``, in-process;
* that Helm 3 renders exactly the objects Helm 4 renders;
* ``values.schema.json`` refusing a table of wrong values (helm must exit non-zero and name the key);
* checkov over the rendered manifests and the Dockerfile, and hadolint on the Dockerfile.

:class:`ManifestChecker` holds the Helm binaries and the loaded schemas: create one per test
session (or CLI run) and call it for every variant; helm calls run in parallel threads.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from generator.chart.bad_values import BAD_VALUES, BadValues, schema_error_lines
from generator.chart.crds import installed_crd_schemas
from generator.chart.helm import Chart, Helm, find_helms, parse_manifests
from generator.chart.kube_schemas import KubernetesSchemas, kind_and_name
from generator.chart.security import ScanTarget, checkov_scan, hadolint
from generator.errors import GeneratorError
from generator.process import run
from generator.project.fingerprint import tree_digest
from generator.results import CheckResult, failed, passed, skipped
from generator.tools import install_hint, missing

LINT = "helm lint --strict"
SCHEMAS = "kubernetes schemas"
HELM_AGREE = "helm 3 renders as helm 4"
VALUES_SCHEMA = "values.schema.json rejects"
NAMESPACE = "models"
_HELM_HINT = install_hint("helm")

_T = TypeVar("_T")
_R = TypeVar("_R")


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else "no output"


class ManifestChecker:
    """Runs the chart checks; holds Helm binaries and Kubernetes schemas for reuse.

    Args:
        helms: Helm binaries to use, newest first; default: every Helm found. The first one
            renders the manifests that are validated and scanned.
        schemas: Kubernetes schemas; default: the three newest bundled versions, strict, plus
            the Dask operator's CRDs when ``dask-kubernetes`` is installed (:mod:`generator.chart.crds`).
        namespace: Namespace to render into (not ``default``: checkov flags that).
        workers: Parallel helm calls; default: the number of CPUs.
        timeout: Seconds for each helm call.
    """

    def __init__(
        self,
        *,
        helms: Sequence[Helm] | None = None,
        schemas: KubernetesSchemas | None = None,
        namespace: str = NAMESPACE,
        workers: int | None = None,
        timeout: float = 120,
    ) -> None:
        self.helms: tuple[Helm, ...] = tuple(find_helms() if helms is None else helms)
        self.schemas = schemas or KubernetesSchemas(crd_schemas=installed_crd_schemas())
        self.namespace = namespace
        self.workers = workers or os.cpu_count() or 2
        self.timeout = timeout

    def require_helm(self) -> Helm:
        """The Helm that renders manifests (the newest found).

        Raises:
            ToolMissing: No Helm was found.
        """
        if not self.helms:
            raise missing("helm")
        return self.helms[0]

    def _map(self, function: Callable[[_T], _R], items: Iterable[_T]) -> list[_R]:
        # helm calls are short subprocesses: threads overlap their start-up; order is kept.
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            return list(pool.map(function, items))

    def render(self, chart: Chart, values_set: str, *, helm: Helm | None = None) -> list[dict[str, Any]]:
        """One values set rendered by ``helm`` (default: the newest) as parsed manifests."""
        return (helm or self.require_helm()).render(
            chart.name,
            chart.path,
            namespace=self.namespace,
            values=chart.values_files(values_set),
            timeout=self.timeout,
        )

    def lint(self, chart: Chart) -> list[CheckResult]:
        """``helm lint --strict`` for every values set with every Helm."""
        if not self.helms:
            return [skipped(LINT, chart.name, f"no helm on PATH ({install_hint('helm')})")]

        def lint_one(job: tuple[Helm, str]) -> CheckResult:
            helm, name = job
            command: list[str | Path] = [
                helm.path,
                "lint",
                "--strict",
                chart.path,
                "--namespace",
                self.namespace,
            ]
            for values in chart.values_files(name):
                command += ["--values", values]
            result = run(command, timeout=self.timeout, check=False)
            subject = f"{helm.label} {name}"
            if result.returncode == 0:
                return passed(LINT, subject)
            output = result.stdout + result.stderr
            problems = [line for line in output.splitlines() if line.startswith(("[ERROR]", "[WARNING]"))]
            return failed(LINT, subject, problems[0] if problems else _last_line(output))

        return self._map(lint_one, [(helm, name) for helm in self.helms for name in chart.values_sets])

    def validate(self, chart: Chart) -> tuple[list[CheckResult], dict[str, str]]:
        """Render every values set and validate each manifest against the Kubernetes schemas.

        Returns:
            One row per values set, and the rendered YAML by values-set name (for the security scan).
        """
        if not self.helms:
            return [skipped(SCHEMAS, chart.name, f"no helm on PATH ({install_hint('helm')})")], {}
        helm = self.require_helm()
        names = list(chart.values_sets)
        outputs = self._map(
            lambda name: helm.template(
                chart.name,
                chart.path,
                namespace=self.namespace,
                values=chart.values_files(name),
                timeout=self.timeout,
                check=False,
            ),
            names,
        )
        rows, rendered = [], {}
        versions = ", ".join(self.schemas.minor_versions)
        for name, (code, text, stderr) in zip(names, outputs, strict=True):
            if code != 0:
                rows.append(failed(SCHEMAS, name, f"helm template failed: {_last_line(stderr)}"))
                continue
            rendered[name] = text
            documents = parse_manifests(text)
            problems = self.schemas.validate_all(documents)
            if problems:
                rows.append(failed(SCHEMAS, name, f"{len(problems)} problems; first: {problems[0]}"))
            else:
                kinds = ", ".join(sorted(kind_and_name(doc).split("/")[0] for doc in documents))
                rows.append(passed(SCHEMAS, name, f"{len(documents)} manifests valid on {versions}: {kinds}"))
        return rows, rendered

    def helms_agree(self, chart: Chart, rendered: Mapping[str, str] | None = None) -> list[CheckResult]:
        """Each older Helm renders the same objects as the newest (both majors are supported).

        ``rendered``: the newest Helm's output by values set, when :meth:`validate` has it already.
        """
        if len(self.helms) < 2:
            return [
                skipped(HELM_AGREE, chart.name, f"needs helm (4) and helm3 on PATH ({install_hint('helm')})")
            ]

        def compare(job: tuple[Helm, str]) -> CheckResult:
            other, name = job
            subject = f"{other.label} {name}"
            try:
                if rendered and name in rendered:
                    newest = parse_manifests(rendered[name])
                else:
                    newest = self.render(chart, name)
                same = newest == self.render(chart, name, helm=other)
            except GeneratorError as exc:
                return failed(HELM_AGREE, subject, _last_line(exc.message))
            return (
                passed(HELM_AGREE, subject)
                if same
                else failed(HELM_AGREE, subject, "rendered objects differ")
            )

        return self._map(compare, [(other, name) for other in self.helms[1:] for name in chart.values_sets])

    def schema_rejections(self, chart: Chart, cases: Sequence[BadValues] = BAD_VALUES) -> list[CheckResult]:
        """Feed each bad values case to every Helm; each must refuse it and name the key."""
        if not self.helms:
            return [skipped(VALUES_SCHEMA, chart.name, f"no helm on PATH ({install_hint('helm')})")]
        with tempfile.TemporaryDirectory(prefix="dsdeploy-bad-values-") as scratch:
            files = {}
            for case in cases:
                files[case.id] = Path(scratch) / f"{case.id}.yaml"
                # JSON is YAML; json.dumps keeps None as null, which helm reads as "delete this key".
                files[case.id].write_text(json.dumps(case.values), encoding="utf-8")
            return self._map(
                lambda job: self._reject(chart, job[0], job[1], files[job[1].id]),
                [(helm, case) for case in cases for helm in self.helms],
            )

    def _reject(self, chart: Chart, helm: Helm, case: BadValues, values: Path) -> CheckResult:
        subject = f"{helm.label} {case.id}"
        code, _, stderr = helm.template(
            chart.name,
            chart.path,
            namespace=self.namespace,
            values=(values,),
            timeout=self.timeout,
            check=False,
        )
        if code == 0:
            return failed(VALUES_SCHEMA, subject, f"helm accepted {json.dumps(case.values)}")
        errors = schema_error_lines(stderr)
        naming = [line for line in errors if case.key in line]
        if not naming:
            first = errors[0] if errors else _last_line(stderr)
            return failed(VALUES_SCHEMA, subject, f"refused, but not by the schema for {case.key!r}: {first}")
        return passed(VALUES_SCHEMA, subject, naming[0])

    def check_chart(
        self, chart: Chart, rejections: list[CheckResult] | None = None
    ) -> tuple[list[CheckResult], dict[str, str]]:
        """Every helm-based check of one chart; also returns the rendered YAML by values set.

        ``rejections``: the bad-values rows of a chart that differs from this one at most in
        ``values.yaml`` (whose defaults each case overrides), instead of running them again.
        """
        validated, rendered = self.validate(chart)
        agreed = self.helms_agree(chart, rendered)
        refused = self.schema_rejections(chart) if rejections is None else rejections
        return self.lint(chart) + validated + agreed + refused, rendered

    def check_projects(
        self,
        projects: Sequence[Path],
        *,
        security: bool = True,
        on_progress: Callable[[str], None] | None = None,
    ) -> dict[Path, list[CheckResult]]:
        """Check many projects, with one checkov run for all of them.

        ``on_progress`` is called with the name of each stage done: a project's chart, then
        checkov, then hadolint (so ``len(projects) + 2`` calls with ``security``).

        Returns:
            Each project's rows in the order: lint, schemas, Helm agreement, bad values, checkov,
            hadolint.
        """
        self.require_helm()
        report = on_progress or (lambda _stage: None)
        rows: dict[Path, list[CheckResult]] = {}
        targets = []
        # Charts that differ only in values.yaml (the registries' image repositories) get the
        # same answers from the values schema: the bad-values cases run once for them.
        rejections: dict[str, list[CheckResult]] = {}
        for project in projects:
            chart = Chart.find(project)
            schema_key = _digest_without_values(chart.path)
            chart_rows, rendered = self.check_chart(chart, rejections.get(schema_key))
            rejections.setdefault(schema_key, [row for row in chart_rows if row.check == VALUES_SCHEMA])
            rows[project] = chart_rows
            dockerfile = project / "Dockerfile"
            targets.append(ScanTarget(str(project), rendered, dockerfile if dockerfile.is_file() else None))
            report(f"helm and schemas: {project.name}")
        if security:
            scans = checkov_scan(targets)
            report("checkov")
            for project in projects:
                rows[project] += scans[str(project)]
                rows[project].append(hadolint(project / "Dockerfile"))
            report("hadolint")
        return rows


def _digest_without_values(chart: Path) -> str:
    """The chart's files (paths and contents) but its ``values.yaml``."""
    return tree_digest(chart, [entry.name for entry in chart.iterdir() if entry.name != "values.yaml"])


def check_project(
    project: Path,
    *,
    security: bool = True,
    checker: ManifestChecker | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> list[CheckResult]:
    """Run every static Kubernetes check of a rendered project.

    Args:
        project: A project rendered from the template (holds ``charts/<slug>/``).
        security: Also run checkov and hadolint.
        checker: A checker to reuse (shares the Helm lookup and loaded schemas); new by default.
        on_progress: Called with each stage done (see :meth:`ManifestChecker.check_projects`).

    Returns:
        One row per check and subject; failed rows carry the first error. A check whose tool is
        missing comes back skipped with the reason (except helm, without which nothing runs).

    Raises:
        GeneratorError: The project has no chart, or no helm is installed.
    """
    checker = checker or ManifestChecker()
    return checker.check_projects([project], security=security, on_progress=on_progress)[project]
