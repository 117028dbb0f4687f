"""Run an image the way the Helm chart runs it, and check the service end to end.

The container gets what the chart's ``securityContext`` gives a pod: a fixed non-root uid, a
read-only root filesystem with a writable ``/tmp``, no capabilities, no privilege escalation.
The answers are checked against the model's own predictions, computed inside the same image by
loading the artifact directly (not through the service), so a service that mangles inputs or
outputs is caught.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import docker

from generator.containers.v2_client import Example, image_example, infer_answer, predict_answer
from generator.containers.v2_client import model_name as model_name_of
from generator.engine.client import Engine, check_engine, engine_client
from generator.engine.run import ContainerExited, http, running, wait_ready
from generator.process import ProgressFn, ignore_progress
from generator.results import CheckedReport, CheckResult, checked

EARLY_EXIT = "the container runs until it is ready"


@dataclass(frozen=True)
class SmokeReport(CheckedReport):
    """Everything a smoke run found.

    Attributes:
        image: The image run.
        model_name: The model name used in the v2 routes.
        ready_seconds: From container start to the first 200 of ``/v2/health/ready`` (None if
            the container exited first).
        stop_seconds: From SIGTERM to the container's exit (None if it exited before).
        exit_code: The container's exit code: after SIGTERM, or the one it exited early with
            (None if it never stopped).
        checks: Every check, passed or not.
        logs: The tail of the container's output.
    """

    image: str
    model_name: str
    ready_seconds: float | None
    stop_seconds: float | None
    exit_code: int | None
    checks: tuple[CheckResult, ...]
    logs: str = ""

    def summary(self) -> str:
        """One line per failed check, or a one-line all-clear."""
        return self.summarise(self.image, self.ready_seconds)


def _expect_4xx(name: str, status: int, body: Any) -> CheckResult:
    return checked(name, 400 <= status < 500, f"HTTP {status}: {body}")


def _answer_check(name: str, status: int, answer: Any, example: Example) -> CheckResult:
    detail = f"HTTP {status}: got {answer}, model says {example.predictions}"
    return checked(name, status == 200 and example.matches(answer), detail)


def _service_checks(base_url: str, name: str, example: Example) -> list[CheckResult]:
    checks: list[CheckResult] = []
    status, body = http("GET", f"{base_url}/v2/health/live")
    checks.append(checked("live", status == 200, f"HTTP {status}"))
    status, body = http("GET", f"{base_url}/v2/models/{name}")
    checks.append(checked("metadata", status == 200 and body.get("name") == name, f"HTTP {status}: {body}"))

    infer = f"{base_url}/v2/models/{name}/infer"
    status, body = http("POST", infer, example.infer_body())
    checks.append(_answer_check("v2 infer", status, infer_answer(body), example))
    status, body = http("POST", f"{base_url}/predict", example.predict_body())
    checks.append(_answer_check("predict", status, predict_answer(body), example))

    bad_row = json.dumps({"instances": [example.rows[0][:-1]]}).encode()  # one column short
    status, body = http("POST", f"{base_url}/predict", bad_row)
    checks.append(_expect_4xx("predict: wrong feature count is 4xx", status, body))
    status, body = http("POST", f"{base_url}/predict", b"{not json")
    checks.append(_expect_4xx("predict: malformed JSON is 4xx", status, body))
    request = example.infer_request()
    first = request["inputs"][0]
    wrong_shape = {
        "inputs": [{**first, "shape": [len(example.rows) + 1, *first["shape"][1:]]}, *request["inputs"][1:]]
    }
    status, body = http("POST", infer, json.dumps(wrong_shape).encode())
    checks.append(_expect_4xx("infer: shape not matching data is 4xx", status, body))
    status, body = http("GET", f"{base_url}/v2/models/{name}-no-such-model")
    checks.append(_expect_4xx("metadata: unknown model is 4xx", status, body))
    return checks


def smoke_image(
    image: str,
    *,
    model_name: str | None = None,
    grace: float = 10.0,
    ready_timeout: float = 60.0,
    progress: ProgressFn = ignore_progress,
    engine: Engine = "docker",
) -> SmokeReport:
    """Run ``image`` as the chart would, call every route, and stop it with SIGTERM.

    Args:
        image: Image reference.
        model_name: Name in the v2 routes; default: the image's ``org.opencontainers.image.title``.
        grace: Seconds the container gets between SIGTERM and SIGKILL (Kubernetes'
            terminationGracePeriodSeconds plays this part); it must exit 0 within them.
        ready_timeout: Seconds allowed from start to ready.
        progress: Receives one line per check.
        engine: ``docker``, or ``podman`` (through its Docker-compatible API, on a service this
            run starts and stops).

    Returns:
        The report; ``report.ok`` says whether every check passed. A container that exits
        before it is ready is a failed check naming its exit code and the tail of its log.

    Raises:
        GeneratorError: The engine cannot be reached, or the container never became ready.
    """
    with engine_client(check_engine(engine)) as client:
        return _smoke(image, model_name, grace, ready_timeout, progress, client)


def _smoke(
    image: str,
    model_name: str | None,
    grace: float,
    ready_timeout: float,
    progress: ProgressFn,
    client: docker.DockerClient,
) -> SmokeReport:
    model_name = model_name_of(image, model_name, client)
    progress(f"reading the model's example request in {image}")
    example = image_example(image, client)
    started = time.monotonic()
    try:
        with running(image, client=client) as (container, base_url):
            ready = wait_ready(container, base_url, timeout=ready_timeout, started=started)
            progress(f"ready after {ready:.2f} s at {base_url}")
            checks = _service_checks(base_url, model_name, example)
            stop_started = time.monotonic()
            # stop() sends SIGTERM, then SIGKILL after `grace` seconds: exit 0 before that is clean.
            container.stop(timeout=int(grace))
            stop_seconds = time.monotonic() - stop_started
            container.reload()
            exit_code = int(container.attrs["State"]["ExitCode"])
            clean = exit_code == 0 and stop_seconds < grace
            checks.append(
                checked(
                    "SIGTERM: clean exit within grace", clean, f"exit {exit_code} after {stop_seconds:.2f} s"
                )
            )
            logs = container.logs(tail=30).decode(errors="replace")
    except ContainerExited as exc:
        # An early exit is what the smoke is there to find: a failed check, not an error.
        failed = checked(EARLY_EXIT, False, exc.message)
        progress(f"FAIL {failed.name}: {exc.message}")
        return SmokeReport(image, model_name, None, None, exc.code, (failed,), exc.logs)
    for check in checks:
        progress(
            f"{'ok  ' if check.passed else 'FAIL'} {check.name}"
            + ("" if check.passed else f": {check.detail}")
        )
    return SmokeReport(image, model_name, ready, stop_seconds, exit_code, tuple(checks), logs)
