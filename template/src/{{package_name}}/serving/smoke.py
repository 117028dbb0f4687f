"""Smoke-test a running service with the example request of its own signature.

Owned by the template: extend through ``model.py``; ``copier update`` may replace this file.

``python -m <package>.serving.smoke URL`` waits for readiness, reads the example rows and the
model's answers to them from the artifact's ``signature.json`` (in ``MODEL_DIR``, else beside
``MODEL_PATH``) when it is the served model's, else from ``GET /v2/models/{name}``, sends them to
``/predict`` and to the v2 infer route, and exits non-zero naming the first answer that differs.
The chart's ``helm test`` pod, the CI smoke steps and ``make smoke`` all run it, so none of them
hard-codes a row: after a model change they check the new model. Standard library only: it runs
in the image as it is.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# As in ``artifact`` (not imported: this module is standard library only).
MODEL_PATH_ENV = "MODEL_PATH"
MODEL_DIR_ENV = "MODEL_DIR"
DEFAULT_MODEL_PATH = Path("artifacts/model.joblib")


class SmokeError(RuntimeError):
    """The service answered wrongly, or not at all."""


def _call(url: str, body: Any = None, timeout: float = 10) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - a URL we were given
            return json.load(response)
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")
        raise SmokeError(f"{url}: HTTP {error.code}: {detail}") from None


def _same(got: Sequence[Any], want: Sequence[Any]) -> bool:
    """Equal answers; numbers within a relative 1e-6 (a regressor's floats cross JSON)."""
    if len(got) != len(want):
        return False
    for a, b in zip(got, want, strict=True):
        if isinstance(a, float) or isinstance(b, float):
            if not isinstance(a, int | float) or not isinstance(b, int | float):
                return False
            if not math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9):
                return False
        elif a != b:
            return False
    return True


def v2_request(metadata: dict[str, Any], rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """A v2 infer request for ``rows`` shaped as the model's metadata says its inputs are."""
    inputs = metadata["inputs"]
    if len(inputs) == 1 and len(inputs[0]["shape"]) == 2:  # one 2-D tensor [rows, features]
        tensor = inputs[0]
        flat = [value for row in rows for value in row]
        return {
            "inputs": [
                {"name": tensor["name"], "shape": [len(rows), len(rows[0])], "datatype": "FP64", "data": flat}
            ]
        }
    return {  # one tensor per column, in column order
        "inputs": [
            {"name": t["name"], "shape": [len(rows)], "datatype": t["datatype"], "data": [r[i] for r in rows]}
            for i, t in enumerate(inputs)
        ]
    }


def _expect(route: str, answer: Sequence[Any], want: Sequence[Any]) -> None:
    if not _same(answer, want):
        raise SmokeError(f"{route} answered {answer} for the example rows; the model's own answers: {want}")


def wait_ready(base: str, seconds: float) -> None:
    """Return once ``/v2/health/ready`` answers 200, or raise after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            _call(f"{base}/v2/health/ready", timeout=5)
        except (SmokeError, OSError) as error:
            if time.monotonic() > deadline:
                raise SmokeError(f"{base}/v2/health/ready not 200 within {seconds:g} s: {error}") from None
            time.sleep(1)
        else:
            return


def example_digest(example: Mapping[str, Any]) -> str:
    """A short digest of an example request and its answers: names it without showing its rows."""
    answered = {"instances": example["instances"], "predictions": example["predictions"]}
    text = json.dumps(answered, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def artifact_example(published: Mapping[str, Any]) -> dict[str, Any] | None:
    """The held-out example in ``signature.json`` of the served model's folder, if it is that model's.

    The service publishes a synthetic example unless ``PUBLIC_EXAMPLE`` is on; the image (so
    the chart's test pod and CI's ``docker exec``) and a trained project hold the real one.
    """
    folder = os.environ.get(MODEL_DIR_ENV, "").strip()  # it wins over MODEL_PATH, as in ``artifact``
    given = os.environ.get(MODEL_PATH_ENV, "").strip()
    artifact = Path(folder) / "model.joblib" if folder else Path(given or DEFAULT_MODEL_PATH)
    path = artifact.with_name("signature.json")
    try:
        example = json.loads(path.read_text(encoding="utf-8"))["example"]
        found = example_digest(example)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return {**example, "source": f"held-out, from {path}"} if found == published.get("digest") else None


def smoke(base: str, model_name: str | None = None, wait: float = 60) -> list[str]:
    """Check the service at ``base`` against its own example; returns one line per check passed.

    Raises:
        SmokeError: A route failed or answered otherwise than the example says.
    """
    base = base.rstrip("/")
    wait_ready(base, wait)
    lines = ["ready: 200"]
    name = model_name or _call(f"{base}/v2")["name"]
    metadata = _call(f"{base}/v2/models/{name}")
    published = metadata.get("parameters", {}).get("example") or {}
    example = artifact_example(published) or published
    rows, want = example.get("instances"), example.get("predictions")
    if not rows:
        raise SmokeError(f"model {name!r} publishes no example request: retrain it with train.py")
    lines.append(f"example: {example.get('source', 'held-out')}")
    answer = _call(f"{base}/predict", {"instances": rows})["predictions"]
    _expect("/predict", answer, want)
    lines.append(f"/predict: {len(rows)} example rows answered as at training: {answer}")
    outputs = _call(f"{base}/v2/models/{name}/infer", v2_request(metadata, rows))["outputs"]
    _expect("v2 infer", next(output["data"] for output in outputs if output["name"] == "predict"), want)
    lines.append(f"/v2/models/{name}/infer: answered as at training")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; exit code 1 with the reason when a check fails."""
    parser = argparse.ArgumentParser(prog=f"python -m {__name__}", description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the service's base URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--model", help="model name (default: the name the server reports)")
    parser.add_argument("--wait", type=float, default=60, help="seconds to wait for readiness (default 60)")
    args = parser.parse_args(argv)
    try:
        for line in smoke(args.url, args.model, args.wait):
            print(line, flush=True)  # noqa: T201 - CLI output
    except SmokeError as error:
        print(f"smoke: {error}", file=sys.stderr)  # noqa: T201 - CLI output
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
