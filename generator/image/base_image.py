"""Python base images built from Debian packages, for sites that cannot pull ``python:3.X-slim``.

Air-gapped and mirror-only sites often reach a Debian mirror but no container registry. There,
``mmdebstrap`` (or ``debootstrap``) lays a minimal Debian root filesystem from the mirror and
``docker import`` turns it into an image that the generated Dockerfile accepts as ``BASE_IMAGE``:

* Python 3.11 and 3.13 are the ``python3`` of Debian bookworm and trixie.
* No Debian suite ships 3.12, so its base is a bookworm root filesystem plus a CPython built on
  this (bookworm) host, e.g. by pyenv: that build links against bookworm's own libraries, and the
  packages providing them are read from the build with ``ldd`` and ``dpkg -S``, then installed.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from generator.errors import GeneratorError
from generator.process import ProgressFn, ignore_progress, run
from generator.tools import find_python, require, which

LOCAL_BASE_REPOSITORY = "dsdeploy-base"
DEBIAN_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
DEBIAN_SOURCES_LIST = Path("/etc/apt/sources.list")
OS_RELEASE = Path("/etc/os-release")

# Debian suites whose python3 is the given version.
SUITE_PYTHON: dict[str, str] = {"bookworm": "3.11", "trixie": "3.13"}

# Parts of a CPython tree an image never needs: the test suite (over 100 MB), GUI modules, caches,
# and whatever was pip-installed into the host's copy (site-packages holds host-only .pth hooks).
_SKIPPED_IN_LIB = {"test", "idlelib", "tkinter", "turtledemo", "__pycache__", "site-packages"}

# Modules whose C parts need libraries from the root filesystem: importing them proves they are there.
_IMPORT_CHECK = (
    "import bz2, ctypes, ensurepip, hashlib, lzma, pyexpat, sqlite3, ssl, venv, zlib, sys; print(sys.version)"
)

# Files the bootstrap leaves that an image does not need: package caches, indexes and docs.
_PRUNED = ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/info")


@dataclass(frozen=True)
class BaseRecipe:
    """How the local base for one Python version is made.

    Attributes:
        python_version: ``3.X``.
        suite: Debian suite of the root filesystem.
        python_home: Prefix of a CPython to lay into ``/usr/local``; None to use the suite's python3.
    """

    python_version: str
    suite: str
    python_home: Path | None = None


def local_base_tag(python_version: str) -> str:
    """The tag of the locally built base for ``python_version``, e.g. ``dsdeploy-base:3.12``."""
    return f"{LOCAL_BASE_REPOSITORY}:{python_version}"


def host_suite(os_release: Path = OS_RELEASE) -> str | None:
    """This host's Debian codename (``bookworm``), or None when it is not Debian."""
    if not os_release.is_file():
        return None
    match = re.search(r"^VERSION_CODENAME=\"?([a-z]+)", os_release.read_text(encoding="utf-8"), re.M)
    return match.group(1) if match else None


def debian_mirror(sources: Path = DEBIAN_SOURCES, sources_list: Path = DEBIAN_SOURCES_LIST) -> str | None:
    """The first Debian mirror URI in this machine's apt sources (deb822 first, then one-line).

    The site's own mirror is the one it can reach and trusts; no host name is hard-coded here.
    """
    if sources.is_file():
        match = re.search(r"^URIs:\s*(\S+)", sources.read_text(encoding="utf-8"), re.M)
        if match:
            return match.group(1)
    if sources_list.is_file():
        match = re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)", sources_list.read_text(encoding="utf-8"), re.M)
        if match:
            return match.group(1)
    return None


def recipe_for(python_version: str) -> BaseRecipe:
    """Choose how to make a base for ``python_version``.

    Raises:
        GeneratorError: No Debian suite ships that version and no host CPython build is found.
    """
    for suite, version in SUITE_PYTHON.items():
        if version == python_version:
            return BaseRecipe(python_version, suite)
    host = host_suite()
    interpreter = find_python(python_version)
    if host is None or interpreter is None:
        raise GeneratorError(
            f"no Debian suite ships Python {python_version} and no CPython {python_version} build is here",
            hint=f"`pyenv install {python_version}` on this Debian host, or use python:{python_version}-slim",
        )
    # The prefix is the folder above bin/. Only a self-contained prefix (pyenv's, a --prefix
    # build) can be relocated: a system interpreter's /usr would drag the whole host along.
    home = interpreter.parent.parent
    if (
        home in (Path("/usr"), Path("/"))
        or not (home / "lib" / f"python{python_version}" / "os.py").is_file()
    ):
        raise GeneratorError(
            f"the Python {python_version} at {interpreter} is not a self-contained prefix",
            hint=f"build one with `pyenv install {python_version}`",
        )
    return BaseRecipe(python_version, host, home)


def runtime_packages(python_home: Path) -> tuple[str, ...]:
    """Debian packages providing the shared libraries a CPython build at ``python_home`` loads.

    Reads every ELF file's dependencies with ``ldd`` and maps each library to its package with
    ``dpkg -S``. Tk is left out along with tkinter.
    """
    elves = [p for p in python_home.rglob("*.so*") if p.is_file() and "tkinter" not in p.name]
    elves += [p for p in (python_home / "bin").glob("python3.*") if p.is_file()]
    libraries: set[str] = set()
    for elf in elves:
        output = run(["ldd", elf], check=False).stdout
        for target in re.findall(r"=>\s+(/\S+)", output):
            if not Path(target).is_relative_to(python_home):
                libraries |= {target, os.path.realpath(target)}
    if not libraries:
        return ()
    # Usr-merged hosts: dpkg knows each file by the path its package ships (/lib/... or
    # /usr/lib/...), which may differ from what ldd prints, so ask for both spellings.
    spellings = {variant for lib in libraries for variant in (lib, lib.removeprefix("/usr"), "/usr" + lib)}
    owners = run(["dpkg", "-S", *sorted(spellings)], check=False).stdout
    packages = {line.split(":", 1)[0] for line in owners.splitlines() if ": " in line}
    return tuple(sorted(packages))


def _lay_python(python_home: Path, rootfs: Path) -> None:
    """Copy a CPython prefix into ``rootfs/usr/local``, leaving out what an image never needs."""

    def _ignore(folder: str, names: list[str]) -> set[str]:
        path = Path(folder)
        # libpython3.X.a (about 60 MB) only serves embedding builds that link statically.
        skipped = {n for n in names if n == "__pycache__" or n.startswith("_tkinter") or n.endswith(".a")}
        if path.parent.name == "lib" and path.name.startswith("python3"):
            skipped |= {name for name in names if name in _SKIPPED_IN_LIB}
        return skipped

    shutil.copytree(python_home, rootfs / "usr" / "local", symlinks=True, ignore=_ignore, dirs_exist_ok=True)
    for lib in (rootfs / "usr" / "local" / "lib").glob("python3.*"):
        (lib / "site-packages").mkdir(exist_ok=True)
    bin_dir = rootfs / "usr" / "local" / "bin"
    version = next(p.name for p in bin_dir.glob("python3.*") if re.fullmatch(r"python3\.\d+", p.name))
    for alias in ("python3", "python"):
        if not (bin_dir / alias).exists():
            (bin_dir / alias).symlink_to(version)
    # Builds keep debug symbols (libpython alone is 30 MB with them); an image does not need them.
    strip = which("strip")
    if strip is not None:
        objects = [p for p in (rootfs / "usr" / "local").rglob("*.so*") if p.is_file() and not p.is_symlink()]
        run([strip, "--strip-debug", *objects, bin_dir / version])


def build_base_image(
    suite: str,
    tag: str,
    *,
    mirror: str | None = None,
    python_home: Path | None = None,
    progress: ProgressFn = ignore_progress,
    timeout: float = 1800,
) -> str:
    """Build a Debian ``suite`` image with Python, venv and CA certificates, tagged ``tag``.

    Args:
        suite: Debian suite (``bookworm``, ``trixie``, ...).
        tag: Image reference to create, e.g. ``dsdeploy-base:3.11``.
        mirror: Debian mirror URI; default: this machine's (:func:`debian_mirror`).
        python_home: A CPython prefix built for ``suite`` to install into ``/usr/local`` instead
            of the suite's python3 (for versions no suite ships).
        progress: Receives the bootstrap's and the import's output lines.
        timeout: Seconds allowed for the bootstrap.

    Returns:
        The new image's id.

    Raises:
        GeneratorError: Not root, a tool is missing, or a step failed.
    """
    if os.geteuid() != 0:
        raise GeneratorError("building a base image needs root (mmdebstrap)", hint="run it as root")
    # mmdebstrap fetches with apt, all at once, and unpacks in one go: about half debootstrap's
    # time here (32 s against 51 s for bookworm). debootstrap, where only it is installed.
    bootstrap = which("mmdebstrap") or require("debootstrap")
    docker = require("docker")
    mirror = mirror or debian_mirror()
    if python_home is None:
        include = ["python3", "python3-venv", "ca-certificates"]
    else:
        include = ["ca-certificates", *runtime_packages(python_home)]
    # /var/tmp: the bootstrap needs a filesystem that allows device nodes and is not a small tmpfs.
    with tempfile.TemporaryDirectory(prefix="dsdeploy-rootfs-", dir="/var/tmp") as scratch:
        rootfs = Path(scratch) / "rootfs"
        progress(f"{Path(bootstrap).name} {suite} with {', '.join(include)}")
        command: list[str | Path] = [
            bootstrap,
            "--variant=minbase",
            f"--include={','.join(include)}",
            suite,
            rootfs,
        ]
        run([*command, *([mirror] if mirror else [])], progress=progress, timeout=timeout)
        if python_home is not None:
            progress(f"laying CPython from {python_home} into /usr/local")
            _lay_python(python_home, rootfs)
            # /usr/local/lib is on the loader path; refresh the cache so libpython is found there.
            run(["chroot", rootfs, "/sbin/ldconfig"])
            # Bytecode for the standard library, as Debian's packages ship it: images run with a
            # read-only root, where uncompiled modules would be recompiled on every start.
            lib = next((rootfs / "usr" / "local" / "lib").glob("python3.*")).relative_to(rootfs)
            compileall = ["-m", "compileall", "-q", "-j0", "-x", "site-packages", f"/{lib}"]
            run(["chroot", rootfs, "/usr/local/bin/python3", *compileall], timeout=600)
        python = "/usr/local/bin/python3" if python_home else "/usr/bin/python3"
        check = run(["chroot", rootfs, python, "-c", _IMPORT_CHECK])
        progress(f"python in the root filesystem: {check.stdout.strip()}")
        for part in _PRUNED:
            shutil.rmtree(rootfs / part, ignore_errors=True)
        archive = Path(scratch) / "rootfs.tar"
        run(["tar", "-C", rootfs, "--numeric-owner", "-cf", archive, "."], timeout=600)
        progress(f"docker import {tag}")
        changes = [
            "ENV LANG=C.UTF-8",
            'CMD ["python3"]',
            'LABEL org.opencontainers.image.description="Debian {} with Python from {}"'.format(
                suite, "a relocated CPython build" if python_home else "Debian packages"
            ),
        ]
        flags = [arg for change in changes for arg in ("--change", change)]
        image_id = run([docker, "import", *flags, archive, tag], timeout=600).stdout.strip()
    progress(f"built {tag} ({image_id[:19]})")
    return image_id


def build_local_base(
    python_version: str, *, mirror: str | None = None, progress: ProgressFn = ignore_progress
) -> str:
    """Build ``dsdeploy-base:<python_version>`` by the recipe for that version; return its tag."""
    recipe = recipe_for(python_version)
    tag = local_base_tag(python_version)
    build_base_image(recipe.suite, tag, mirror=mirror, python_home=recipe.python_home, progress=progress)
    return tag
