"""How long-running library functions report progress without printing: an `Observer`.

Every runner (pipeline, ablation, segmentation, rationalize) takes one; the CLI passes an observer that
draws rich progress bars, Python callers pass nothing (all methods are no-ops) or their own.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Observer"]


class Observer:
    """Receives progress; the CLI draws progress bars from it. All methods are optional no-ops."""

    def phase(self, name: str, total: int | None = None) -> None:
        """A new step starts (`total` items, or None when its length is unknown)."""

    def advance(self, done: int, total: int | None = None, info: str = "") -> None:
        """`done` items of the current step are finished; `info` is a short status (e.g. the loss)."""

    def note(self, message: str) -> None:
        """A one-line message worth showing between the bars."""

    def counter(self, total: int, info: str = "") -> Callable[[object], None]:
        """A per-item callback that advances the current phase by one each call."""
        done = 0

        def tick(_: object) -> None:
            nonlocal done
            done += 1
            self.advance(done, total, info)

        return tick

    def prefixed(self, prefix: str) -> Observer:
        """This observer with `prefix` before every phase name (for a step inside a larger run)."""
        return _Prefixed(self, prefix)


class _Prefixed(Observer):
    def __init__(self, inner: Observer, prefix: str) -> None:
        self.inner, self.prefix = inner, prefix

    def phase(self, name: str, total: int | None = None) -> None:
        self.inner.phase(self.prefix + name, total)

    def advance(self, done: int, total: int | None = None, info: str = "") -> None:
        self.inner.advance(done, total, info)

    def note(self, message: str) -> None:
        self.inner.note(message)
