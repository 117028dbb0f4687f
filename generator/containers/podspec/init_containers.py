"""The pod's init containers and the emptyDirs they share with the server, on Docker.

The chart's ``model.image`` adds an init container that copies the model image's files into an
``emptyDir`` the server then mounts read-only. On Docker that emptyDir is a named volume both
containers mount (a tmpfs would be the init container's alone), made writable by any uid as the
kubelet makes an emptyDir; each init container runs to completion, in order, before the server.
"""

from __future__ import annotations

import uuid

import docker
import docker.errors

from generator.containers.podspec.container_run import ContainerRun
from generator.results import CheckResult, checked

#: Seconds an init container may run (copying a model in takes seconds).
INIT_TIMEOUT = 300
# Run as root in the served image (its python), on the fresh volumes: mode 1777, as an emptyDir.
_OPEN_VOLUMES = "import os, sys\nfor path in sys.argv[1:]:\n    os.chmod(path, 0o1777)"


def pod_volumes(client: docker.DockerClient, run: ContainerRun, image: str) -> dict[str, str]:
    """A Docker volume for each emptyDir an init container shares with the server.

    Returns:
        The pod's volume name -> the Docker volume's name (empty when nothing is shared).
    """
    names = sorted({mount.volume for container in (run, *run.init) for mount in container.shared})
    if not names:
        return {}
    pod = f"dsdeploy-podspec-{uuid.uuid4().hex[:12]}"
    labels = {"dsdeploy.podspec": "1"}
    volumes = {name: client.volumes.create(f"{pod}-{name}", labels=labels).name for name in names}
    mounts = {volumes[name]: {"bind": f"/mnt/{name}", "mode": "rw"} for name in names}
    client.containers.run(
        image,
        ["python", "-c", _OPEN_VOLUMES, *(mount["bind"] for mount in mounts.values())],
        user="0",
        network_disabled=True,
        remove=True,
        volumes=mounts,
    )
    return volumes


def run_init(client: docker.DockerClient, init: ContainerRun, volumes: dict[str, str]) -> list[CheckResult]:
    """Run one init container to completion, as the spec says; it must exit 0."""
    name = f"init container {init.name}"
    try:
        container = client.containers.run(
            init.image,
            detach=True,
            labels={"dsdeploy.podspec": "1"},
            volumes=init.volume_options(volumes),
            **init.docker_options(),
        )
    except docker.errors.DockerException as exc:
        return [checked(name, False, f"Docker refused to start `{init.docker_command()}`: {exc}")]
    try:
        code = int(container.wait(timeout=INIT_TIMEOUT)["StatusCode"])
        logs = container.logs(tail=5).decode(errors="replace").strip()
    finally:
        container.remove(force=True)
    last = logs.splitlines()[-1] if logs else "no output"
    return [checked(name, code == 0, f"exit {code}" + ("" if code == 0 else f": {last}"))]
