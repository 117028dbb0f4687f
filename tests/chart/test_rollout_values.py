"""Rolling updates lose no request: surge first, a preStop delay, and a grace period that covers it.

The chart's choice: users set the delay (``shutdown.delaySeconds``) and the drain
(``terminationGracePeriodSeconds``, the time after the delay); the pod's grace period is computed
as their sum, so it can never be shorter than the delay. JSON Schema cannot compare two fields,
and a computed sum needs no ``fail``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.chart.helm import Chart, Helm
from generator.chart.manifests import ManifestChecker

Manifests = list[dict[str, Any]]


@pytest.fixture
def template_with(
    helm4: Helm, checker: ManifestChecker, default_chart: Chart, tmp_path: Path
) -> Callable[[dict[str, Any]], tuple[int, Manifests, str]]:
    """Render the default chart with extra values: (exit code, manifests, stderr)."""

    def template(values: dict[str, Any]) -> tuple[int, Manifests, str]:
        path = tmp_path / "values.yaml"
        path.write_text(json.dumps(values), encoding="utf-8")
        code, stdout, stderr = helm4.template(
            default_chart.name, default_chart.path, namespace=checker.namespace, values=[path], check=False
        )
        manifests = [doc for doc in yaml.safe_load_all(stdout) if doc] if code == 0 else []
        return code, manifests, stderr

    return template


@pytest.fixture(scope="module")
def defaults(default_chart: Chart) -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load((default_chart.path / "values.yaml").read_text(encoding="utf-8"))
    return values


def deployment_of(manifests: Manifests) -> dict[str, Any]:
    [deployment] = [doc for doc in manifests if doc["kind"] == "Deployment"]
    return deployment


def server_of(deployment: dict[str, Any]) -> dict[str, Any]:
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return container


def env_of(container: dict[str, Any]) -> dict[str, str | None]:
    return {item["name"]: item.get("value") for item in container["env"]}


def test_default_update_surges_one_pod_and_never_drops_capacity(
    rendered: Callable[[str], Manifests], only: Any, defaults: dict[str, Any]
) -> None:
    spec = only(rendered("default"), "Deployment")["spec"]
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    assert spec["minReadySeconds"] == defaults["minReadySeconds"] > 0


def test_default_pre_stop_sleeps_natively_and_the_grace_period_covers_it(
    rendered: Callable[[str], Manifests], only: Any, defaults: dict[str, Any]
) -> None:
    deployment = only(rendered("default"), "Deployment")
    server = server_of(deployment)
    delay = defaults["shutdown"]["delaySeconds"]
    assert delay > 0
    assert server["lifecycle"] == {"preStop": {"sleep": {"seconds": delay}}}
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace == delay + defaults["terminationGracePeriodSeconds"]
    shutdown_timeout = int(env_of(server)["SHUTDOWN_TIMEOUT"] or 0)
    # The kubelet's clock runs from the preStop hook: the delay, the drain, then 5 s to exit.
    assert delay + shutdown_timeout + 5 == grace
    assert "SHUTDOWN_DELAY" not in env_of(server)  # the hook holds the delay, not the server


def test_exec_fallback_sleeps_with_the_images_python(
    template_with: Callable[[dict[str, Any]], tuple[int, Manifests, str]],
) -> None:
    code, manifests, stderr = template_with({"shutdown": {"delaySeconds": 12, "delayMode": "exec"}})
    assert code == 0, stderr
    server = server_of(deployment_of(manifests))
    # No `sleep` binary is promised by the image; its python is (the CMD runs it).
    assert server["lifecycle"] == {
        "preStop": {"exec": {"command": ["python", "-c", "import time; time.sleep(12)"]}}
    }


def test_server_mode_has_no_hook_and_tells_the_server_the_delay(
    template_with: Callable[[dict[str, Any]], tuple[int, Manifests, str]],
) -> None:
    code, manifests, stderr = template_with(
        {"shutdown": {"delaySeconds": 8, "delayMode": "server"}, "terminationGracePeriodSeconds": 20}
    )
    assert code == 0, stderr
    deployment = deployment_of(manifests)
    server = server_of(deployment)
    assert "lifecycle" not in server
    assert env_of(server)["SHUTDOWN_DELAY"] == "8"
    assert env_of(server)["SHUTDOWN_TIMEOUT"] == "15"
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 28


def test_no_delay_means_no_hook(
    template_with: Callable[[dict[str, Any]], tuple[int, Manifests, str]],
) -> None:
    code, manifests, stderr = template_with({"shutdown": {"delaySeconds": 0}})
    assert code == 0, stderr
    deployment = deployment_of(manifests)
    assert "lifecycle" not in server_of(deployment)
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 30


@pytest.mark.parametrize(("delay", "drain"), [(1, 6), (10, 30), (30, 10), (120, 600)])
def test_grace_period_is_never_shorter_than_the_delay_plus_the_drain(
    template_with: Callable[[dict[str, Any]], tuple[int, Manifests, str]], delay: int, drain: int
) -> None:
    code, manifests, stderr = template_with(
        {"shutdown": {"delaySeconds": delay}, "terminationGracePeriodSeconds": drain}
    )
    assert code == 0, stderr
    deployment = deployment_of(manifests)
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    shutdown_timeout = int(env_of(server_of(deployment))["SHUTDOWN_TIMEOUT"] or 0)
    assert grace >= delay + shutdown_timeout
    assert grace > delay


def test_recreate_has_no_rolling_update_block(
    template_with: Callable[[dict[str, Any]], tuple[int, Manifests, str]],
) -> None:
    code, manifests, stderr = template_with({"updateStrategy": {"type": "Recreate"}})
    assert code == 0, stderr
    assert deployment_of(manifests)["spec"]["strategy"] == {"type": "Recreate"}


@pytest.mark.parametrize(
    ("surge", "unavailable"),
    [(0, 0), ("0%", 0), (0, "0%")],
    ids=["zeros", "zero-percent-surge", "zero-percent"],
)
def test_a_rollout_that_cannot_progress_is_refused(
    template_with: Callable[[dict[str, Any]], tuple[int, Manifests, str]], surge: Any, unavailable: Any
) -> None:
    code, _, stderr = template_with(
        {"updateStrategy": {"rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}}
    )
    assert code != 0
    assert "maxSurge and maxUnavailable cannot both be 0" in stderr


def test_percentages_pass_through(
    template_with: Callable[[dict[str, Any]], tuple[int, Manifests, str]],
) -> None:
    code, manifests, stderr = template_with(
        {"updateStrategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "10%"}}}
    )
    assert code == 0, stderr
    assert deployment_of(manifests)["spec"]["strategy"]["rollingUpdate"] == {
        "maxSurge": "25%",
        "maxUnavailable": "10%",
    }


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"shutdown": {"delaySeconds": -1}}, "delaySeconds"),
        ({"shutdown": {"delaySeconds": "10s"}}, "delaySeconds"),
        ({"shutdown": {"delayMode": "hook"}}, "delayMode"),
        ({"shutdown": {"preStop": 5}}, "preStop"),
        ({"updateStrategy": {"type": "BlueGreen"}}, "type"),
        ({"updateStrategy": {"rollingUpdate": {"maxSurge": "lots"}}}, "maxSurge"),
        ({"updateStrategy": {"rollingUpdate": {"maxUnavailable": -1}}}, "maxUnavailable"),
        ({"minReadySeconds": -5}, "minReadySeconds"),
        ({"terminationGracePeriodSeconds": 0}, "terminationGracePeriodSeconds"),
    ],
    ids=[
        "negative-delay",
        "delay-with-unit",
        "unknown-mode",
        "unknown-shutdown-key",
        "unknown-strategy",
        "surge-not-int-or-percent",
        "negative-unavailable",
        "negative-min-ready",
        "no-time-to-drain",
    ],
)
def test_schema_refuses_bad_rollout_values(
    template_with: Callable[[dict[str, Any]], tuple[int, Manifests, str]], values: dict[str, Any], key: str
) -> None:
    code, _, stderr = template_with(values)
    assert code != 0
    assert key in stderr


def test_every_values_set_keeps_a_grace_period_over_the_delay(
    rendered: Callable[[str], Manifests], only: Any, values_set: str
) -> None:
    deployment = only(rendered(values_set), "Deployment")
    spec = deployment["spec"]
    server = server_of(deployment)
    hook = server.get("lifecycle", {}).get("preStop", {})
    env = env_of(server)
    if "sleep" in hook:
        delay = hook["sleep"]["seconds"]
    elif "exec" in hook:
        delay = int(hook["exec"]["command"][-1].split("(")[1].rstrip(")"))
    else:
        delay = int(env.get("SHUTDOWN_DELAY") or 0)
    drain = int(env["SHUTDOWN_TIMEOUT"] or 0)
    assert spec["template"]["spec"]["terminationGracePeriodSeconds"] >= delay + drain
    assert spec["strategy"]["type"] == "RollingUpdate"
