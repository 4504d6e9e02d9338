from __future__ import annotations

from clinreason.knowledge.base import by_name, entry, knowledge_text, load_kb, retrieve
from clinreason.records.mimic import PHENOTYPES  # the labels the MIMIC loader gives
from clinreason.records.timeseries import VARIABLES


def test_kb_covers_phenotypes_variables_and_dementia() -> None:
    entries = load_kb()
    assert all(e.source and e.text for e in entries)
    assert len(PHENOTYPES) == 25 and all(by_name(name) is not None for name in PHENOTYPES)
    assert {e.id for e in entries if e.kind == "finding"} == set(VARIABLES)
    assert {"alzheimers", "mci", "normal_cognition"} <= {e.id for e in entries}


def test_links_point_at_known_findings() -> None:
    known = set(VARIABLES) | {"mmse", "cdrsb", "hippocampus_grade"}
    for e in load_kb():
        assert set(e.findings) <= known, e.id
    assert entry("septicemia").findings["mean_bp"] == "low"


def test_retrieval_by_embedding() -> None:
    top = retrieve("fever, fast breathing and low oxygen saturation with a lung infection", k=3, kind="disease")
    assert top[0][0].id == "pneumonia"
    assert top[0][1] >= top[1][1] >= top[2][1]
    assert "Shock:" in knowledge_text()
