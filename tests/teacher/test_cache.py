from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from clinreason.teacher.backend import Completion, Sampling
from clinreason.teacher.cache import CacheError, TeacherCache, cache_key, cached_chat

MESSAGES = [{"role": "user", "content": "hello"}]


def _put(cache: TeacherCache, key: str, text: str = "answer") -> None:
    cache.put(
        key,
        backend="gguf",
        model="m",
        prompt="p@v1",
        messages=MESSAGES,
        sampling=Sampling(),
        completion=Completion(text=text, completion_tokens=3),
        cohort="c",
        record_id="r1",
        attempt=1,
    )


def test_key_depends_on_every_part() -> None:
    base = cache_key("gguf", "m", "p@v1", MESSAGES, Sampling())
    assert base == cache_key("gguf", "m", "p@v1", [dict(m) for m in MESSAGES], Sampling())
    assert base != cache_key("openai", "m", "p@v1", MESSAGES, Sampling())
    assert base != cache_key("gguf", "m2", "p@v1", MESSAGES, Sampling())
    assert base != cache_key("gguf", "m", "p@v2", MESSAGES, Sampling())
    assert base != cache_key("gguf", "m", "p@v1", [{"role": "user", "content": "hello!"}], Sampling())
    assert base != cache_key("gguf", "m", "p@v1", MESSAGES, Sampling(temperature=0.7))
    assert base != cache_key("gguf", "m", "p@v1", MESSAGES, Sampling(seed=1))
    assert base != cache_key("gguf", "m", "p@v1", MESSAGES, Sampling(max_tokens=10))


def test_put_get_and_persist(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    with TeacherCache(path) as cache:
        assert cache.get("k1") is None
        _put(cache, "k1", "first")
        _put(cache, "k1", "second")  # an existing key is never overwritten
        assert len(cache) == 1
    with TeacherCache(path) as cache:
        hit = cache.get("k1")
        assert hit is not None and hit.text == "first" and hit.completion().completion_tokens == 3


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    with TeacherCache(tmp_path / "cache.sqlite") as cache:

        def write(start: int) -> None:
            for i in range(start, start + 50):
                _put(cache, f"k{i}", f"t{i}")

        threads = [threading.Thread(target=write, args=(n * 50,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(cache) == 400
        assert {row["text"] for row in cache.rows()} == {f"t{i}" for i in range(400)}


def test_two_processes_worth_of_connections_share_the_file(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    with TeacherCache(path) as a, TeacherCache(path) as b:
        _put(a, "from-a")
        _put(b, "from-b")
        assert a.get("from-b") is not None and b.get("from-a") is not None


def test_export_jsonl(tmp_path: Path) -> None:
    with TeacherCache(tmp_path / "cache.sqlite") as cache:
        _put(cache, "k1")
        _put(cache, "k2")
        assert cache.export_jsonl(tmp_path / "out.jsonl", cohort="c") == 2
        assert cache.export_jsonl(tmp_path / "none.jsonl", cohort="other") == 0
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert len(lines) == 2 and '"messages": [{"role": "user", "content": "hello"}]' in lines[0]


def test_corrupt_cache_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(CacheError, match=r"cache\.sqlite: the teacher cache is damaged .*sqlite3 .* \.recover"):
        TeacherCache(path)
    assert path.read_bytes() == b"this is not a database" * 100  # left as it was


def test_a_truncated_cache_fails_on_use_with_the_file_named_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    with TeacherCache(path) as cache:
        for i in range(300):
            _put(cache, f"k{i}", "x" * 2000)
    with sqlite3.connect(path) as db:  # fold the WAL in, as a finished run leaves the file
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CacheError, match=r"cache\.sqlite: the teacher cache is damaged"), TeacherCache(path) as cache:
        for i in range(300):
            cache.get(f"k{i}")
        len(cache)
    assert path.read_bytes() == data[: len(data) // 2]
    assert not path.with_name("cache.sqlite-wal").exists() or not path.with_name("cache.sqlite-wal").stat().st_size


class _Counting:
    """A backend double that counts its calls; `release` lets a waiting test continue."""

    kind, model_id, max_concurrency = "gguf", "m", 1

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.calls = 0
        self.gate = gate

    def chat(self, messages: object, sampling: Sampling) -> Completion:
        self.calls += 1
        if self.gate is not None:
            self.gate.wait(10)
        return Completion(text=f"answer {self.calls}", completion_tokens=2)


def test_a_key_claimed_by_a_live_process_is_waited_for_not_generated_again(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    key = cache_key("gguf", "m", "p@v1", MESSAGES, Sampling())
    with TeacherCache(path) as first, TeacherCache(path) as second:
        second.owner = f"{socket.gethostname()}:{os.getppid()}:x"  # another live process
        assert second.claim(key) and not first.claim(key)
        backend = _Counting()
        got: list[tuple[Completion, str, bool]] = []
        waiter = threading.Thread(target=lambda: got.append(cached_chat(backend, first, "p@v1", MESSAGES, Sampling())))
        waiter.start()
        time.sleep(0.5)
        assert not got and backend.calls == 0  # waiting for the other process's answer
        _put(second, key, "from the other process")
        second.release(key)
        waiter.join(10)
        assert got and got[0][0].text == "from the other process" and got[0][2] is True
        assert backend.calls == 0


def test_two_slots_of_one_process_do_not_generate_one_key_twice(tmp_path: Path) -> None:
    gate = threading.Event()
    backend = _Counting(gate)
    with TeacherCache(tmp_path / "cache.sqlite") as cache:
        answers: list[tuple[Completion, str, bool]] = []

        def ask() -> None:
            answers.append(cached_chat(backend, cache, "p@v1", MESSAGES, Sampling()))

        slots = [threading.Thread(target=ask) for _ in range(2)]
        for slot in slots:
            slot.start()
        time.sleep(0.5)
        gate.set()
        for slot in slots:
            slot.join(10)
    assert backend.calls == 1 and sorted(a[2] for a in answers) == [False, True]


def test_a_claim_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    key = cache_key("gguf", "m", "p@v1", MESSAGES, Sampling())
    with TeacherCache(tmp_path / "cache.sqlite") as cache:
        killed = TeacherCache(tmp_path / "cache.sqlite")
        killed.owner = f"{socket.gethostname()}:{dead.pid}:x"
        assert killed.claim(key)
        killed.close()
        backend = _Counting()
        completion, _, from_cache = cached_chat(backend, cache, "p@v1", MESSAGES, Sampling())
        assert completion.text == "answer 1" and not from_cache and backend.calls == 1
        assert cache.claim(key) and cache.get(key) is not None


def test_foreign_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE generations (id INTEGER)")
    with pytest.raises(CacheError, match="not a clinreason teacher cache"):
        TeacherCache(path)


def test_export_then_import_round_trip(tmp_path: Path) -> None:
    with TeacherCache(tmp_path / "a.sqlite") as source:
        _put(source, "k1", "one")
        _put(source, "k2", "two")
        source.export_jsonl(tmp_path / "seed.jsonl.gz")
    with TeacherCache(tmp_path / "b.sqlite") as target:
        _put(target, "k1", "kept")
        assert target.import_jsonl(tmp_path / "seed.jsonl.gz") == 1  # k1 was already there
        assert target.get("k1").text == "kept" and target.get("k2").text == "two"  # type: ignore[union-attr]
    (tmp_path / "bad.jsonl").write_text('{"key": "x"}\n')
    with TeacherCache(tmp_path / "c.sqlite") as target, pytest.raises(CacheError, match="cannot import"):
        target.import_jsonl(tmp_path / "bad.jsonl")


def test_the_cache_file_is_owner_only(tmp_path: Path) -> None:
    import stat

    from clinreason.teacher import TeacherCache

    with TeacherCache(tmp_path / "c.sqlite") as cache:
        assert stat.S_IMODE(cache.path.stat().st_mode) == 0o600  # prompts hold patients' values
    loose = tmp_path / "old.sqlite"
    TeacherCache(loose).close()
    loose.chmod(0o644)  # a cache made by an older version
    with TeacherCache(loose):
        assert stat.S_IMODE(loose.stat().st_mode) == 0o600
