"""Where clinreason keeps files shared between runs (joined model files, converted students, the teacher cache)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_home() -> Path:
    """$CLINREASON_HOME, else $XDG_CACHE_HOME/clinreason, else ~/.cache/clinreason."""
    if os.environ.get("CLINREASON_HOME"):
        return Path(os.environ["CLINREASON_HOME"]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "clinreason"


def teacher_cache_path() -> Path:
    """The default SQLite cache of teacher generations, shared by every run and command."""
    return cache_home() / "teacher-cache.sqlite"
