"""A new project that starts from the user's own model: the project's `make import-model`, run for them.

``dsdeploy new DIR --model PATH`` answers ``model_source: imported`` (the image ships the model
in ``imported/``, not one trained at build time) and, once the project is rendered, runs the
project's own import, so what the user gets is what ``make import-model`` would have made.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from generator.errors import GeneratorError
from generator.process import run
from generator.project.render import read_answers
from generator.tools import find_python, require

#: The answer (copier.yml ``model_source``) that makes the image ship ``imported/``.
IMPORTED = "imported"
#: The data files the project's import profiles (its ``serving/profile_data.py`` reads these).
PROFILE_SUFFIXES = (".csv", ".parquet")


def check_model_answers(
    answers: Mapping[str, Any], model: Path | None, example: Path | None, profile_data: Path | None = None
) -> dict[str, Any]:
    """The answers for a project started from ``model``; refused before any file is written.

    Raises:
        GeneratorError: ``model``, ``example`` or ``profile_data`` is not there (or the data is not
            a CSV or Parquet file), ``--example`` or ``--profile-data`` comes without ``--model``,
            or ``model_source`` is ``imported`` with no model to import.
        ToolMissing: A model is given but make or uv, which import it, is not here.
    """
    if model is None:
        for flag, given in (("--example", example), ("--profile-data", profile_data)):
            if given is not None:
                raise GeneratorError(
                    f"{flag} needs --model: those rows describe the model you import",
                    hint="add --model PATH (your model file or MLflow model folder)",
                )
        if answers.get("model_source") == IMPORTED:
            raise GeneratorError(
                "model_source=imported needs the model to import: pass --model PATH",
                hint="or leave model_source at train and run `make import-model MODEL=...` later",
            )
        return dict(answers)
    if not model.exists():
        raise GeneratorError(
            f"--model {model}: no such file or folder",
            hint="give the path of your saved model (a joblib file, or an MLflow model folder)",
        )
    if example is not None and not example.is_file():
        raise GeneratorError(
            f"--example {example}: no such file", hint="give a CSV, Parquet or JSON file of a few real rows"
        )
    if profile_data is not None and not (profile_data.is_file() and profile_data.suffix in PROFILE_SUFFIXES):
        wrong = "not a .csv or .parquet file" if profile_data.is_file() else "no such file"
        raise GeneratorError(
            f"--profile-data {profile_data}: {wrong}",
            hint="give a CSV (or Parquet) file of rows like the training data: drift is measured against it",
        )
    # The import runs after the render: what it needs is checked before anything is written.
    require("make")
    require("uv")
    if answers.get("model_source", IMPORTED) != IMPORTED:
        raise GeneratorError(
            f"model_source={answers['model_source']} contradicts --model: a project started from a "
            "model ships that model",
            hint="drop `-d model_source=...` (--model answers imported)",
        )
    return {**answers, "model_source": IMPORTED}


def import_into(
    project: Path,
    model: Path,
    example: Path | None = None,
    profile_data: Path | None = None,
    *,
    timeout: float = 900,
) -> None:
    """Run the project's ``make import-model`` on ``model`` (``example``, ``profile_data``) in ``project``.

    The project's Python is handed to uv (never downloaded), as
    :func:`~generator.project.render.lock_project` does.

    Raises:
        ToolMissing: make or uv is not installed.
        CommandFailed: The import refused the model (its one-line reason is in the output).
    """
    # The uv found here (it may be in dsdeploy's own environment, not on PATH) is the Makefile's UV.
    uv = require("uv")
    command: list[str | Path] = [require("make"), "import-model", f"UV={uv}", f"MODEL={model.resolve()}"]
    if example is not None:
        command.append(f"EXAMPLE={example.resolve()}")
    if profile_data is not None:
        command.append(f"PROFILE_DATA={profile_data.resolve()}")
    env: dict[str, str | None] = {"VIRTUAL_ENV": None}
    python = find_python(str(read_answers(project).get("python_version", "")))
    if python is not None:
        env["UV_PYTHON"] = str(python)
    run(command, cwd=project, env=env, timeout=timeout)
