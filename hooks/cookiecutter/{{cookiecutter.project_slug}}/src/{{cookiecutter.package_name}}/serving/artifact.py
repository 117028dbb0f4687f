"""The model artifact: how a fitted estimator is saved, loaded and asked for predictions.

Owned by the template: extend through ``model.py`` (the estimator) and ``train.py`` (the data);
``copier update`` may replace this file.

The artifact is one joblib file holding a plain dict (no classes of this package), so it loads
without this package's code on the path and survives renames of it.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn
from numpy.typing import NDArray

from .signature import Signature, signature_of_estimator

MODEL_PATH_ENV = "MODEL_PATH"
DEFAULT_MODEL_PATH = Path("artifacts/model.joblib")
#: Largest magnitude a number may have: float32's range (rounded down), which XGBoost and
#: LightGBM read, and which leaves scikit-learn's scalers room before float64 overflows.
VALUE_LIMIT = 3.4e38
#: Largest magnitude an integer may have (JavaScript's safe integer): every integer up to it, and
#: the next, is exact in the float64 that a JSON number becomes.
INTEGER_LIMIT = 2**53 - 1
ARTIFACT_FORMAT = 2  # 2: the signature inside; 1 (0.1.0): feature and class names only
_PACKAGE = __package__.rpartition(".")[0] if __package__ else "<package>"


class ModelLoadError(RuntimeError):
    """The model artifact is missing or is not a model this package can serve."""


def model_path(env: Mapping[str, str] | None = None) -> Path:
    """Where the model artifact lives: ``MODEL_PATH``, else ``artifacts/model.joblib``.

    Args:
        env: Environment to read; ``os.environ`` when omitted.

    Returns:
        The artifact path (relative paths are relative to the working directory).
    """
    env = os.environ if env is None else env
    return Path(env.get(MODEL_PATH_ENV, "").strip() or DEFAULT_MODEL_PATH)


@dataclass(frozen=True)
class Model:
    """A fitted estimator with its signature: what it takes, what it answers.

    Attributes:
        estimator: The fitted estimator (anything with scikit-learn's ``predict``).
        signature: Its input columns, task, classes and example request.
    """

    estimator: Any
    signature: Signature

    @property
    def feature_names(self) -> tuple[str, ...]:
        """One name per input column, in column order."""
        return self.signature.names

    @property
    def class_names(self) -> tuple[str, ...]:
        """Human names of the classes, in ``classes`` order (empty when unknown)."""
        return self.signature.class_names

    @property
    def n_features(self) -> int:
        """Number of input columns the model expects."""
        return len(self.signature.columns)

    @property
    def classes(self) -> NDArray[Any]:
        """The labels ``predict`` returns, as the estimator knows them (empty for a regressor)."""
        if self.signature.task != "classification":
            return np.asarray([])
        return np.asarray(getattr(self.estimator, "classes_", []))

    @property
    def has_proba(self) -> bool:
        """Whether the model can return class probabilities."""
        return self.signature.task == "classification" and hasattr(self.estimator, "predict_proba")

    def check_features(self, x: Any) -> NDArray[Any]:
        """Turn ``x`` into the matrix the estimator is given, or say what is wrong.

        Args:
            x: Rows of values in column order (lists, a matrix or a DataFrame with the
                model's columns), shape ``(rows, n_features)``.

        Returns:
            A C-contiguous float64 matrix when every column is numeric, else an object matrix
            whose values have each column's kind.

        Raises:
            ValueError: ``x`` is not a non-empty 2-D table of valid values with ``n_features``
                columns; the message names the column and the rule.
        """
        if hasattr(x, "columns"):  # a DataFrame: take the model's columns, in its order
            missing = [name for name in self.feature_names if name not in x.columns]
            if missing:
                raise ValueError(
                    f"missing column {missing[0]!r}: the model takes {', '.join(self.feature_names)}"
                )
            x = x[list(self.feature_names)].to_numpy(dtype=object)
        if self.signature.numeric:
            return self._numeric(x)
        return self._mixed(x)

    def _shape_error(self, ndim: int, columns: int | None = None) -> ValueError:
        if ndim != 2:
            return ValueError(f"features must be a 2-D matrix (rows, {self.n_features}), got {ndim}-D")
        return ValueError(
            f"each row must have {self.n_features} features ({', '.join(self.feature_names)}), got {columns}"
        )

    def _numeric(self, x: Any) -> NDArray[np.float64]:
        try:
            matrix = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError, OverflowError) as exc:
            self._mixed(x)  # the value-by-value check names the row, the column and the rule
            raise ValueError(f"features must be numbers in rows of equal length: {exc}") from None
        if matrix.ndim >= 1 and matrix.shape[0] == 0:
            raise ValueError("features hold no rows: send at least one")
        if matrix.ndim != 2:
            raise self._shape_error(matrix.ndim)
        if matrix.shape[1] != self.n_features:
            raise self._shape_error(2, matrix.shape[1])
        within = np.abs(matrix) <= VALUE_LIMIT  # False for NaN and infinity too
        if not within.all():
            row, index = (int(i) for i in np.argwhere(~within)[0])
            column = self.feature_names[index]
            if not math.isfinite(matrix[row, index]):
                raise ValueError(f"column {column!r} must hold finite numbers: NaN or infinity found")
            raise ValueError(
                f"column {column!r} takes numbers within ±{VALUE_LIMIT:g}: {matrix[row, index]:g} found"
            )
        for index, column in enumerate(self.signature.columns):
            values = matrix[:, index]
            if column.kind == "integer" and (values != np.round(values)).any():
                raise ValueError(f"column {column.name!r} takes integers: a value with a fraction found")
            if column.kind == "integer" and (np.abs(values) > INTEGER_LIMIT).any():
                raise ValueError(f"column {column.name!r} takes integers within ±(2**53 - 1)")
        return np.ascontiguousarray(matrix)

    def _mixed(self, x: Any) -> NDArray[Any]:
        rows = x.tolist() if isinstance(x, np.ndarray) else list(x)
        if not rows:
            raise ValueError("features hold no rows: send at least one")
        if not all(isinstance(row, list | tuple) for row in rows):
            raise self._shape_error(1)
        bad = next((len(row) for row in rows if len(row) != self.n_features), None)
        if bad is not None:
            raise self._shape_error(2, bad)
        matrix = np.empty((len(rows), self.n_features), dtype=object)
        for index, column in enumerate(self.signature.columns):
            check = _VALUE_CHECKS[column.kind]
            for row_number, row in enumerate(rows):
                value = row[index]
                if not check(value):
                    rule = _KIND_WORDS[column.kind]
                    raise ValueError(f"column {column.name!r} takes {rule}: row {row_number} holds {value!r}")
                matrix[row_number, index] = float(value) if column.kind == "number" else value
        return matrix

    def _input(self, matrix: NDArray[Any]) -> Any:
        """What the estimator is given: the matrix, or a DataFrame like the one it was fitted on."""
        if not self.signature.frame:
            return matrix
        import pandas as pd  # a DataFrame-fitted estimator was trained with pandas at hand

        data: dict[str, Any] = {}
        for index, column in enumerate(self.signature.columns):
            values = matrix[:, index]
            if column.categories:
                data[column.name] = pd.Categorical(values, categories=list(column.categories))
            else:
                data[column.name] = pd.Series(values).astype(column.dtype or _PANDAS_DTYPES[column.kind])
        return pd.DataFrame(data)

    def predict(self, x: Any) -> NDArray[Any]:
        """Predicted label (classifier) or value (regressor) of each row.

        Args:
            x: Rows of values in column order, shape ``(rows, n_features)``.

        Returns:
            One answer per row.

        Raises:
            ValueError: ``x`` is not a valid feature table (see ``check_features``).
        """
        return np.asarray(self.estimator.predict(self._input(self.check_features(x)))).ravel()

    def predict_proba(self, x: Any) -> NDArray[np.float64]:
        """Probability of each class (columns in ``classes`` order) for each row.

        Args:
            x: Rows of values in column order, shape ``(rows, n_features)``.

        Returns:
            Shape ``(rows, n_classes)``.

        Raises:
            ValueError: ``x`` is not a valid feature table (see ``check_features``).
            NotImplementedError: The estimator has no ``predict_proba``.
        """
        if not self.has_proba:
            raise NotImplementedError(f"{type(self.estimator).__name__} has no predict_proba")
        proba = self.estimator.predict_proba(self._input(self.check_features(x)))
        return np.asarray(proba, dtype=np.float64)


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return abs(value) <= VALUE_LIMIT  # False for NaN and infinity too
    except OverflowError:  # an integer too large for a float64
        return False


def _is_integer(value: Any) -> bool:
    return _is_number(value) and float(value).is_integer() and abs(value) <= INTEGER_LIMIT


_VALUE_CHECKS: Mapping[str, Callable[[Any], bool]] = {
    "number": _is_number,
    "integer": _is_integer,
    "boolean": lambda value: isinstance(value, bool),
    "string": lambda value: isinstance(value, str),
}
_KIND_WORDS = {
    "number": f"finite numbers within ±{VALUE_LIMIT:g}",
    "integer": "integers within ±(2**53 - 1)",
    "boolean": "true or false",
    "string": "strings",
}
_PANDAS_DTYPES = {"number": "float64", "integer": "int64", "boolean": "bool", "string": "object"}


def save_model(model: Model, path: Path) -> Path:
    """Write ``model`` to ``path`` atomically, and its signature beside it as ``signature.json``.

    Writing to a temporary file in the same folder and renaming it means a reader (a server
    starting up, a pipeline step) never sees half an artifact.

    Args:
        model: The model to save.
        path: Destination, conventionally ``*.joblib``.

    Returns:
        ``path``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    artifact = {
        "format": ARTIFACT_FORMAT,
        "estimator": model.estimator,
        "signature": model.signature.to_dict(),
        "sklearn_version": sklearn.__version__,
    }
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        joblib.dump(artifact, tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    model.signature.write(path.parent)
    return path


def load_model(path: Path | str | None = None) -> Model:
    """Load a model artifact written by ``save_model``, or a bare fitted estimator.

    Only load artifacts you trust: joblib files are pickles and can run code when loaded.

    Args:
        path: The artifact; ``model_path()`` (``MODEL_PATH`` or the default) when omitted.

    Returns:
        The model.

    Raises:
        ModelLoadError: The file is missing, unreadable or holds no fitted estimator.
    """
    path = Path(path) if path is not None else model_path()
    if not path.is_file():
        raise ModelLoadError(
            f"no model artifact at {path}: run `python -m {_PACKAGE}.train` or set {MODEL_PATH_ENV}"
        )
    try:
        artifact = joblib.load(path)
    except Exception as exc:  # any unpickling failure means the same thing to the caller
        raise ModelLoadError(f"cannot load model artifact {path}: {exc}") from exc
    # A bare estimator dumped by hand (or by `make import-model`) is served too.
    bundle = artifact if isinstance(artifact, dict) and "estimator" in artifact else {"estimator": artifact}
    estimator = bundle["estimator"]
    if not hasattr(estimator, "predict"):
        raise ModelLoadError(f"{path} holds a {type(estimator).__name__}, which has no predict()")
    try:
        if "signature" in bundle:
            signature = Signature.from_dict(bundle["signature"])
        else:  # a bare estimator, or an artifact of format 1 (feature and class names only)
            signature = signature_of_estimator(estimator, bundle.get("class_names") or ())
            if bundle.get("feature_names"):
                renamed = zip(signature.columns, bundle["feature_names"], strict=False)
                signature = replace(signature, columns=tuple(replace(c, name=str(n)) for c, n in renamed))
    except ValueError as exc:
        raise ModelLoadError(f"{path}: {exc}") from exc
    return Model(estimator, signature)
