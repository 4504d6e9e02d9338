"""Any OpenAI-compatible server (vLLM, Ollama, llama.cpp server, OpenAI) through the `openai` client.

The client retries timeouts, lost connections, 429 and 5xx with exponential backoff; what still
fails becomes a `BackendError` the runner logs and counts, so one bad request never ends a long run.
For scale, point `base_url` at a vLLM deployment (tensor parallel, replicas behind a load balancer);
the cache and concurrency here stay the same.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Literal

from clinreason.teacher.backend import BackendError, Completion, Message, Sampling, TeacherUnavailable

log = logging.getLogger(__name__)


class OpenAICompatibleBackend:
    kind = "openai"

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        timeout: float = 120.0,
        max_retries: int = 3,
        concurrency: int = 4,
        token_parameter: Literal["max_tokens", "max_completion_tokens"] = "max_tokens",
    ) -> None:
        try:
            import openai
        except ImportError as exc:
            raise TeacherUnavailable(
                "the OpenAI-compatible backend needs the openai package: pip install openai"
            ) from exc
        api_key = os.environ.get(api_key_env)
        if not api_key:
            if base_url is None:
                hint = "or give --base-url for a local server"
                raise TeacherUnavailable(f"no API key: set the environment variable {api_key_env} ({hint})")
            api_key = "not-needed"  # local servers (vLLM, Ollama, llama.cpp) accept any key
        self.model = model
        self.model_id = model
        self.base_url = base_url or "https://api.openai.com/v1"
        self.max_concurrency = concurrency
        self.token_parameter = token_parameter
        self._openai = openai
        self._client = openai.OpenAI(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries)

    def check(self) -> None:
        client = self._client.with_options(max_retries=1, timeout=15.0)
        try:
            served = [m.id for m in client.models.list()]
        except self._openai.AuthenticationError as exc:
            raise TeacherUnavailable(f"{self.base_url} rejected the API key: {exc}") from exc
        except self._openai.APIConnectionError as exc:
            raise TeacherUnavailable(f"cannot reach the OpenAI-compatible server at {self.base_url}: {exc}") from exc
        except self._openai.APIStatusError as exc:
            log.warning("%s does not list models (%s); trying requests anyway", self.base_url, exc.status_code)
            return
        if served and self.model not in served:
            log.warning("%s does not list model '%s' (it lists %s)", self.base_url, self.model, served[:5])

    def chat(self, messages: list[Message], sampling: Sampling) -> Completion:
        openai = self._openai
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "seed": sampling.seed,
            self.token_parameter: sampling.max_tokens,
        }
        started = time.perf_counter()
        try:
            response = self._client.chat.completions.create(**kwargs)
        except openai.APITimeoutError as exc:
            raise BackendError(f"{self.base_url} timed out: {exc}", retryable=True) from exc
        except openai.APIConnectionError as exc:
            raise BackendError(f"lost connection to {self.base_url}: {exc}", retryable=True) from exc
        except (openai.RateLimitError, openai.InternalServerError) as exc:
            raise BackendError(f"{self.base_url} is overloaded or failing: {exc}", retryable=True) from exc
        except openai.AuthenticationError as exc:
            raise TeacherUnavailable(f"{self.base_url} rejected the API key: {exc}") from exc
        except openai.APIStatusError as exc:
            raise BackendError(f"{self.base_url} refused the request ({exc.status_code}): {exc}") from exc
        seconds = time.perf_counter() - started
        if not response.choices:
            raise BackendError(f"{self.base_url} returned no choices")
        choice = response.choices[0]
        usage = response.usage
        details = getattr(usage, "prompt_tokens_details", None) if usage else None
        timings = (response.model_extra or {}).get("timings") or {}  # llama.cpp's server adds these
        cached = getattr(details, "cached_tokens", None) if details is not None else None
        return Completion(
            text=choice.message.content or "",
            finish_reason=choice.finish_reason,
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
            seconds=seconds,
            cached_prompt_tokens=cached if cached is not None else timings.get("cache_n"),
            drafted_tokens=timings.get("draft_n"),
            accepted_tokens=timings.get("draft_n_accepted"),
        )

    def close(self) -> None:
        self._client.close()
