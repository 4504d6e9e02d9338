"""The teacher: grounded, cached, resumable rationale generation with any LLM backend."""

from clinreason.teacher.backend import (
    BackendError,
    CacheOnlyBackend,
    Completion,
    Sampling,
    TeacherAnswersRejected,
    TeacherBackend,
    TeacherUnavailable,
)
from clinreason.teacher.cache import TeacherCache, cache_key
from clinreason.teacher.config import TeacherConfig, make_backend
from clinreason.teacher.exemplars import Exemplar, load_exemplars
from clinreason.teacher.models import DEFAULT_TEACHER, PACKAGED_MODELS, resolve_gguf
from clinreason.teacher.parsing import ParsedAnswer, parse_answer
from clinreason.teacher.prompts import PromptTemplate, build_messages, list_prompts, load_prompt
from clinreason.teacher.results import RunSummary, TeacherResult, TeacherRun, TeacherTask, read_results, write_results
from clinreason.teacher.runner import run_teacher
from clinreason.teacher.session import TeacherSession, connect
from clinreason.teacher.speculation import Speculation

__all__ = [
    "DEFAULT_TEACHER",
    "PACKAGED_MODELS",
    "BackendError",
    "CacheOnlyBackend",
    "Completion",
    "Exemplar",
    "ParsedAnswer",
    "PromptTemplate",
    "RunSummary",
    "Sampling",
    "Speculation",
    "TeacherBackend",
    "TeacherCache",
    "TeacherConfig",
    "TeacherResult",
    "TeacherRun",
    "TeacherSession",
    "TeacherTask",
    "TeacherAnswersRejected",
    "TeacherUnavailable",
    "build_messages",
    "cache_key",
    "connect",
    "list_prompts",
    "load_exemplars",
    "load_prompt",
    "make_backend",
    "parse_answer",
    "read_results",
    "resolve_gguf",
    "run_teacher",
    "write_results",
]
