"""The generated Makefile's kind targets run the same commands as ``dsdeploy deploy --kind``.

``make -n`` prints each recipe without running it, so the plain-command path is compared with
the library's plan here, where no cluster runs.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from generator.chart.helm import Helm, find_helms
from generator.cluster import kind
from generator.cluster.deploy_plan import plan_deploy
from generator.containers.podspec.workload import render_workload
from generator.image.image_ref import ImageRef
from generator.project.render import read_answers

IMAGE = "localhost:5000/team/m:1.2"


def _dry_run(project: Path, *targets: str, **variables: str) -> list[list[str]]:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    args = [make, "-n", *targets, *(f"{key}={value}" for key, value in variables.items())]
    result = subprocess.run(args, cwd=project, capture_output=True, text=True, check=True, timeout=30)
    # Recipes continue lines with a backslash; make -n prints them as written.
    text = result.stdout.replace("\\\n", " ")
    return [shlex.split(line) for line in text.splitlines() if line.strip()]


def _line(commands: list[list[str]], *words: str) -> list[str]:
    found = [c for c in commands if all(word in c for word in words)]
    assert len(found) == 1, f"expected one command with {words}, got {found}"
    return found[0]


@pytest.fixture(scope="module")
def deploy_commands(default_project: Path) -> list[list[str]]:
    return _dry_run(default_project, "deploy", CLUSTER="c1", IMAGE=IMAGE)


def test_kind_up_creates_the_cluster_as_the_library_does(default_project):
    (line,) = _dry_run(default_project, "kind-up", CLUSTER="c1")
    expected = kind.create_command(Path("kind"), "c1", Path("deploy/kind/cluster.yaml"))

    assert shlex.join(expected) in " ".join(line)


def test_deploy_loads_the_image_as_the_library_does(deploy_commands):
    assert _line(deploy_commands, "load") == kind.load_command(Path("kind"), "c1", IMAGE)


def test_deploy_installs_with_the_image_values_and_waits(default_project, deploy_commands):
    line = _line(deploy_commands, "upgrade")
    plan = plan_deploy(default_project, ImageRef.parse(IMAGE), helm=Helm(Path("helm"), "v4.1.4"))
    sets = {line[i + 1] for i, word in enumerate(line) if word == "--set"}

    assert line[:5] == ["helm", "upgrade", "--install", plan.release, "charts/my-model"]
    # The library also clears image.digest (the `full` values set pins one); the chart's default is empty.
    assert sets == {arg for arg in plan.image.helm_set_args() if arg != "--set"} - {"image.digest="}
    assert "--wait" in line
    assert line[line.index("--kube-context") + 1] == "kind-c1"


def test_deploy_waits_for_the_rollout_then_runs_helm_test(deploy_commands):
    rollout = _line(deploy_commands, "rollout")
    test = _line(deploy_commands, "test")

    assert rollout[rollout.index("--selector") + 1] == "app.kubernetes.io/instance=my-model"
    assert test[:3] == ["helm", "test", "my-model"]
    assert "--logs" in test
    assert deploy_commands.index(rollout) < deploy_commands.index(test)


def test_smoke_kind_calls_the_model_the_chart_serves_on_the_service_port(default_project):
    if not find_helms():
        pytest.skip("helm is not installed (run scripts/setup-k8s-tools.sh)")
    text = " ".join(" ".join(line) for line in _dry_run(default_project, "smoke-kind", PORT="18080"))
    _, services = render_workload(default_project, ImageRef.parse(IMAGE), "default")
    port_name = services[0]["spec"]["ports"][0]["name"]
    package = read_answers(default_project)["package_name"]

    # The smoke module asks the server for its model's name and example request (GET /v2 and
    # /v2/models/<name>), so it checks whatever model the chart serves under whatever name.
    assert f"python -m {package}.serving.smoke http://127.0.0.1:18080" in text
    assert f"port-forward $svc 18080:{port_name}" in text
