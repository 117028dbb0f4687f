"""XGBoost and LightGBM models as scikit-learn-like estimators: native files in, artifacts out.

Owned by the template: extend through ``model.py``; ``copier update`` may replace this file.

XGBoost loads a native model (JSON or UBJ) into its own scikit-learn wrappers
(``XGBClassifier().load_model``), which the artifact holds as they are. LightGBM's wrappers
cannot load a model file, so the artifact keeps the library's ``Booster`` and ``as_estimator``
adapts it when it is loaded: no class of this package is ever pickled into an artifact.
Neither library is imported unless a model of it is at hand: the image carries only its own.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

#: Per library (its module, also the model_framework answer): its name and the package to depend on.
FRAMEWORKS = {"xgboost": ("XGBoost", "xgboost-cpu"), "lightgbm": ("LightGBM", "lightgbm")}
#: LightGBM objectives (and aliases) whose Booster answers class probabilities.
LIGHTGBM_CLASSIFIERS = {"binary", "multiclass", "softmax", "multiclassova", "multiclass_ova", "ova", "ovr"}


class MissingFrameworkError(ImportError):
    """A model of a library this project does not install; the message says which answer to pick."""


def framework(name: str, what: str) -> ModuleType:
    """Import the library ``name`` for ``what`` (a file, a folder), or say which answer brings it.

    Raises:
        MissingFrameworkError: The project does not install it.
    """
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        label, package = FRAMEWORKS[name]
        raise MissingFrameworkError(
            f"{what} is a model of {label}, but this project does not install {name}: render it with "
            f"model_framework={name} (dsdeploy new -d model_framework={name}) or add {package} to its "
            "dependencies"
        ) from None


def load_xgboost(path: Path) -> Any:
    """An XGBoost native model file (JSON or UBJ) in the library's scikit-learn wrapper."""
    xgboost = framework("xgboost", str(path))
    return xgboost_wrapper(xgboost.Booster(model_file=str(path)))


def xgboost_wrapper(booster: Any) -> Any:
    """``XGBClassifier`` or ``XGBRegressor`` (by the booster's objective) holding ``booster``."""
    import xgboost

    objective = json.loads(booster.save_config())["learner"]["objective"]["name"]
    classifier = objective.startswith(("binary:", "multi:"))
    wrapper = xgboost.XGBClassifier() if classifier else xgboost.XGBRegressor()
    wrapper.load_model(booster.save_raw("ubj"))
    return wrapper


def load_lightgbm(path: Path) -> Any:
    """A LightGBM text model file, adapted as an estimator."""
    lightgbm = framework("lightgbm", str(path))
    return as_estimator(lightgbm.Booster(model_file=str(path)))


def feature_names(estimator: Any) -> tuple[str, ...]:
    """The column names a native booster recorded (none when it was fitted on a bare matrix)."""
    if isinstance(estimator, BoosterClassifier | BoosterRegressor):  # unnamed: Column_0, Column_1, ...
        names = tuple(estimator.booster.feature_name())
        return () if names == tuple(f"Column_{i}" for i in range(len(names))) else names
    if hasattr(estimator, "get_booster"):
        return tuple(estimator.get_booster().feature_names or ())
    return ()


def as_estimator(loaded: Any) -> Any:
    """What the service calls for ``loaded``: a native Booster adapted, anything else as it is."""
    module = type(loaded).__module__
    if type(loaded).__name__ == "Booster" and module.startswith("lightgbm"):
        objective = str(loaded.params.get("objective", "regression")).split()[0]
        return BoosterClassifier(loaded) if objective in LIGHTGBM_CLASSIFIERS else BoosterRegressor(loaded)
    if type(loaded).__name__ == "Booster" and module.startswith("xgboost"):
        return xgboost_wrapper(loaded)
    return loaded


def stored(estimator: Any) -> Any:
    """What an artifact holds for ``estimator``: the library's Booster, never an adapter."""
    return estimator.booster if isinstance(estimator, BoosterClassifier | BoosterRegressor) else estimator


class BoosterRegressor(RegressorMixin, BaseEstimator):
    """A LightGBM ``Booster`` answering ``predict`` as ``LGBMRegressor`` would.

    Attributes:
        booster: The library's Booster (what the artifact stores).
    """

    def __init__(self, booster: Any) -> None:
        self.booster = booster
        self.n_features_in_ = int(booster.num_feature())

    def predict(self, x: Any) -> NDArray[Any]:
        """The booster's own answers."""
        return np.asarray(self.booster.predict(x))


class BoosterClassifier(ClassifierMixin, BaseEstimator):
    """A LightGBM ``Booster`` of a classification objective, as ``LGBMClassifier`` answers.

    A model file keeps no labels: the classes are 0 .. n-1, as LightGBM trained on them.

    Attributes:
        booster: The library's Booster (what the artifact stores).
        classes_: The class labels.
    """

    def __init__(self, booster: Any) -> None:
        self.booster = booster
        self.n_features_in_ = int(booster.num_feature())
        self.classes_ = np.arange(max(2, int(booster.num_model_per_iteration())))

    def predict_proba(self, x: Any) -> NDArray[np.float64]:
        """Class probabilities, columns in ``classes_`` order (a binary booster answers the second)."""
        proba = np.asarray(self.booster.predict(x), dtype=np.float64)
        return np.column_stack([1.0 - proba, proba]) if proba.ndim == 1 else proba

    def predict(self, x: Any) -> NDArray[Any]:
        """The most probable class of each row."""
        return self.classes_[np.argmax(self.predict_proba(x), axis=1)]
