"""The apptainer tier's container, offline: its tag follows its recipe, and how it is run."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.image import apptainer_image


def test_tag_changes_with_the_recipe(monkeypatch: pytest.MonkeyPatch) -> None:
    before = apptainer_image.apptainer_image_tag()
    monkeypatch.setattr(apptainer_image, "PACKAGES", (*apptainer_image.PACKAGES, "fuse2fs"))

    after = apptainer_image.apptainer_image_tag()

    assert before.startswith("dsdeploy-apptainer:trixie-")
    assert after.startswith("dsdeploy-apptainer:trixie-")
    assert after != before


def test_command_binds_each_folder_at_its_own_path_and_runs_as_the_uid() -> None:
    folders = (Path("/work/a b"), Path("/var/tmp/sif"))

    command = [str(part) for part in apptainer_image.apptainer_command(
        ["exec", "--containall", "/var/tmp/sif/x.sif", "true"], tag="img:1", uid=1234, binds=folders
    )]  # fmt: skip

    assert "--privileged" not in command
    assert [command[i + 1] for i, part in enumerate(command) if part == "--volume"] == [
        "/work/a b:/work/a b",
        "/var/tmp/sif:/var/tmp/sif",
    ]
    # After the image: a root shell that hands over to uid 1234, then apptainer's own arguments.
    tail = command[command.index("img:1") + 1 :]
    assert tail[:2] == ["sh", "-c"]
    assert 'setpriv --reuid "$0"' in tail[2]
    assert tail[3:] == ["1234", "exec", "--containall", "/var/tmp/sif/x.sif", "true"]


@pytest.mark.parametrize(("caller", "runs_as"), [(0, apptainer_image.DEFAULT_UID), (1500, 1500)])
def test_root_runs_apptainer_as_another_uid(
    monkeypatch: pytest.MonkeyPatch, caller: int, runs_as: int
) -> None:
    monkeypatch.setattr(apptainer_image.os, "getuid", lambda: caller)

    assert apptainer_image.runner_uid() == runs_as
