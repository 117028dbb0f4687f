"""The artifact's SHA-256: recorded beside it when it is saved, checked before it is unpickled.

Owned by the template: ``copier update`` may replace this file.

A joblib file is a pickle, and unpickling runs code: a swapped ``model.joblib`` (a pull request
showing reviewers only "binary file changed", a volume or bucket written by someone else) would
run whatever it holds when the service starts. So ``save_model`` records the file's digest in
``signature.json`` beside it (``"artifact": {"file": "model.joblib", "sha256": "..."}``; the
joblib file cannot hold its own digest), and ``load_model`` checks it before unpickling, at
every start: the image's, ``MODEL_DIR``'s, the model image's. Secure by default: a file whose
folder records no digest for it (a model dumped by hand, one saved before digests were recorded)
is refused too, with the one command that vouches for it.

Standard library only, so the image build and ``make build`` run it as a script on any Python 3:
``python3 -I src/<package>/serving/integrity.py DIR`` checks ``DIR/model.joblib`` (exit 1 with
one line naming both digests); ``--record`` writes the digest of a file you trust.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

ARTIFACT_FILE = "model.joblib"
SIGNATURE_FILE = "signature.json"
#: The key of ``signature.json`` that records the artifact: ``{"file": ..., "sha256": ...}``.
ARTIFACT_KEY = "artifact"
# The package this file belongs to, also when it runs as a script (src/<package>/serving/integrity.py).
_PACKAGE = __package__.rpartition(".")[0] if __package__ else Path(__file__).resolve().parent.parent.name


class IntegrityError(ValueError):
    """The artifact is not the file its folder's ``signature.json`` records; the message says the fix."""


def sha256_of(source: Path | IO[bytes]) -> str:
    """The SHA-256 of a file (a path, or a binary file object read from where it stands), in hex."""
    if isinstance(source, Path):
        with source.open("rb") as handle:
            return sha256_of(handle)
    digest = hashlib.sha256()
    # In blocks rather than hashlib.file_digest (Python 3.11+): `make build` runs this on whichever
    # python3 the machine has.
    for block in iter(lambda: source.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def artifact_record(path: Path) -> dict[str, str]:
    """What ``signature.json`` records of the artifact at ``path``: its file name and SHA-256."""
    return {"file": path.name, "sha256": sha256_of(path)}


def recorded_digest(path: Path) -> str:
    """The SHA-256 that ``signature.json`` beside ``path`` records for it.

    Raises:
        IntegrityError: No ``signature.json`` there, or it records no digest of this file.
    """
    signature = path.with_name(SIGNATURE_FILE)
    if not signature.is_file():
        raise IntegrityError(
            f"no {SIGNATURE_FILE} beside {path} records its SHA-256, so it is not loaded (unpickling runs"
            f" code): bring a model trained elsewhere in with `make import-model MODEL={path}`, or retrain"
            " it (`make train`)"
        )
    try:
        entry = json.loads(signature.read_text(encoding="utf-8")).get(ARTIFACT_KEY) or {}
        recorded, name = str(entry["sha256"]), str(entry.get("file", ARTIFACT_FILE))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise IntegrityError(
            f"{signature} records no SHA-256 of {path.name} (a model saved before digests were recorded?):"
            f" retrain it (`make train`), or, if you trust the file, record it with"
            f" `python -m {_PACKAGE}.serving.integrity --record {path.parent}`"
        ) from None
    if name != path.name:
        raise IntegrityError(
            f"{signature} records the SHA-256 of {name}, not of {path.name}: serve {path.with_name(name)},"
            f" or bring {path.name} in with `make import-model MODEL={path}`"
        )
    return recorded


def verify(path: Path, handle: IO[bytes] | None = None) -> str:
    """Check that ``path`` is the file ``signature.json`` beside it records; returns its digest.

    Args:
        path: The artifact.
        handle: The artifact already open for reading (at its start): the bytes checked are then
            the bytes the caller goes on to read, even if the path is swapped in between.

    Raises:
        IntegrityError: Nothing records its digest, or its digest is another: one line naming
            both digests and the fix.
    """
    recorded = recorded_digest(path)
    actual = sha256_of(handle if handle is not None else path)
    if actual != recorded:
        raise IntegrityError(
            f"{path} has SHA-256 {actual} but {path.with_name(SIGNATURE_FILE)} records {recorded}:"
            " the file was changed or swapped since it was saved; retrain it (`make train`)"
            " or import it again (`make import-model`) rather than serve it"
        )
    return actual


def record(path: Path) -> str:
    """Record the SHA-256 of ``path`` in ``signature.json`` beside it (atomically); returns it.

    For a file you trust that was saved without one (``save_model`` records it itself).

    Raises:
        IntegrityError: There is no ``signature.json`` beside ``path`` to record it in, or it is not JSON.
    """
    signature = path.with_name(SIGNATURE_FILE)
    try:
        data = json.loads(signature.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise IntegrityError(
            f"no readable {SIGNATURE_FILE} beside {path} to record its SHA-256 in:"
            f" bring the model in with `make import-model MODEL={path}`"
        ) from None
    entry = artifact_record(path)
    write_json(signature, {**data, ARTIFACT_KEY: entry})
    return entry["sha256"]


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` atomically: a reader sees the old file or the new, never half."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
        Path(name).chmod(0o644)  # mkstemp's 0600 would hide it from the service's uid in an image
        Path(name).replace(path)
    finally:
        Path(name).unlink(missing_ok=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: exit code 1 with the one-line reason when the check fails."""
    parser = argparse.ArgumentParser(
        prog=f"python -m {_PACKAGE}.serving.integrity", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "path", type=Path, help=f"the model's folder, or its artifact (default file {ARTIFACT_FILE})"
    )
    parser.add_argument(
        "--record", action="store_true", help="record the file's digest: only for a file you trust"
    )
    args = parser.parse_args(argv)
    path = args.path / ARTIFACT_FILE if args.path.is_dir() else args.path
    try:
        if not path.is_file():
            raise IntegrityError(f"no model artifact at {path}")
        digest = record(path) if args.record else verify(path)
    except IntegrityError as error:
        print(f"integrity: {error}", file=sys.stderr)  # noqa: T201 - CLI output
        return 1
    print(f"{path}: SHA-256 {digest} {'recorded' if args.record else 'as recorded'}")  # noqa: T201 - CLI output
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
