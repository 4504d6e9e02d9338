"""A crash-safe SQLite cache of teacher generations.

The key is a hash of (backend, model, prompt id, rendered messages, sampling settings): the same
request is never generated twice. Every generation is committed the moment it finishes, in WAL
mode, so a run killed half way keeps all finished work and a restarted run resumes from the cache.
One connection is shared by the slots behind a lock; other processes may use the same file: a process
claims a key before generating it (the `claims` table), so two runs on one cache never generate the
same request twice; a claim whose process has died (killed, say) is taken over at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

from clinreason.errors import ClinreasonError
from clinreason.teacher.backend import Completion, Message, Sampling, TeacherBackend

SCHEMA = """
CREATE TABLE IF NOT EXISTS generations (
    key TEXT PRIMARY KEY,
    backend TEXT NOT NULL,
    model TEXT NOT NULL,
    prompt TEXT NOT NULL,
    cohort TEXT,
    record_id TEXT,
    attempt INTEGER,
    messages TEXT NOT NULL,
    sampling TEXT NOT NULL,
    text TEXT NOT NULL,
    finish_reason TEXT,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    seconds REAL,
    created_at REAL NOT NULL
)"""
INDEX = "CREATE INDEX IF NOT EXISTS generations_record ON generations (cohort, record_id)"
CLAIMS = "CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, owner TEXT NOT NULL, claimed_at REAL NOT NULL)"
# A claim older than this is taken over even if its owner seems alive (another host, a hung process).
STALE_CLAIM_S = 900.0
WAIT_POLL_S = 0.2
COLUMNS = {
    "key",
    "backend",
    "model",
    "prompt",
    "cohort",
    "record_id",
    "attempt",
    "messages",
    "sampling",
    "text",
}


class CacheError(ClinreasonError):
    """The cache file cannot be opened or is not a clinreason cache."""


def _corrupt(path: Path, exc: Exception) -> CacheError:
    """The message for a cache SQLite cannot read; the file is left as it is."""
    return CacheError(
        f"{path}: the teacher cache is damaged ({exc}); it was left untouched. Recover what it holds with "
        f"`sqlite3 {path} .recover | sqlite3 {path.with_suffix('.recovered.sqlite')}` and run again with "
        f"--cache {path.with_suffix('.recovered.sqlite')}, or move the file away to start a new cache"
    )


def _owner() -> str:
    """host:pid:instance; a claim adds the thread, so two slots of one process never share a claim."""
    import socket
    import uuid

    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _alive(owner: str) -> bool:
    """Whether a claim's process still runs (only knowable on this host; elsewhere: assume it does)."""
    import socket

    host, _, rest = owner.partition(":")
    pid = rest.split(":", 1)[0]
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class CachedGeneration:
    key: str
    text: str
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    seconds: float | None
    created_at: float

    def completion(self) -> Completion:
        return Completion(
            text=self.text,
            finish_reason=self.finish_reason,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            seconds=self.seconds or 0.0,
        )


def cache_key(backend: str, model: str, prompt: str, messages: list[Message], sampling: Sampling) -> str:
    payload = json.dumps(
        {
            "backend": backend,
            "model": model,
            "prompt": prompt,
            "messages": messages,
            "sampling": sampling.model_dump(),
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


class TeacherCache:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # prompts hold patients' values: the file is the owner's only (SQLite gives its WAL the same mode)
        try:
            os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
            if self.path.stat().st_mode & 0o077:
                self.path.chmod(0o600)
        except OSError as exc:
            raise CacheError(f"{self.path}: cannot open the teacher cache ({exc}); give another --cache path") from exc
        try:
            self._db = sqlite3.connect(self.path, timeout=60.0, check_same_thread=False, isolation_level=None)
            # read before anything is written, so that a damaged file is reported untouched
            existing = {name for (name,) in self._db.execute("SELECT name FROM sqlite_master")}
            if self._db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            if "generations" not in existing:
                self._db.execute(SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(generations)")}
            if not columns >= COLUMNS:
                raise CacheError(
                    f"{self.path}: not a clinreason teacher cache (its generations table lacks "
                    f"{sorted(COLUMNS - columns)}); give another --cache path"
                )
            if "generations_record" not in existing:
                self._db.execute(INDEX)
            if "claims" not in existing:
                self._db.execute(CLAIMS)
        except sqlite3.DatabaseError as exc:
            raise self._failure(exc) from exc
        self.owner = _owner()

    def _failure(self, exc: sqlite3.DatabaseError) -> CacheError:
        """A damaged file (SQLite's CORRUPT / NOTADB) gets the recovery advice; a locked, read-only or full
        one its own message."""
        if isinstance(exc, sqlite3.OperationalError):
            return CacheError(f"{self.path}: cannot use the teacher cache: {exc}")
        return _corrupt(self.path, exc)

    def _run(self, sql: str, parameters: tuple[object, ...] = ()) -> tuple[tuple[object, ...] | None, int]:
        """(the first row, rows changed), read under the lock: the slots share one connection."""
        with self._lock:
            try:
                cursor = self._db.execute(sql, parameters)
                return cursor.fetchone(), cursor.rowcount
            except sqlite3.DatabaseError as exc:
                if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                    raise CacheError(
                        f"{self.path}: the teacher cache stayed locked by another process ({exc})"
                    ) from exc
                raise _corrupt(self.path, exc) from exc

    def get(self, key: str) -> CachedGeneration | None:
        row, _ = self._run(
            "SELECT key, text, finish_reason, prompt_tokens, completion_tokens, seconds, created_at "
            "FROM generations WHERE key = ?",
            (key,),
        )
        return CachedGeneration(*row) if row else None  # type: ignore[arg-type]  # the columns, in order

    def claim(self, key: str) -> bool:
        """Take the right to generate `key`: True unless a live process holds a fresh claim on it."""
        now, mine = time.time(), self._claimer()
        if self._run("INSERT OR IGNORE INTO claims VALUES (?, ?, ?)", (key, mine, now))[1] == 1:
            return True
        row, _ = self._run("SELECT owner, claimed_at FROM claims WHERE key = ?", (key,))
        if row is None:  # released in between
            return self.claim(key)
        owner, claimed_at = str(row[0]), float(row[1])  # type: ignore[arg-type]
        if owner == mine:
            return True
        if _alive(owner) and now - claimed_at < STALE_CLAIM_S:
            return False
        _, taken = self._run(
            "UPDATE claims SET owner = ?, claimed_at = ? WHERE key = ? AND owner = ? AND claimed_at = ?",
            (mine, now, key, owner, claimed_at),
        )
        return taken == 1

    def release(self, key: str) -> None:
        self._run("DELETE FROM claims WHERE key = ? AND owner = ?", (key, self._claimer()))

    def _claimer(self) -> str:
        return f"{self.owner}:{threading.get_ident()}"

    def put(
        self,
        key: str,
        *,
        backend: str,
        model: str,
        prompt: str,
        messages: list[Message],
        sampling: Sampling,
        completion: Completion,
        cohort: str | None = None,
        record_id: str | None = None,
        attempt: int | None = None,
    ) -> None:
        """Store one generation and commit at once; a key already present is kept as it was."""
        row = (
            key,
            backend,
            model,
            prompt,
            cohort,
            record_id,
            attempt,
            json.dumps(messages, ensure_ascii=False),
            sampling.model_dump_json(),
            completion.text,
            completion.finish_reason,
            completion.prompt_tokens,
            completion.completion_tokens,
            completion.seconds,
            time.time(),
        )
        self._run("INSERT OR IGNORE INTO generations VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", row)

    def __len__(self) -> int:
        row, _ = self._run("SELECT COUNT(*) FROM generations")
        return int(row[0]) if row else 0  # type: ignore[call-overload]

    def rows(self, cohort: str | None = None) -> Iterator[dict[str, object]]:
        query = "SELECT * FROM generations" + (" WHERE cohort = ?" if cohort else "") + " ORDER BY created_at"
        with self._lock:
            try:
                cursor = self._db.execute(query, (cohort,) if cohort else ())
                names = [d[0] for d in cursor.description]
                rows = cursor.fetchall()
            except sqlite3.DatabaseError as exc:
                raise self._failure(exc) from exc
        for row in rows:
            item = dict(zip(names, row, strict=True))
            item["messages"] = json.loads(str(item["messages"]))
            item["sampling"] = json.loads(str(item["sampling"]))
            yield item

    def export_jsonl(
        self,
        path: str | Path,
        cohort: str | None = None,
        *,
        prompt: str | None = None,
        record_ids: Collection[str] | None = None,
    ) -> int:
        """Every generation (with its prompt) as one JSON object per line (gzip for .gz); returns the count.
        `prompt` (a template's id, e.g. 'cers-reasoning@v1') and `record_ids` keep one template's
        generations for those records (an image set's reasoning spans several cohorts: one per patient)."""
        import gzip

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        count = 0
        opener = gzip.open if path.suffix == ".gz" else open
        wanted = None if record_ids is None else set(record_ids)
        with opener(path, "wt", encoding="utf-8") as handle:
            for row in self.rows(cohort):
                if (prompt is not None and row["prompt"] != prompt) or (
                    wanted is not None and row["record_id"] not in wanted
                ):
                    continue
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
                count += 1
        return count

    def import_jsonl(self, path: str | Path) -> int:
        """Add generations exported by `export_jsonl` (plain or .gz); keys already present are kept."""
        import gzip

        path = Path(path)
        opener = gzip.open if path.suffix == ".gz" else open
        rows = []
        try:
            with opener(path, "rt", encoding="utf-8") as handle:
                for line in handle:
                    if not line.strip():
                        continue
                    item = json.loads(line)
                    rows.append(
                        (
                            item["key"],
                            item["backend"],
                            item["model"],
                            item["prompt"],
                            item.get("cohort"),
                            item.get("record_id"),
                            item.get("attempt"),
                            json.dumps(item["messages"], ensure_ascii=False),
                            json.dumps(item["sampling"]),
                            item["text"],
                            item.get("finish_reason"),
                            item.get("prompt_tokens"),
                            item.get("completion_tokens"),
                            item.get("seconds"),
                            item.get("created_at") or time.time(),
                        )
                    )
        except (OSError, json.JSONDecodeError, KeyError) as exc:
            raise CacheError(f"{path}: cannot import generations (line {len(rows) + 1}): {exc}") from exc
        with self._lock:
            before = self._db.total_changes
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR IGNORE INTO generations VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
            self._db.execute("COMMIT")
            return self._db.total_changes - before

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> TeacherCache:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def retry_sampling(sampling: Sampling, attempt: int, retry_temperature: float) -> Sampling:
    """Settings of attempt `attempt` (1-based): the first as given, retries warmer with a new seed."""
    if attempt == 1:
        return sampling
    return sampling.model_copy(
        update={"temperature": max(sampling.temperature, retry_temperature), "seed": sampling.seed + attempt - 1}
    )


def cached_chat(
    backend: TeacherBackend,
    cache: TeacherCache,
    prompt: str,
    messages: list[Message],
    sampling: Sampling,
    *,
    cohort: str | None = None,
    record_id: str | None = None,
    attempt: int | None = None,
) -> tuple[Completion, str, bool]:
    """(completion, cache key, whether it came from the cache): the cache first, else the backend, whose
    answer is stored before it is returned. A BackendError propagates; nothing is stored then."""
    key = cache_key(backend.kind, backend.model_id, prompt, messages, sampling)
    hit = cache.get(key)
    while hit is None and not cache.claim(key):  # another process is generating it: wait for its answer
        time.sleep(WAIT_POLL_S)
        hit = cache.get(key)
    if hit is not None:
        return hit.completion(), key, True
    try:
        if (hit := cache.get(key)) is not None:  # stored between our look and our claim
            return hit.completion(), key, True
        completion = backend.chat(messages, sampling)
        cache.put(
            key,
            backend=backend.kind,
            model=backend.model_id,
            prompt=prompt,
            messages=messages,
            sampling=sampling,
            completion=completion,
            cohort=cohort,
            record_id=record_id,
            attempt=attempt,
        )
    finally:
        cache.release(key)
    return completion, key, False
