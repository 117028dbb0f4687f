"""Serve a model trained elsewhere: import its fitted estimator with a signature.

Owned by the template: extend through ``model.py``; ``copier update`` may replace this file.

``python -m <package>.serving.importer MODEL [--example ROWS]`` (``make import-model``) reads a
model trained elsewhere: a joblib/pickle file holding a fitted estimator (bare, or an artifact of
this template), a skops file, an XGBoost (JSON/UBJ) or LightGBM (text) model file, or an MLflow
model folder (see ``model_formats``). It derives the signature and writes
``imported/model.joblib`` and ``imported/signature.json``; ``make build MODEL_SOURCE=imported``
then bakes it into the image instead of training. The signature comes from example rows you give
(a CSV, Parquet or JSON file of a few real rows: their columns, kinds and the model's answers to
them become the example request every check sends), else from the source (an MLflow signature
and input example, a booster's feature names), else from the estimator (its feature names and
classes); ``--columns`` names the columns of a model that records none; ``--profile-data`` rows
give it the drift reference, ``profile.json`` (``profile_data``). A pickle runs any code it
holds when loaded, so ``main`` imports one inside a throwaway container where an engine answers
(``sandbox.py``), and here only after a warning or when told to (SANDBOX=0, ``--no-sandbox``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from . import sandbox
from .artifact import Model, ModelLoadError, check_answers, save_model
from .model_formats import Source, open_model, sniff
from .profile_data import ProfileDataError, profile_of_file
from .signature import SIGNATURE_FILE, ColumnKind, Signature, derive_signature, signature_of_estimator

DEFAULT_OUTPUT = Path("imported")


def read_example(path: Path, estimator: Any, *, named: bool = True) -> Any:
    """Example rows from a CSV, Parquet or JSON file, as the estimator was fitted on them.

    JSON holds ``{"instances": [...]}`` or a bare list of rows (lists in column order, or
    objects keyed by column). A DataFrame-fitted estimator gets a DataFrame in its columns;
    ``named=False`` gives a matrix to one that knows names but takes a matrix (a native booster).

    Raises:
        ValueError: The file's type is not one of these, or it holds no rows.
    """
    names = getattr(estimator, "feature_names_in_", None) if named else None
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


#: Files of an MLflow model folder that hold a pickle (the sklearn flavour, a pickled LightGBM wrapper).
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".cloudpickle")


def loads_pickle(model: Path) -> bool:
    """Whether importing ``model`` unpickles something: a pickle file, or an MLflow folder holding one."""
    try:
        kind = sniff(model)
    except ModelLoadError:
        return False  # nothing there to load: the import says so
    if kind == "mlflow":
        return any(path.suffix in PICKLE_SUFFIXES for path in model.rglob("*") if path.is_file())
    return kind == "pickle"


def import_model(
    model: Path,
    output: Path = DEFAULT_OUTPUT,
    *,
    example: Path | None = None,
    class_names: Sequence[str] = (),
    columns: Sequence[str] = (),
    trust: Sequence[str] = (),
    profile_data: Path | None = None,
) -> Model:
    """Import the model at ``model`` into ``output`` with its signature; returns the model.

    Args:
        model: A joblib/pickle file, a skops file, an XGBoost (JSON/UBJ) or LightGBM (text) model
            file, or an MLflow model folder (see ``model_formats``).
        output: Folder to write ``model.joblib`` and ``signature.json`` into.
        example: A few real rows (.csv, .parquet or .json); they win over any the source holds.
        class_names: Human names of the classes, in label order.
        columns: Column names, for a model that records none (or to rename ``x0``, ``x1``, ...).
        trust: Type names a skops file may hold beyond those skops trusts.
        profile_data: Rows (.csv or .parquet) whose profile is the drift reference; else none.

    Raises:
        ModelLoadError: The model cannot be loaded, its signature derived or its rows profiled;
            one line says why, and nothing is written.
    """
    source = open_model(model, trust)
    estimator = source.estimator
    if not hasattr(estimator, "predict"):
        raise ModelLoadError(f"{model} holds a {type(estimator).__name__}, which has no predict()")
    try:
        signature = signature_of_source(source, example, class_names, columns)
    except ImportError as exc:  # e.g. a DataFrame-fitted model in a project without pandas
        missing = f"{model}: it needs {exc.name}, which this project does not install"
        raise ModelLoadError(f"{missing}: add it to the dependencies (uv add {exc.name})") from None
    except (ValueError, KeyError) as exc:
        raise ModelLoadError(f"{model}: {exc}") from exc
    imported = Model(estimator, signature)
    try:
        check_answers(imported)
    except ValueError as exc:
        raise ModelLoadError(f"{model}: {exc}") from exc
    if profile_data is not None:
        try:
            imported = replace(imported, profile=profile_of_file(imported, profile_data))
        except ProfileDataError as exc:
            raise ModelLoadError(f"PROFILE_DATA={exc}") from None
    save_model(imported, output / "model.joblib")  # and removes a previous import's profile
    return imported


def signature_of_source(
    source: Source, example: Path | None, class_names: Sequence[str], columns: Sequence[str]
) -> Signature:
    """The signature from the best the source offers: given rows, its own rows, its columns, the estimator.

    Raises:
        ValueError: Nothing tells the columns, or the rows do not fit the model.
    """
    estimator = source.estimator
    names = tuple(columns) or source.names
    matrix_names = () if source.frame else names  # a DataFrame names its own columns
    if example is not None:
        rows = read_example(example, estimator, named=source.frame)
        return derive_signature(
            estimator, rows, feature_names=matrix_names, class_names=class_names, example=rows
        )
    count = getattr(estimator, "n_features_in_", None)
    if columns and count is not None and len(columns) != count:
        raise ValueError(f"--columns names {len(columns)} columns, but the model takes {count}")
    if source.rows or names:
        kinds = source.kinds or ("number",) * len(names)
        rows = source.rows or (tuple(ZEROS[kind] for kind in kinds),)
        table = example_table(source.frame, names, kinds, rows)
        return derive_signature(
            estimator, table, feature_names=matrix_names, class_names=class_names, example=table
        )
    if count is None and getattr(estimator, "feature_names_in_", None) is None:
        raise ValueError(
            "cannot tell its input columns (it records no feature names or count, and no example or "
            "MLflow signature came with it): give --example rows.csv (a few real rows) or --columns a,b,c "
            "(make import-model EXAMPLE=... or COLUMN_NAMES=...)"
        )
    return signature_of_estimator(estimator, class_names)


#: The row a model with known columns but no example is first asked about.
ZEROS: dict[ColumnKind, Any] = {"number": 0.0, "integer": 0, "boolean": False, "string": ""}


def example_table(frame: bool, names: Sequence[str], kinds: Sequence[ColumnKind], rows: Sequence[Any]) -> Any:
    """Rows as the estimator takes them: a DataFrame of these column kinds, or a matrix."""
    if not frame:
        numeric = all(kind in ("number", "integer") for kind in kinds)
        return np.asarray(rows, dtype=(np.float64 if "number" in kinds else None) if numeric else object)
    import pandas as pd  # a DataFrame-fitted estimator was fitted with pandas at hand

    table = pd.DataFrame([list(row) for row in rows], columns=list(names))
    dtypes = {"number": "float64", "integer": "int64", "boolean": "bool", "string": "object"}
    return table.astype({name: dtypes[kind] for name, kind in zip(names, kinds, strict=False)})


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; exit code 1 with the reason when the model cannot be imported."""
    parser = argparse.ArgumentParser(prog=f"python -m {__name__}", description=__doc__.splitlines()[0])
    parser.add_argument(
        "model", type=Path, help="model file (joblib, skops, XGBoost, LightGBM) or MLflow folder"
    )
    parser.add_argument("--example", type=Path, help="a few real rows (.csv, .parquet or .json)")
    parser.add_argument("--profile-data", type=Path, help="rows whose profile is the drift reference (.csv)")
    parser.add_argument("--class-names", default="", help="comma-separated class names, in label order")
    parser.add_argument(
        "--columns", default="", help="comma-separated column names, for a model that has none"
    )
    parser.add_argument(
        "--trust", default="", help="comma-separated types a skops file may hold (see its error)"
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="folder (default: %(default)s)")
    parser.add_argument(
        "--no-sandbox",
        action="store_true",
        help="load a pickle on this machine, not in a container (also SANDBOX=0): only for files you trust",
    )
    args = parser.parse_args(argv)

    def listed(text: str) -> list[str]:
        return [name.strip() for name in text.split(",") if name.strip()]

    engine = sandbox_engine(args.model, no_sandbox=args.no_sandbox)
    model, output, example = args.model, args.output, args.example
    try:
        if engine is None:
            signature = import_model(
                model,
                output,
                example=example,
                class_names=listed(args.class_names),
                columns=listed(args.columns),
                trust=listed(args.trust),
                profile_data=args.profile_data,
            ).signature
        else:
            # The same options, as given, for the importer inside (paths are the sandbox's to map).
            given = {"--class-names": args.class_names, "--columns": args.columns, "--trust": args.trust}
            options = [part for flag, value in given.items() if value for part in (flag, value)]
            sandbox.import_in_sandbox(
                model, output, example=example, profile_data=args.profile_data, args=options, engine=engine
            )
            signature = Signature.from_dict(json.loads((output / SIGNATURE_FILE).read_text(encoding="utf-8")))
    except (ModelLoadError, sandbox.SandboxError, ValueError) as error:
        print(f"import-model: {error}", file=sys.stderr)  # noqa: T201 - CLI output
        return 1
    where = f" in a {engine} sandbox" if engine else ""
    profiled = f", its profile from {args.profile_data}" if args.profile_data else ""
    print(  # noqa: T201 - CLI output
        f"imported {model} into {output}{where}: {signature.task}, {len(signature.columns)} columns, "
        f"{len(signature.example_rows)} example rows{profiled}"
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
