"""A reference profile from a data file: for a model with no training data of this project.

Owned by the template: ``copier update`` may replace this file.

Training writes ``profile.json`` from its own rows (``train.py``). A model trained elsewhere has
none: ``make import-model PROFILE_DATA=rows.csv`` profiles the rows of a file you name (the data
it was trained on, or a sample of it) while importing, and

    python -m <package>.serving.profile_data --data rows.csv [--model artifacts]

writes one beside an existing model (one trained before profiles existed). The rows are read by
the signature's column kinds (CSV always; Parquet where pandas and pyarrow are installed), checked
as the service checks a request (a missing column, a value of the wrong kind, a hole where
training never had one: refused in one line naming the file, the column and the fix), and the
model's own answers on them give the answers' bins. Without a profile the service still serves;
its drift panels say there is no reference.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .artifact import ARTIFACT_FILE, Model, ModelLoadError, load_model, model_path
from .features import RefusedValueError
from .profile import PROFILE_FILE, Profile, derive_profile
from .signature import Column

#: The data files a profile is read from.
DATA_SUFFIXES = (".csv", ".parquet")
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


class ProfileDataError(ValueError):
    """A data file that cannot be profiled for this model; the message is one line with the fix."""


def read_rows(path: Path, columns: Sequence[Column]) -> list[list[Any]]:
    """The rows of ``path``, one value per column of ``columns`` in their order, read by their kinds.

    Other columns of the file (a target, an id) are left out. Values that do not parse as their
    column's kind stay as read, for ``check_features`` to refuse with the row and the column.

    Raises:
        ProfileDataError: The file is not there, not CSV or Parquet, lacks a column or holds no rows.
    """
    if not path.is_file():
        raise ProfileDataError(f"{path}: no such file; check the path")
    if path.suffix not in DATA_SUFFIXES:
        raise ProfileDataError(f"{path}: profile data must be a .csv or .parquet file")
    header, records = _parquet(path) if path.suffix == ".parquet" else _csv(path)
    names = [column.name for column in columns]
    absent = [name for name in names if name not in header]
    if absent:
        raise ProfileDataError(
            f"{path} has no column {absent[0]!r}: the model takes {', '.join(names)}; add it to the file"
        )
    if not records:
        raise ProfileDataError(f"{path} holds no rows: give the rows the model was trained on")
    where = [header.index(name) for name in names]
    if path.suffix == ".parquet":  # typed already
        return [[record[i] for i in where] for record in records]
    return [
        [_parse(record[i], column) for i, column in zip(where, columns, strict=True)] for record in records
    ]


def profile_of_file(model: Model, path: Path) -> Profile:
    """The profile of the rows in ``path`` and of ``model``'s answers on them.

    Raises:
        ProfileDataError: The file cannot be read, or a value is not one the model takes.
    """
    rows = read_rows(path, model.signature.columns)
    try:
        matrix = model.check_features(rows)
    except RefusedValueError as exc:  # named where an editor shows it: a CSV's line (the header is 1)
        where = f"line {exc.row + 2}" if path.suffix == ".csv" else f"row {exc.row}"
        refused = f"{path} {where}: column {exc.column!r} {exc.text}"
        raise ProfileDataError(f"{refused}; fix or drop that row") from None
    except ValueError as exc:
        raise ProfileDataError(f"{path}: {exc}") from None
    return derive_profile(model.signature, matrix, model.predict(matrix, checked=True))


def _csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        lines = list(csv.reader(handle))
    if not lines:
        raise ProfileDataError(f"{path} is empty: give a header line and the rows")
    return lines[0], [line for line in lines[1:] if line]


def _parquet(path: Path) -> tuple[list[str], list[list[Any]]]:
    try:
        import pandas as pd  # only Parquet needs pandas (and pyarrow)

        frame = pd.read_parquet(path)
    except ImportError as exc:
        raise ProfileDataError(
            f"{path}: reading Parquet needs {exc.name}; give a .csv file instead"
        ) from None
    except (OSError, ValueError) as exc:
        raise ProfileDataError(f"{path}: not a Parquet file ({exc})") from None
    return [str(name) for name in frame.columns], frame.to_numpy(dtype=object).tolist()


def _parse(text: str, column: Column) -> Any:
    """A CSV field as its column's kind: an empty field is a hole, as pandas reads one."""
    if text.strip() == "":
        return math.nan if column.kind in ("number", "integer") else None
    if column.kind in ("number", "integer"):
        try:
            return float(text)
        except ValueError:
            return text
    if column.kind == "boolean":
        word = text.strip().lower()
        return True if word in _TRUE else False if word in _FALSE else text
    return text


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: write ``profile.json`` beside a model; exit code 1 with the reason."""
    parser = argparse.ArgumentParser(prog=f"python -m {__name__}", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the rows to profile (.csv or .parquet)")
    parser.add_argument(
        "--model", type=Path, help="the model's folder (default: MODEL_DIR, MODEL_PATH's or artifacts/)"
    )
    args = parser.parse_args(argv)
    try:
        # A digest-checked artifact of this project, loaded here as `make serve` loads it.
        model = load_model(args.model / ARTIFACT_FILE if args.model else None)
        profile = profile_of_file(model, args.data)
    except (ModelLoadError, ProfileDataError) as error:
        print(f"profile: {error}", file=sys.stderr)  # noqa: T201 - CLI output
        return 1
    folder = args.model or model_path().parent  # where load_model found it
    profile.write(folder)
    print(f"wrote {folder / PROFILE_FILE}: {profile.rows} rows, {len(profile.features)} columns")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
