"""The knowledge base (`kb.yaml`): sourced entries about findings and diseases, their links, and
retrieval by embedding (the packaged all-MiniLM-L6-v2), as ClinRaGen retrieves knowledge for its
teacher and student."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from typing import Literal

import numpy as np
import yaml
from pydantic import BaseModel, Field

from clinreason.embeddings import embed


class Entry(BaseModel):
    id: str
    kind: Literal["finding", "disease"]
    name: str
    text: str
    source: str
    findings: dict[str, str] = Field(default_factory=dict, description="finding -> direction that supports it")

    def sentence(self) -> str:
        return f"{self.name}: {self.text}"


@lru_cache(maxsize=1)
def load_kb() -> tuple[Entry, ...]:
    raw = yaml.safe_load(resources.files("clinreason.knowledge").joinpath("kb.yaml").read_text())
    entries = tuple(Entry.model_validate(item) for item in raw["entries"])
    ids = [e.id for e in entries]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"knowledge base ids repeat: {duplicates}")
    return entries


def entry(entry_id: str) -> Entry:
    for item in load_kb():
        if item.id == entry_id:
            return item
    raise KeyError(f"no knowledge base entry '{entry_id}'")


def by_name(name: str) -> Entry | None:
    lowered = name.lower()
    return next((e for e in load_kb() if e.name.lower() == lowered), None)


def knowledge_text(entries: Sequence[Entry] | None = None) -> str:
    """The knowledge as one text (for the knowledge-augmented attention's token vocabulary)."""
    return "\n".join(e.sentence() for e in (entries if entries is not None else load_kb()))


@lru_cache(maxsize=1)
def _entry_embeddings() -> np.ndarray:
    return embed([e.sentence() for e in load_kb()])


def retrieve(query: str, k: int = 5, kind: Literal["finding", "disease"] | None = None) -> list[tuple[Entry, float]]:
    """The k entries most similar to `query` (cosine similarity of MiniLM embeddings), best first."""
    entries = load_kb()
    scores = _entry_embeddings() @ embed([query])[0]
    order = [i for i in np.argsort(-scores) if kind is None or entries[i].kind == kind]
    return [(entries[i], float(scores[i])) for i in order[:k]]
