from __future__ import annotations

from clinreason.progress import Observer


class Recorder(Observer):
    def __init__(self) -> None:
        self.calls: list[tuple[int, int | None, str]] = []

    def advance(self, done: int, total: int | None = None, info: str = "") -> None:
        self.calls.append((done, total, info))


def test_the_base_observer_does_nothing_and_its_counter_counts_items() -> None:
    silent = Observer()
    silent.phase("x", 3)
    silent.note("message")
    silent.counter(2)("item")
    recorder = Recorder()
    tick = recorder.counter(3, "stays")
    for item in ("a", "b", "c"):
        tick(item)
    assert recorder.calls == [(1, 3, "stays"), (2, 3, "stays"), (3, 3, "stays")]
