"""Killing `clinreason rationalize` half way and starting it again repeats no generation."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from doubles import cache_rows

N = 8


@pytest.mark.slow
def test_killed_run_resumes_without_duplicate_generations(tmp_path: Path, smollm2: Path) -> None:
    cache, out = tmp_path / "cache.sqlite", tmp_path / "rationales.jsonl"
    command = [
        sys.executable,
        "-m",
        "clinreason",
        "rationalize",
        "--cohort",
        "pima-diabetes",
        "--split",
        "train",
        "--teacher",
        "gguf:smollm2-135m",
        "--slots",
        "1",
        "--limit",
        str(N),
        "--max-tokens",
        "48",
        "--max-attempts",
        "1",
        "--cache",
        str(cache),
        "--out",
        str(out),
    ]
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(cache_rows(cache)) < 2 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL, first.stderr.read().decode() if first.stderr else ""
    before = cache_rows(cache)
    assert 2 <= len(before) < N, "the first run must be killed half way"
    assert not out.exists()

    second = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    after = cache_rows(cache)
    assert len(after) == N  # one generation per patient: nothing generated twice
    assert {key: after[key] for key in before} == before  # the finished work was kept as it was
    summary = json.loads(out.with_suffix(".summary.json").read_text())
    assert summary["generated"] == N - len(before)
    assert summary["cached"] == len(before)
    assert len(out.read_text().splitlines()) == N
