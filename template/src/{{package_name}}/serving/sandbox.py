"""Load a pickled model in a throwaway container, so a hostile file cannot touch this machine.

Owned by the template; ``copier update`` may replace this file.

Unpickling (a joblib or ``.pkl`` file, an MLflow model stored as a pickle) runs whatever code the
file holds. ``make import-model`` therefore runs the importer for such inputs inside a container of
the project's own dependencies stage (the Dockerfile's ``deps`` target, built by ``make build``'s
engine from the same cache): no network, a read-only root with a tmpfs ``/tmp``, a non-root uid,
no capabilities, no new privileges, at most ``PIDS_LIMIT`` processes; the model, the example rows
and ``src/`` are mounted read-only and no host folder is writable. The importer writes into the
container's ``/tmp``; the result comes back on standard output as a tar holding exactly
``model.joblib`` and ``signature.json`` (and ``profile.json`` when PROFILE_DATA was given: the
profile needs the model's answers, so it is made in here too), whose names and types are checked
before any is written to the output.

Settings (environment; ``make import-model`` passes the first four): CONTAINER_ENGINE (docker or
podman), BASE_IMAGE and CA_BUNDLE (as ``make build``), SANDBOX (0: load here, knowingly),
SANDBOX_IMAGE (the deps stage's tag, default ``<package>-deps:dev``) and SANDBOX_TIMEOUT (seconds
an import may take, default 900).

Standard library and the engine's command line only: nothing here unpickles.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Sequence
from pathlib import Path

#: The only files an import brings back, in this order; then the profile, when it was asked for
#: (profile.PROFILE_FILE: this module imports nothing beyond the standard library).
RESULT_FILES = ("model.joblib", "signature.json")
PROFILE_FILE = "profile.json"
#: The engines ``make build`` supports (its CONTAINER_ENGINE).
ENGINES = ("docker", "podman")
#: Where the sandbox's mounts appear inside the container.
MODEL_MOUNT = Path("/in/model")
EXAMPLE_MOUNT = Path("/in/example")
DATA_MOUNT = Path("/in/data")
SOURCE_MOUNT = Path("/app/src")
OUTPUT = Path("/tmp/imported")  # noqa: S108 - the container's own tmpfs
#: The uid the sandbox runs as when the caller is root (the service image's uid).
FALLBACK_UID = 10001
#: Most processes and threads in the container: the importer needs a few dozen (BLAS, OpenMP).
PIDS_LIMIT = 256
#: Seconds an import may take before its container is removed (SANDBOX_TIMEOUT overrides).
DEFAULT_TIMEOUT = 900.0
_PACKAGE = __name__.split(".")[0]
# Docker builds the stage with BuildKit into its image store, as `make build` does. Podman keeps
# its layer cache here: the Makefile's --no-cache guards against old buildah's stale bind mounts of
# a cached *stage*, and the deps stage mounts only pyproject.toml and uv.lock from the context.
_BUILD = {"docker": ["docker", "buildx", "build", "--load"], "podman": ["podman", "build"]}


class SandboxError(RuntimeError):
    """The sandboxed import could not run, or failed; the message is one line for the user."""


def project_root() -> Path:
    """The project folder this package's source lives in (``src/<package>/serving/`` below it)."""
    return Path(__file__).resolve().parents[3]


def engine_from_env(env: dict[str, str] | None = None) -> str:
    """The engine ``make`` names (CONTAINER_ENGINE), ``docker`` by default."""
    return (os.environ if env is None else env).get("CONTAINER_ENGINE") or "docker"


def unavailable(engine: str) -> str | None:
    """Why ``engine`` cannot run the sandbox here, or None when it can."""
    if engine not in ENGINES:
        return f"CONTAINER_ENGINE={engine} is not one of {', '.join(ENGINES)}"
    if shutil.which(engine) is None:
        return f"{engine} is not installed"
    if not (project_root() / "Dockerfile").is_file():
        return f"no Dockerfile in {project_root()}"
    try:
        info = subprocess.run([engine, "info"], capture_output=True, timeout=30, check=False)  # noqa: S603
    except subprocess.TimeoutExpired:
        return f"{engine} info did not answer in 30 s"
    return None if info.returncode == 0 else f"{engine} does not answer (`{engine} info` failed)"


def image_name(env: dict[str, str] | None = None) -> str:
    """The sandbox image's tag (SANDBOX_IMAGE overrides): the project's deps stage."""
    default = f"{_PACKAGE.replace('_', '-')}-deps:dev"
    return (os.environ if env is None else env).get("SANDBOX_IMAGE") or default


def build_image(engine: str, image: str, env: dict[str, str] | None = None) -> None:
    """Build the Dockerfile's ``deps`` stage as ``image``; BASE_IMAGE and CA_BUNDLE as ``make build``.

    Raises:
        SandboxError: The build failed (its output went to standard error).
    """
    env = dict(os.environ if env is None else env)
    command = [*_BUILD[engine], "--target", "deps", "-t", image]
    if env.get("BASE_IMAGE"):
        command += ["--build-arg", f"BASE_IMAGE={env['BASE_IMAGE']}"]
    if env.get("CA_BUNDLE"):
        command += ["--secret", f"id=ca_bundle,src={env['CA_BUNDLE']}"]
    # The build's own output is progress for the user, never our result: all of it to stderr.
    done = subprocess.run(  # noqa: S603 - a fixed engine command, no shell
        [*command, "."], cwd=project_root(), stdout=sys.stderr, check=False
    )
    if done.returncode != 0:
        raise SandboxError(f"building the sandbox image {image} failed: {' '.join(command)} .")


def _user_options(engine: str) -> list[str]:
    """Run as the caller's uid (so files only they may read still open), never as root."""
    uid, gid = os.getuid(), os.getgid()
    if uid == 0:
        return ["--user", f"{FALLBACK_UID}:{FALLBACK_UID}"]
    if engine == "podman":  # rootless Podman maps the caller's uid only under keep-id
        return ["--userns", "keep-id", "--user", f"{uid}:{gid}"]
    return ["--user", f"{uid}:{gid}"]


def run_command(
    engine: str,
    image: str,
    name: str,
    model: Path,
    example: Path | None,
    args: Sequence[str],
    profile_data: Path | None = None,
) -> list[str]:
    """The engine command that imports ``model`` in the sandbox and writes the result tar to stdout."""
    mounts = ["--volume", f"{model}:{MODEL_MOUNT / model.name}:ro"]
    mounts += ["--volume", f"{project_root() / 'src'}:{SOURCE_MOUNT}:ro"]
    importer = ["/opt/venv/bin/python", "-m", f"{_PACKAGE}.serving.importer", str(MODEL_MOUNT / model.name)]
    if example is not None:
        mounts += ["--volume", f"{example}:{EXAMPLE_MOUNT / example.name}:ro"]
        importer += ["--example", str(EXAMPLE_MOUNT / example.name)]
    results = list(RESULT_FILES)
    if profile_data is not None:
        mounts += ["--volume", f"{profile_data}:{DATA_MOUNT / profile_data.name}:ro"]
        importer += ["--profile-data", str(DATA_MOUNT / profile_data.name)]
        results.append(PROFILE_FILE)
    importer += [*args, "--output", str(OUTPUT), "--no-sandbox"]
    # stdout carries only the tar: the importer's summary is the host's to print, its errors go to stderr.
    script = f'"$@" >/dev/null && exec tar -C {OUTPUT} -cf - {" ".join(results)}'
    return [
        engine, "run", "--rm", "--name", name,
        "--network", "none", "--read-only", "--tmpfs", "/tmp:rw,nosuid,nodev",  # noqa: S108 - the container's
        *_user_options(engine), "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        "--pids-limit", str(PIDS_LIMIT),  # a pickle that forks without end stops there
        *mounts,
        "--env", f"PYTHONPATH={SOURCE_MOUNT}", "--env", "PYTHONDONTWRITEBYTECODE=1", "--env", "HOME=/tmp",
        "--workdir", "/tmp", "--entrypoint", "sh",  # noqa: S108 - the container's own tmpfs
        image, "-c", script, "sh", *importer,
    ]  # fmt: skip


def unpack(archive: bytes, output: Path, expected: Sequence[str] = RESULT_FILES) -> None:
    """Write the result tar's files into ``output``, after checking it holds exactly ``expected``.

    A ``profile.json`` already in ``output`` that is not among them is removed: it described the
    model imported before.

    Raises:
        SandboxError: The tar is unreadable, or holds other names or anything but regular files.
    """
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
            members = tar.getmembers()
            names = [member.name for member in members]
            if names != list(expected) or not all(member.isreg() for member in members):
                raise SandboxError(f"the sandbox answered {names}, not the files {', '.join(expected)}")
            # The mode is the importer's (the artifact private to its owner), never executable.
            contents = [(_read(tar, member), member.mode & 0o666) for member in members]
    except tarfile.TarError as exc:
        raise SandboxError(f"the sandbox's answer is not a tar of {', '.join(expected)}: {exc}") from exc
    output.mkdir(parents=True, exist_ok=True)
    for name, (content, mode) in zip(expected, contents, strict=True):
        partial = output / f".{name}.{uuid.uuid4().hex}"
        partial.write_bytes(content)
        partial.chmod(mode)
        partial.replace(output / name)  # whole files only, as save_model writes them
    if PROFILE_FILE not in expected:
        (output / PROFILE_FILE).unlink(missing_ok=True)


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    file = tar.extractfile(member)
    return file.read() if file else b""


def import_in_sandbox(
    model: Path,
    output: Path,
    *,
    example: Path | None = None,
    profile_data: Path | None = None,
    args: Sequence[str] = (),
    engine: str = "docker",
) -> None:
    """Import ``model`` inside a container of the deps stage and write its result into ``output``.

    ``profile_data`` (rows to profile) is mounted like the example; the profile comes back too.
    ``args`` are the importer's other options (e.g. ``--class-names``), passed on as they are.

    Raises:
        SandboxError: The image could not be built, or the import failed inside (its message went
            to standard error, with this machine's paths in place of the container's).
    """
    given = {
        MODEL_MOUNT: ("MODEL", model),
        EXAMPLE_MOUNT: ("EXAMPLE", example),
        DATA_MOUNT: ("PROFILE_DATA", profile_data),
    }
    shown = {OUTPUT: output}  # the container's paths, and the names the user gave them
    for mount, (setting, path) in given.items():
        # A bind mount of a missing path would create it on this machine: refuse before any engine runs.
        if path is not None and not path.exists():
            raise SandboxError(f"{setting}={path}: no such file; check the path")
        if path is not None:
            shown[mount / path.resolve().name] = path
    model = model.resolve()
    example, profile_data = (path.resolve() if path else None for path in (example, profile_data))
    image = image_name()
    build_image(engine, image)
    name = f"{_PACKAGE.replace('_', '-')}-import-{uuid.uuid4().hex[:12]}"
    timeout = float(os.environ.get("SANDBOX_TIMEOUT") or DEFAULT_TIMEOUT)
    command = run_command(engine, image, name, model, example, args, profile_data)
    try:
        done = subprocess.run(command, capture_output=True, timeout=timeout, check=False)  # noqa: S603
    except (subprocess.TimeoutExpired, KeyboardInterrupt) as exc:
        # The engine's client going away does not stop the container: remove it by name.
        subprocess.run([engine, "rm", "--force", name], capture_output=True, check=False)  # noqa: S603
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise SandboxError(f"the import did not finish in {timeout:.0f} s (SANDBOX_TIMEOUT)") from None
    lines = _here(done.stderr.decode(errors="replace"), shown).splitlines()
    # The importer's one-line reason ("import-model: ...") becomes ours; anything else it said, as is.
    reason = lines.pop() if done.returncode != 0 and lines and lines[-1].startswith("import-model: ") else ""
    sys.stderr.writelines(f"{line}\n" for line in lines)
    if done.returncode != 0:
        fallback = f"the import failed inside the sandbox ({engine} exit code {done.returncode})"
        reason = reason.removeprefix("import-model: ") or fallback
        if "No module named" in reason:  # the sandbox has the image's dependencies, not the dev group
            reason += "; the sandbox has only the image's dependencies (add it with uv add, or SANDBOX=0)"
        raise SandboxError(reason)
    unpack(done.stdout, output, [*RESULT_FILES, *([PROFILE_FILE] if profile_data else [])])


def _here(text: str, shown: dict[Path, Path]) -> str:
    """``text`` with the container's paths replaced by this machine's, as the user named them."""
    for inside, here in shown.items():
        text = text.replace(str(inside), str(here))
    return text
