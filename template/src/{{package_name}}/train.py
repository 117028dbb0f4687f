"""Training: yours to change. Load the data, fit the estimator, write the artifact and metrics.

Run ``python -m <package>.train [--output DIR]``; or call :func:`train` from Python (a pipeline
step or a notebook) with the same effect. The example data ship with scikit-learn, so nothing
is downloaded, and every random choice is seeded, so the same code gives the same model.

To train on your data, change :func:`load_dataset`; to change the model, ``model.py``. The
artifact's signature (columns, task, classes, an example request) is derived from what you
return, so the service and every check follow your model without further edits.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from sklearn.base import is_classifier
from sklearn.datasets import load_iris
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, r2_score
from sklearn.model_selection import train_test_split

from .model import build_estimator
from .serving.artifact import Model, save_model
from .serving.profile_data import derive_profile
from .serving.signature import derive_signature

DEFAULT_OUTPUT = Path("artifacts")
MODEL_FILE = "model.joblib"
METRICS_FILE = "metrics.json"
RANDOM_STATE = 42
TEST_SIZE = 0.25

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Dataset:
    """Features and targets.

    Attributes:
        x: Features: a pandas DataFrame (named, typed columns: numbers, integers, booleans,
            strings or categories) or a 2-D numeric matrix.
        y: Target of each row: class labels, or numbers for a regression.
        feature_names: Names of a matrix's columns (a DataFrame names its own).
        class_names: Human name of each class label, in sorted label order (optional).
    """

    x: Any
    y: Any
    feature_names: tuple[str, ...] = ()
    class_names: tuple[str, ...] = ()


def load_dataset() -> Dataset:
    """The training data: the iris flowers shipped with scikit-learn (no download).

    Replace this to train on your own data, e.g. ``pandas.read_parquet(...)``; keep the
    return type.

    Returns:
        150 rows of 4 measurements and 3 species.
    """
    iris = load_iris()
    return Dataset(
        x=np.asarray(iris.data, dtype=np.float64),
        y=np.asarray(iris.target, dtype=np.int64),
        feature_names=tuple(str(name) for name in iris.feature_names),
        class_names=tuple(str(name) for name in iris.target_names),
    )


def evaluate(estimator: Any, x: Any, y: Any) -> dict[str, float]:
    """Held-out metrics: accuracy and macro F1 for a classifier, R² and MAE for a regressor."""
    predicted = estimator.predict(x)
    if is_classifier(estimator):
        return {
            "accuracy": float(accuracy_score(y, predicted)),
            "f1_macro": float(f1_score(y, predicted, average="macro")),
        }
    return {"r2": float(r2_score(y, predicted)), "mae": float(mean_absolute_error(y, predicted))}


def train(
    output: Path | str = DEFAULT_OUTPUT,
    *,
    random_state: int = RANDOM_STATE,
    test_size: float = TEST_SIZE,
) -> dict[str, Any]:
    """Fit the model on a fixed split, evaluate it, and write the artifact and metrics.

    Args:
        output: Folder to write ``model.joblib``, ``signature.json``, ``profile.json`` and
            ``metrics.json`` into (created if absent).
        random_state: Seed for the split and the estimator.
        test_size: Fraction of rows held out for evaluation (stratified by class for a
            classifier).

    Returns:
        The metrics written to ``metrics.json``.
    """
    output = Path(output)
    data = load_dataset()
    estimator = build_estimator(random_state=random_state)
    # Stratify a classification so every class is in the test set in proportion, whatever the seed.
    stratify = data.y if is_classifier(estimator) else None
    x_train, x_test, y_train, y_test = train_test_split(
        data.x, data.y, test_size=test_size, random_state=random_state, stratify=stratify
    )
    estimator.fit(x_train, y_train)
    signature = derive_signature(
        estimator, x_train, feature_names=data.feature_names, class_names=data.class_names, example=x_test
    )
    metrics: dict[str, Any] = {
        **evaluate(estimator, x_test, y_test),
        "task": signature.task,
        "n_train": len(y_train),
        "n_test": len(y_test),
        "n_features": len(signature.columns),
        "feature_names": list(signature.names),
        "class_names": list(signature.class_names),
        "random_state": random_state,
        "test_size": test_size,
        "sklearn_version": sklearn.__version__,
    }
    # The training rows' profile (bins and shares per column and of the answers): the reference
    # the service's drift metrics and batch scoring's drift report compare live data with.
    profile = derive_profile(signature, x_train, estimator.predict(x_train))
    save_model(Model(estimator, signature, profile), output / MODEL_FILE)
    # No timestamps: the same code and seed give byte-identical metrics, easy to diff in review.
    (output / METRICS_FILE).write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    logger.info("wrote %s and %s", output / MODEL_FILE, output / METRICS_FILE)
    return metrics


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: train and print where the artifact went and its metrics.

    Args:
        argv: Arguments after the program name; ``sys.argv[1:]`` when omitted.

    Returns:
        The process exit code.
    """
    parser = argparse.ArgumentParser(
        prog=f"python -m {__package__}.train",
        description="Train the model and write its artifact, signature and metrics.",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help=f"folder for {MODEL_FILE} and {METRICS_FILE} (default: %(default)s)",
    )
    parser.add_argument(
        "--random-state",
        type=int,
        default=RANDOM_STATE,
        help="seed for split and model (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    metrics = train(args.output, random_state=args.random_state)
    print(f"model:   {args.output / MODEL_FILE}")
    print(f"metrics: {json.dumps(metrics, sort_keys=True)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
