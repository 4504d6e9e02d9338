"""Medical knowledge that grounds the teacher: sourced facts and per-cohort fact sheets."""

from clinreason.knowledge.facts import Fact, fact_sheet, facts_for, load_facts

__all__ = ["Fact", "fact_sheet", "facts_for", "load_facts"]
