"""One container run as Docker runs it: the options a pod spec translates into.

:mod:`generator.containers.podspec.translate` fills a :class:`ContainerRun` from a Deployment;
the smoke (:mod:`generator.containers.podspec.smoke`) starts it with the Docker SDK, and
:meth:`ContainerRun.docker_command` prints the same run as a ``docker run`` line to reproduce by hand.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Port:
    """A declared ``containerPort``."""

    name: str | None
    number: int
    protocol: str = "TCP"


@dataclass(frozen=True)
class Probe:
    """A probe with its port resolved to a number.

    Attributes:
        kind: ``startup``, ``liveness`` or ``readiness``.
        action: ``httpGet`` or ``tcpSocket``.
        path: The HTTP path (empty for ``tcpSocket``).
        port: The container port the probe reaches.
        port_ref: The port as the spec wrote it (``http`` or ``8080``), for messages.
        headers: Extra HTTP headers.
        initial_delay, period, timeout: Seconds, as in the spec (Kubernetes defaults filled in).
        failure_threshold: Failures in a row that fail the probe.
        success_threshold: Successes in a row that pass it.
    """

    kind: str
    action: str
    path: str
    port: int
    port_ref: str
    headers: tuple[tuple[str, str], ...] = ()
    initial_delay: float = 0.0
    period: float = 10.0
    timeout: float = 1.0
    failure_threshold: int = 3
    success_threshold: int = 1

    @property
    def budget(self) -> float:
        """Seconds a kubelet gives this probe to first succeed before acting on its failure."""
        return self.initial_delay + self.period * self.failure_threshold

    def describe(self) -> str:
        """``readinessProbe GET /v2/health/ready on port http (8080)``."""
        target = f"GET {self.path}" if self.action == "httpGet" else "TCP connect"
        named = f"{self.port_ref} ({self.port})" if self.port_ref != str(self.port) else str(self.port)
        return f"{self.kind}Probe {target} on port {named}"


@dataclass(frozen=True)
class Tmpfs:
    """An ``emptyDir`` volume as a tmpfs mount."""

    path: str
    volume: str
    size_bytes: int | None = None
    read_only: bool = False

    def options(self) -> str:
        """Docker tmpfs options; mode 1777 because an emptyDir is writable by any uid."""
        parts = ["ro" if self.read_only else "rw", "nosuid", "nodev", "mode=1777"]
        if self.size_bytes is not None:
            parts.append(f"size={self.size_bytes}")
        return ",".join(parts)


@dataclass(frozen=True)
class SharedVolume:
    """An ``emptyDir`` an init container fills for the server: a Docker volume both mount."""

    path: str
    volume: str
    read_only: bool = False


@dataclass(frozen=True)
class ContainerRun:
    """One container of a pod spec, as Docker runs it.

    Attributes:
        image: The image reference the spec names.
        entrypoint: ``command`` (replaces the image's ENTRYPOINT and CMD); None keeps the image's.
        args: ``args`` (replaces the image's CMD); None keeps the image's.
        env: Variables in spec order, after ``$(VAR)`` expansion.
        user: ``uid[:gid]`` from runAsUser/runAsGroup; None runs the image's USER.
        run_as_non_root: The spec demands a non-root uid (the kubelet refuses to start otherwise).
        notes: Approximations made, one line each.
    """

    image: str
    entrypoint: tuple[str, ...] | None
    args: tuple[str, ...] | None
    env: tuple[tuple[str, str], ...]
    working_dir: str | None
    user: str | None
    group_add: tuple[str, ...]
    run_as_non_root: bool
    read_only: bool
    tmpfs: tuple[Tmpfs, ...]
    cap_drop: tuple[str, ...]
    cap_add: tuple[str, ...]
    security_opt: tuple[str, ...]
    privileged: bool
    sysctls: tuple[tuple[str, str], ...]
    nano_cpus: int | None
    mem_limit: int | None
    cpu_shares: int | None
    ports: tuple[Port, ...]
    probes: tuple[Probe, ...]
    grace_seconds: float
    notes: tuple[str, ...] = ()
    #: ``lifecycle.preStop``: a sleep (seconds) or a command the kubelet runs before SIGTERM.
    pre_stop_sleep: float | None = None
    pre_stop_exec: tuple[str, ...] | None = None
    #: The container's name in the pod, and the emptyDirs it shares with init containers.
    name: str = ""
    shared: tuple[SharedVolume, ...] = ()
    #: The pod's init containers, in order: each runs to completion before this one starts.
    init: tuple[ContainerRun, ...] = ()

    def volume_options(self, volumes: Mapping[str, str]) -> dict[str, dict[str, str]]:
        """The Docker SDK's ``volumes`` for the shared emptyDirs, given each one's Docker volume."""
        return {
            volumes[mount.volume]: {"bind": mount.path, "mode": "ro" if mount.read_only else "rw"}
            for mount in self.shared
        }

    def env_value(self, name: str) -> str | None:
        """The last value ``name`` is given (later entries win, as in Kubernetes)."""
        return next((value for key, value in reversed(self.env) if key == name), None)

    def probe(self, kind: str) -> Probe | None:
        """The ``startup``, ``liveness`` or ``readiness`` probe, if the spec has one."""
        return next((probe for probe in self.probes if probe.kind == kind), None)

    def port_named(self, name: str) -> Port | None:
        """The declared port called ``name``."""
        return next((port for port in self.ports if port.name == name), None)

    def published_ports(self) -> tuple[int, ...]:
        """Declared TCP ports plus ports probes reach (a probe may use an undeclared port)."""
        numbers = {p.number for p in self.ports if p.protocol == "TCP"} | {p.port for p in self.probes}
        return tuple(sorted(numbers))

    def docker_options(self) -> dict[str, Any]:
        """Keyword arguments for the Docker SDK's ``containers.run`` (ports not included)."""
        options: dict[str, Any] = {
            "environment": dict(self.env),
            "read_only": self.read_only,
            "tmpfs": {mount.path: mount.options() for mount in self.tmpfs},
            "cap_drop": list(self.cap_drop),
            "cap_add": list(self.cap_add),
            "security_opt": list(self.security_opt),
            "privileged": self.privileged,
            # Kubernetes ignores the image's HEALTHCHECK; probes do that job. Docker must too.
            "healthcheck": {"test": ["NONE"]},
        }
        if self.entrypoint is not None:
            options["entrypoint"] = list(self.entrypoint)
            # Kubernetes: `command` without `args` runs with no arguments, not the image's CMD.
            options["command"] = list(self.args or ())
        elif self.args is not None:
            options["command"] = list(self.args)
        optional = {
            "working_dir": self.working_dir,
            "user": self.user,
            "group_add": list(self.group_add) or None,
            "sysctls": dict(self.sysctls) or None,
            "nano_cpus": self.nano_cpus,
            "mem_limit": self.mem_limit,
            # The kubelet sets no swap for a memory-limited container; memswap == memory does that.
            "memswap_limit": self.mem_limit,
            "cpu_shares": self.cpu_shares,
        }
        options.update({key: value for key, value in optional.items() if value is not None})
        return options

    def docker_command(self) -> str:
        """The equivalent ``docker run`` line, for reports and for reproducing a failure by hand."""
        parts = ["docker", "run", "--rm"]
        if self.user:
            parts += ["--user", self.user]
        parts += [arg for group in self.group_add for arg in ("--group-add", group)]
        if self.read_only:
            parts.append("--read-only")
        parts += [arg for mount in self.tmpfs for arg in ("--tmpfs", f"{mount.path}:{mount.options()}")]
        shared = [f"{m.volume}:{m.path}{':ro' if m.read_only else ''}" for m in self.shared]
        parts += [arg for volume in shared for arg in ("--volume", volume)]
        parts += [arg for cap in self.cap_drop for arg in ("--cap-drop", cap)]
        parts += [arg for cap in self.cap_add for arg in ("--cap-add", cap)]
        parts += [arg for opt in self.security_opt for arg in ("--security-opt", opt)]
        if self.privileged:
            parts.append("--privileged")
        parts += [arg for key, value in self.sysctls for arg in ("--sysctl", f"{key}={value}")]
        if self.nano_cpus is not None:
            parts += ["--cpus", f"{Decimal(self.nano_cpus) / Decimal(10**9):f}"]
        if self.mem_limit is not None:
            parts += ["--memory", f"{self.mem_limit}b", "--memory-swap", f"{self.mem_limit}b"]
        if self.cpu_shares is not None:
            parts += ["--cpu-shares", str(self.cpu_shares)]
        parts += ["--no-healthcheck"]
        parts += [arg for port in self.published_ports() for arg in ("--publish", f"127.0.0.1::{port}")]
        parts += [arg for key, value in self.env for arg in ("--env", f"{key}={value}")]
        if self.working_dir:
            parts += ["--workdir", self.working_dir]
        if self.entrypoint is not None:
            parts += ["--entrypoint", self.entrypoint[0]]
        parts.append(self.image)
        if self.entrypoint is not None:
            parts += [*self.entrypoint[1:], *(self.args or ())]
        elif self.args is not None:
            parts += list(self.args)
        return shlex.join(parts)
