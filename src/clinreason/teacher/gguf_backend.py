"""Embedded GGUF inference through xllamacpp: no server to start, continuous batching across slots.

Every rationalization prompt starts with the same system prompt, fact sheet and exemplars, and
llama.cpp reuses the KV cache of that shared prefix (`cache_prompt`), which matters on a CPU where
prefill costs as much as decoding.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from clinreason.teacher.backend import BackendError, Completion, Message, Sampling, TeacherUnavailable
from clinreason.teacher.models import PACKAGED_MODELS, resolve_gguf
from clinreason.teacher.speculation import Speculation, configure_speculation

log = logging.getLogger(__name__)


class EmbeddedGGUFBackend:
    kind = "gguf"

    def __init__(
        self,
        model: str = "qwen2.5-coder-1.5b",
        *,
        slots: int = 4,
        context_per_slot: int = 4096,
        threads: int | None = None,
        speculation: Speculation | None = None,
        prefix_cache: bool = True,
    ) -> None:
        if slots < 1:
            raise ValueError("slots must be at least 1")
        self.model = model
        self.path: Path = resolve_gguf(model)
        self.model_id = gguf_model_id(model, self.path)
        self.max_concurrency = slots
        self.context_per_slot = context_per_slot
        self.threads = threads or os.cpu_count() or 1
        self.speculation = speculation or Speculation(kind="none")
        self.prefix_cache = prefix_cache
        self.draft_path = resolve_gguf(self.speculation.draft_model) if self.speculation.draft_model else None
        if self.speculation.kind == "draft" and self.draft_path is None:
            raise TeacherUnavailable("speculation kind 'draft' needs a draft_model (e.g. qwen2.5-coder-0.5b)")
        self._server: Any = None
        self._lock = threading.Lock()

    def _start(self) -> Any:
        with self._lock:
            if self._server is None:
                try:
                    import xllamacpp as xlc
                except ImportError as exc:
                    raise TeacherUnavailable(
                        "the embedded GGUF backend needs xllamacpp: pip install xllamacpp"
                    ) from exc
                params = xlc.CommonParams()
                params.model.path = str(self.path)
                params.n_parallel = self.max_concurrency
                params.n_ctx = self.context_per_slot * self.max_concurrency  # split evenly across slots
                params.cpuparams.n_threads = self.threads
                params.cpuparams_batch.n_threads = self.threads
                params.cache_prompt = self.prefix_cache
                params.verbosity = -1
                configure_speculation(xlc, params, self.speculation, self.threads, self.draft_path)
                started = time.perf_counter()
                try:
                    self._server = xlc.Server(params)
                except Exception as exc:  # the C++ side reports load failures as generic exceptions
                    raise TeacherUnavailable(f"could not load GGUF model {self.path}: {exc}") from exc
                log.info(
                    "loaded %s in %.1f s (%d slots, %s)",
                    self.path.name,
                    time.perf_counter() - started,
                    self.max_concurrency,
                    self.speculation.label(),
                )
            return self._server

    def check(self) -> None:
        self._start()

    def chat(self, messages: list[Message], sampling: Sampling) -> Completion:
        server = self._start()
        request = {
            "messages": messages,
            "max_tokens": sampling.max_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "seed": sampling.seed,
            "cache_prompt": self.prefix_cache,
        }
        started = time.perf_counter()
        try:
            response = server.handle_chat_completions(request)
        except Exception as exc:
            raise BackendError(f"embedded model call failed: {exc}", retryable=True) from exc
        seconds = time.perf_counter() - started
        if not isinstance(response, dict):
            raise BackendError(f"embedded model returned {type(response).__name__}, not a JSON object")
        if "error" in response:
            error = response["error"]
            message = error.get("message", error) if isinstance(error, dict) else error
            raise BackendError(f"embedded model refused the request: {message}")
        return _completion(response, seconds)

    def close(self) -> None:
        with self._lock:
            self._server = None


def gguf_model_id(model: str, path: Path | None = None) -> str:
    """Packaged models are named (their hash is pinned); a user's file by name and size."""
    if model in PACKAGED_MODELS:
        return model
    path = path or resolve_gguf(model)
    return f"{path.name}:{path.stat().st_size}"


def _completion(response: dict[str, Any], seconds: float) -> Completion:
    try:
        choice = response["choices"][0]
        text = choice["message"]["content"] or ""
    except (KeyError, IndexError, TypeError) as exc:
        raise BackendError(f"malformed completion (no choices[0].message.content): {str(response)[:200]}") from exc
    usage = response.get("usage") or {}
    timings = response.get("timings") or {}
    return Completion(
        text=text,
        finish_reason=choice.get("finish_reason"),
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        seconds=seconds,
        cached_prompt_tokens=timings.get("cache_n"),
        drafted_tokens=timings.get("draft_n"),
        accepted_tokens=timings.get("draft_n_accepted"),
    )
