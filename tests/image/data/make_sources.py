"""Save one classifier per format with its own library, and that library's answers (issue 31).

Run in a generated project's environment (its scikit-learn, XGBoost or LightGBM: the versions
its image has) with mlflow-skinny, skops and pandas beside it:
``python make_sources.py FRAMEWORK OUT``. For each format it writes ``OUT/<format>/`` holding the
saved model, and ``OUT/sources.json``: per format the path ``make import-model`` takes, the rows
and the answers the source library gives to them after loading the saved model back
(``mlflow.pyfunc.load_model(...).predict``, ``xgboost.Booster.predict``, ``lightgbm.Booster.predict``,
the skops-loaded estimator's ``predict`` and ``predict_proba``). ``OUT/example.json`` holds a few
rows, the example every import is given.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_iris

NAMES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def _answers(labels, probabilities):
    return {
        "labels": np.asarray(labels).tolist(),
        "probabilities": np.asarray(probabilities, dtype=float).tolist(),
    }


def sklearn_sources(out: Path, frame: pd.DataFrame, y) -> dict:
    import mlflow.pyfunc
    import mlflow.sklearn
    import skops.io
    from sklearn.linear_model import LogisticRegression

    # Fitted on an array: the default project has no pandas to give a DataFrame-fitted one its names.
    x = frame.to_numpy()
    model = LogisticRegression(max_iter=1000).fit(x, y)
    found = {}
    mlflow.sklearn.save_model(model, out / "mlflow-sklearn", input_example=x[:5])
    loaded = mlflow.pyfunc.load_model(str(out / "mlflow-sklearn"))
    proba = mlflow.sklearn.load_model(str(out / "mlflow-sklearn")).predict_proba(x)
    found["mlflow-sklearn"] = {"model": "mlflow-sklearn", **_answers(loaded.predict(x), proba)}
    # MLflow before 3 pickled this flavour (cloudpickle): a pickle, imported through the sandbox,
    # whose container must read the MLmodel file too.
    pickled = out / "mlflow-sklearn-pickle"
    mlflow.sklearn.save_model(model, pickled, serialization_format="cloudpickle", input_example=x[:5])
    back_pickled = mlflow.sklearn.load_model(str(pickled))
    answers = _answers(mlflow.pyfunc.load_model(str(pickled)).predict(x), back_pickled.predict_proba(x))
    found["mlflow-sklearn-pickle"] = {"model": "mlflow-sklearn-pickle", **answers}
    skops.io.dump(model, out / "model.skops")
    back = skops.io.load(out / "model.skops", trusted=skops.io.get_untrusted_types(file=out / "model.skops"))
    found["skops"] = {"model": "model.skops", **_answers(back.predict(x), back.predict_proba(x))}
    return found


def xgboost_sources(out: Path, frame: pd.DataFrame, y) -> dict:
    import xgboost as xgb

    params = {"objective": "multi:softprob", "num_class": 3, "max_depth": 3, "seed": 0, "nthread": 1}
    booster = xgb.train(params, xgb.DMatrix(frame, label=y), num_boost_round=20)
    found = {}
    for name in ("model.json", "model.ubj"):
        booster.save_model(out / name)
        proba = xgb.Booster(model_file=str(out / name)).predict(xgb.DMatrix(frame))
        found[f"xgboost-{name.split('.')[1]}"] = {"model": name, **_answers(proba.argmax(axis=1), proba)}
    found.update(_mlflow_flavour(out, "xgboost", booster, frame))
    return found


def lightgbm_sources(out: Path, frame: pd.DataFrame, y) -> dict:
    import lightgbm as lgb

    params = {"objective": "multiclass", "num_class": 3, "seed": 0, "num_threads": 1, "deterministic": True}
    booster = lgb.train({**params, "verbose": -1}, lgb.Dataset(frame, label=y), num_boost_round=20)
    booster.save_model(out / "model.txt")
    proba = lgb.Booster(model_file=str(out / "model.txt")).predict(frame)
    found = {"lightgbm-text": {"model": "model.txt", **_answers(proba.argmax(axis=1), proba)}}
    found.update(_mlflow_flavour(out, "lightgbm", booster, frame))
    return found


def _mlflow_flavour(out: Path, flavour: str, booster, frame: pd.DataFrame) -> dict:
    """The booster as MLflow's xgboost or lightgbm flavour; pyfunc predict gives probabilities."""
    import importlib

    import mlflow.pyfunc

    importlib.import_module(f"mlflow.{flavour}").save_model(
        booster, out / f"mlflow-{flavour}", input_example=frame.head(5)
    )
    proba = np.asarray(mlflow.pyfunc.load_model(str(out / f"mlflow-{flavour}")).predict(frame))
    return {f"mlflow-{flavour}": {"model": f"mlflow-{flavour}", **_answers(proba.argmax(axis=1), proba)}}


def main() -> None:
    framework, out = sys.argv[1], Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    x, y = load_iris(return_X_y=True)
    frame = pd.DataFrame(x, columns=NAMES)
    # JSON rows in column order: the project's importer reads them without pandas.
    example = {"instances": frame.iloc[[0, 50, 100, 120, 140]].to_numpy().tolist()}
    (out / "example.json").write_text(json.dumps(example), encoding="utf-8")
    found = {"sklearn": sklearn_sources, "xgboost": xgboost_sources, "lightgbm": lightgbm_sources}[framework](
        out, frame, y
    )
    for answers in found.values():
        answers["rows"] = frame.to_numpy().tolist()
    (out / "sources.json").write_text(json.dumps(found), encoding="utf-8")


if __name__ == "__main__":
    main()
