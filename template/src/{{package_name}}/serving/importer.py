"""Serve a model trained elsewhere: import its fitted estimator with a signature.

Owned by the template: extend through ``model.py``; ``copier update`` may replace this file.

``python -m <package>.serving.importer MODEL [--example ROWS]`` (``make import-model``) reads a
joblib file holding a fitted estimator (bare, or an artifact of this template), derives its
signature and writes ``imported/model.joblib`` and ``imported/signature.json``; ``make build
MODEL_SOURCE=imported`` then bakes it into the image instead of training. The signature comes
from the estimator (its feature names and classes) or, better, from example rows you give
(a CSV, Parquet or JSON file of a few real rows): their columns, kinds and the model's answers
to them become the example request every check sends. A pickle runs any code it holds when
loaded, so ``main`` loads one inside a throwaway container where an engine answers
(``sandbox.py``), and here only after a warning or when told to (SANDBOX=0, ``--no-sandbox``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import joblib

from . import sandbox
from .artifact import Model, ModelLoadError, check_answers, save_model
from .signature import SIGNATURE_FILE, Signature, derive_signature, signature_of_estimator

DEFAULT_OUTPUT = Path("imported")


def read_example(path: Path, estimator: Any) -> Any:
    """Example rows from a CSV, Parquet or JSON file, as the estimator was fitted on them.

    JSON holds ``{"instances": [...]}`` or a bare list of rows (lists in column order, or
    objects keyed by column). A DataFrame-fitted estimator gets a DataFrame in its columns.

    Raises:
        ValueError: The file's type is not one of these, or it holds no rows.
    """
    names = getattr(estimator, "feature_names_in_", None)
    if path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        rows = data["instances"] if isinstance(data, dict) else data
        if not rows:
            raise ValueError(f"{path} holds no rows")
        if names is None and not isinstance(rows[0], dict):
            return rows
        import pandas as pd  # named columns: the estimator was fitted on a DataFrame

        frame = pd.DataFrame(rows, columns=None if isinstance(rows[0], dict) else list(names))
        return with_fitted_categories(frame, estimator)
    if path.suffix in (".csv", ".parquet"):
        import pandas as pd  # a table file is read with pandas

        frame = pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
        if frame.empty:
            raise ValueError(f"{path} holds no rows")
        if names is None:
            return frame.to_numpy()
        frame = frame[[str(n) for n in names]]
        return frame if path.suffix == ".parquet" else with_fitted_categories(frame, estimator)
    raise ValueError(f"{path}: example rows must be a .csv, .parquet or .json file")


def with_fitted_categories(frame: Any, estimator: Any) -> Any:
    """Give a table read from JSON or CSV the category columns the estimator was fitted with.

    Text formats lose pandas dtypes. LightGBM records the categories of each category column it
    was fitted on (``booster_.pandas_categorical``, in column order): the string columns become
    those categories again, so values keep their codes. Other estimators take the strings as
    they are (a ``OneHotEncoder`` in a pipeline does); Parquet keeps dtypes and needs none of this.
    """
    categories = getattr(getattr(estimator, "booster_", None), "pandas_categorical", None)
    if not categories:
        return frame
    import pandas as pd  # a table: pandas is at hand

    text = [
        column
        for column in frame.columns
        if frame[column].dtype.kind == "O" or str(frame[column].dtype) in ("str", "string")
    ]
    if len(text) != len(categories):
        return frame
    frame = frame.copy()
    for column, known in zip(text, categories, strict=True):
        frame[column] = pd.Categorical(frame[column], categories=known)
    return frame


def load_pickled(path: Path) -> Any:
    """Unpickle ``path`` (joblib or plain pickle): this runs any code the file holds.

    ``main`` calls the importer inside the sandbox (``sandbox.py``) for such files where a
    container engine answers; this is the one place they are loaded.

    Raises:
        ModelLoadError: The file cannot be unpickled.
    """
    try:
        return joblib.load(path)
    except Exception as exc:  # any unpickling failure means the same thing to the caller
        raise ModelLoadError(f"cannot load {path}: {exc}") from exc


#: How the formats that are not pickles begin: a zip (skops), JSON or UBJSON (XGBoost), LightGBM's text.
NOT_PICKLE_MAGIC = (b"PK\x03\x04", b"{", b"tree\n", b"tree\r\n")
#: Files of an MLflow model folder that hold a pickle (the sklearn flavour and its kin).
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".cloudpickle")


def loads_pickle(model: Path) -> bool:
    """Whether importing ``model`` unpickles something: anything not known to be pickle-free does."""
    if not model.exists():
        return False  # nothing to load: the import says so
    if model.is_dir():
        return any(path.suffix in PICKLE_SUFFIXES for path in model.rglob("*") if path.is_file())
    try:
        with model.open("rb") as file:
            head = file.read(8)
    except OSError:
        return True  # the import reports the file; no reason to load it here
    return not head.startswith(NOT_PICKLE_MAGIC)


def import_model(
    model: Path,
    output: Path = DEFAULT_OUTPUT,
    *,
    example: Path | None = None,
    class_names: Sequence[str] = (),
) -> Model:
    """Import the estimator in ``model`` into ``output`` with its signature; returns the model.

    Raises:
        ModelLoadError: The file holds no fitted estimator, or the example does not fit it.
    """
    artifact = load_pickled(model)
    estimator = artifact["estimator"] if isinstance(artifact, dict) and "estimator" in artifact else artifact
    if not hasattr(estimator, "predict"):
        raise ModelLoadError(f"{model} holds a {type(estimator).__name__}, which has no predict()")
    try:
        if example is None:
            signature = signature_of_estimator(estimator, class_names)
        else:
            rows = read_example(example, estimator)
            signature = derive_signature(estimator, rows, class_names=class_names, example=rows)
    except (ValueError, KeyError) as exc:
        raise ModelLoadError(f"{model}: {exc}") from exc
    imported = Model(estimator, signature)
    try:
        check_answers(imported)
    except ValueError as exc:
        raise ModelLoadError(f"{model}: {exc}") from exc
    save_model(imported, output / "model.joblib")
    return imported


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; exit code 1 with the reason when the model cannot be imported."""
    parser = argparse.ArgumentParser(prog=f"python -m {__name__}", description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="joblib file holding a fitted estimator")
    parser.add_argument("--example", type=Path, help="a few real rows (.csv, .parquet or .json)")
    parser.add_argument("--class-names", default="", help="comma-separated class names, in label order")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="folder (default: %(default)s)")
    parser.add_argument(
        "--no-sandbox",
        action="store_true",
        help="load a pickle on this machine, not in a container (also SANDBOX=0): only for files you trust",
    )
    args = parser.parse_args(argv)
    names = [name for name in args.class_names.split(",") if name]
    engine = sandbox_engine(args.model, no_sandbox=args.no_sandbox)
    model, output, example = args.model, args.output, args.example
    try:
        if engine is None:
            signature = import_model(model, output, example=example, class_names=names).signature
        else:
            options = ["--class-names", args.class_names] if args.class_names else []
            sandbox.import_in_sandbox(model, output, example=example, args=options, engine=engine)
            signature = Signature.from_dict(json.loads((output / SIGNATURE_FILE).read_text(encoding="utf-8")))
    except (ModelLoadError, sandbox.SandboxError, ValueError) as error:
        print(f"import-model: {error}", file=sys.stderr)  # noqa: T201 - CLI output
        return 1
    where = f" in a {engine} sandbox" if engine else ""
    print(  # noqa: T201 - CLI output
        f"imported {model} into {output}{where}: {signature.task}, {len(signature.columns)} columns, "
        f"{len(signature.example_rows)} example rows"
    )
    return 0


def sandbox_engine(model: Path, *, no_sandbox: bool = False) -> str | None:
    """The engine to load ``model`` in, or None to load it here (warning when that was not chosen).

    Only pickles run code when loaded; SANDBOX=0 or ``--no-sandbox`` loads them here knowingly.
    """
    if no_sandbox or os.environ.get("SANDBOX", "1") == "0" or not loads_pickle(model):
        return None
    engine = sandbox.engine_from_env()
    reason = sandbox.unavailable(engine)
    if reason is None:
        return engine
    print(  # noqa: T201 - CLI output
        f"import-model: warning: loading {model} on this machine ({reason}): a pickle runs any code it "
        "holds, so import only files you trust (SANDBOX=0 or --no-sandbox says so and silences this)",
        file=sys.stderr,
    )
    return None


if __name__ == "__main__":
    raise SystemExit(main())
