"""Micro-batching: concurrent requests wait a few milliseconds to be answered together.

Generation and option scoring are batched in `predict`, so patients that arrive within `max_wait_s` of
each other (up to `max_batch`) cost about one forward pass, not one each. One worker runs the batches
one after another in a thread, so the model is used by one batch at a time and the event loop stays
free to accept requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

__all__ = ["Batched", "MicroBatcher"]

J = TypeVar("J")
R = TypeVar("R")


@dataclass
class Batched(Generic[R]):
    """A job's result with how it was served."""

    result: R
    batch_size: int
    queued_ms: float
    batch_ms: float


@dataclass
class _Item(Generic[J, R]):
    job: J
    future: asyncio.Future[Batched[R]]
    queued: float = field(default_factory=time.perf_counter)


class MicroBatcher(Generic[J, R]):
    def __init__(self, handle: Callable[[Sequence[J]], Sequence[R]], max_batch: int = 8, max_wait_s: float = 0.005):
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.handle, self.max_batch, self.max_wait_s = handle, max_batch, max_wait_s
        self.queue: asyncio.Queue[_Item[J, R]] = asyncio.Queue()
        self.batches = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._work())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def submit(self, jobs: Sequence[J]) -> list[Batched[R]]:
        """Queue `jobs` (one request's patients) and wait for their results, in order."""
        loop = asyncio.get_running_loop()
        items = [_Item[J, R](job, loop.create_future()) for job in jobs]
        for item in items:
            self.queue.put_nowait(item)
        return list(await asyncio.gather(*(item.future for item in items)))

    async def _work(self) -> None:
        while True:
            first = await self.queue.get()
            items = [first]
            deadline = time.perf_counter() + self.max_wait_s
            while len(items) < self.max_batch:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                try:
                    items.append(await asyncio.wait_for(self.queue.get(), remaining))
                except TimeoutError:
                    break
            started = time.perf_counter()
            try:
                results: Any = await asyncio.to_thread(self.handle, [item.job for item in items])
            except Exception as exc:  # every waiting request gets the error; the worker goes on
                for item in items:
                    if not item.future.done():
                        item.future.set_exception(exc)
                continue
            self.batches += 1
            took = (time.perf_counter() - started) * 1000
            for item, result in zip(items, results, strict=True):
                if not item.future.done():
                    item.future.set_result(Batched(result, len(items), (started - item.queued) * 1000, took))
