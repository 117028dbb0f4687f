{% set package_name = cookiecutter.package_name %}"""Micro-batching: concurrent callers share model calls and each gets exactly its own rows back."""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from {{ package_name }}.serving.artifact import Model
from {{ package_name }}.serving.batching import Batcher, Prediction, QueueFullError
from {{ package_name }}.serving.signature import Column, Signature


@dataclass
class Calls:
    """A BatchObserver that remembers every model call and queue length."""

    batches: list[tuple[int, int]] = field(default_factory=list)
    depths: list[int] = field(default_factory=list)

    def batch(self, requests: int, rows: int) -> None:
        self.batches.append((requests, rows))

    def depth(self, waiting: int) -> None:
        self.depths.append(waiting)


class Picky:
    """An estimator that refuses any row whose first feature is negative, and labels by row sum."""

    classes_ = np.array([0, 1])

    def predict(self, x: NDArray[np.float64]) -> NDArray[np.int64]:
        if (x[:, 0] < 0).any():
            raise ValueError("negative first feature")
        return x.sum(axis=1).astype(np.int64)

    def predict_proba(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.column_stack([x[:, 0], x[:, 1]])


PICKY = Model(
    Picky(),
    Signature(task="classification", columns=(Column("a", "number"), Column("b", "number")), classes=(0, 1)),
)


def matrices(sizes: list[int], start: float = 0.0) -> list[NDArray[np.float64]]:
    """One matrix per size, every row distinct: row i holds (start + i, 1000 + start + i)."""
    out = []
    offset = start
    for size in sizes:
        first = np.arange(offset, offset + size, dtype=np.float64)
        out.append(np.column_stack([first, first + 1000]))
        offset += size
    return out


def run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(scenario())


async def settle() -> None:
    """Let the event loop run what is ready (a flush scheduled with call_soon), without waiting."""
    for _ in range(5):
        await asyncio.sleep(0)


def test_concurrent_callers_share_one_call_and_get_their_own_rows(
    model: Model, rows: list[list[Any]]
) -> None:
    # Distinct inputs of different sizes, taken from the real data, so mixing them up shows;
    # checked first, as the service checks every request before it queues.
    inputs = [model.check_features(rows[i : i + 1 + i % 4]) for i in range(len(rows) - 4)]
    calls = Calls()
    batcher = Batcher(model, max_batch_size=10_000, max_queue=100, observer=calls)

    async def scenario() -> list[Prediction]:
        return await asyncio.gather(*(batcher.predict(x) for x in inputs))

    results = run(scenario)
    for x, result in zip(inputs, results, strict=True):
        np.testing.assert_array_equal(result.labels, model.predict(x))
    # Everyone was waiting at once: one model call for all of them.
    assert calls.batches == [(len(inputs), sum(len(x) for x in inputs))]


def test_batches_are_cut_at_max_batch_size_without_splitting_a_request() -> None:
    inputs = matrices([3, 3, 3, 5, 1])
    calls = Calls()
    batcher = Batcher(PICKY, max_batch_size=6, max_queue=100, observer=calls)

    async def scenario() -> list[Prediction]:
        return await asyncio.gather(*(batcher.predict(x) for x in inputs))

    results = run(scenario)
    # 3+3 fill the first call; 3 then 5 would exceed 6; the 5 waits; 5+1 make the last one.
    assert calls.batches == [(2, 6), (1, 3), (2, 6)]
    for x, result in zip(inputs, results, strict=True):
        np.testing.assert_array_equal(result.labels, x.sum(axis=1))


def test_a_request_bigger_than_the_batch_runs_alone() -> None:
    [big] = matrices([9])
    calls = Calls()
    batcher = Batcher(PICKY, max_batch_size=4, max_queue=10, observer=calls)
    result = run(lambda: batcher.predict(big))
    assert calls.batches == [(1, 9)]
    np.testing.assert_array_equal(result.labels, big.sum(axis=1))


def test_probabilities_come_back_only_to_those_who_asked() -> None:
    first, second = matrices([2, 3])
    batcher = Batcher(PICKY, max_batch_size=100, max_queue=10)

    async def scenario() -> list[Prediction]:
        return await asyncio.gather(batcher.predict(first, proba=True), batcher.predict(second))

    with_proba, without = run(scenario)
    np.testing.assert_array_equal(with_proba.proba, first)
    np.testing.assert_array_equal(with_proba.labels, first.sum(axis=1))
    assert without.proba is None
    np.testing.assert_array_equal(without.labels, second.sum(axis=1))


def test_a_failing_request_fails_alone() -> None:
    good, also_good = matrices([2, 2])
    bad = np.array([[-1.0, 5.0]])
    calls = Calls()
    batcher = Batcher(PICKY, max_batch_size=100, max_queue=10, observer=calls)

    async def scenario() -> list[Any]:
        return await asyncio.gather(
            batcher.predict(good), batcher.predict(bad), batcher.predict(also_good), return_exceptions=True
        )

    first, failed, third = run(scenario)
    assert isinstance(failed, ValueError)
    assert "negative" in str(failed)
    np.testing.assert_array_equal(first.labels, good.sum(axis=1))
    np.testing.assert_array_equal(third.labels, also_good.sum(axis=1))
    # The shared call failed, so each request was retried on its own.
    assert calls.batches == [(1, 2), (1, 2)]


def test_full_queue_refuses_more_callers() -> None:
    inputs = matrices([1, 1, 1])
    calls = Calls()
    # A long wait and a big batch: the first two stay queued until drained.
    batcher = Batcher(PICKY, max_batch_size=100, max_wait=60, max_queue=2, observer=calls)

    async def scenario() -> tuple[list[Prediction], BaseException | None]:
        waiting = [asyncio.ensure_future(batcher.predict(x)) for x in inputs[:2]]
        while batcher.depth < 2:
            await asyncio.sleep(0)
        refused = None
        try:
            await batcher.predict(inputs[2])
        except QueueFullError as exc:
            refused = exc
        batcher.drain()
        await settle()
        assert all(task.done() for task in waiting), "drain must not leave them to the 60 s timer"
        return [task.result() for task in waiting], refused

    results, refused = run(scenario)
    assert isinstance(refused, QueueFullError)
    assert "2 requests are already waiting" in str(refused)
    # The queued callers are still served, in one call, once drained.
    assert calls.batches == [(2, 2)]
    for x, result in zip(inputs, results, strict=False):
        np.testing.assert_array_equal(result.labels, x.sum(axis=1))
    assert max(calls.depths) == 2
    assert calls.depths[-1] == 0


def test_max_wait_gathers_callers_that_arrive_later() -> None:
    first, second = matrices([1, 1])
    calls = Calls()
    batcher = Batcher(PICKY, max_batch_size=2, max_wait=60, max_queue=10, observer=calls)

    async def scenario() -> list[Prediction]:
        early = asyncio.ensure_future(batcher.predict(first))
        for _ in range(10):  # many loop turns: without max_wait the first would have gone alone
            await asyncio.sleep(0)
        assert not early.done()
        # The second fills the batch (2 rows): both go at once, long before the timer.
        return [*(await asyncio.gather(early, batcher.predict(second)))]

    results = run(scenario)
    assert calls.batches == [(2, 2)]
    np.testing.assert_array_equal(results[1].labels, second.sum(axis=1))


def test_cancelled_caller_is_skipped() -> None:
    kept, dropped = matrices([1, 2])
    calls = Calls()
    batcher = Batcher(PICKY, max_batch_size=100, max_wait=60, max_queue=10, observer=calls)

    async def scenario() -> Prediction:
        waiting = asyncio.ensure_future(batcher.predict(kept))
        gone = asyncio.ensure_future(batcher.predict(dropped))
        while batcher.depth < 2:
            await asyncio.sleep(0)
        gone.cancel()
        batcher.drain()
        await settle()
        return waiting.result()

    result = run(scenario)
    np.testing.assert_array_equal(result.labels, kept.sum(axis=1))
    assert calls.batches == [(1, 1)]


@pytest.mark.parametrize("max_wait", [0.0, 60.0])
def test_drain_flushes_at_once(max_wait: float) -> None:
    [x] = matrices([3])
    batcher = Batcher(PICKY, max_batch_size=100, max_wait=max_wait, max_queue=10)

    async def scenario() -> Prediction:
        batcher.drain()
        # After a drain nothing waits for company, whatever max_wait said.
        task = asyncio.ensure_future(batcher.predict(x))
        await settle()
        return task.result()

    np.testing.assert_array_equal(run(scenario).labels, x.sum(axis=1))
