"""Train the example classifier and write its artifact and metrics.

Run ``python -m <package>.train [--output DIR]``; or call :func:`train` from Python (a pipeline
step or a notebook) with the same effect. The data ship with scikit-learn, so nothing is
downloaded, and every random choice is seeded, so the same code gives the same model.
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
from numpy.typing import NDArray
from sklearn.datasets import load_iris
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

from .model import Model, build_estimator, save_model

DEFAULT_OUTPUT = Path("artifacts")
MODEL_FILE = "model.joblib"
METRICS_FILE = "metrics.json"
RANDOM_STATE = 42
TEST_SIZE = 0.25

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Dataset:
    """Features, labels and their names.

    Attributes:
        x: Feature matrix, shape ``(rows, features)``.
        y: Class label of each row.
        feature_names: One name per feature column.
        class_names: Human name of each class label, indexed by label.
    """

    x: NDArray[np.float64]
    y: NDArray[np.int64]
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...]


def load_dataset() -> Dataset:
    """The training data: the iris flowers shipped with scikit-learn (no download).

    Replace this to train on your own data; keep the return type.

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


def train(
    output: Path | str = DEFAULT_OUTPUT,
    *,
    random_state: int = RANDOM_STATE,
    test_size: float = TEST_SIZE,
) -> dict[str, Any]:
    """Fit the model on a fixed split, evaluate it, and write the artifact and metrics.

    Args:
        output: Folder to write ``model.joblib`` and ``metrics.json`` into (created if absent).
        random_state: Seed for the split and the estimator.
        test_size: Fraction of rows held out for evaluation (stratified by class).

    Returns:
        The metrics written to ``metrics.json``.
    """
    output = Path(output)
    data = load_dataset()
    # Stratify so every class is in the test set in proportion, whatever the seed.
    x_train, x_test, y_train, y_test = train_test_split(
        data.x, data.y, test_size=test_size, random_state=random_state, stratify=data.y
    )
    estimator = build_estimator(random_state=random_state).fit(x_train, y_train)
    model = Model(estimator, data.feature_names, data.class_names)
    predicted = model.predict(x_test)
    metrics: dict[str, Any] = {
        "accuracy": float(accuracy_score(y_test, predicted)),
        "f1_macro": float(f1_score(y_test, predicted, average="macro")),
        "n_train": len(y_train),
        "n_test": len(y_test),
        "n_features": model.n_features,
        "feature_names": list(model.feature_names),
        "class_names": list(model.class_names),
        "random_state": random_state,
        "test_size": test_size,
        "sklearn_version": sklearn.__version__,
    }
    save_model(model, output / MODEL_FILE)
    # No timestamps: the same code and seed give byte-identical metrics, easy to diff in review.
    (output / METRICS_FILE).write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    logger.info(
        "wrote %s and %s (accuracy %.3f)", output / MODEL_FILE, output / METRICS_FILE, metrics["accuracy"]
    )
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
        description="Train the model and write its artifact and metrics.",
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
    print(f"model:   {args.output / MODEL_FILE}")  # noqa: T201 - CLI output
    print(f"metrics: {json.dumps(metrics, sort_keys=True)}")  # noqa: T201 - CLI output
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
