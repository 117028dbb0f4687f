"""What a client of the pod does in the pod-spec smoke: v2 infer calls on one kept-alive connection.

The calls go through the port the Service targets, several on one HTTP/1.1 connection, because
that is how real clients (and proxies) talk to a pod, and because a server with several workers
must answer on a reused connection as it does on a fresh one. Each answer is checked against the
model's own predictions, computed inside the image from the artifact.
"""

from __future__ import annotations

import http.client
import json
from typing import Any

from generator.container_run import ContainerRun
from generator.errors import GeneratorError
from generator.smoke import HTTP_TIMEOUT, TITLE_LABEL, Check, docker_client, expected_predictions

INFER = "v2 infer through the Service's targetPort"
KEEP_ALIVE = "v2 infer, every call on one kept-alive connection"
#: Infer calls made on one connection (several workers must all answer on it alike).
KEEP_ALIVE_CALLS = 5


def model_name(image: str, run: ContainerRun) -> str:
    """The name in the v2 routes: the spec's ``MODEL_NAME``, else the image's title label."""
    name = run.env_value("MODEL_NAME")
    if name:
        return name
    labels = docker_client().images.get(image).labels or {}
    if TITLE_LABEL not in labels:
        raise GeneratorError(f"{image} has no {TITLE_LABEL} label and the spec sets no MODEL_NAME")
    return str(labels[TITLE_LABEL])


def _answer(raw: bytes) -> Any:
    try:
        answer = json.loads(raw)
    except ValueError:
        return None
    outputs = answer.get("outputs", []) if isinstance(answer, dict) else []
    return next(
        (o["data"] for o in outputs if o.get("name") == "predict"), outputs[0]["data"] if outputs else None
    )


def infer_calls(port: int, model_name: str, rows: list[list[float]], expected: list[Any]) -> list[Check]:
    """Infer ``KEEP_ALIVE_CALLS`` times on one HTTP/1.1 connection; each answer must be the model's.

    Returns:
        The first call's check, then one for all calls: every answer right and every call on the
        same client socket (``http.client`` reconnects silently when the server closes, so the
        socket's local address is compared call by call).
    """
    flat = [value for row in rows for value in row]
    body = json.dumps(
        {
            "inputs": [
                {"name": "input-0", "shape": [len(rows), len(rows[0])], "datatype": "FP64", "data": flat}
            ]
        }
    ).encode()
    path = f"/v2/models/{model_name}/infer"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT)
    results: list[tuple[int, Any]] = []
    sockets: set[object] = set()
    try:
        for _ in range(KEEP_ALIVE_CALLS):
            connection.request("POST", path, body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            results.append((response.status, _answer(response.read())))
            sockets.add(connection.sock.getsockname() if connection.sock is not None else None)
    except (OSError, http.client.HTTPException) as exc:
        done = f"{len(results)} of {KEEP_ALIVE_CALLS} calls answered"
        return [Check(INFER, bool(results) and results[0] == (200, expected), f"no answer: {exc} ({done})")]
    finally:
        connection.close()
    status, got = results[0]
    first = Check(
        INFER,
        status == 200 and got == expected,
        f"POST {path}: HTTP {status}: got {got}, model says {expected}",
    )
    wrong = [
        f"call {n}: HTTP {s}, got {g}" for n, (s, g) in enumerate(results, 1) if (s, g) != (200, expected)
    ]
    reused = len(sockets) == 1 and None not in sockets
    detail = "; ".join(wrong) or f"{KEEP_ALIVE_CALLS} calls answered {expected}"
    detail += "" if reused else f"; the connection was not kept alive ({len(sockets)} sockets)"
    return [first, Check(KEEP_ALIVE, not wrong and reused, detail)]


class ServiceCalls:
    """The client calls made once the pod is ready (callable with the published host ports).

    The model name and the model's own answers are looked up on the first call only, so a pod
    that never gets ready costs no extra container.
    """

    def __init__(self, image: str, run: ContainerRun, infer_port: int | None) -> None:
        self.image = image
        self.run = run
        self.infer_port = infer_port
        self._expected: tuple[str, list[list[float]], list[Any]] | None = None

    def __call__(self, host: dict[int, int]) -> list[Check]:
        """The infer checks of :func:`infer_calls`, through the Service's target port."""
        if self.infer_port is None or self.infer_port not in host:
            return [Check(INFER, False, "no Service port to call")]
        if self._expected is None:
            self._expected = (model_name(self.image, self.run), *expected_predictions(self.image))
        name, rows, expected = self._expected
        return infer_calls(host[self.infer_port], name, rows, expected)
