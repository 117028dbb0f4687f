"""`make import-model` of a pickle: loaded in a throwaway container of the project's deps stage.

The default image's project (already locked and built by the suite, so the Dockerfile's ``deps``
stage comes from the build cache) imports two pickles through its own Makefile: an honest
scikit-learn model, whose result must equal the host's own import, and a hostile pickle whose
``__reduce__`` runs code that tries to write a file everywhere on this machine it could reach.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from generator.image.project_image import PreparedImage
from generator.process import run
from generator.project.render import read_answers
from generator.tools import require

pytestmark = pytest.mark.docker

#: The honest model: fitted and saved in the project's own environment, as a notebook would.
FIT = """
import joblib, json, sys
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
x, y = load_iris(return_X_y=True)
joblib.dump(LogisticRegression(max_iter=500).fit(x, y), sys.argv[1])
with open(sys.argv[2], "w") as file:
    json.dump({"instances": x[::30].tolist()}, file)
with open(sys.argv[3], "w") as file:  # its training rows, for the profile (PROFILE_DATA)
    file.write("x0,x1,x2,x3,target\\n" + "".join(",".join(map(str, [*r, t])) + "\\n" for r, t in zip(x, y)))
"""
#: The same import on this machine, knowingly (``--no-sandbox``), then both imports' models answer
#: every training row; one interpreter for both, in the project's environment.
IMPORT_HERE_AND_PREDICT = """
import json, sys
from sklearn.datasets import load_iris
from {package}.serving.artifact import load_model
from {package}.serving.importer import main
model, example, data, here, sandboxed = sys.argv[1:]
assert main([model, "--example", example, "--profile-data", data, "--output", here, "--no-sandbox"]) == 0
x, _ = load_iris(return_X_y=True)
answers = [load_model(path).predict_proba(x).tolist() for path in (sandboxed, here + "/model.joblib")]
print(json.dumps(answers))
"""
#: What the hostile pickle runs when loaded: a file at each target it can write, then a report of
#: where it wrote, its uid, its effective capabilities and the network interfaces it saw.
PAYLOAD = """
import json, os, socket, sys
wrote = []
for target in {targets!r}:
    try:
        with open(target, "w") as file:
            file.write("written by a hostile pickle")
        wrote.append(target)
    except OSError:
        pass
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
seen = {{"wrote": wrote, "uid": os.getuid(), "caps": status["CapEff"].strip()}}
seen["interfaces"] = [name for _, name in socket.if_nameindex()]
print("hostile code ran:", json.dumps(seen), file=sys.stderr)
"""


class Hostile:
    """Unpickles into ``exec(PAYLOAD)``: any pickle may name any callable."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return exec, (self.code,)


@dataclass(frozen=True)
class Sandboxed:
    """The project, the honest model's files, and its import through the sandbox."""

    project: Path
    image: str
    settings: tuple[str, ...]
    model: Path
    example: Path
    data: Path
    import_output: str


def make(project: Path, *args: str, image: str) -> subprocess.CompletedProcess[str]:
    """The user's ``make`` in ``project`` (VERSION fixed, so make asks git nothing)."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "SANDBOX")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])
    env |= {"UV_PYTHON_DOWNLOADS": "never", "SANDBOX_IMAGE": image, "NO_COLOR": "1"}
    return subprocess.run(
        ["make", *args, "VERSION=0.1.0"], cwd=project, env=env, capture_output=True, text=True, timeout=900
    )


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``folder`` with its size and mtime, but uv's environment and Python's bytecode."""
    return {
        str(path.relative_to(folder)): (path.lstat().st_size, path.lstat().st_mtime_ns)
        for path in folder.rglob("*")
        if not {".venv", "__pycache__"} & set(path.relative_to(folder).parts)
    }


@pytest.fixture(scope="module")
def sandboxed(
    default_image: PreparedImage, ca_bundle, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Sandboxed]:
    """The default image's project imports an honest pickle through ``make import-model``."""
    if shutil.which("make") is None:
        pytest.skip("needs make")
    root = tmp_path_factory.mktemp("import-sandbox")
    project = root / default_image.project.name
    shutil.copytree(default_image.project, project)  # its uv.lock is the image's: deps from cache
    image = f"{default_image.tag}-deps"
    settings = (f"BASE_IMAGE={default_image.result.base_image}", f"CA_BUNDLE={ca_bundle.path}")
    synced = make(project, "sync", image=image)
    assert synced.returncode == 0, synced.stderr[-3000:]
    elsewhere = root / "downloads"
    elsewhere.mkdir()
    model, example, data = elsewhere / "elsewhere.joblib", elsewhere / "rows.json", elsewhere / "train.csv"
    run([project / ".venv" / "bin" / "python", "-c", FIT, model, example, data], cwd=elsewhere)
    given = (f"MODEL={model}", f"EXAMPLE={example}", f"PROFILE_DATA={data}")
    done = make(project, "import-model", *given, *settings, image=image)
    try:
        assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        yield Sandboxed(project, image, settings, model, example, data, done.stdout)
    finally:
        run([require("docker"), "image", "rm", "--force", image], check=False)


def test_an_honest_pickle_imports_through_the_sandbox_as_on_this_machine(sandboxed: Sandboxed) -> None:
    project = sandboxed.project
    assert (
        f"imported {sandboxed.model} into imported in a docker sandbox: classification"
        in sandboxed.import_output
    )
    assert sorted(path.name for path in (project / "imported").iterdir()) == [
        "model.joblib",
        "profile.json",  # PROFILE_DATA: the model's answers on those rows are the sandbox's too
        "signature.json",
    ]
    package = read_answers(project)["package_name"]
    here = project.parent / "imported-here"
    script = IMPORT_HERE_AND_PREDICT.format(package=package)
    imported = [
        sandboxed.model,
        sandboxed.example,
        sandboxed.data,
        here,
        project / "imported" / "model.joblib",
    ]
    done = run([project / ".venv" / "bin" / "python", "-c", script, *imported], cwd=project)
    signature = json.loads((project / "imported" / "signature.json").read_text(encoding="utf-8"))
    assert signature == json.loads((here / "signature.json").read_text(encoding="utf-8"))
    profile = json.loads((project / "imported" / "profile.json").read_text(encoding="utf-8"))
    assert profile == json.loads((here / "profile.json").read_text(encoding="utf-8"))
    assert profile["rows"] == 150
    given = json.loads(sandboxed.example.read_text(encoding="utf-8"))["instances"]
    assert signature["example"]["instances"], "the example request holds none of the given rows"
    assert all(row in given for row in signature["example"]["instances"])
    sandbox, host = json.loads(done.stdout.splitlines()[-1])
    assert len(sandbox) == 150
    assert sandbox == host


def test_a_hostile_pickle_writes_nothing_on_this_machine(sandboxed: Sandboxed, tmp_path: Path) -> None:
    project = sandboxed.project
    marker = f"hostile-{uuid.uuid4().hex[:12]}"
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    # Everywhere it could reach: the project, its output folder and source, next to itself, $HOME, /tmp, cwd.
    targets = [
        project / marker,
        project / "imported" / marker,
        project / "src" / marker,
        downloads / marker,
        Path.home() / marker,
        Path("/tmp") / marker,
        Path(marker),
    ]
    hostile = downloads / "model.pkl"
    hostile.write_bytes(pickle.dumps(Hostile(PAYLOAD.format(targets=[str(t) for t in targets]))))
    before = snapshot(project)
    imported = {path.name: path.read_bytes() for path in (project / "imported").iterdir()}

    done = make(project, "import-model", f"MODEL={hostile}", *sandboxed.settings, image=sandboxed.image)

    # The relative target is make's working directory, the project: targets[0] on this machine.
    written = [target for target in targets[:-1] if target.exists()]
    for target in written:
        target.unlink()
    assert not written, f"the hostile pickle wrote {written}"
    assert done.returncode != 0
    # It did run, inside: where only the container's own /tmp (its working directory) was writable,
    # as a uid other than root, without capabilities, with no network but loopback.
    assert "hostile code ran: " in done.stderr, done.stderr[-3000:]
    seen = json.loads(done.stderr.split("hostile code ran: ", 1)[1].splitlines()[0])
    assert seen.pop("uid") != 0
    assert seen == {"wrote": [f"/tmp/{marker}", marker], "caps": "0000000000000000", "interfaces": ["lo"]}
    assert f"import-model: {hostile} holds a NoneType, which has no predict()" in done.stderr
    assert snapshot(project) == before
    assert {path.name: path.read_bytes() for path in (project / "imported").iterdir()} == imported
