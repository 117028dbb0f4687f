"""Prometheus metrics of the service, served at ``/metrics``.

Owned by the template: extend through ``model.py``; ``copier update`` may replace this file.

* ``http_requests_total`` and ``http_request_duration_seconds``: every answered request by route
  template (``/v2/models/{model_name}/infer``, never the raw path, so a client cannot create
  series at will), method and status; gRPC calls too (``grpc_service``), by their method's path
  (``/inference.GRPCInferenceService/ModelInfer``), ``POST`` and their code's name (``OK``, ...);
* ``inference_batch_requests`` and ``inference_batch_rows``: requests and rows per model call,
  which show how well micro-batching works;
* ``inference_queue_depth``: requests waiting for the model;
* ``model_drift_*``: served rows and answers counted into the training profile's bins (``drift``).

With several worker processes (``WORKERS``), each process writes its values to files in
``PROMETHEUS_MULTIPROC_DIR`` (the server sets it up) and ``/metrics`` adds them up, so a scrape
counts every process, whichever one answers it: counters and histograms add up every worker's
counts, the dead ones' included (a total never goes down when a worker is replaced), and the
queue depth adds up the live workers only (the files of a dead worker are dropped at the next
scrape, so a worker killed with requests queued does not leave its depth behind for ever).
The server makes that folder when it starts (``multiprocess_dir``) and removes it when it exits;
one given in ``PROMETHEUS_MULTIPROC_DIR`` is emptied at start instead, as prometheus_client asks,
so a previous run's counts are not added to this one's.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from .access_log import AccessLog
from .asgi import ASGIApp, Message, Receive, Scope, Send
from .drift import DriftCounts, DriftMetrics
from .profile import Profile

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Latency buckets from half a millisecond (one small request) to ten seconds (a queue backed up).
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
COUNT_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384)
UNMATCHED = "unmatched"  # the route label of requests no route matched (404s)

# No ``*_created`` series (when each series began): nothing reads them, and beside the drift
# counters (up to 1,000 label sets) they would double the series every scrape stores. The
# multi-worker exposition never had them.
disable_created_metrics()


class ServiceMetrics:
    """The service's metrics, in a registry of their own (one per app, so tests stay apart).

    It also acts as the batcher's ``BatchObserver``.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ("route", "method", "status")
        self._requests = Counter("http_requests", "HTTP requests answered.", labels, registry=self.registry)
        self._latency = Histogram(
            "http_request_duration_seconds",
            "Time from receiving a request to sending its last byte.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._batch_requests = Histogram(
            "inference_batch_requests",
            "Requests merged into one model call.",
            buckets=COUNT_BUCKETS,
            registry=self.registry,
        )
        self._batch_rows = Histogram(
            "inference_batch_rows", "Rows per model call.", buckets=COUNT_BUCKETS, registry=self.registry
        )
        self._queue_depth = Gauge(
            "inference_queue_depth",
            "Requests waiting for the model.",
            registry=self.registry,
            multiprocess_mode="livesum",  # with several workers: the sum over the live ones
        )
        # labels() takes a lock and builds a key on every call: keep each child once made.
        self._children: dict[tuple[str, str, int | str], tuple[Any, Any]] = {}
        self._drift = DriftMetrics(self.registry)
        self._drift_counts: DriftCounts | None = None

    def watch_drift(self, profile: Profile | None, watched: int) -> None:
        """Count the served rows against ``profile``, the first ``watched`` features (``DRIFT_FEATURES``)."""
        self._drift_counts = self._drift.install(profile, watched)

    def observe_request(self, route: str, method: str, status: int | str, seconds: float) -> None:
        """Count one answered request and its latency (``status``: HTTP's, or a gRPC code's name)."""
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            values = (route, method, str(status))
            children = (self._requests.labels(*values), self._latency.labels(*values))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def batch(self, requests: int, matrix: Any, labels: Any) -> None:
        """Record one model call (``BatchObserver``): its size, and its rows and answers for drift."""
        self._batch_requests.observe(requests)
        self._batch_rows.observe(len(matrix))
        if self._drift_counts is not None:
            self._drift_counts.add(matrix, labels)

    def depth(self, waiting: int) -> None:
        """Record the queue's length (``BatchObserver``)."""
        self._queue_depth.set(waiting)

    def exposition(self) -> tuple[bytes, str]:
        """The metrics in Prometheus' text format, and its content type.

        Returns:
            The body and the ``Content-Type`` of a ``/metrics`` answer.
        """
        if self._drift_counts is not None:
            self._drift_counts.publish()  # this process's latest counts, in the answer
        directory = os.environ.get(MULTIPROC_ENV)
        if directory:
            # Several workers: read every process's files, not just this process's values.
            forget_dead_workers(directory)
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


@contextmanager
def multiprocess_dir() -> Iterator[str]:
    """The folder where several workers write their metrics, for the server's lifetime.

    ``PROMETHEUS_MULTIPROC_DIR`` when set, emptied of a previous run's files first; otherwise a
    new folder in /tmp (the one writable path of the read-only image), removed on exit, so
    restarts do not pile up ``/tmp/prometheus-*`` folders in the container's memory-backed /tmp.

    Yields:
        The folder, also in ``os.environ`` for the workers to inherit.
    """
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        for stale in Path(given).glob("*.db"):
            stale.unlink(missing_ok=True)
        yield given
        return
    directory = tempfile.mkdtemp(prefix="prometheus-")
    os.environ[MULTIPROC_ENV] = directory
    try:
        yield directory
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(directory, ignore_errors=True)


def forget_dead_workers(directory: str) -> None:
    """Drop the live-only gauge files (``multiprocess_mode="live..."``) of processes that are gone.

    uvicorn's supervisor replaces a dead worker without telling anyone, so nobody calls
    ``mark_process_dead`` for it; a scrape does, for every process whose files remain.

    Args:
        directory: The ``PROMETHEUS_MULTIPROC_DIR`` of the server.
    """
    for path in Path(directory).glob("gauge_live*_*.db"):
        pid = path.stem.rsplit("_", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            mark_process_dead(int(pid), directory)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


class RequestMetrics:
    """ASGI middleware that times every HTTP request and records it by route template.

    Args:
        app: The wrapped ASGI application.
        metrics: Where to record.
        access_log: Where to log each answered request, if anywhere (``ACCESS_LOG``).
    """

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics, access_log: AccessLog | None = None) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection scope."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering
        answered = False

        async def send_status(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status = message["status"]
                answered = True
            await send(message)

        raised = True
        try:
            await self.app(scope, receive, send_status)
            raised = False
        finally:
            # The router puts the matched route in the scope; its path is the template.
            route = scope.get("route")
            path = getattr(route, "path", None) or UNMATCHED
            self.metrics.observe_request(path, scope["method"], status, time.perf_counter() - start)
            if self.access_log is not None and (answered or raised):  # not for a client that left
                self.access_log.record(scope, status)
