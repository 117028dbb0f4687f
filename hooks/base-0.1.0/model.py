"""The model: how it is built, saved, loaded and asked for predictions.

This is the one place model code lives. Training, the inference service, the tests (and batch
scoring) all go through it, so a change of model is made here (``build_estimator``) and in the
data loading of ``train.py``, and nowhere else.

The artifact is one joblib file holding a plain dict (no classes of this package), so it loads
without this package's code on the path and survives renames of it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn
from numpy.typing import ArrayLike, NDArray
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

MODEL_PATH_ENV = "MODEL_PATH"
DEFAULT_MODEL_PATH = Path("artifacts/model.joblib")
ARTIFACT_FORMAT = 1


class ModelLoadError(RuntimeError):
    """The model artifact is missing or is not a model this package can serve."""


def build_estimator(random_state: int = 0) -> Pipeline:
    """The untrained estimator: change this to change the model.

    Args:
        random_state: Seed for every random choice the estimator makes, for reproducible fits.

    Returns:
        A scikit-learn pipeline: feature scaling, then multinomial logistic regression.
    """
    # Scaling first keeps the solver well conditioned; max_iter leaves room to converge.
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=random_state))


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
    """A fitted classifier with what callers need to know about its inputs and outputs.

    Attributes:
        estimator: The fitted scikit-learn estimator (anything with ``predict``).
        feature_names: One name per input column, in column order.
        class_names: Human names of the classes, in the order of ``estimator.classes_``
            (empty when unknown).
    """

    estimator: Any
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...] = ()

    @property
    def n_features(self) -> int:
        """Number of input columns the model expects."""
        return len(self.feature_names)

    @property
    def classes(self) -> NDArray[Any]:
        """The labels ``predict`` returns, as the estimator knows them."""
        return np.asarray(getattr(self.estimator, "classes_", []))

    @property
    def has_proba(self) -> bool:
        """Whether the model can return class probabilities."""
        return hasattr(self.estimator, "predict_proba")

    def check_features(self, x: ArrayLike) -> NDArray[np.float64]:
        """Turn ``x`` into the float64 matrix the estimator expects, or say what is wrong.

        Args:
            x: Rows of feature values, shape ``(rows, n_features)``.

        Returns:
            ``x`` as a C-contiguous float64 array.

        Raises:
            ValueError: ``x`` is not a non-empty 2-D matrix of finite numbers with
                ``n_features`` columns; the message names the problem.
        """
        try:
            matrix = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"features must be numbers in rows of equal length: {exc}") from None
        if matrix.ndim != 2:
            raise ValueError(f"features must be a 2-D matrix (rows, {self.n_features}), got {matrix.ndim}-D")
        if matrix.shape[0] == 0:
            raise ValueError("features hold no rows: send at least one")
        if matrix.shape[1] != self.n_features:
            raise ValueError(
                f"each row must have {self.n_features} features "
                f"({', '.join(self.feature_names)}), got {matrix.shape[1]}"
            )
        if not np.isfinite(matrix).all():
            raise ValueError("features must be finite numbers: NaN or infinity found")
        return np.ascontiguousarray(matrix)

    def predict(self, x: ArrayLike) -> NDArray[Any]:
        """Predicted class label of each row.

        Args:
            x: Rows of feature values, shape ``(rows, n_features)``.

        Returns:
            One label per row.

        Raises:
            ValueError: ``x`` is not a valid feature matrix (see ``check_features``).
        """
        return np.asarray(self.estimator.predict(self.check_features(x)))

    def predict_proba(self, x: ArrayLike) -> NDArray[np.float64]:
        """Probability of each class (columns in ``classes`` order) for each row.

        Args:
            x: Rows of feature values, shape ``(rows, n_features)``.

        Returns:
            Shape ``(rows, n_classes)``.

        Raises:
            ValueError: ``x`` is not a valid feature matrix (see ``check_features``).
            NotImplementedError: The estimator has no ``predict_proba``.
        """
        if not self.has_proba:
            raise NotImplementedError(f"{type(self.estimator).__name__} has no predict_proba")
        return np.asarray(self.estimator.predict_proba(self.check_features(x)), dtype=np.float64)


def save_model(model: Model, path: Path) -> Path:
    """Write ``model`` to ``path`` atomically, creating parent folders.

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
        "feature_names": list(model.feature_names),
        "class_names": list(model.class_names),
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
    return path


def _default_feature_names(estimator: Any) -> tuple[str, ...]:
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None:
        return tuple(str(name) for name in names)
    count = getattr(estimator, "n_features_in_", None)
    if count is None:
        raise ModelLoadError(f"{type(estimator).__name__} is not fitted: it has no n_features_in_")
    return tuple(f"x{i}" for i in range(int(count)))


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
            f"no model artifact at {path}: run `python -m {__package__}.train` or set {MODEL_PATH_ENV}"
        )
    try:
        artifact = joblib.load(path)
    except Exception as exc:  # any unpickling failure means the same thing to the caller
        raise ModelLoadError(f"cannot load model artifact {path}: {exc}") from exc
    # A bare estimator dumped by hand is served too, with generic feature names.
    bundle = artifact if isinstance(artifact, dict) and "estimator" in artifact else {"estimator": artifact}
    estimator = bundle["estimator"]
    if not hasattr(estimator, "predict"):
        raise ModelLoadError(f"{path} holds a {type(estimator).__name__}, which has no predict()")
    names: Sequence[str] = bundle.get("feature_names") or _default_feature_names(estimator)
    return Model(estimator, tuple(names), tuple(bundle.get("class_names") or ()))
