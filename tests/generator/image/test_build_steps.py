"""What a build's output says about its steps, for both engines (output as each prints it)."""

from __future__ import annotations

from generator.image.build import parse_podman_steps

# `podman build` (buildah 1.28) output, trimmed: a cached step prints "Using cache" and then
# the short id; a step that ran prints its output, then the short id.
PODMAN_OUTPUT = """\
[1/7] STEP 1/6: FROM dsdeploy-base:3.12 AS deps
[1/7] STEP 5/6: WORKDIR /src
--> Using cache f80a5a086c196a8f4c29c163f9677464179b5dfc49413a57531b146c3479b74e
--> f80a5a086c1
[2/7] STEP 1/5: FROM 701c80e0588352ef7b41061950ca17fd65b9f4e801b7cd1b6b63b81eb71169ca AS builder
[2/7] STEP 2/5: COPY pyproject.toml uv.lock README.md LICENSE ./
--> 239d946f582
[2/7] STEP 4/5: RUN /opt/uv/bin/uv build --wheel --out-dir /dist
Building wheel...
--> 5b1c2d3e4f5
[7/7] COMMIT pm-x:dev
"""


def test_podman_steps_are_read_with_their_cache_status():
    steps = parse_podman_steps(PODMAN_OUTPUT.splitlines())
    assert [(step.name, step.cached) for step in steps] == [
        ("[1/7] FROM dsdeploy-base:3.12 AS deps", False),
        ("[1/7] WORKDIR /src", True),
        ("[2/7] FROM 701c80e0588352ef7b41061950ca17fd65b9f4e801b7cd1b6b63b81eb71169ca AS builder", False),
        ("[2/7] COPY pyproject.toml uv.lock README.md LICENSE ./", False),
        ("[2/7] RUN /opt/uv/bin/uv build --wheel --out-dir /dist", False),
    ]
