"""Where clinreason keeps files shared between runs (joined model files, the teacher cache)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_home() -> Path:
    """$CLINREASON_HOME, else $XDG_CACHE_HOME/clinreason, else ~/.cache/clinreason."""
    if os.environ.get("CLINREASON_HOME"):
        return Path(os.environ["CLINREASON_HOME"]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "clinreason"
