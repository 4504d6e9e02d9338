"""One teacher set-up for every runner: a backend that is built only when the cache cannot answer,
the SQLite cache, and both closed together however the run ends.

    with connect(TeacherConfig.from_spec("gguf:qwen2.5-coder-1.5b")) as teacher:
        run = run_teacher(cohort, records, teacher.backend, teacher.cache, template, config=teacher.config)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from clinreason.paths import teacher_cache_path
from clinreason.teacher.backend import TeacherBackend
from clinreason.teacher.cache import TeacherCache
from clinreason.teacher.config import LazyBackend, TeacherConfig, check_destination

__all__ = ["TeacherSession", "connect"]


@dataclass(frozen=True)
class TeacherSession:
    config: TeacherConfig
    backend: TeacherBackend
    cache: TeacherCache


@contextmanager
def connect(
    config: TeacherConfig, cache_path: str | Path | None = None, *, backend: TeacherBackend | None = None
) -> Iterator[TeacherSession]:
    """`cache_path` defaults to the shared cache (`paths.teacher_cache_path()`). A `backend` given here
    (a client already set up, a test double) replaces the one `config` describes and is not closed."""
    owned: LazyBackend | None = None
    if backend is None:
        check_destination(config)  # before any patient's prompt is built, not at the first cache miss
        backend = owned = LazyBackend(config)
    try:
        with TeacherCache(cache_path or teacher_cache_path()) as cache:
            yield TeacherSession(config=config, backend=backend, cache=cache)
    finally:
        if owned is not None:
            owned.close()
