from __future__ import annotations

from clinreason.knowledge import fact_sheet, facts_for, load_facts
from clinreason.records import load_cohort


def test_every_fact_has_a_source() -> None:
    facts = load_facts()
    assert len(facts) >= 15
    assert all(fact.source and fact.keys and len(fact.text) < 600 for fact in facts)


def test_facts_for_keeps_order_and_deduplicates() -> None:
    chosen = facts_for(["mmse", "cdrsb", "cdr", "unknown"])
    assert [f.keys[0] for f in chosen] == ["mmse", "cdrsb"]


def test_fact_sheet_has_ranges_and_background() -> None:
    sheet = fact_sheet(load_cohort("pima-diabetes"))
    assert "Reference ranges:\n- Plasma glucose 2 hours into an oral glucose tolerance test: up to 139 mg/dL" in sheet
    assert "200 mg/dL or more meets the criterion for diabetes" in sheet
    assert fact_sheet(load_cohort("pima-diabetes")) == sheet  # deterministic: KV-cache reuse depends on it
