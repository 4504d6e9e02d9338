"""The one protocol every teacher LLM backend implements, and what a call returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from clinreason.errors import ClinreasonError
from clinreason.teacher.results import TeacherRun

# {"role": "system" | "user" | "assistant", "content": text, or OpenAI-style parts for a vision model:
# [{"type": "text", "text": ...}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}}]}
Message = dict[str, str | list[dict[str, object]]]


class Sampling(BaseModel):
    """Decoding settings; part of the cache key, so changing any of them means new generations."""

    model_config = ConfigDict(frozen=True)

    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(default=384, ge=1)
    seed: int = 0


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    seconds: float = 0.0
    # what the serving engine reports, where it does (llama.cpp, vLLM, OpenAI): prompt tokens served
    # from its prefix cache, and tokens proposed by speculative decoding and accepted by the model
    cached_prompt_tokens: int | None = None
    drafted_tokens: int | None = None
    accepted_tokens: int | None = None


class BackendError(ClinreasonError):
    """A call failed. `retryable` failures (timeouts, lost connections, overload) may succeed later."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class TeacherUnavailable(BackendError):
    """The teacher cannot be reached or loaded at all; the run stops (finished work is kept).

    Raised by `run_teacher`, `partial` holds the run as far as it got (finished patients kept, the rest
    `not_run`), so that callers can save it before reporting the error."""

    def __init__(self, message: str, *, partial: TeacherRun | None = None) -> None:
        super().__init__(message, retryable=False)
        self.partial = partial


class TeacherAnswersRejected(TeacherUnavailable):
    """Most of the teacher's first answers were rejected (no final line, another label, too short): the
    run stops early with the reasons instead of retrying every patient for hours."""


@runtime_checkable
class TeacherBackend(Protocol):
    kind: str
    model_id: str
    max_concurrency: int

    def check(self) -> None:
        """Raise TeacherUnavailable when the teacher cannot serve requests (before a long run starts)."""

    def chat(self, messages: list[Message], sampling: Sampling) -> Completion:
        """One chat completion; must be safe to call from `max_concurrency` threads at once."""

    def close(self) -> None:
        """Release the model or connection."""


class CacheOnlyBackend:
    """Stands in for a teacher whose answers are all cached (a shipped seed, a colleague's export): it
    names the teacher so cache keys match, and fails every request that would need generation."""

    max_concurrency = 1

    def __init__(self, kind: str, model_id: str) -> None:
        self.kind, self.model_id = kind, model_id

    def check(self) -> None:
        pass

    def chat(self, messages: list[Message], sampling: Sampling) -> Completion:
        raise BackendError(f"{self.kind}:{self.model_id}: not in the cache, and this backend does not generate")

    def close(self) -> None:
        pass
