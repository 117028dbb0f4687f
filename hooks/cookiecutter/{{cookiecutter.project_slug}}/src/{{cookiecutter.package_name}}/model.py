{% set model_framework = cookiecutter.model_framework %}"""The estimator: yours to change.

``build_estimator`` returns the untrained model. Swap it for any scikit-learn compatible
estimator (a pipeline, a random forest, a regressor{% if model_framework != "sklearn" %}, another {{ "XGBoost" if model_framework == "xgboost" else "LightGBM" }} model{% endif %}); training
(``train.py``), the service and the batch and pipeline steps take whatever it returns.
"""

from __future__ import annotations
{% if model_framework == "xgboost" %}
from xgboost import XGBClassifier


def build_estimator(random_state: int = 0) -> XGBClassifier:
    """The untrained estimator: change this to change the model.

    Args:
        random_state: Seed for every random choice the estimator makes, for reproducible fits.

    Returns:
        Gradient-boosted trees (XGBoost's scikit-learn API), small enough for the example data.
    """
    # One thread: the same model on every machine, and the service's cores stay for requests.
    return XGBClassifier(n_estimators=50, max_depth=3, learning_rate=0.3, random_state=random_state, n_jobs=1)
{%- elif model_framework == "lightgbm" %}
from lightgbm import LGBMClassifier


def build_estimator(random_state: int = 0) -> LGBMClassifier:
    """The untrained estimator: change this to change the model.

    Args:
        random_state: Seed for every random choice the estimator makes, for reproducible fits.

    Returns:
        Gradient-boosted trees (LightGBM's scikit-learn API), small enough for the example data.
    """
    # Few, small trees: the example data has 150 rows (bigger ones overfit it, 0.87 held-out
    # accuracy against 0.92). One thread and deterministic mode: the same model on every machine,
    # and the service's cores stay for requests; verbose=-1 keeps training quiet.
    return LGBMClassifier(
        n_estimators=20, num_leaves=3, random_state=random_state, n_jobs=1, deterministic=True, verbose=-1
    )
{%- else %}
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler


def build_estimator(random_state: int = 0) -> Pipeline:
    """The untrained estimator: change this to change the model.

    Args:
        random_state: Seed for every random choice the estimator makes, for reproducible fits.

    Returns:
        A scikit-learn pipeline: feature scaling, then multinomial logistic regression.
    """
    # Scaling first keeps the solver well conditioned; max_iter leaves room to converge.
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=random_state))
{%- endif %}
