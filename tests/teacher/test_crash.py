"""Crash tests against a real OpenAI-compatible server on loopback (xllamacpp serving the packaged SmolLM2):
`clinreason rationalize` killed with SIGKILL at random points and restarted, the server killed mid-run and
restarted, two runs sharing one cache, a damaged cache. Every generation is counted: none lost, none
made twice, and the final JSONL is the one an uninterrupted run writes."""

from __future__ import annotations

import json
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from doubles import cache_rows

N = 10
SERVER = Path(__file__).with_name("llama_server_process.py")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Loopback:
    port: int
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen([sys.executable, str(SERVER), str(self.port)], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "the llama.cpp server process exited"
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/v1/models", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise AssertionError("the llama.cpp server did not start in 180 s")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


def command(port: int, cache: Path, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "clinreason",
        "rationalize",
        "--cohort",
        "pima-diabetes",
        "--split",
        "train",
        "--teacher",
        "openai:smollm2",
        "--base-url",
        f"http://127.0.0.1:{port}/v1",
        "--slots",
        "1",
        "--limit",
        str(N),
        "--max-tokens",
        "32",
        "--max-attempts",
        "1",
        "--timeout",
        "60",
        "--cache",
        str(cache),
        "--out",
        str(out),
    ]


def wait_for_rows(cache: Path, at_least: int, process: subprocess.Popen[bytes], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while len(cache_rows(cache)) < at_least:
        assert process.poll() is None, "the run ended before it was to be killed"
        assert time.monotonic() < deadline, f"no generation {at_least} within {timeout} s"
        time.sleep(0.02)


def results(out: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.read_text().splitlines()]


@pytest.fixture(scope="module")
def loopback(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Loopback, Path]]:
    """The server, and the JSONL of an uninterrupted run against it."""
    server = Loopback(_free_port())
    server.start()
    folder = tmp_path_factory.mktemp("reference")
    out = folder / "rationales.jsonl"
    try:
        done = subprocess.run(command(server.port, folder / "cache.sqlite", out), capture_output=True, timeout=600)
        assert done.returncode == 0, done.stderr.decode()
        assert len(cache_rows(folder / "cache.sqlite")) == N
        yield server, out
    finally:
        server.kill()


@pytest.mark.slow
def test_sigkills_of_the_run_and_of_the_server_lose_and_repeat_nothing(
    loopback: tuple[Loopback, Path], tmp_path: Path
) -> None:
    server, reference = loopback
    cache, out = tmp_path / "cache.sqlite", tmp_path / "rationales.jsonl"
    rng = random.Random(0)
    for _ in range(5):  # killed at random points: before, during and after a request or a commit
        before = cache_rows(cache)
        run = subprocess.Popen(command(server.port, cache, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_rows(cache, len(before) + 1, run)
        time.sleep(rng.uniform(0.0, 0.4))
        run.kill()
        run.wait(timeout=30)
        after = cache_rows(cache)
        assert {key: after[key] for key in before} == before  # finished work is kept as it was
        assert len(after) < N, "the run must be killed before it finishes"
    assert not out.exists()

    # the server dies mid-run: the run stops with a clear message (or records the patients as failed)
    before = cache_rows(cache)
    run = subprocess.Popen(command(server.port, cache, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for_rows(cache, len(before) + 1, run)
    server.kill()
    stdout, stderr = run.communicate(timeout=300)
    text = (stdout + stderr).decode()
    assert run.returncode in (0, 2), text
    assert "stopped answering" in text or "failed" in text, text
    server.start()

    before = cache_rows(cache)
    final = subprocess.run(command(server.port, cache, out), capture_output=True, timeout=600)
    assert final.returncode == 0, final.stderr.decode()
    after = cache_rows(cache)
    assert len(after) == N and {key: after[key] for key in before} == before
    summary = json.loads(out.with_suffix(".summary.json").read_text())
    assert summary["cached"] == len(before) and summary["generated"] == N - len(before)
    assert results(out) == results(reference)


@pytest.mark.slow
def test_two_runs_on_one_cache_share_the_work(loopback: tuple[Loopback, Path], tmp_path: Path) -> None:
    server, reference = loopback
    cache = tmp_path / "cache.sqlite"
    outs = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    runs = [subprocess.Popen(command(server.port, cache, o), stderr=subprocess.PIPE) for o in outs]
    for run in runs:
        _, stderr = run.communicate(timeout=600)
        assert run.returncode == 0, stderr.decode()
    assert len(cache_rows(cache)) == N
    summaries = [json.loads(o.with_suffix(".summary.json").read_text()) for o in outs]
    assert sum(s["generated"] for s in summaries) == N  # no request was generated by both
    assert all(s["generated"] + s["cached"] == N for s in summaries)
    assert results(outs[0]) == results(outs[1]) == results(reference)


@pytest.mark.slow
def test_a_damaged_cache_stops_the_run_names_the_file_and_is_kept(
    loopback: tuple[Loopback, Path], tmp_path: Path
) -> None:
    server, reference = loopback
    cache = tmp_path / "cache.sqlite"
    shutil.copy(reference.parent / "cache.sqlite", cache)
    with sqlite3.connect(cache) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    damaged = cache.read_bytes()[: cache.stat().st_size // 2]
    cache.write_bytes(damaged)
    done = subprocess.run(command(server.port, cache, tmp_path / "out.jsonl"), capture_output=True, timeout=300)
    message = done.stderr.decode()
    assert done.returncode == 2, message
    assert str(cache) in message and "damaged" in message and ".recover" in message
    assert "Traceback" not in message
    assert cache.read_bytes() == damaged  # never deleted or rewritten
