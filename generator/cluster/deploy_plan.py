"""What a deploy will run, decided before anything runs, and what it reports afterwards.

The plan holds every command line (helm upgrade --install, helm test, helm uninstall) the
generated Makefile's targets run too, so the Makefile and the CLI can be compared offline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from generator.chart.helm import Chart, Helm, require_helm
from generator.cluster import kind
from generator.errors import GeneratorError
from generator.image.image_ref import ImageRef
from generator.results import CheckResult

KIND_CONFIG = Path("deploy") / "kind" / "cluster.yaml"
NAMESPACE = "default"
SERVICE_PORT_NAME = "http"


@dataclass(frozen=True)
class DeployPlan:
    """Every command line a deploy runs, decided before anything runs.

    Attributes:
        cluster: kind cluster name.
        config: kind cluster config.
        release: Helm release name (the chart's name, as in the Makefile).
        namespace: Namespace of the release.
        chart: The chart folder.
        image: The image to load and run.
        values: Extra ``--values`` files, in order.
        helm: The Helm binary.
        timeout: Seconds for each wait (helm's ``--timeout`` too).
    """

    cluster: str
    config: Path
    release: str
    namespace: str
    chart: Path
    image: ImageRef
    values: tuple[Path, ...] = ()
    helm: Helm = field(default_factory=require_helm)
    timeout: float = 300

    @property
    def selector(self) -> str:
        """Labels of everything the release created (pods, Deployments, Services)."""
        return f"app.kubernetes.io/instance={self.release}"

    def _scope(self, kubeconfig: Path) -> list[str]:
        return ["--kubeconfig", str(kubeconfig), "--namespace", self.namespace]

    def install_command(self, kubeconfig: Path) -> list[str]:
        """``helm upgrade --install --wait`` with the image values the Makefile's ``deploy`` sets."""
        command = [str(self.helm.path), "upgrade", "--install", self.release, str(self.chart)]
        command += self._scope(kubeconfig)
        for values in self.values:
            command += ["--values", str(values)]
        return [*command, *self.image.helm_set_args(), "--wait", "--timeout", f"{self.timeout:.0f}s"]

    def test_command(self, kubeconfig: Path) -> list[str]:
        """``helm test --logs``: the chart's test hook calls the Service from inside the cluster."""
        command = [str(self.helm.path), "test", self.release, *self._scope(kubeconfig)]
        return [*command, "--logs", "--timeout", f"{self.timeout:.0f}s"]

    def uninstall_command(self, kubeconfig: Path) -> list[str]:
        """``helm uninstall --wait``."""
        command = [str(self.helm.path), "uninstall", self.release, *self._scope(kubeconfig)]
        return [*command, "--wait", "--timeout", f"{self.timeout:.0f}s"]


@dataclass(frozen=True)
class DeployReport:
    """What a deploy did and found.

    Attributes:
        plan: The plan it ran.
        created_cluster: The deploy created the cluster (so removing it is the deploy's job).
        kept: The release (and a created cluster) were left running.
        model_name: The name the model is served under.
        infer: The infer call through the port-forward, checked against the model's own answer.
        helm_test_log: ``helm test --logs`` output.
        steps: ``(step, seconds)`` in order.
    """

    plan: DeployPlan
    created_cluster: bool
    kept: bool
    model_name: str
    infer: CheckResult
    helm_test_log: str
    steps: tuple[tuple[str, float], ...]

    @property
    def ok(self) -> bool:
        """Whether the infer answer matched the model's."""
        return self.infer.passed

    def summary(self) -> str:
        """One line: where, how long, and the infer result."""
        total = sum(seconds for _, seconds in self.steps)
        state = "kept" if self.kept else "removed"
        verdict = "infer answer matches the model" if self.ok else f"infer FAILED: {self.infer.detail}"
        return f"{self.plan.release} on kind-{self.plan.cluster} ({state}): {verdict}; {total:.0f} s"


def plan_deploy(
    project: Path,
    image: ImageRef,
    *,
    cluster: str | None = None,
    values: Sequence[Path] = (),
    helm: Helm | None = None,
    namespace: str = NAMESPACE,
    timeout: float = 300,
) -> DeployPlan:
    """The plan for deploying ``project`` running ``image`` (no command runs)."""
    chart = Chart.find(project)
    config = project / KIND_CONFIG
    if not config.is_file():
        raise GeneratorError(f"{config} is missing", hint="render the project with dsdeploy/copier")
    name = cluster or kind.config_cluster_name(config) or chart.name
    return DeployPlan(
        cluster=name,
        config=config,
        release=chart.name,
        namespace=namespace,
        chart=chart.path,
        image=image,
        values=tuple(values),
        helm=helm or require_helm(),
        timeout=timeout,
    )
