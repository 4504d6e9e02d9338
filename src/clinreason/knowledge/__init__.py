"""Medical knowledge that grounds the teacher and the multimodal student: sourced reference facts and
per-cohort fact sheets, and the knowledge base with retrieval by embedding."""

from clinreason.knowledge.base import Entry, knowledge_text, load_kb, retrieve
from clinreason.knowledge.facts import Fact, fact_sheet, facts_for, load_facts

__all__ = ["Entry", "Fact", "fact_sheet", "facts_for", "knowledge_text", "load_facts", "load_kb", "retrieve"]
