"""Live drift counts: every served row counted into the training profile's bins, as Prometheus metrics.

Owned by the template: ``copier update`` may replace this file.

For each watched feature (the first ``DRIFT_FEATURES`` columns of the signature, default 50) the
service counts the rows it serves into that column's bins of ``profile.json`` (``profile``), and
the model's answers into the answers' bins. The chart's recording rules turn the counts over a
window into the population stability index against the reference shares, exported beside them:

* ``model_drift_reference_rows``: rows of the reference profile; 0 without one (or with
  ``DRIFT_FEATURES=0``), and then no other drift series;
* ``model_drift_feature_rows_total{feature, bin}``, ``model_drift_prediction_rows_total{bin}``:
  the rows counted, every bin's series there from the start (at 0), so both sides of the PSI
  have the same bins;
* ``model_drift_feature_reference_share{feature, bin}``, ``model_drift_prediction_reference_share{bin}``:
  the profile's shares.

Counting is cheap because it is done neither per row nor per bin nor even per model call: a
model call only hands over its rows and answers (references, kept), and at most once a second,
and at every ``/metrics`` scrape (``publish``, so a scrape sees every row answered before it),
the calls since are counted together, a few numpy operations over their rows, into one ``inc``
per bin that changed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import numpy as np
from numpy.typing import NDArray
from prometheus_client import CollectorRegistry, Counter, Gauge

from .profile import Bins, Profile

logger = logging.getLogger(__name__)

#: Seconds a model call's rows may wait before they are counted into the prometheus counters.
PUBLISH_SECONDS = 1.0
#: Rows that may wait: more are counted at once (a bound on the memory the references hold).
MAX_PENDING_ROWS = 4096


class DriftMetrics:
    """The drift metric families, in the service's registry (the label sets come with the model).

    Args:
        registry: The service's registry.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        # Every worker exports the same reference values: "max" shows them once, not summed.
        self.reference_rows = Gauge(
            "model_drift_reference_rows",
            "Rows of the training profile drift is measured against; 0: no reference profile.",
            registry=registry,
            multiprocess_mode="max",
        )
        self.feature_rows = Counter(
            "model_drift_feature_rows",
            "Served rows counted into each watched feature's bins of the training profile.",
            ("feature", "bin"),
            registry=registry,
        )
        self.prediction_rows = Counter(
            "model_drift_prediction_rows",
            "The model's answers counted into the training profile's answer bins.",
            ("bin",),
            registry=registry,
        )
        self.feature_share = Gauge(
            "model_drift_feature_reference_share",
            "Share of the training rows in each bin of each watched feature.",
            ("feature", "bin"),
            registry=registry,
            multiprocess_mode="max",
        )
        self.prediction_share = Gauge(
            "model_drift_prediction_reference_share",
            "Share of the model's answers on the training rows in each answer bin.",
            ("bin",),
            registry=registry,
            multiprocess_mode="max",
        )

    def install(self, profile: Profile | None, watched: int) -> DriftCounts | None:
        """Export ``profile``'s reference and make its counters; ``None`` when nothing is counted.

        Args:
            profile: The served model's profile, if it has one.
            watched: How many features to watch (``DRIFT_FEATURES``), the first in signature order.
        """
        if profile is None or watched <= 0:
            self.reference_rows.set(0)
            return None
        self.reference_rows.set(profile.rows)
        features = profile.features[:watched]
        counters = []
        for bins in features:
            for label, share in zip(bins.labels, bins.shares, strict=True):
                self.feature_share.labels(bins.name, label).set(share)
                counters.append(self.feature_rows.labels(bins.name, label))  # at 0 until counted
        for label, share in zip(profile.prediction.labels, profile.prediction.shares, strict=True):
            self.prediction_share.labels(label).set(share)
        answers = [self.prediction_rows.labels(label) for label in profile.prediction.labels]
        return DriftCounts(features, profile.prediction, counters, answers)


class DriftCounts:
    """Keeps model calls' rows and answers, and counts them into the prometheus counters together.

    Use it from the event loop only, as the batcher is.

    Args:
        features: The watched features' bins, in column order (the first columns of the matrix).
        prediction: The answers' bins.
        feature_counters: One counter child per (feature, bin), in ``features``' order.
        prediction_counters: One counter child per answer bin.
    """

    def __init__(
        self,
        features: tuple[Bins, ...],
        prediction: Bins,
        feature_counters: list[Any],
        prediction_counters: list[Any],
    ) -> None:
        self._features = features
        self._prediction = prediction
        self._children = [*feature_counters, *prediction_counters]
        self._answers_at = len(feature_counters)  # where the answers' bins start in the counts
        sizes = [len(bins.labels) for bins in features]
        self._starts = np.cumsum([0, *sizes[:-1]], dtype=np.int64)
        self._numeric = [i for i, bins in enumerate(features) if bins.kind == "numeric"]
        self._categorical = [i for i, bins in enumerate(features) if bins.kind == "categorical"]
        # The numeric columns' inner edges, padded with +inf to one width: a value's bin is the
        # number of edges at or below it (``searchsorted(side="right")``), for all columns at once.
        width = max((len(features[i].edges) for i in self._numeric), default=0)
        self._edges = np.full((len(self._numeric), width), np.inf)
        for row, i in enumerate(self._numeric):
            self._edges[row, : len(features[i].edges)] = features[i].edges
        self._missing = np.array([features[i].missing_bin for i in self._numeric], dtype=np.int64)
        self._numeric_starts = self._starts[self._numeric]
        self._pending: list[tuple[NDArray[Any], NDArray[Any]]] = []
        self._pending_rows = 0
        self._scheduled = False
        self._failed = False

    def add(self, matrix: NDArray[Any], labels: NDArray[Any]) -> None:
        """Take one model call's checked rows and the model's answers on them, to count soon.

        Only a reference is kept: counting a call at a time would cost about as much for one row
        as for hundreds (numpy's per-call overhead), so the calls of up to a second are counted
        together (``publish``), or as soon as they hold ``MAX_PENDING_ROWS`` rows.

        Args:
            matrix: The rows (``check_features``'s float or object matrix), in signature order.
            labels: The model's answer for each row.
        """
        self._pending.append((matrix, labels))
        self._pending_rows += len(matrix)
        if self._pending_rows >= MAX_PENDING_ROWS:
            self.publish()
        elif not self._scheduled:
            try:
                asyncio.get_running_loop().call_later(PUBLISH_SECONDS, self.publish)
                self._scheduled = True
            except RuntimeError:  # no event loop (a direct call): count now
                self.publish()

    def publish(self) -> None:
        """Count the rows and answers taken since the last time into the prometheus counters."""
        self._scheduled = False
        if not self._pending:
            return
        pending, self._pending, self._pending_rows = self._pending, [], 0
        try:
            counts = self._count(
                np.concatenate([matrix for matrix, _ in pending]),
                np.concatenate([labels for _, labels in pending]),
            )
        except Exception:  # counting must never fail a prediction or a scrape: say so once
            if not self._failed:
                logger.exception("drift counting failed; the drift counters miss these rows")
                self._failed = True
            return
        changed = np.flatnonzero(counts)
        for i, step in zip(changed.tolist(), counts[changed].tolist(), strict=True):
            self._children[i].inc(step)

    def _count(self, matrix: NDArray[Any], labels: NDArray[Any]) -> NDArray[np.int64]:
        counts = np.zeros(len(self._children), dtype=np.int64)
        if self._numeric:
            values = matrix[:, self._numeric]
            if values.dtype != np.float64:  # a table's object matrix: its numbers, holes as NaN
                values = values.astype(np.float64)
            where = (self._edges[None, :, :] <= values[:, :, None]).sum(axis=2)
            where = np.where(np.isnan(values), self._missing, where) + self._numeric_starts
            counts[: self._answers_at] = np.bincount(where.ravel(), minlength=self._answers_at)
        for i in self._categorical:
            bins = self._features[i]
            start = self._starts[i]
            counts[start : start + len(bins.labels)] = bins.count(matrix[:, i])
        counts[self._answers_at :] = self._prediction.count(labels)
        return counts
