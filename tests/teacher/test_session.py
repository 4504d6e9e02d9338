from __future__ import annotations

from pathlib import Path

import pytest

from clinreason.teacher import TeacherConfig, connect, load_prompt, run_teacher
from clinreason.teacher.config import LazyBackend
from doubles import ScriptedBackend, right, toy_cohort

UNREACHABLE = TeacherConfig(backend="openai", model="m", base_url="http://127.0.0.1:9/v1", max_attempts=1)


class Closable(ScriptedBackend):
    closed = False

    def close(self) -> None:
        self.closed = True


def test_a_given_backend_is_used_and_left_open(tmp_path: Path) -> None:
    backend = Closable({"p0": [right("diabetes")]})
    with connect(UNREACHABLE, tmp_path / "c.sqlite", backend=backend) as session:
        assert session.backend is backend and session.config is UNREACHABLE
        run = run_teacher(toy_cohort(1), toy_cohort(1).records, session.backend, session.cache, load_prompt("diagnose"))
        assert run.summary.generated == 1 and len(session.cache) == 1
    assert not backend.closed
    assert (tmp_path / "c.sqlite").is_file()


def test_the_configured_backend_is_built_only_when_the_cache_cannot_answer(tmp_path: Path) -> None:
    cohort = toy_cohort(2)
    cache = tmp_path / "c.sqlite"
    scripted = ScriptedBackend({r.id: [right(r.labels[0])] for r in cohort.records})
    # the same teacher identity as the lazy openai backend below, so the cache keys match
    scripted.kind, scripted.model_id = "openai", "m"
    with connect(UNREACHABLE, cache, backend=scripted) as session:
        run_teacher(cohort, cohort.records, session.backend, session.cache, load_prompt("kwon-rationalize"))
    with connect(UNREACHABLE, cache) as session:
        assert isinstance(session.backend, LazyBackend)
        again = run_teacher(
            cohort, cohort.records, session.backend, session.cache, load_prompt("kwon-rationalize"), config=UNREACHABLE
        )
        assert again.summary.cached == 2 and not session.backend.started  # no server was contacted


@pytest.mark.parametrize(
    ("base_url", "local"),
    [
        ("http://127.0.0.1:8080/v1", True),
        ("http://localhost:11434/v1", True),
        ("http://10.2.3.4:8000/v1", True),
        ("http://192.168.1.20:8000/v1", True),
        ("http://[::1]:8000/v1", True),
        ("https://api.openai.com/v1", False),
        ("http://8.8.8.8:8000/v1", False),
        (None, False),  # OpenAI's public API
    ],
)
def test_where_a_teacher_lives(base_url: str | None, local: bool) -> None:
    from clinreason.teacher.config import is_local

    assert is_local(base_url) is local


def test_a_remote_teacher_needs_an_opt_in(tmp_path: Path) -> None:
    from clinreason.errors import ConfigError
    from clinreason.teacher import TeacherConfig, connect

    remote = TeacherConfig.from_spec("openai:gpt-4o-mini")
    with (
        pytest.raises(ConfigError, match="would carry patient records; set teacher.allow_remote"),
        connect(remote, tmp_path / "c.sqlite"),
    ):
        pass
    for allowed in (
        remote.model_copy(update={"allow_remote": True}),
        TeacherConfig.from_spec("openai:m", base_url="http://gpu-node:8000/v1", trusted_hosts=["gpu-node"]),
        TeacherConfig.from_spec("openai:m", base_url="http://127.0.0.1:9/v1"),
    ):
        with connect(allowed, tmp_path / "c.sqlite") as session:  # nothing is sent until a cache miss
            assert session.config == allowed
