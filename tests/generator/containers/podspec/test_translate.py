"""The pod-spec translation: rendered Deployments become docker run options, or a named refusal.

No engine is needed: the chart is rendered with helm (skips without it) and translated in-process.
"""

from __future__ import annotations

import copy
import shlex
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from generator.chart.helm import find_helms
from generator.containers.podspec.env import POD_NAME, Untranslatable, expand, quantity
from generator.containers.podspec.translate import translate
from generator.containers.podspec.workload import render_workload, service_ports
from generator.errors import GeneratorError
from generator.image.image_ref import ImageRef

IMAGE = ImageRef("dsdeploy-test/project", "abc123")
Deployment = dict[str, Any]


@pytest.fixture(scope="module")
def rendered(default_project: Path) -> Callable[[str], tuple[Deployment, list[Deployment]]]:
    if not find_helms():
        pytest.skip("helm is not installed (run scripts/setup-k8s-tools.sh)")
    cache: dict[str, tuple[Deployment, list[Deployment]]] = {}

    def _rendered(values_set: str) -> tuple[Deployment, list[Deployment]]:
        if values_set not in cache:
            cache[values_set] = render_workload(default_project, IMAGE, values_set)
        return copy.deepcopy(cache[values_set])

    return _rendered


def _container(deployment: Deployment) -> dict[str, Any]:
    return deployment["spec"]["template"]["spec"]["containers"][0]


def test_default_deployment_runs_hardened_as_the_chart_says(rendered):
    run = translate(rendered("default")[0])
    options = run.docker_options()

    assert run.image == str(IMAGE)
    assert options["user"] == "10001:10001"
    assert options["group_add"] == ["10001"]  # fsGroup
    assert options["read_only"] is True
    assert options["tmpfs"] == {"/tmp": f"rw,nosuid,nodev,mode=1777,size={64 * 2**20}"}
    assert options["cap_drop"] == ["ALL"]
    assert options["security_opt"] == ["no-new-privileges"]
    assert options["nano_cpus"] == 10**9
    assert options["mem_limit"] == options["memswap_limit"] == 512 * 2**20
    assert options["cpu_shares"] == 102  # 100m, as the kubelet computes shares
    assert options["healthcheck"] == {"test": ["NONE"]}
    assert "entrypoint" not in options
    assert "command" not in options  # no command/args: the image's CMD runs
    assert run.env_value("MODEL_NAME") == "my-model"
    assert run.grace_seconds == 40  # the preStop delay (10 s) plus the drain (30 s)
    assert run.pre_stop_sleep == 10
    assert run.notes == ()


def test_probes_resolve_the_named_port(rendered):
    run = translate(rendered("default")[0])

    assert [(p.kind, p.path, p.port, p.port_ref) for p in run.probes] == [
        ("startup", "/v2/health/live", 8080, "http"),
        ("liveness", "/v2/health/live", 8080, "http"),
        ("readiness", "/v2/health/ready", 8080, "http"),
    ]
    assert run.probe("startup").budget == 120  # periodSeconds 2 x failureThreshold 60


def test_full_values_refuse_the_gpu_unless_told_to_run_without_it(rendered):
    deployment = rendered("full")[0]

    with pytest.raises(Untranslatable, match=r"resources\.limits\.nvidia\.com/gpu"):
        translate(deployment)
    run = translate(deployment, without_devices=True)

    assert any("nvidia.com/gpu" in note for note in run.notes)


def test_full_values_translate_extra_volume_fieldref_and_optional_envfrom(rendered):
    run = translate(rendered("full")[0], without_devices=True)

    assert {m.path: m.size_bytes for m in run.tmpfs} == {"/tmp": 128 * 2**20, "/var/cache/model": 2**30}
    assert run.env_value("POD_NAME") == POD_NAME
    assert run.env_value("LOG_LEVEL") == "debug"
    assert run.env_value("MODEL_NAME") == "iris"
    assert any("model-settings" in note for note in run.notes)


def _set_probe_exec(d: Deployment) -> None:
    _container(d)["livenessProbe"] = {"exec": {"command": ["true"]}}


def _mount_config_map(d: Deployment) -> None:
    d["spec"]["template"]["spec"]["volumes"].append({"name": "conf", "configMap": {"name": "c"}})
    _container(d)["volumeMounts"].append({"name": "conf", "mountPath": "/etc/conf"})


REFUSALS: dict[str, tuple[Callable[[Deployment], None], str]] = {
    "exec-probe": (_set_probe_exec, "livenessProbe"),
    "config-map-volume": (_mount_config_map, "volume conf"),
    "sub-path": (
        lambda d: _container(d)["volumeMounts"][0].update(subPath="x"),
        r"volumeMounts\[\]\.subPath",
    ),
    "host-port": (lambda d: _container(d)["ports"][0].update(hostPort=8080), "hostPort"),
    "host-network": (lambda d: d["spec"]["template"]["spec"].update(hostNetwork=True), "hostNetwork"),
    # A native sidecar (an init container that keeps running) is not one that runs to completion.
    "sidecar-init-container": (
        lambda d: d["spec"]["template"]["spec"].update(
            initContainers=[{"name": "i", "image": "x", "restartPolicy": "Always"}]
        ),
        r"init container i\.restartPolicy",
    ),
    "sidecar": (
        lambda d: d["spec"]["template"]["spec"]["containers"].append({"name": "side", "image": "x"}),
        "containers",
    ),
    "post-start-hook": (
        lambda d: _container(d).update(lifecycle={"postStart": {"exec": {"command": ["true"]}}}),
        "lifecycle.postStart",
    ),
    "http-pre-stop-hook": (
        lambda d: _container(d).update(lifecycle={"preStop": {"httpGet": {"path": "/", "port": 8080}}}),
        r"lifecycle\.preStop\.httpGet",
    ),
    "secret-env": (
        lambda d: _container(d)["env"].append(
            {"name": "T", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
        ),
        "env T valueFrom.secretKeyRef",
    ),
    "secret-env-from": (
        lambda d: _container(d).update(envFrom=[{"secretRef": {"name": "s"}}]),
        "envFrom secretRef s",
    ),
    "pod-ip-field-ref": (
        lambda d: _container(d)["env"].append(
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}
        ),
        "fieldRef status.podIP",
    ),
    "localhost-seccomp": (
        lambda d: _container(d)["securityContext"].update(seccompProfile={"type": "Localhost"}),
        "seccompProfile",
    ),
    "ephemeral-storage": (
        lambda d: _container(d)["resources"]["limits"].update({"ephemeral-storage": "1Gi"}),
        "ephemeral-storage",
    ),
    "resource-field-of-undeclared-limit": (
        lambda d: _container(d)["resources"]["limits"].pop("cpu"),
        "resourceFieldRef limits.cpu",
    ),
}


@pytest.mark.parametrize(
    ("limit", "divisor", "expected"), [("1", "1", "1"), ("1500m", "1", "2"), ("2", "500m", "4")]
)
def test_resource_field_ref_is_computed_as_the_kubelet_does(rendered, limit, divisor, expected):
    deployment = rendered("default")[0]
    container = _container(deployment)
    container["resources"]["limits"]["cpu"] = limit
    workers = next(entry for entry in container["env"] if entry["name"] == "WORKERS")
    workers["valueFrom"]["resourceFieldRef"]["divisor"] = divisor

    assert translate(deployment).env_value("WORKERS") == expected


@pytest.mark.parametrize("case", REFUSALS, ids=list(REFUSALS))
def test_untranslatable_fields_are_refused_by_name(rendered, case):
    deployment = rendered("default")[0]
    change, field = REFUSALS[case]
    change(deployment)

    with pytest.raises(Untranslatable, match=field):
        translate(deployment)


def test_probe_naming_an_undeclared_port_is_named(rendered):
    deployment = rendered("default")[0]
    _container(deployment)["readinessProbe"]["httpGet"]["port"] = "metrics"

    with pytest.raises(GeneratorError, match=r"readinessProbe names port 'metrics'.*declared: http=8080"):
        translate(deployment)


def test_mount_of_an_undefined_volume_is_named(rendered):
    deployment = rendered("default")[0]
    deployment["spec"]["template"]["spec"]["volumes"] = []

    with pytest.raises(GeneratorError, match="volumeMount /tmp names volume 'tmp'"):
        translate(deployment)


def test_service_targeting_an_undeclared_port_fails_its_check(rendered):
    deployment, services = rendered("default")
    _container(deployment)["ports"][0]["name"] = "web"
    _container(deployment)["readinessProbe"]["httpGet"]["port"] = "web"
    for probe in ("startupProbe", "livenessProbe"):
        _container(deployment)[probe]["httpGet"]["port"] = "web"

    checks, port = service_ports(deployment, services, translate(deployment))

    assert port is None
    assert [c.passed for c in checks] == [False]
    assert "targetPort 'http'; the container declares web=8080" in checks[0].detail


def test_command_without_args_drops_the_image_cmd_and_expands_variables(rendered):
    deployment = rendered("default")[0]
    _container(deployment)["command"] = ["python", "-m", "$(MODEL_NAME).serve", "$$(KEEP)"]

    run = translate(deployment)
    options = run.docker_options()

    assert options["entrypoint"] == ["python", "-m", "my-model.serve", "$(KEEP)"]
    assert options["command"] == []
    argv = shlex.split(run.docker_command())
    assert argv[argv.index("--entrypoint") + 1 :] == ["python", str(IMAGE), "-m", "my-model.serve", "$(KEEP)"]


def test_docker_command_reproduces_the_options(rendered):
    argv = shlex.split(translate(rendered("default")[0]).docker_command())

    for flag, value in [
        ("--user", "10001:10001"),
        ("--cpus", "1"),
        ("--memory", f"{512 * 2**20}b"),
        ("--cap-drop", "ALL"),
        ("--security-opt", "no-new-privileges"),
        ("--tmpfs", f"/tmp:rw,nosuid,nodev,mode=1777,size={64 * 2**20}"),
        ("--publish", "127.0.0.1::8080"),
    ]:
        assert argv[argv.index(flag) + 1] == value, flag
    assert "--read-only" in argv
    assert argv[-1] == str(IMAGE)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500m", Decimal("0.5")),
        ("1", Decimal(1)),
        ("1.5", Decimal("1.5")),
        ("512Mi", Decimal(512 * 2**20)),
        ("1Gi", Decimal(2**30)),
        ("2k", Decimal(2000)),
        ("1e3", Decimal(1000)),
        ("128974848", Decimal(128974848)),
    ],
)
def test_quantities_parse_as_kubernetes_does(text, expected):
    assert quantity(text, "f") == expected


@pytest.mark.parametrize("text", ["lots", "1 Gi", "Mi", "1GB"])
def test_bad_quantities_are_refused(text):
    with pytest.raises(Untranslatable, match="not a Kubernetes quantity"):
        quantity(text, "resources.limits.memory")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$(A)-$(B)", "1-$(B)"),
        ("$$(A)", "$(A)"),
        ("plain $A", "plain $A"),
        ("$(A)$(A)", "11"),
    ],
)
def test_variable_expansion_follows_kubernetes(text, expected):
    assert expand(text, {"A": "1"}) == expected


@pytest.mark.parametrize(
    ("hook", "sleep", "command"),
    [
        pytest.param({"sleep": {"seconds": 7}}, 7.0, None, id="native-sleep"),
        pytest.param(
            {"exec": {"command": ["python", "-c", "pass"]}}, None, ("python", "-c", "pass"), id="exec"
        ),
    ],
)
def test_pre_stop_hook_is_run_before_sigterm(rendered, hook, sleep, command):
    deployment, _ = rendered("default")
    _container(deployment)["lifecycle"] = {"preStop": hook}
    run = translate(deployment)
    assert run.pre_stop_sleep == sleep
    assert run.pre_stop_exec == command


def test_the_model_images_init_container_shares_its_emptydir_with_the_server(rendered):
    run = translate(rendered("model-image")[0])

    [init] = run.init
    assert init.image.endswith("-model:1.2.4") or "@sha256:" in init.image
    assert init.entrypoint == ("cp", "-R", "/models/.", "/mnt/models/")
    # Hardened as the server, its own read-only root; the emptyDir is shared, not a tmpfs of its own.
    options = init.docker_options()
    assert (options["user"], options["read_only"], options["cap_drop"]) == ("10001:10001", True, ["ALL"])
    assert [(m.path, m.volume, m.read_only) for m in init.shared] == [("/mnt/models", "model", False)]
    assert [(m.path, m.volume, m.read_only) for m in run.shared] == [("/mnt/models", "model", True)]
    assert [mount.path for mount in run.tmpfs] == ["/tmp"]
    assert run.env_value("MODEL_DIR") == "/mnt/models"
    assert run.volume_options({"model": "vol"}) == {"vol": {"bind": "/mnt/models", "mode": "ro"}}
    assert "--volume model:/mnt/models:ro" in run.docker_command()


def test_an_image_volume_is_refused_by_name(rendered):
    # Docker mounts no image as a volume here: the smoke runs the init-container copy instead.
    with pytest.raises(Untranslatable, match="volume model"):
        translate(rendered("model-image-volume")[0])
