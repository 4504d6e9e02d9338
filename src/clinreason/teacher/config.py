"""Which teacher to use and how: one validated object that the CLI, run configs and Python share."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from clinreason.errors import ConfigError
from clinreason.teacher.backend import Completion, Message, Sampling, TeacherBackend
from clinreason.teacher.models import DEFAULT_TEACHER
from clinreason.teacher.speculation import Speculation

BackendKind = Literal["gguf", "openai", "hf"]


class TeacherConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: BackendKind = "gguf"
    model: str = Field(
        default=DEFAULT_TEACHER,
        description="gguf: a packaged model name or a .gguf path; openai: the served model name; "
        "hf: a folder or hub id.",
    )
    base_url: str | None = Field(default=None, description="openai: e.g. http://localhost:8000/v1 (vLLM).")
    api_key_env: str = "OPENAI_API_KEY"
    timeout_s: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=3, ge=0, description="openai: client retries with backoff.")
    token_parameter: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    slots: int = Field(default=4, ge=1, description="Requests in flight at once.")
    context_per_slot: int = Field(default=4096, ge=256, description="gguf: context tokens per slot.")
    threads: int | None = Field(default=None, ge=1, description="gguf: CPU threads (default: all cores).")
    gguf_file: str | None = Field(default=None, description="hf: load this GGUF file from the model folder.")
    speculation: Speculation = Field(
        default_factory=Speculation, description="gguf: speculative decoding (greedy answers stay the same)."
    )
    prefix_cache: bool = Field(
        default=True, description="gguf: reuse the KV cache of the shared prompt prefix between requests."
    )
    sampling: Sampling = Field(default_factory=Sampling)
    max_attempts: int = Field(default=3, ge=1, description="Tries per record before it is rejected.")
    retry_temperature: float = Field(default=0.7, ge=0, le=2, description="Temperature of retries.")
    allow_remote: bool = Field(
        default=False,
        description="openai: send patient records to a server that is not on this machine or a private "
        "network (e.g. api.openai.com). Off by default: such a teacher is refused until you opt in.",
    )
    trusted_hosts: list[str] = Field(
        default_factory=list,
        description="openai: host names you declare as your own (a hospital's inference server), allowed "
        "like loopback and private addresses.",
    )
    tokens_per_finding: int = Field(
        default=24,
        ge=0,
        description="Length budget: an answer may take 96 + this x (findings + 1) tokens where that is more "
        "than sampling.max_tokens (a cohort with many findings needs a longer rationale); 0: max_tokens only.",
    )
    early_stop_after: int = Field(
        default=12,
        ge=0,
        description="After this many patients' first answers, stop the run when most were rejected "
        "(see early_stop_rejected) instead of retrying for hours; 0: never.",
    )
    early_stop_rejected: float = Field(
        default=0.75, gt=0, le=1, description="The share of rejected first answers that stops the run."
    )

    @classmethod
    def from_spec(cls, spec: str, **overrides: object) -> TeacherConfig:
        """'gguf:qwen2.5-coder-1.5b', 'openai:gpt-4o-mini', 'hf:/models/llama' (backend defaults to gguf)."""
        backend, sep, model = spec.partition(":")
        if not sep:
            backend, model = "gguf", spec
        if backend not in ("gguf", "openai", "hf"):
            raise ConfigError(f"unknown teacher backend '{backend}' in '{spec}'; expected gguf, openai or hf")
        if not model:
            raise ConfigError(f"teacher '{spec}' names no model")
        values = {"backend": backend, "model": model, **{k: v for k, v in overrides.items() if v is not None}}
        return cls.model_validate(values)


def is_local(base_url: str | None, trusted: Sequence[str] = ()) -> bool:
    """Whether a server URL stays on this machine or a private network (loopback, RFC 1918 / unique-local
    addresses, `localhost`, or a host the user declared); no URL means OpenAI's public API."""
    import ipaddress
    from urllib.parse import urlparse

    if base_url is None:
        return False
    host = (urlparse(base_url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost") or host in {h.lower() for h in trusted}:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # a public name: we cannot tell where it resolves
    return address.is_loopback or address.is_private or address.is_link_local


def check_destination(config: TeacherConfig) -> None:
    """Refuse a remote teacher unless the config opts in: prompts carry patients' records."""
    if config.backend != "openai" or config.allow_remote or is_local(config.base_url, config.trusted_hosts):
        return
    where = config.base_url or "OpenAI's public API (no base_url)"
    raise ConfigError(
        f"the teacher at {where} is not on this machine or a private network, and its prompts would carry "
        "patient records; set teacher.allow_remote: true (or --allow-remote) to send them, or add the host "
        "to teacher.trusted_hosts if it is your own server"
    )


def make_backend(config: TeacherConfig) -> TeacherBackend:
    check_destination(config)
    if config.backend == "gguf":
        from clinreason.teacher.gguf_backend import EmbeddedGGUFBackend

        return EmbeddedGGUFBackend(
            config.model,
            slots=config.slots,
            context_per_slot=config.context_per_slot,
            threads=config.threads,
            speculation=config.speculation,
            prefix_cache=config.prefix_cache,
        )
    if config.backend == "openai":
        from clinreason.teacher.openai_backend import OpenAICompatibleBackend

        return OpenAICompatibleBackend(
            config.model,
            base_url=config.base_url,
            api_key_env=config.api_key_env,
            timeout=config.timeout_s,
            max_retries=config.max_retries,
            concurrency=config.slots,
            token_parameter=config.token_parameter,
        )
    from clinreason.teacher.hf_backend import TransformersBackend

    return TransformersBackend(config.model, gguf_file=config.gguf_file)


def backend_model_id(config: TeacherConfig) -> str:
    """The model part of the cache key, computed without loading the model."""
    if config.backend == "gguf":
        from clinreason.teacher.gguf_backend import gguf_model_id

        return gguf_model_id(config.model)
    if config.backend == "hf":
        from clinreason.teacher.hf_backend import hf_model_id

        return hf_model_id(config.model, config.gguf_file)
    return config.model


class LazyBackend:
    """A backend that is only built (a model loaded, a server contacted) when the cache cannot answer."""

    def __init__(self, config: TeacherConfig) -> None:
        self.config = config
        self.kind: str = config.backend
        self.model_id: str = backend_model_id(config)
        self.max_concurrency: int = 1 if config.backend == "hf" else config.slots
        self._backend: TeacherBackend | None = None
        self._lock = threading.Lock()

    @property
    def started(self) -> bool:
        return self._backend is not None

    def _get(self) -> TeacherBackend:
        with self._lock:
            if self._backend is None:
                self._backend = make_backend(self.config)
            return self._backend

    def check(self) -> None:
        self._get().check()

    def chat(self, messages: list[Message], sampling: Sampling) -> Completion:
        return self._get().chat(messages, sampling)

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None
