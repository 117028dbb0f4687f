"""The model artifact: how a fitted estimator is saved, loaded and asked for predictions.

Owned by the template: extend through ``model.py`` (the estimator) and ``train.py`` (the data);
``copier update`` may replace this file.

The artifact is one joblib file holding a plain dict (no classes of this package), so it loads
without this package's code on the path and survives renames of it. ``signature.json`` beside it
records its SHA-256, checked before it is unpickled (``integrity``). What a row's values must be
is checked in ``features``. ``profile.json`` beside it, when training wrote one, is the training
data's profile that drift is measured against (``profile``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn
from numpy.typing import NDArray

from .boosters import as_estimator, stored
from .features import check_features, estimator_input
from .integrity import IntegrityError, artifact_record, verify
from .profile import PROFILE_FILE, Profile, ProfileError, read_profile
from .signature import Signature, signature_of_estimator

MODEL_PATH_ENV = "MODEL_PATH"
MODEL_DIR_ENV = "MODEL_DIR"
ARTIFACT_FILE = "model.joblib"
DEFAULT_MODEL_PATH = Path("artifacts") / ARTIFACT_FILE
ARTIFACT_FORMAT = 2  # 2: the signature inside; 1 (0.1.0): feature and class names only
_PACKAGE = __package__.rpartition(".")[0] if __package__ else "<package>"


class ModelLoadError(RuntimeError):
    """The model artifact is missing or is not a model this package can serve."""


def model_path(env: Mapping[str, str] | None = None) -> Path:
    """Where the model artifact lives: ``MODEL_DIR/model.joblib``, else ``MODEL_PATH``, else the default.

    ``MODEL_DIR`` is a folder holding what ``make train`` writes (``model.joblib``,
    ``signature.json``, ``metrics.json``): KServe's ``/mnt/models``, the chart's model image. It
    wins over ``MODEL_PATH``, which the image sets to its own model, so a folder mounted over it
    is served without unsetting anything. A ``MODEL_PATH`` naming another file in that same
    folder says otherwise, and is refused.

    Args:
        env: Environment to read; ``os.environ`` when omitted.

    Returns:
        The artifact path (relative paths are relative to the working directory).

    Raises:
        ValueError: ``MODEL_DIR`` names a file, or ``MODEL_PATH`` names another file in it.
    """
    env = os.environ if env is None else env
    path = env.get(MODEL_PATH_ENV, "").strip()
    folder = env.get(MODEL_DIR_ENV, "").strip()
    if not folder:
        return Path(path or DEFAULT_MODEL_PATH)
    if Path(folder).is_file():
        raise ValueError(f"{MODEL_DIR_ENV} must be the folder holding {ARTIFACT_FILE}, got the file {folder}")
    chosen = Path(folder) / ARTIFACT_FILE
    given = Path(path).resolve() if path else None
    if given is not None and given.parent == Path(folder).resolve() and given.name != ARTIFACT_FILE:
        contradiction = f"{MODEL_PATH_ENV}={path} contradicts {MODEL_DIR_ENV}={folder}, which serves {chosen}"
        raise ValueError(f"{contradiction}: unset one of them")
    return chosen


@dataclass(frozen=True)
class Model:
    """A fitted estimator with its signature: what it takes, what it answers.

    What every request asks of it (its columns, whether it has probabilities) is worked out once:
    scikit-learn answers ``hasattr(estimator, "predict_proba")`` by running a check each time.

    Attributes:
        estimator: The fitted estimator (anything with scikit-learn's ``predict``).
        signature: Its input columns, task, classes and example request.
        profile: The training data's profile, when there is one (drift is measured against it).
    """

    estimator: Any
    signature: Signature
    profile: Profile | None = None

    @cached_property
    def feature_names(self) -> tuple[str, ...]:
        """One name per input column, in column order."""
        return self.signature.names

    @property
    def class_names(self) -> tuple[str, ...]:
        """Human names of the classes, in ``classes`` order (empty when unknown)."""
        return self.signature.class_names

    @cached_property
    def n_features(self) -> int:
        """Number of input columns the model expects."""
        return len(self.signature.columns)

    @property
    def classes(self) -> NDArray[Any]:
        """The labels ``predict`` returns, as the estimator knows them (empty for a regressor)."""
        classifier = self.signature.task == "classification"
        return np.asarray(getattr(self.estimator, "classes_", []) if classifier else [])

    @cached_property
    def has_proba(self) -> bool:
        """Whether the model can return class probabilities."""
        return self.signature.task == "classification" and hasattr(self.estimator, "predict_proba")

    def check_features(self, x: Any) -> NDArray[Any]:
        """Turn ``x`` into the matrix the estimator is given, or say what is wrong.

        ``features.check_features`` with this model's signature: rows in column order (lists, a
        matrix or a DataFrame with the model's columns); ``ValueError`` names the column and the rule.
        """
        return check_features(self.signature, x)

    def predict(self, x: Any, *, checked: bool = False) -> NDArray[Any]:
        """Predicted label (classifier) or value (regressor) of each row.

        Args:
            x: Rows of values in column order, shape ``(rows, n_features)``.
            checked: ``x`` is what ``check_features`` returned (the batcher's rows): not checked
                again, a tenth of a one-row model call.

        Returns:
            One answer per row.

        Raises:
            ValueError: ``x`` is not a valid feature table (see ``check_features``).
        """
        matrix = estimator_input(self.signature, x if checked else self.check_features(x))
        return np.asarray(self.estimator.predict(matrix)).ravel()

    def predict_proba(self, x: Any, *, checked: bool = False) -> NDArray[np.float64]:
        """Probability of each class (columns in ``classes`` order) for each row.

        Args:
            x: Rows of values in column order, shape ``(rows, n_features)``.
            checked: ``x`` is what ``check_features`` returned: not checked again.

        Returns:
            Shape ``(rows, n_classes)``.

        Raises:
            ValueError: ``x`` is not a valid feature table (see ``check_features``).
            NotImplementedError: The estimator has no ``predict_proba``.
        """
        if not self.has_proba:
            raise NotImplementedError(f"{type(self.estimator).__name__} has no predict_proba")
        matrix = estimator_input(self.signature, x if checked else self.check_features(x))
        return np.asarray(self.estimator.predict_proba(matrix), dtype=np.float64)


#: Rows the answer count is checked on: not 1, so that a model answering a fixed count shows.
ANSWER_CHECK_ROWS = 5


def check_answers(model: Model) -> None:
    """Check that the model answers one row per row it is given (``predict`` and ``predict_proba``).

    The batcher hands each caller its slice of a merged call's answers; a model answering another
    number of rows (a 2-D array where one label per row is due, say) would mix callers' answers.
    Run on the signature's example rows, repeated to ``ANSWER_CHECK_ROWS``.

    Raises:
        ValueError: The model answers another number of rows (a model that raises on its own
            example passes here: this checks the count only).
    """
    examples = [list(row) for row in model.signature.example_rows]
    if not examples:
        return  # nothing to ask it: the batcher still checks every call
    rows = [examples[i % len(examples)] for i in range(ANSWER_CHECK_ROWS)]
    try:
        answers = {"predict": model.predict(rows)}
        if model.has_proba:
            answers["predict_proba"] = model.predict_proba(rows)
    except Exception:  # refusing its own example is the smoke tests' concern, not this count's
        return
    for method, answer in answers.items():
        shape = np.shape(answer)
        if not shape or shape[0] != len(rows):
            count = f"{method}() answered shape {shape} for {len(rows)} rows"
            raise ValueError(f"{count}: it must answer one row per input row")


def save_model(model: Model, path: Path) -> Path:
    """Write ``model`` to ``path`` atomically, its signature beside it as ``signature.json``.

    Writing to a temporary file in the same folder and renaming it means a reader (a server
    starting up, a pipeline step) never sees half an artifact. ``signature.json`` records the
    file's name and SHA-256, which ``load_model`` checks. The profile goes in ``profile.json``.

    Args:
        model: The model to save.
        path: Destination, conventionally ``*.joblib``.

    Returns:
        ``path``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    artifact = {
        "format": ARTIFACT_FORMAT,
        "estimator": stored(model.estimator),  # a library's own object, never an adapter of ours
        "signature": model.signature.to_dict(),
        "sklearn_version": sklearn.__version__,
    }
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        joblib.dump(artifact, tmp)
        record = artifact_record(tmp) | {"file": path.name}
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    model.signature.write(path.parent, artifact=record)
    if model.profile is not None:
        model.profile.write(path.parent)
    else:  # one left by an earlier model there would describe another model
        (path.parent / PROFILE_FILE).unlink(missing_ok=True)
    return path


def load_model(path: Path | str | None = None) -> Model:
    """Load a model artifact written by ``save_model`` (or a bare fitted estimator), after checking it.

    Joblib files are pickles and can run code when loaded, so the file is read only if its
    SHA-256 is the one ``signature.json`` beside it records (``integrity``): a changed or swapped
    file, or one whose folder records no digest of it, is refused before anything in it runs.

    Args:
        path: The artifact; ``model_path()`` (``MODEL_DIR``, ``MODEL_PATH`` or the default) when omitted.

    Returns:
        The model.

    Raises:
        ModelLoadError: The file is missing, unreadable, not the file its signature records
            (one line naming both digests), or holds no fitted estimator.
    """
    if path is None:
        try:
            path = model_path()
        except ValueError as exc:
            raise ModelLoadError(str(exc)) from exc
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(
            f"no model artifact at {path}: run `python -m {_PACKAGE}.train`"
            f" or set {MODEL_DIR_ENV} or {MODEL_PATH_ENV}"
        )
    try:
        # One open file: the bytes whose digest is checked are the bytes unpickled, even if the
        # path is swapped in between.
        with path.open("rb") as handle:
            verify(path, handle)
            handle.seek(0)
            artifact = joblib.load(handle)
    except IntegrityError as exc:
        raise ModelLoadError(str(exc)) from None
    except Exception as exc:  # any unpickling failure means the same thing to the caller
        raise ModelLoadError(f"cannot load model artifact {path}: {exc}") from exc
    # A bare estimator (dumped by hand, its digest recorded with `integrity --record`) is served too.
    bundle = artifact if isinstance(artifact, dict) and "estimator" in artifact else {"estimator": artifact}
    estimator = as_estimator(bundle["estimator"])  # a LightGBM Booster answers as an estimator
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
    try:
        model = Model(estimator, signature, read_profile(path.parent, signature))
        check_answers(model)
    except ProfileError as exc:  # its message names the profile's file and the fix
        raise ModelLoadError(str(exc)) from exc
    except ValueError as exc:
        raise ModelLoadError(f"{path}: {exc}") from exc
    return model
