"""Reference profiles made from rows: training's own, or a data file's for a model trained elsewhere.

Owned by the template: ``copier update`` may replace this file.

``derive_profile`` bins rows the way ``profile`` describes (decile edges per number, the most
frequent categories per string, the answers' classes or deciles); training calls it on its own
rows and writes ``profile.json`` (``train.py``). A model trained elsewhere has none:
``make import-model PROFILE_DATA=rows.csv`` profiles the rows of a file you name (the data it was
trained on, or a sample of it) while importing, and

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
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from .artifact import ARTIFACT_FILE, Model, ModelLoadError, load_model, model_path
from .features import RefusedValueError
from .profile import (
    MAX_BINS,
    MISSING,
    OTHER,
    PROFILE_FILE,
    UNSEEN,
    Bins,
    Profile,
    ProfileError,
    as_floats,
    category,
    shares,
)
from .signature import Column, Signature, is_missing

#: The data files a profile is read from.
DATA_SUFFIXES = (".csv", ".parquet")
QUANTILES = 10  # decile bins
TOP_CATEGORIES = MAX_BINS - 3  # room for <other>, <unseen> and <missing>
SEEN_LIMIT = 1000
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


def derive_profile(signature: Signature, x: Any, predictions: Any) -> Profile:
    """The profile of the rows ``x`` (training data, or scored data) and the model's answers on them.

    Args:
        signature: The model's signature (its columns' names and kinds, its task and classes).
        x: The rows: a DataFrame with the signature's columns, or a matrix in column order.
        predictions: The model's answer for each row of ``x``.

    Returns:
        The profile; its shares add up to 1 per column.
    """
    rows = len(x)
    if rows == 0:
        raise ProfileError("no rows to profile")
    frame = hasattr(x, "columns")
    matrix = None if frame else np.asarray(x)
    features = []
    for i, column in enumerate(signature.columns):
        values = x[column.name].to_numpy() if frame else matrix[:, i]  # type: ignore[index]
        numeric = column.kind in ("number", "integer")
        features.append((_numeric_bins if numeric else _categorical_bins)(column.name, values))
    answers = np.asarray(predictions).ravel()
    if signature.task == "classification":
        classes = [category(label) for label in signature.classes]
        prediction = _categorical_bins("prediction", answers, also_seen=classes)
        names = dict(zip(classes, signature.class_names, strict=False))  # a class's name, where it has one
        labels = tuple(names.get(category, category) for category in prediction.categories)
        prediction = replace(prediction, labels=(*labels, *prediction.labels[len(labels) :]))
    else:
        prediction = _numeric_bins("prediction", answers)
    return Profile(rows=rows, features=tuple(features), prediction=prediction)


def _numeric_bins(name: str, values: Any) -> Bins:
    numbers = as_floats(values)
    present = numbers[~np.isnan(numbers)]
    quantiles = np.linspace(0, 1, QUANTILES + 1)[1:-1]
    # Six significant digits: the same bins, and a profile.json a person can read.
    rounded = [float(f"{edge:.6g}") for edge in np.quantile(present, quantiles)] if len(present) else []
    edges = tuple(sorted(set(rounded)))
    labels = (*_interval_labels(edges), MISSING)
    bins = Bins(name, "numeric", labels, (0.0,) * len(labels), edges=edges)
    return replace(bins, shares=tuple(shares(bins.count(numbers)).tolist()))


def _categorical_bins(name: str, values: Any, also_seen: Sequence[str] = ()) -> Bins:
    items = values.tolist() if isinstance(values, np.ndarray) else list(values)
    frequency = Counter(category(value) for value in items if not is_missing(value))
    # Most frequent first; ties by name, so the same data give the same bins.
    ranked = [category for category, _ in sorted(frequency.items(), key=lambda item: (-item[1], item[0]))]
    categories = tuple(ranked[:TOP_CATEGORIES])
    seen = tuple(sorted({*ranked[:SEEN_LIMIT], *also_seen[:SEEN_LIMIT]}))
    labels = (*categories, OTHER, UNSEEN, MISSING)
    bins = Bins(name, "categorical", labels, (0.0,) * len(labels), categories=categories, seen=seen)
    return replace(bins, shares=tuple(shares(bins.count(items)).tolist()))


def _interval_labels(edges: Sequence[float]) -> list[str]:
    if not edges:
        return ["00 all"]
    text = [f"{edge:.4g}" for edge in edges]
    inner = [f"{i:02d} [{low}, {high})" for i, (low, high) in enumerate(pairwise(text), start=1)]
    return [f"00 < {text[0]}", *inner, f"{len(edges):02d} >= {text[-1]}"]


if __name__ == "__main__":
    raise SystemExit(main())
