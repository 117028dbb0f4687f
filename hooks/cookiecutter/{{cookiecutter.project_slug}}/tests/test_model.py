{% set package_name = cookiecutter.package_name %}"""The estimator. Yours: test what matters about your model here."""

from {{ package_name }}.model import build_estimator
from {{ package_name }}.train import load_dataset


def test_estimator_fits_and_predicts_one_answer_per_row() -> None:
    data = load_dataset()
    estimator = build_estimator().fit(data.x, data.y)
    assert len(estimator.predict(data.x[:5])) == 5
