"""What a model file or folder holds, told by its contents, and how each kind is loaded.

Owned by the template: extend through ``model.py``; ``copier update`` may replace this file.

``open_model`` reads a joblib or pickle file, a skops file, an XGBoost model (JSON or UBJ), a
LightGBM text model or an MLflow model folder, and gives the estimator with whatever the source
knows of its columns and example rows. The kind is sniffed from the first bytes, not the suffix
(a ``model.bin`` may be any of them). Only pickles run code when loaded: ``load_pickled`` is the
one place that loads them, so it alone decides where that happens. Runs in the dev environment
(``make import-model``): skops is imported only for a skops file, and the image never needs it.
"""

from __future__ import annotations

import zipfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import joblib

from .artifact import ModelLoadError
from .boosters import MissingFrameworkError, as_estimator, feature_names, load_lightgbm, load_xgboost
from .signature import ColumnKind

Format = Literal["mlflow", "skops", "xgboost", "lightgbm", "pickle"]
HEAD_BYTES = 64


@dataclass(frozen=True)
class Source:
    """A loaded model and what its source says about its input.

    Attributes:
        estimator: What the service calls (``predict``, maybe ``predict_proba``).
        format: The kind of source it came from.
        names: Its column names, when the source records them (else the estimator's own, if any).
        kinds: Their kinds, when the source records them (an MLflow signature); else numbers.
        rows: Example rows in column order, when the source holds some (an MLflow input example).
        frame: Whether the estimator takes a pandas DataFrame (it was fitted on one).
    """

    estimator: Any
    format: Format
    names: tuple[str, ...] = ()
    kinds: tuple[ColumnKind, ...] = ()
    rows: tuple[tuple[Any, ...], ...] = ()
    frame: bool = False


def sniff(path: Path) -> Format:
    """The kind of model at ``path``, from its contents.

    Raises:
        ModelLoadError: Nothing is there, or a folder that is not an MLflow model.
    """
    if path.is_dir():
        if (path / "MLmodel").is_file():
            return "mlflow"
        raise ModelLoadError(
            f"{path} is a folder without an MLmodel file: give an MLflow model folder or a model file"
        )
    if not path.is_file():
        raise ModelLoadError(f"no model at {path}")
    with path.open("rb") as stream:
        head = stream.read(HEAD_BYTES)
    if head.startswith(b"PK") and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            if "schema.json" in archive.namelist():
                return "skops"
    if head.startswith(b"tree\n") or head.startswith(b"tree\r\n"):
        return "lightgbm"
    if head.lstrip().startswith(b"{") and b"learner" in head:  # JSON, or UBJ's binary object
        return "xgboost"
    return "pickle"


def load_pickled(path: Path) -> Any:
    """Unpickle ``path`` (joblib or plain pickle): this runs whatever code the file holds.

    Raises:
        ModelLoadError: It does not load.
    """
    try:
        return joblib.load(path)
    except Exception as exc:  # any unpickling failure means the same thing to the caller
        raise ModelLoadError(f"cannot load {path}: {exc}") from exc


def load_skops(path: Path, trust: Collection[str] = (), known: Collection[str] = ()) -> Any:
    """Load a skops file, allowing only the types skops trusts, ``trust`` names and ``known`` lists.

    Raises:
        ModelLoadError: It holds types nobody trusted (named, with the flag that trusts them),
            or it does not load.
    """
    import skops.io  # dev environment only: `make import-model` runs there

    try:
        untrusted = list(skops.io.get_untrusted_types(file=path))
        refused = [name for name in untrusted if name not in trust and name not in known]
        if refused:
            listed = ",".join(refused)
            raise ModelLoadError(
                f"{path} holds types skops does not trust: {', '.join(refused)}; if you trust them, "
                f"import with --trust {listed} (make import-model TRUST={listed})"
            )
        return skops.io.load(path, trusted=untrusted)
    except ModelLoadError:
        raise
    except Exception as exc:  # a broken or foreign zip file
        raise ModelLoadError(f"cannot load {path} with skops: {exc}") from exc


def loaded(
    estimator: Any,
    format: Format,
    names: Sequence[str] = (),
    kinds: Sequence[ColumnKind] = (),
    rows: Sequence[tuple[Any, ...]] = (),
) -> Source:
    """A ``Source`` for ``estimator``: native boosters adapted, column names from the model when known."""
    estimator = as_estimator(estimator)
    frame = format in ("pickle", "skops") and getattr(estimator, "feature_names_in_", None) is not None
    return Source(
        estimator, format, tuple(names or feature_names(estimator)), tuple(kinds), tuple(rows), frame
    )


def open_model(path: Path, trust: Collection[str] = ()) -> Source:
    """Load the model at ``path``, whatever its kind.

    Args:
        path: A model file or an MLflow model folder.
        trust: Type names a skops file may hold beyond those skops trusts.

    Raises:
        ModelLoadError: It cannot be loaded; one line says why and what to do.
    """
    format = sniff(path)
    try:
        if format == "mlflow":
            from .mlflow_model import load_mlflow  # reads MLmodel with PyYAML: dev environment only

            return load_mlflow(path, trust)
        if format == "skops":
            return loaded(load_skops(path, trust), format)
        if format == "xgboost":
            return loaded(load_xgboost(path), format)
        if format == "lightgbm":
            return loaded(load_lightgbm(path), format)
        bundle = load_pickled(path)  # a bare estimator, or an artifact of this template
        return loaded(
            bundle["estimator"] if isinstance(bundle, dict) and "estimator" in bundle else bundle, format
        )
    except MissingFrameworkError as exc:
        raise ModelLoadError(str(exc)) from None
    except ModelLoadError:
        raise
    except Exception as exc:  # a library refusing a file it should read: one line, not a traceback
        raise ModelLoadError(f"cannot load {path} ({format}): {exc}") from exc
