"""Test doubles shared by several test files: a toy cohort and a teacher that answers from a script."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from clinreason.records import Cohort, CohortSource, Finding, PatientRecord
from clinreason.teacher import Completion, Sampling
from clinreason.teacher.backend import Message

SOURCE = CohortSource(name="t", citation="t", licence="CC0")
RATIONALE = "The glucose of 180 mg/dL is high and supports the diagnosis."


def toy_cohort(n: int = 6) -> Cohort:
    records = [
        PatientRecord(
            id=f"p{i}",
            age=50 + i,
            sex="female",
            labels=["diabetes" if i % 2 == 0 else "no diabetes"],
            findings={"glucose": Finding(name="glucose", label="glucose", value=100.0 + 20 * i, unit="mg/dL")},
        )
        for i in range(n)
    ]
    return Cohort(name="toy", title="toy", source=SOURCE, labels=["diabetes", "no diabetes"], records=records)


class ScriptedBackend:
    """A stand-in teacher that answers from a script keyed by patient id and attempt."""

    kind = "scripted"
    model_id = "script-v1"

    def __init__(self, script: dict[str, list[str | Exception]], concurrency: int = 2) -> None:
        self.script = script
        self.max_concurrency = concurrency
        self.calls: list[tuple[str, float]] = []
        self.lock = threading.Lock()

    def check(self) -> None:
        pass

    def chat(self, messages: list[Message], sampling: Sampling) -> Completion:
        patient = messages[-1]["content"]
        record_id = next(rid for rid in self.script if f"is a {50 + int(rid[1:])}-year-old" in patient)
        with self.lock:
            attempt = sum(1 for rid, _ in self.calls if rid == record_id)
            self.calls.append((record_id, sampling.temperature))
        answer = self.script[record_id][min(attempt, len(self.script[record_id]) - 1)]
        if isinstance(answer, Exception):
            raise answer
        return Completion(text=answer, completion_tokens=len(answer.split()))

    def close(self) -> None:
        pass


def right(label: str) -> str:
    letter = "A" if label == "diabetes" else "B"
    shown = "Diabetes" if label == "diabetes" else "No diabetes"
    return f"{RATIONALE}\nFinal Diagnosis: ({letter}) {shown}"


REASONING = "1. The age and every finding were reviewed in order.\n2. Taken together, the findings fit this diagnosis."


def fill_teacher_cache(path: Path, cohort_names: list[str], model: str = "smollm2-135m") -> None:
    """Every patient's rationalize and diagnose answer stating the gold label, keyed as the real teacher's
    would be (backend gguf, `model`, the bundled prompts and exemplars): a run then asks no model."""
    from clinreason.knowledge import fact_sheet
    from clinreason.records import load_cohort
    from clinreason.teacher import TeacherCache, build_messages, cache_key, load_exemplars, load_prompt
    from clinreason.teacher.prompts import options

    with TeacherCache(path) as cache:
        for name in cohort_names:
            cohort = load_cohort(name)
            sheet, shots = fact_sheet(cohort), load_exemplars(cohort)
            for prompt in ("kwon-rationalize", "diagnose"):
                template = load_prompt(prompt)
                for record in cohort.records:
                    letter, _, shown = next(o for o in options(cohort) if o[1] == record.labels[0])
                    messages = build_messages(template, cohort, record, shots, sheet)
                    cache.put(
                        cache_key("gguf", model, template.id, messages, Sampling()),
                        backend="gguf",
                        model=model,
                        prompt=template.id,
                        messages=messages,
                        sampling=Sampling(),
                        completion=Completion(text=f"{REASONING}\n\nFinal Diagnosis: ({letter}) {shown}"),
                    )


class Server:
    """A real uvicorn server on 127.0.0.1 at a free port, in a thread (`with Server(app) as url:`)."""

    def __init__(self, app: Any) -> None:
        import socket

        import uvicorn

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        import time

        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started:
            assert time.time() < deadline, "the server did not start"
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def cache_rows(cache: Path) -> dict[str, float]:
    """key -> created_at of every generation in a teacher cache, read from outside (as another process)."""
    import sqlite3

    if not cache.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{cache}?mode=ro", uri=True, timeout=5) as db:
            return dict(db.execute("SELECT key, created_at FROM generations").fetchall())
    except sqlite3.OperationalError:  # the table is not created yet
        return {}
