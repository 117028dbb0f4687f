"""Adaptive micro-batching: concurrent prediction requests share one model call.

Owned by the template: extend through ``model.py``; ``copier update`` may replace this file.

A call to a small scikit-learn model costs about the same for one row as for a few hundred: the
time goes into input checks and Python dispatch, not arithmetic. So the service merges the rows
of the requests that are waiting at the same moment into one matrix, calls the model once, and
hands each caller exactly its own slice of the result.

Batches form without a timer. The first request to arrive schedules a flush with ``call_soon``,
which runs after every request handler the event loop already has in hand, so those add their
rows first. While the model runs the loop is busy, so the requests that arrive meanwhile wait in
their sockets and make up the next batch: the busier the server, the bigger the batches, and an
idle server answers at once. ``max_wait`` adds an optional delay for still bigger batches.

Requests that arrive together still come in over a few turns of the loop: one turn reads a
request, the next runs its handler up to the batcher, while the loop is also sending the previous
batch's answers. So while requests do arrive together (the last call served more than one), a
batch waits ``GATHER_TURNS`` turns of the loop before its call, not one: a few microseconds, in
which the rest of them join it. Measured with one-row requests at 32 connections on one core:
10.5 requests per call became 32 (all of them), +35% requests per second, p50 and p99 lower
(benchmarks/README.md, issue 34). A lone request (one connection) is still answered at once.

The model runs on the event-loop thread. Handing each batch to a worker thread would let the
loop parse requests during a model call, but on one core that buys nothing, and under load the
thread waits for the GIL (up to the 5 ms switch interval), which shows in the tail latency. The
cost is that the loop answers nothing while the model runs, health probes included: so no call
takes more than ``max_batch_size`` rows. A request with more rows is cut into chunks of that size,
each queued after the previous one is answered, so probes and other clients get the loop between
two chunks (and ride along in them) instead of waiting for the whole request.

A row the model refuses fails only its own request. When a merged call raises, the batch is cut
in two and the halves are tried, down to the single request that fails (bisection). Calling the
model is the only way to know which rows it refuses (an estimator may refuse a row for a reason
no check here can foresee: a scaler overflowing to infinity, a category it never saw), so two
calls are not enough in general; the bound is ``1 + 2 * ceil(log2(n))`` calls for one refusing
request among ``n`` (11 for 32, where retrying each request alone took 33), fewer when the left
half succeeds: the right half is then known to fail and is cut without being called. Every
request is answered from the first call of its that succeeds, and a failing request gets the
error of the smallest failing call that held it.

The model must answer one row per input row. A model that answers another number (for some
batch sizes only, say) would shift every caller's slice onto another caller's rows, so the count
is checked before anything is handed back: the whole call then fails with ``ModelOutputError``
(a fault of the served model, not of any request: the service answers 500).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from .artifact import Model

logger = logging.getLogger(__name__)


#: Turns of the event loop a batch waits for the requests arriving with it, under concurrent load.
GATHER_TURNS = 3


class QueueFullError(RuntimeError):
    """The queue already holds its maximum of requests: the caller should retry later."""


class ModelOutputError(RuntimeError):
    """The model answered a number of rows other than it was given: its answers cannot be assigned."""


class BatchObserver(Protocol):
    """Receives what the batcher does, e.g. to export it as metrics."""

    def batch(self, requests: int, matrix: NDArray[Any], labels: NDArray[Any]) -> None:
        """One model call answered ``labels`` for the rows ``matrix`` of ``requests`` requests."""

    def depth(self, waiting: int) -> None:
        """``waiting`` requests now wait for the model."""


@dataclass(frozen=True, slots=True)
class Prediction:
    """The model's answer for one request's rows.

    Attributes:
        labels: One predicted label per row.
        proba: Class probabilities, shape ``(rows, n_classes)``, when they were asked for.
    """

    labels: NDArray[Any]
    proba: NDArray[np.float64] | None


@dataclass(frozen=True, slots=True)
class _Pending:
    future: asyncio.Future[Prediction]
    matrix: NDArray[Any]
    proba: bool


class Batcher:
    """Merges concurrent predictions into model calls of up to ``max_batch_size`` rows.

    Use it from the event loop only (it is not thread-safe, and needs no lock because of that).

    Args:
        model: The model to call.
        max_batch_size: Most rows per model call. A request with more rows runs in chunks of
            this size, one after the other, which other requests may join.
        max_wait: Seconds the first request of a batch may wait for more rows; 0 takes only
            the requests that are already waiting.
        max_queue: Most requests waiting at once; ``predict`` refuses more with
            ``QueueFullError``.
        observer: Told of every model call and every change of the queue's length.
    """

    def __init__(
        self,
        model: Model,
        *,
        max_batch_size: int,
        max_wait: float = 0.0,
        max_queue: int,
        observer: BatchObserver | None = None,
    ) -> None:
        self._model = model
        self._max_rows = max_batch_size
        self._max_wait = max_wait
        self._max_queue = max_queue
        self._observer = observer
        self._waiting: deque[_Pending] = deque()
        self._rows = 0
        self._handle: asyncio.Handle | asyncio.TimerHandle | None = None
        self._timed = False  # whether _handle is the max_wait timer (not an immediate flush)
        self._shared = False  # whether the last call served more than one request

    @property
    def depth(self) -> int:
        """Requests waiting for the model."""
        return len(self._waiting)

    async def predict(self, matrix: NDArray[Any], *, proba: bool = False) -> Prediction:
        """Predict ``matrix`` (already checked by ``Model.check_features``) in the next batch.

        Args:
            matrix: This request's rows, shape ``(rows, n_features)``.
            proba: Whether to return class probabilities as well.

        Returns:
            Labels (and probabilities) for exactly these rows, in their order.

        Raises:
            QueueFullError: ``max_queue`` requests are already waiting.
            Exception: Whatever the model raised for these rows.
        """
        if len(self._waiting) >= self._max_queue:
            raise QueueFullError(f"{len(self._waiting)} requests are already waiting for the model")
        if len(matrix) <= self._max_rows:
            return await self._submit(matrix, proba)
        # One chunk at a time: the loop serves others between two chunks (see the module's doc).
        # The queue was checked once; the later chunks of an accepted request are not refused.
        parts = [
            await self._submit(matrix[i : i + self._max_rows], proba)
            for i in range(0, len(matrix), self._max_rows)
        ]
        labels = np.concatenate([part.labels for part in parts])
        probas = [part.proba for part in parts if part.proba is not None]
        return Prediction(labels, np.concatenate(probas) if proba and probas else None)

    def _submit(self, matrix: NDArray[Any], proba: bool) -> asyncio.Future[Prediction]:
        loop = asyncio.get_running_loop()
        pending = _Pending(loop.create_future(), matrix, proba)
        self._waiting.append(pending)
        self._rows += len(matrix)
        if self._observer is not None:
            self._observer.depth(len(self._waiting))
        if self._rows >= self._max_rows or self._max_wait <= 0:
            self._flush_soon(loop)
        elif self._handle is None:
            self._handle = loop.call_later(self._max_wait, self._flush)
            self._timed = True
        return pending.future

    def drain(self) -> None:
        """Stop waiting for fuller batches: flush what waits now, and every request after it.

        Called when the server is asked to exit, so that the requests it accepted finish at
        once rather than after ``max_wait``.
        """
        self._max_wait = 0.0
        self._shared = False  # nothing left to gather for
        if self._waiting:
            logger.info("shutting down: answering the %d queued requests now", len(self._waiting))
            self._flush_soon(asyncio.get_running_loop())

    def _flush_soon(self, loop: asyncio.AbstractEventLoop) -> None:
        full = self._rows >= self._max_rows
        if self._handle is not None and not self._timed and not full:
            return  # a flush is already scheduled
        if self._handle is not None:
            self._handle.cancel()
        turns = GATHER_TURNS if self._shared and not full else 0  # see the module's doc
        self._handle = loop.call_soon(self._gather, loop, turns)
        self._timed = False

    def _gather(self, loop: asyncio.AbstractEventLoop, turns: int) -> None:
        if turns:
            self._handle = loop.call_soon(self._gather, loop, turns - 1)
        else:
            self._flush()

    def _take(self) -> list[_Pending]:
        batch: list[_Pending] = []
        rows = 0
        while self._waiting:
            pending = self._waiting[0]
            size = len(pending.matrix)
            if batch and rows + size > self._max_rows:
                break
            self._waiting.popleft()
            self._rows -= size
            if pending.future.done():
                continue  # its caller gave up (cancelled): no need to predict for it
            batch.append(pending)
            rows += size
        return batch

    def _flush(self) -> None:
        self._handle = None
        batch = self._take()
        if self._waiting:
            # More than one batch was waiting: the rest goes next, after the loop has sent these
            # answers and read what arrived meanwhile (which may join it).
            self._flush_soon(asyncio.get_running_loop())
        if self._observer is not None:
            self._observer.depth(len(self._waiting))
        self._shared = len(batch) > 1
        if batch:
            self._run(batch)

    def _run(self, batch: list[_Pending], failure: Exception | None = None) -> bool:
        """Call the model on ``batch`` and answer its callers; bisect it when the call fails.

        Args:
            batch: The requests to answer.
            failure: What a call on ``batch`` is already known to raise (its other half
                succeeded within a failing call): it is then cut without being called.

        Returns:
            Whether one call answered the whole batch.
        """
        if failure is None:
            try:
                self._answer(batch)
                return True
            except Exception as exc:  # the model's failure is reported to its callers, not raised here
                failure = exc
        if len(batch) == 1 or isinstance(failure, ModelOutputError):
            # A single request's own failure; or a model that miscounts its answers, which says
            # nothing about whose rows are at fault: the whole call fails.
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(failure)
            return False
        half = len(batch) // 2
        # If the left half succeeds, the failure is in the right half: cut it without calling it.
        left_ok = self._run(batch[:half])
        self._run(batch[half:], failure if left_ok else None)
        return False

    def _answer(self, batch: list[_Pending]) -> None:
        matrix = batch[0].matrix if len(batch) == 1 else np.concatenate([p.matrix for p in batch])
        want_proba = any(p.proba for p in batch)
        # The rows were checked when their requests were (``Batcher.predict`` takes only those).
        labels = self._model.predict(matrix, checked=True)
        proba = self._model.predict_proba(matrix, checked=True) if want_proba else None
        answered = len(labels) if proba is None or len(proba) == len(labels) else -1
        if answered != len(matrix):
            got = f"{len(labels)} predictions" + (
                "" if proba is None else f" and {len(proba)} probability rows"
            )
            raise ModelOutputError(f"the model answered {got} for {len(matrix)} rows, not one per row")
        if self._observer is not None:
            self._observer.batch(len(batch), matrix, labels)
        start = 0
        for pending in batch:
            stop = start + len(pending.matrix)
            if not pending.future.done():
                pending.future.set_result(
                    Prediction(
                        labels[start:stop], proba[start:stop] if pending.proba and proba is not None else None
                    )
                )
            start = stop
