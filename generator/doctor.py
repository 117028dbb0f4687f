"""What this machine has, and so which test tiers can run here."""

from __future__ import annotations

from dataclasses import dataclass

from generator.errors import CommandFailed, CommandTimedOut, ToolMissing
from generator.process import run
from generator.tools import INSTALL_HINTS, find_python, which

PYTHON_VERSIONS = ("3.11", "3.12", "3.13")
_VERSION_ARGS: dict[str, list[str]] = {
    "uv": ["--version"],
    "docker": ["--version"],
    "podman": ["--version"],
    "helm": ["version", "--short"],
    "helm3": ["version", "--short"],
    "kind": ["version"],
    "kubectl": ["version", "--client"],
    "hadolint": ["--version"],
    "mmdebstrap": ["--version"],
    "checkov": ["--version"],
}


@dataclass(frozen=True)
class Finding:
    """One thing looked for: a tool, an engine or an interpreter."""

    name: str
    present: bool
    detail: str


def docker_unavailable_reason() -> str | None:
    """Why no Docker engine can be used here, or None when one answers."""
    docker = which("docker")
    if docker is None:
        return "no docker client on PATH"
    try:
        run([docker, "info", "--format", "{{.ServerVersion}}"], timeout=20)
    except (CommandFailed, CommandTimedOut):
        return "no Docker engine answers `docker info` (start dockerd)"
    return None


def _tool(name: str) -> Finding:
    path = which(name)
    if path is None:
        return Finding(name, False, INSTALL_HINTS.get(name, "not found"))
    try:
        result = run([path, *_VERSION_ARGS.get(name, ["--version"])], timeout=20, check=False)
        lines = (result.stdout or result.stderr).strip().splitlines()
        version = lines[0] if lines else ""
    except (ToolMissing, CommandTimedOut) as exc:
        version = str(exc)
    return Finding(name, True, f"{path} {version}".strip())


def collect() -> list[Finding]:
    """Look for every tool, engine and interpreter the tiers use."""
    findings = [_tool(name) for name in _VERSION_ARGS]
    reason = docker_unavailable_reason()
    findings.append(Finding("docker engine", reason is None, reason or "answers `docker info`"))
    for version in PYTHON_VERSIONS:
        path = find_python(version)
        findings.append(Finding(f"python{version}", path is not None, str(path) if path else "not found"))
    return findings


def tiers(findings: list[Finding]) -> dict[str, str]:
    """Which tiers can run, each with the reason it can or cannot."""
    have = {f.name: f.present for f in findings}
    result = {"render": "runs" if have["uv"] else "runs; project tests need uv"}
    result["static"] = "runs" if have["helm"] else "skips: helm missing"
    result["docker"] = "runs" if have["docker engine"] else "skips: no Docker engine"
    result["podman"] = "runs where podman can start containers" if have["podman"] else "skips: podman missing"
    if not have["docker engine"] or not have["kind"]:
        result["kind"] = "skips: kind or a Docker engine missing"
    else:
        from generator.cluster.kind import kind_unavailable_reason

        reason = kind_unavailable_reason()
        result["kind"] = f"skips: {reason}" if reason else "runs"
    return result
