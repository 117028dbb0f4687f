"""The estimator: yours to change.

``build_estimator`` returns the untrained model. Swap it for any scikit-learn compatible
estimator (a pipeline, a random forest, a regressor); training (``train.py``), the service and
the batch and pipeline steps take whatever it returns.
"""

from __future__ import annotations

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
