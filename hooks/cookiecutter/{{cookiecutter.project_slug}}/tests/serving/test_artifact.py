{% set package_name = cookiecutter.package_name %}"""The model artifact (template-owned): loading, feature checks and predictions."""

import json
import re
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest

from {{ package_name }}.serving.artifact import (
    DEFAULT_MODEL_PATH,
    Model,
    ModelLoadError,
    load_model,
    model_path,
)
from {{ package_name }}.serving.signature import SIGNATURE_FILE, Signature
from {{ package_name }}.train import load_dataset


def test_model_path_defaults_to_artifacts() -> None:
    assert model_path({}) == DEFAULT_MODEL_PATH == Path("artifacts/model.joblib")


def test_model_path_reads_env(tmp_path: Path) -> None:
    assert model_path({"MODEL_PATH": str(tmp_path / "m.joblib")}) == tmp_path / "m.joblib"


def test_load_model_uses_model_path_env(
    model_path: Path, model: Model, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODEL_PATH", str(model_path))
    assert load_model().signature == model.signature


def test_signature_follows_the_training_data(model: Model) -> None:
    data = load_dataset()
    width = len(data.x.columns) if hasattr(data.x, "columns") else np.asarray(data.x).shape[1]
    assert model.n_features == width
    if hasattr(data.x, "columns"):
        assert model.feature_names == tuple(str(c) for c in data.x.columns)
    elif data.feature_names:
        assert model.feature_names == data.feature_names
    assert model.class_names == data.class_names
    if model.signature.task == "classification":
        assert sorted(model.classes.tolist()) == sorted(np.unique(np.asarray(data.y)).tolist())


def test_signature_is_written_beside_the_artifact(model_path: Path, model: Model) -> None:
    written = json.loads((model_path.parent / SIGNATURE_FILE).read_text(encoding="utf-8"))
    assert Signature.from_dict(written) == model.signature


def test_example_answers_are_the_models_own(model: Model) -> None:
    example = model.signature
    assert example.example_rows, "training wrote no example rows"
    answers = model.predict([list(row) for row in example.example_rows])
    assert answers.tolist() == list(example.example_predictions)


def test_predict_returns_one_answer_per_row(model: Model, rows: list[list[Any]]) -> None:
    answers = model.predict(rows)
    assert answers.shape == (len(rows),)
    if model.signature.task == "classification":
        assert set(answers.tolist()) <= set(model.classes.tolist())
    else:
        assert np.isfinite(answers.astype(np.float64)).all()


def test_predict_proba_rows_sum_to_one(model: Model, rows: list[list[Any]]) -> None:
    if not model.has_proba:
        pytest.skip(f"{type(model.estimator).__name__} gives no class probabilities")
    proba = model.predict_proba(rows)
    assert proba.shape == (len(rows), len(model.classes))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)


def test_a_dataframe_with_the_models_columns_is_accepted(model: Model, rows: list[list[Any]]) -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(rows, columns=list(model.feature_names)).iloc[:, ::-1]  # any column order
    assert model.predict(frame).tolist() == model.predict(rows).tolist()


def test_too_few_columns_names_the_count(model: Model, row: list[Any]) -> None:
    with pytest.raises(ValueError, match=f"{model.n_features} features"):
        model.check_features([row[:-1]])


def test_no_rows_is_refused(model: Model) -> None:
    with pytest.raises(ValueError, match="no rows"):
        model.check_features([])


def test_one_dimensional_input_is_refused(model: Model, row: list[Any]) -> None:
    with pytest.raises(ValueError, match="2-D"):
        model.check_features(row)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")], ids=["nan", "inf"])
def test_non_finite_numbers_name_the_column(
    model: Model, row: list[Any], numeric_column: int, bad: float
) -> None:
    index = numeric_column
    with pytest.raises(ValueError, match=re.escape(repr(model.feature_names[index])) + ".*finite"):
        model.check_features([[*row[:index], bad, *row[index + 1 :]]])


def test_a_value_of_the_wrong_kind_names_the_column(
    model: Model, row: list[Any], wrong_kind: tuple[int, Any]
) -> None:
    index, value = wrong_kind
    with pytest.raises(ValueError, match=re.escape(repr(model.feature_names[index]))):
        model.check_features([[*row[:index], value, *row[index + 1 :]]])


def test_missing_artifact_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"no model artifact at .*train"):
        load_model(tmp_path / "absent.joblib")


def test_corrupt_artifact_is_a_load_error(tmp_path: Path) -> None:
    path = tmp_path / "model.joblib"
    path.write_bytes(b"not a pickle")
    with pytest.raises(ModelLoadError, match="cannot load"):
        load_model(path)


def test_artifact_without_predict_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "model.joblib"
    joblib.dump({"estimator": "just a string"}, path)
    with pytest.raises(ModelLoadError, match="no predict"):
        load_model(path)


def test_bare_estimator_loads_with_a_derived_signature(tmp_path: Path, model: Model, row: list[Any]) -> None:
    path = tmp_path / "bare.joblib"
    joblib.dump(model.estimator, path)
    bare = load_model(path)
    assert bare.n_features == model.n_features
    assert bare.signature.task == model.signature.task
    if not model.signature.frame:  # a matrix-fitted estimator knows no names: x0, x1, ...
        assert bare.feature_names == tuple(f"x{i}" for i in range(model.n_features))
        assert bare.predict([row]).tolist() == model.predict([row]).tolist()


def test_an_artifact_of_template_0_1_loads(tmp_path: Path, model: Model, row: list[Any]) -> None:
    if model.signature.frame or not model.signature.numeric:
        pytest.skip("0.1 artifacts held numeric matrix models only")
    path = tmp_path / "old.joblib"
    joblib.dump(
        {
            "format": 1,
            "estimator": model.estimator,
            "feature_names": list(model.feature_names),
            "class_names": list(model.class_names),
        },
        path,
    )
    old = load_model(path)
    assert old.feature_names == model.feature_names
    assert old.predict([row]).tolist() == model.predict([row]).tolist()
