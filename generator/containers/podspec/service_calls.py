"""What a client of the pod does in the pod-spec smoke: v2 infer calls on one kept-alive connection.

The calls go through the port the Service targets, several on one HTTP/1.1 connection, because
that is how real clients (and proxies) talk to a pod, and because a server with several workers
must answer on a reused connection as it does on a fresh one. Each answer is checked against the
model's own answers to its example request, read from its signature in the image (or in the
model image's files the pod's init container copied in).
"""

from __future__ import annotations

import http.client
from collections.abc import Mapping
from typing import Any

from generator.containers.podspec.container_run import ContainerRun
from generator.containers.v2_client import Example, example_in_image, image_example, infer_answer, parse
from generator.containers.v2_client import model_name as model_name_of
from generator.engine.client import docker_client
from generator.engine.run import HTTP_TIMEOUT
from generator.results import CheckResult, checked

INFER = "v2 infer through the Service's targetPort"
KEEP_ALIVE = "v2 infer, every call on one kept-alive connection"
#: Infer calls made on one connection (several workers must all answer on it alike).
KEEP_ALIVE_CALLS = 5


def infer_calls(port: int, model_name: str, example: Example) -> list[CheckResult]:
    """Infer ``KEEP_ALIVE_CALLS`` times on one HTTP/1.1 connection; each answer must be the model's.

    Returns:
        The first call's check, then one for all calls: every answer right and every call on the
        same client socket (``http.client`` reconnects silently when the server closes, so the
        socket's local address is compared call by call).
    """
    body, expected = example.infer_body(), example.predictions
    path = f"/v2/models/{model_name}/infer"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT)
    results: list[tuple[int, Any]] = []
    sockets: set[object] = set()
    try:
        for _ in range(KEEP_ALIVE_CALLS):
            connection.request("POST", path, body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            results.append((response.status, infer_answer(parse(response.read()))))
            sockets.add(connection.sock.getsockname() if connection.sock is not None else None)
    except (OSError, http.client.HTTPException) as exc:
        done = f"{len(results)} of {KEEP_ALIVE_CALLS} calls answered"
        first_ok = bool(results) and results[0][0] == 200 and example.matches(results[0][1])
        return [checked(INFER, first_ok, f"no answer: {exc} ({done})")]
    finally:
        connection.close()
    status, got = results[0]
    first = checked(
        INFER,
        status == 200 and example.matches(got),
        f"POST {path}: HTTP {status}: got {got}, model says {expected}",
    )
    wrong = [
        f"call {n}: HTTP {code}, got {got}"
        for n, (code, got) in enumerate(results, 1)
        if code != 200 or not example.matches(got)
    ]
    reused = len(sockets) == 1 and None not in sockets
    detail = "; ".join(wrong) or f"{KEEP_ALIVE_CALLS} calls answered {expected}"
    detail += "" if reused else f"; the connection was not kept alive ({len(sockets)} sockets)"
    return [first, checked(KEEP_ALIVE, not wrong and reused, detail)]


class ServiceCalls:
    """The client calls made once the pod is ready (callable with the published host ports).

    The model name and the model's own answers are looked up on the first call only, so a pod
    that never gets ready costs no extra container.
    """

    def __init__(
        self,
        image: str,
        run: ContainerRun,
        infer_port: int | None,
        run_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.image = image
        self.run = run
        self.infer_port = infer_port
        # How to read the served model's signature when it is not the image's own (a model
        # image's files in a shared volume): the server's mounts and environment.
        self.run_options = run_options
        self._expected: tuple[str, Example] | None = None

    def __call__(self, host: dict[int, int]) -> list[CheckResult]:
        """The infer checks of :func:`infer_calls`, through the Service's target port."""
        if self.infer_port is None or self.infer_port not in host:
            return [checked(INFER, False, "no Service port to call")]
        if self._expected is None:
            name = model_name_of(self.image, self.run.env_value("MODEL_NAME"))
            example = (
                example_in_image(docker_client(), self.image, self.run_options)
                if self.run_options is not None
                else image_example(self.image)
            )
            self._expected = (name, example)
        name, example = self._expected
        return infer_calls(host[self.infer_port], name, example)
