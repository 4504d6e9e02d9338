"""The three backends against real models: no mocks of the model or the server."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from clinreason.records import load_cohort
from clinreason.teacher import (
    BackendError,
    Sampling,
    TeacherCache,
    TeacherConfig,
    TeacherUnavailable,
    load_exemplars,
    load_prompt,
    make_backend,
    run_teacher,
)
from clinreason.teacher.gguf_backend import EmbeddedGGUFBackend
from clinreason.teacher.hf_backend import TransformersBackend
from clinreason.teacher.openai_backend import OpenAICompatibleBackend
from clinreason.teacher.speculation import Speculation

MESSAGES = [
    {"role": "system", "content": "You are a doctor."},
    {"role": "user", "content": "Name one vital sign."},
]
SHORT = Sampling(max_tokens=24)


def test_embedded_gguf_backend_runs_the_teacher_for_real(tmp_path: Path) -> None:
    cohort = load_cohort("heart-disease")
    records = cohort.records[:2]
    backend = make_backend(TeacherConfig.from_spec("gguf:smollm2-135m", slots=2, context_per_slot=4096))
    assert isinstance(backend, EmbeddedGGUFBackend)
    completion = backend.chat(MESSAGES, SHORT)
    assert completion.text.strip() and completion.completion_tokens and completion.prompt_tokens
    template, shots = load_prompt("kwon-rationalize"), load_exemplars(cohort)
    with TeacherCache(tmp_path / "cache.sqlite") as cache:
        first = run_teacher(
            cohort,
            records,
            backend,
            cache,
            template,
            exemplars=shots,
            config=TeacherConfig(sampling=Sampling(max_tokens=48), max_attempts=1),
        )
        assert first.summary.generated == sum(r.attempts for r in first.results) == len(cache) > 0
        assert all(r.status in ("kept", "rejected") for r in first.results)
        again = run_teacher(
            cohort,
            records,
            backend,
            cache,
            template,
            exemplars=shots,
            config=TeacherConfig(sampling=Sampling(max_tokens=48), max_attempts=1),
        )
    backend.close()
    assert again.summary.generated == 0
    assert [r.model_dump() for r in again.results] == [r.model_dump() for r in first.results]


def _rationalization_prompts(n: int) -> list[list[Any]]:
    from clinreason.knowledge import fact_sheet
    from clinreason.teacher.prompts import build_messages

    cohort = load_cohort("pima-diabetes")
    template, shots, sheet = load_prompt("kwon-rationalize"), load_exemplars(cohort), fact_sheet(cohort)
    return [build_messages(template, cohort, record, shots, sheet) for record in cohort.records[:n]]


def test_speculation_keeps_the_greedy_answers_and_reports_its_drafts() -> None:
    prompts = _rationalization_prompts(2)
    answers = {}
    for kind in ("none", "ngram"):
        backend = EmbeddedGGUFBackend("smollm2-135m", slots=1, speculation=Speculation(kind=kind))
        answers[kind] = [backend.chat(m, Sampling(max_tokens=96)) for m in prompts]
        backend.close()
    assert [c.text for c in answers["ngram"]] == [c.text for c in answers["none"]]
    assert all(c.drafted_tokens for c in answers["ngram"]) and not any(c.drafted_tokens for c in answers["none"])
    assert all(0 <= (c.accepted_tokens or 0) <= (c.drafted_tokens or 0) for c in answers["ngram"])
    # the second prompt shares the first's system prompt, fact sheet and exemplars: served from the cache
    assert (answers["none"][1].cached_prompt_tokens or 0) > 0.5 * (answers["none"][1].prompt_tokens or 0)


def test_embedded_backend_reports_a_refused_request() -> None:
    backend = EmbeddedGGUFBackend("smollm2-135m", slots=1, context_per_slot=256)
    with pytest.raises(BackendError, match="refused the request: .*context"):
        backend.chat([{"role": "user", "content": "word " * 600}], SHORT)


def test_openai_compatible_backend_against_a_real_server(llama_server: Any, tmp_path: Path) -> None:
    backend = OpenAICompatibleBackend("smollm2", base_url=f"{llama_server.listening_address}/v1", timeout=60)
    backend.check()
    completion = backend.chat(MESSAGES, SHORT)
    assert completion.text.strip() and completion.completion_tokens
    cohort = load_cohort("pima-diabetes")
    with TeacherCache(tmp_path / "cache.sqlite") as cache:
        run = run_teacher(
            cohort,
            cohort.records[:2],
            backend,
            cache,
            load_prompt("diagnose"),
            config=TeacherConfig(sampling=Sampling(max_tokens=48), max_attempts=1),
        )
    assert run.summary.generated == 2 and run.summary.failed == 0
    assert run.summary.teacher == "openai:smollm2"
    # llama.cpp's server reports its prompt-cache hits; the two prompts share their long prefix
    assert 0 < run.summary.cached_prompt_tokens < run.summary.prompt_tokens
    assert 0 <= run.summary.accepted_tokens <= run.summary.drafted_tokens and run.summary.drafted_tokens > 0


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_server_is_a_clear_error() -> None:
    backend = OpenAICompatibleBackend("m", base_url=f"http://127.0.0.1:{_closed_port()}/v1", timeout=2, max_retries=0)
    with pytest.raises(TeacherUnavailable, match="cannot reach the OpenAI-compatible server at http://127.0.0.1"):
        backend.check()
    with pytest.raises(BackendError, match="lost connection") as info:
        backend.chat(MESSAGES, SHORT)
    assert info.value.retryable


class _Handler(BaseHTTPRequestHandler):
    mode = "silent"

    def do_POST(self) -> None:  # noqa: N802 (http.server API)
        length = int(self.headers.get("Content-Length", 0))
        self.rfile.read(length)
        if self.server.mode == "silent":  # type: ignore[attr-defined]
            threading.Event().wait(1.5)
            return
        body = b'{"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def odd_server(request: pytest.FixtureRequest) -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Handler)
    server.mode = request.param  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


@pytest.mark.parametrize("odd_server", ["silent"], indirect=True)
def test_timeout_is_a_retryable_error(odd_server: str) -> None:
    backend = OpenAICompatibleBackend("m", base_url=odd_server, timeout=0.5, max_retries=0)
    with pytest.raises(BackendError, match="timed out") as info:
        backend.chat(MESSAGES, SHORT)
    assert info.value.retryable


@pytest.mark.parametrize("odd_server", ["empty"], indirect=True)
def test_malformed_answer_is_an_error(odd_server: str) -> None:
    backend = OpenAICompatibleBackend("m", base_url=odd_server, timeout=5, max_retries=0)
    with pytest.raises(BackendError, match="returned no choices"):
        backend.chat(MESSAGES, SHORT)


def test_missing_api_key_for_openai(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(TeacherUnavailable, match="set the environment variable OPENAI_API_KEY"):
        OpenAICompatibleBackend("gpt-4o-mini")


def test_transformers_backend_with_a_tiny_model(tokenizer: Any, tiny_llama: Callable[..., Any]) -> None:
    model = tiny_llama(tokenizer, eos_token_id=tokenizer.eos_token_id)
    backend = TransformersBackend("tiny-llama", model_obj=model, tokenizer=tokenizer)
    completion = backend.chat(MESSAGES, Sampling(max_tokens=8))
    assert completion.completion_tokens is not None and 0 < completion.completion_tokens <= 8
    assert completion.prompt_tokens and completion.prompt_tokens > 10
    seeded = Sampling(max_tokens=8, temperature=1.0, seed=3)
    assert backend.chat(MESSAGES, seeded).text == backend.chat(MESSAGES, seeded).text  # a seed fixes sampling


def test_unknown_model_names() -> None:
    from clinreason.errors import ClinreasonError

    with pytest.raises(ClinreasonError, match="unknown GGUF model 'nope'"):
        EmbeddedGGUFBackend("nope")
