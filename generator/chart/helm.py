"""Helm binaries and the chart inside a rendered project.

Helm 4 is installed as ``helm`` and Helm 3 as ``helm3`` (``scripts/setup-k8s-tools.sh``); charts
must work with both, so checks run with every Helm found.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from generator.errors import GeneratorError
from generator.process import run
from generator.tools import missing, which

DEFAULT_SET = "default"
# libyaml's loader where PyYAML has it: it reads a chart's manifests 7x faster, and every variant's
# chart is rendered and read a few dozen times per check run.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_manifests(text: str) -> list[dict[str, Any]]:
    """Multi-document YAML (``helm template``'s output) as manifests, empty documents dropped."""
    return [doc for doc in yaml.load_all(text, Loader=_LOADER) if doc]


@dataclass(frozen=True)
class Helm:
    """One Helm binary and its version.

    Attributes:
        path: The executable.
        version: As Helm reports it, e.g. ``"v4.1.4"``.
    """

    path: Path
    version: str

    @property
    def major(self) -> int:
        """3 or 4."""
        return int(self.version.lstrip("v").split(".")[0])

    @property
    def label(self) -> str:
        """``helm 4``, for result subjects."""
        return f"helm {self.major}"

    def template(
        self,
        release: str,
        chart: Path,
        *,
        namespace: str,
        values: Sequence[Path] = (),
        timeout: float = 120,
        check: bool = True,
    ) -> tuple[int, str, str]:
        """Run ``helm template``; return exit code, manifests (stdout) and stderr.

        Raises:
            GeneratorError: helm refused and ``check`` is set; the message has helm's error.
        """
        command: list[str | Path] = [self.path, "template", release, chart, "--namespace", namespace]
        for path in values:
            command += ["--values", path]
        result = run(command, timeout=timeout, check=check)
        return result.returncode, result.stdout, result.stderr

    def render(
        self, release: str, chart: Path, *, namespace: str, values: Sequence[Path] = (), timeout: float = 120
    ) -> list[dict[str, Any]]:
        """``helm template`` parsed into manifests (empty documents dropped)."""
        _, text, _ = self.template(release, chart, namespace=namespace, values=values, timeout=timeout)
        return parse_manifests(text)


def find_helms(names: Sequence[str] = ("helm", "helm3"), *, timeout: float = 30) -> list[Helm]:
    """The Helm binaries found among ``names``, newest major first, one per major version."""
    found: dict[int, Helm] = {}
    for name in names:
        path = which(name)
        if path is None:
            continue
        version = run([path, "version", "--template", "{{.Version}}"], timeout=timeout).stdout.strip()
        helm = Helm(path, version)
        found.setdefault(helm.major, helm)
    return [found[major] for major in sorted(found, reverse=True)]


def require_helm(major: int | None = None) -> Helm:
    """The newest Helm found (or the one of ``major``), or an error that says how to get it."""
    for helm in find_helms():
        if major is None or helm.major == major:
            return helm
    wanted = "helm" if major in (None, 4) else f"helm{major}"
    raise missing(wanted)


@dataclass(frozen=True)
class Chart:
    """The chart inside a rendered project.

    Attributes:
        path: The chart folder (holds ``Chart.yaml``).
        name: The chart's name (the project slug).
        values_sets: Named values files to check: ``default`` (the chart's own defaults, no file)
            and one per ``ci/<name>-values.yaml`` (the chart-testing convention).
    """

    path: Path
    name: str
    values_sets: Mapping[str, Path | None] = field(default_factory=dict)

    @classmethod
    def find(cls, project: Path) -> Chart:
        """The one chart under ``project/charts/``, with its values sets.

        Raises:
            GeneratorError: There is no chart, or more than one.
        """
        charts = sorted((project / "charts").glob("*/Chart.yaml"))
        if len(charts) != 1:
            raise GeneratorError(
                f"expected one chart under {project / 'charts'}, found {len(charts)}",
                hint="pass a project rendered from the dsdeploy template",
            )
        path = charts[0].parent
        meta = yaml.safe_load(charts[0].read_text(encoding="utf-8"))
        sets: dict[str, Path | None] = {DEFAULT_SET: None}
        for values in sorted((path / "ci").glob("*-values.yaml")):
            name = values.name.removesuffix("-values.yaml")
            # ci/default-values.yaml replaces the bare defaults rather than duplicating them.
            sets[name] = values
        return cls(path=path, name=str(meta["name"]), values_sets=sets)

    def values_files(self, name: str) -> tuple[Path, ...]:
        """The ``--values`` files of one set (none for the bare defaults)."""
        values = self.values_sets[name]
        return () if values is None else (values,)
