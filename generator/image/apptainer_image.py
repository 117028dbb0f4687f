"""Apptainer where the host cannot install it: Debian's package run in a container.

Debian's ``apptainer`` (1.4.5, in sid only) needs glibc 2.38; bookworm hosts have 2.36. So the
apptainer tier runs it in a container of a newer Debian: a trixie root filesystem laid by
``mmdebstrap`` from the site's own mirror (as :mod:`generator.image.base_image` lays the Python
bases), with ``apptainer`` taken from sid and ``squashfuse`` to mount SIF files without root. The
image is built once per machine: its tag carries a digest of the recipe, so a changed recipe
builds a new one and an unchanged one is reused.

Apptainer runs in it as on an HPC node: as a non-root user, in a user namespace. That needs no
added capability, only what Docker's default profile forbids: ``unshare``/``mount`` (seccomp),
mounting ``/proc`` for the new PID namespace (Docker masks parts of it) and ``/dev/fuse`` for
squashfuse. ``--privileged`` would be more than that, and some hosts refuse it outright (a
sandbox without ``CAP_SYS_RESOURCE`` cannot grant every capability).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from generator.errors import GeneratorError
from generator.image.base_image import debian_mirror
from generator.process import ProgressFn, ignore_progress, run
from generator.tools import require, which

APPTAINER_REPOSITORY = "dsdeploy-apptainer"
SUITE = "trixie"
# apptainer comes from sid (pinned below trixie: only it and what it needs); squashfuse mounts
# a SIF in a user namespace, where the kernel's squashfs needs root. setpriv (util-linux) and
# useradd (passwd) come with the minimal base.
PACKAGES = ("ca-certificates", "squashfuse", "fuse3", "apptainer/sid")
# The uid apptainer runs as when the caller is root (as an HPC user, never root).
DEFAULT_UID = 1000

# What the container may do beyond Docker's defaults, and why: see the module docstring.
RUN_OPTIONS = (
    "--security-opt", "seccomp=unconfined",
    "--security-opt", "apparmor=unconfined",
    "--security-opt", "systempaths=unconfined",
    "--device", "/dev/fuse",
)  # fmt: skip

# Run as root only long enough to name the caller's uid (apptainer looks its user up) and open
# /dev/fuse to it (0666 on hosts, root's alone in a container), then become that uid with no
# capabilities left.
_AS_USER = (
    "chmod 0666 /dev/fuse; "
    'id -u "$0" >/dev/null 2>&1 || useradd --no-create-home --non-unique --uid "$0" hpc; '
    'exec setpriv --reuid "$0" --regid "$0" --clear-groups apptainer "$@"'
)


def _recipe() -> str:
    return "\n".join([SUITE, *PACKAGES, "\n".join(RUN_OPTIONS), _AS_USER])


def apptainer_image_tag() -> str:
    """The apptainer image's tag for the current recipe, e.g. ``dsdeploy-apptainer:trixie-1a2b3c4d5e6f``."""
    digest = hashlib.sha256(_recipe().encode()).hexdigest()[:12]
    return f"{APPTAINER_REPOSITORY}:{SUITE}-{digest}"


def image_present(tag: str) -> bool:
    """Whether Docker holds ``tag``."""
    return run([require("docker"), "image", "inspect", tag], check=False, timeout=60).returncode == 0


def build_apptainer_image(
    *, mirror: str | None = None, progress: ProgressFn = ignore_progress, timeout: float = 900
) -> str:
    """Lay the trixie root filesystem with apptainer and import it into Docker; return its tag.

    Raises:
        GeneratorError: Not root, mmdebstrap or Docker missing, or a step failed.
    """
    if os.geteuid() != 0:
        raise GeneratorError("building the apptainer image needs root (mmdebstrap)", hint="run it as root")
    bootstrap = require("mmdebstrap")
    docker = require("docker")
    mirror = mirror or debian_mirror() or "http://deb.debian.org/debian"
    tag = apptainer_image_tag()
    # Only sid's lines skip the Valid-Until check: snapshot mirrors serve its Release expired.
    sources = [f"deb {mirror} {SUITE} main", f"deb [check-valid-until=no] {mirror} sid main"]
    with tempfile.TemporaryDirectory(prefix="dsdeploy-apptainer-", dir="/var/tmp") as scratch:
        archive = Path(scratch) / "rootfs.tar"
        progress(f"mmdebstrap {SUITE} with {', '.join(PACKAGES)}")
        command: list[str | Path] = [
            bootstrap,
            "--variant=minbase",
            f'--aptopt=APT::Default-Release "{SUITE}"',
            f"--include={','.join(PACKAGES)}",
            "--customize-hook=rm -rf $1/usr/share/doc $1/usr/share/man $1/var/lib/apt/lists/*",
            SUITE,
            archive,
            *sources,
        ]
        run(command, progress=progress, timeout=timeout)
        progress(f"docker import {tag}")
        changes = [
            "ENV LANG=C.UTF-8",
            f'LABEL org.opencontainers.image.description="Debian {SUITE} with apptainer"',
        ]
        flags = [arg for change in changes for arg in ("--change", change)]
        run([docker, "import", *flags, archive, tag], timeout=600)
    version = run(apptainer_command(["version"], tag=tag, uid=DEFAULT_UID)).stdout.strip()
    progress(f"built {tag} (apptainer {version})")
    return tag


def ensure_apptainer_image(*, progress: ProgressFn = ignore_progress) -> str:
    """The apptainer image's tag, built first when this machine does not hold it yet."""
    tag = apptainer_image_tag()
    return tag if image_present(tag) else build_apptainer_image(progress=progress)


def native_apptainer() -> Path | None:
    """This host's own ``apptainer``, when it is installed and starts; None otherwise."""
    apptainer = which("apptainer")
    if apptainer is None:
        return None
    # An install whose binary cannot start (built for a newer libc, say) is no apptainer.
    return apptainer if run([apptainer, "version"], check=False, timeout=60).returncode == 0 else None


def runner_uid() -> int:
    """The uid apptainer runs as: the caller's, or :data:`DEFAULT_UID` for root."""
    uid = os.getuid()
    return uid if uid != 0 else DEFAULT_UID


def apptainer_command(
    arguments: Sequence[str | Path],
    *,
    tag: str,
    uid: int,
    binds: Sequence[Path] = (),
    name: str | None = None,
) -> list[str | Path]:
    """``apptainer ARGUMENTS`` run in the apptainer image as ``uid``, on the host's network.

    Each folder in ``binds`` is mounted at its own path, so the arguments name host paths as they
    are; the host network lets a service started this way listen on the host's ports.
    """
    docker = which("docker") or require("docker")
    mounts = [arg for folder in binds for arg in ("--volume", f"{folder}:{folder}")]
    named = ["--name", name] if name else []
    return [
        docker, "run", "--rm", *named, "--network", "host", *RUN_OPTIONS, *mounts,
        tag, "sh", "-c", _AS_USER, str(uid), *arguments,
    ]  # fmt: skip


def container_unavailable_reason(tag: str) -> str | None:
    """Why apptainer cannot run in the image here (Docker refuses the container's options), or None."""
    result = run(apptainer_command(["version"], tag=tag, uid=DEFAULT_UID), check=False, timeout=120)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return f"Docker cannot start apptainer's container ({' '.join(RUN_OPTIONS)}): {last}"
    return None
